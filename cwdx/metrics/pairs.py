"""Credited pairs as integer arrays, and the exact half-up rounding of means and ratios."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cwdx import matching
from cwdx.metrics.definitions import DETAIL_KEYS
from cwdx.numbers import round_half_up


def half_up(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` rounded half up to two decimals, ``None`` when the
    denominator is 0. Exact on integers (no float or decimal intermediate rounding)."""
    value = round_half_up(numerator, denominator)
    return None if value is None else float(value)


def percent(count: int, total: int) -> float | None:
    """``count ÷ total × 100`` rounded half up to two decimals; ``None`` when total is 0."""
    return half_up(100 * int(count), int(total))


def counted(staff_pos: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(staff, code, count) of each distinct (staff, code) pair, codes ≥ 0 only."""
    ok = codes >= 0
    width = int(codes.max()) + 1 if ok.any() else 1
    keys, sizes = np.unique(staff_pos[ok] * width + codes[ok], return_counts=True)
    return keys // width, keys % width, sizes


def staff_ids(staff: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The detail key columns of the given staff positions."""
    return pd.DataFrame(
        {c: staff[c].astype("string").take(positions).reset_index(drop=True) for c in DETAIL_KEYS}
    )


def empty_detail(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})


class Pairs:
    """Credited pairs of one kind (positional arrays, sorted by staff then case)."""

    def __init__(self, staff_pos: np.ndarray, case_pos: np.ndarray, n_staff: int) -> None:
        self.staff = staff_pos
        self.case = case_pos
        self.n = n_staff

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.staff[mask], self.case[mask], self.n)

    def distinct_cases(self) -> Pairs:
        """One pair per (staff, case) (the arrays are sorted by staff, then case)."""
        return self.select(matching.first_of_runs(self.staff, self.case))

    def count(self) -> np.ndarray:
        return np.bincount(self.staff, minlength=self.n).astype("int64")

    def count_flag(self, flag_per_case: np.ndarray) -> np.ndarray:
        return self.select(flag_per_case[self.case]).count()

    def distinct(self, codes: np.ndarray) -> np.ndarray:
        """Number of distinct non-negative ``codes`` (one per pair) per staff."""
        staff_pos, _codes, _sizes = counted(self.staff, codes)
        return np.bincount(staff_pos, minlength=self.n).astype("int64")

    def exact_mean(self, values: pd.Series, scale: int) -> list[float | None]:
        """Per staff mean of the filled per-case integer ``values`` (units of 10**-scale),
        rounded half up to two decimals; None when no value is filled."""
        taken = values.iloc[self.case]
        filled = taken.notna().to_numpy(dtype=bool)
        out: list[float | None] = [None] * self.n
        if not filled.any():
            return out
        staff = self.staff[filled]
        if values.dtype == object:
            sums = pd.Series(taken.to_numpy()[filled]).groupby(staff).sum()
        else:
            sums = pd.Series(taken.to_numpy(dtype="int64", na_value=0)[filled]).groupby(staff).sum()
        counts = np.bincount(staff, minlength=self.n)
        for pos, total in zip(sums.index, sums.to_numpy(), strict=True):
            out[int(pos)] = half_up(int(total), int(counts[pos]) * 10**scale)
        return out
