"""How wide text shows: in Excel's column units and on a terminal alike, wide (CJK,
full-width) characters take two places. Kept apart from :mod:`cwdx.xlsx` so that the command
line's tables (``cwdx status``) do not import pandas and xlsxwriter."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Width of ``text`` in Excel character units: wide (CJK, full-width) characters count 2."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
