"""Exact half-up rounding (四舍五入), the one rounding rule of every number cwdx shows."""

from __future__ import annotations

from decimal import Decimal


def round_half_up(numerator: int, denominator: int) -> Decimal | None:
    """``numerator / denominator`` rounded half up to two decimals (``Decimal("0.13")``),
    ``None`` when the denominator is 0. Exact on integers: no float or decimal intermediate
    rounding."""
    if denominator == 0:
        return None
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    num, den = abs(int(numerator)), abs(int(denominator))
    hundredths = (200 * num + den) // (2 * den)
    return Decimal(sign * hundredths).scaleb(-2)


def percent_text(count: int, total: int) -> str:
    """``count ÷ total × 100`` with two decimals, rounded half up (``"33.33"``); ``"0.00"``
    when total is 0 or less."""
    if total <= 0:
        return "0.00"
    value = round_half_up(100 * int(count), int(total))
    return str(value)
