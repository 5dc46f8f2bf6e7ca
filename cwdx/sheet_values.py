"""Cell values of the written workbooks: stored canonical text turned into numbers and dates
where it reads as one, and the names shown next to codes.

The workspace stores every input cell as canonical text (``DESIGN.md``). A workbook cell of an
``int``/``decimal`` template column is written as a number, of a ``date``/``datetime`` column as
a date cell, only when the stored text parses exactly (so nothing is lost: ``0123`` or a
16-digit number stays text) and a date lies in 1900–2100; every other value stays the text it
was. Names come from the shipped code lists (``value_domains.csv``, 国临版2.0, 国临版3.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cwdx.reference import Reference
from cwdx.values import DATE_MAX, DATE_MIN, typed_column

#: Integers written as numbers: canonical, at most 15 digits (what an Excel number holds exactly).
_INT_PATTERN = r"0|-?[1-9]\d{0,14}"
#: Decimals written as numbers: canonical (no leading/trailing zeros, no exponent).
_DECIMAL_PATTERN = r"-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?"
_MAX_DIGITS = 15
#: Template types whose cells may become numbers or dates.
TYPED_KINDS = ("int", "decimal", "date", "datetime")
#: Suffix of the 3-character ICD-10 类目 title taken from its ``.9`` subcategory.
_UNSPECIFIED = "，未特指"


def typed_cells(series: pd.Series, type_: str) -> pd.Series:
    """The values to write for a stored column of template type ``type_`` (object Series):
    Python ``int``/``float`` for numbers, ``datetime.date`` for ``date``, ``datetime.datetime``
    for ``datetime``; the stored text where it does not parse; ``None`` for an empty cell."""
    text = series.astype("string")
    out = text.astype("object").where(text.notna(), None)
    if type_ not in TYPED_KINDS or not len(series):
        return out
    if type_ in ("int", "decimal"):
        ok = text.str.fullmatch(_INT_PATTERN if type_ == "int" else _DECIMAL_PATTERN)
        ok = ok.fillna(False).astype(bool) & (text.str.count(r"\d").fillna(0) <= _MAX_DIGITS)
        if ok.any():
            convert = int if type_ == "int" else float
            out[ok] = [convert(value) for value in text[ok]]
        return out
    parsed = typed_column(text, type_)
    ok = (parsed.notna() & (parsed >= DATE_MIN) & (parsed <= DATE_MAX)).to_numpy(dtype=bool)
    if ok.any():
        stamps = parsed[ok].dt.to_pydatetime()
        values: list[Any] = [s.date() for s in stamps] if type_ == "date" else list(stamps)
        out[ok] = pd.Series(values, index=out.index[ok], dtype="object")
    return out


def code_names(series: pd.Series, names: dict[str, str]) -> pd.Series:
    """The name of each code of ``series`` in ``names`` (``None`` for an empty or unknown code)."""
    codes = series.astype("string").tolist()
    found = [names.get(code) if isinstance(code, str) else None for code in codes]
    return pd.Series(found, index=series.index, dtype="object")


def icd10_category_names(reference: Reference) -> dict[str, str]:
    """3-character ICD-10 类目 → a title from 国临版2.0, which has no 类目 names of its own:
    the name of its ``.900`` code (the ``.9`` 亚目, ``，未特指`` dropped), else of its
    ``.x00`` code (a 类目 without 亚目)."""
    titles: dict[str, str] = {}
    for code, name in reference.icd10_names.items():
        category, _, rest = code.partition(".")
        if name and rest in ("900", "X00") and (rest == "900" or category not in titles):
            titles[category] = name.removesuffix(_UNSPECIFIED)
    return titles


def procedure_group_names(reference: Reference) -> dict[str, str]:
    """5-character 术种 (``36.06``) → the name of its ``.xx00`` code in 国临版3.0."""
    return {
        code[:5]: name
        for code, name in reference.icd9_names.items()
        if name and len(code) == 7 and code.endswith("00")
    }


def typed_frame(data: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """``data`` (stored text) as the values to write: numbers and dates where the template
    type says so and the text parses (:func:`typed_cells`), else the text;
    ``None`` for empty cells."""
    out = data.astype("object")
    out = out.where(out.notna(), None)
    for name in data.columns:
        if types.get(name) in TYPED_KINDS:
            out[name] = typed_cells(data[name], types[name]).to_numpy(dtype=object)
    return out


def marked_values(
    rows: pd.DataFrame | None,
    positions: np.ndarray,
    columns: list[str | None],
    values: list[str | None],
    cells: list[str | None],
) -> list[str | None]:
    """Per finding of a chunk without a column or a value, the values of its marked ``cells`` in
    its input row (at ``positions`` in ``rows``), joined by ``、`` (an empty one as ``（空）``);
    ``None`` when there is nothing to show."""
    out: list[str | None] = [None] * len(positions)
    if rows is None:
        return out
    wanted: dict[str, list[int]] = {}
    for i, (column, value, marked) in enumerate(zip(columns, values, cells, strict=True)):
        if not column and not value and marked and positions[i] >= 0:
            for name in marked.split("|"):
                wanted.setdefault(name, []).append(i)
    found: dict[tuple[int, str], str] = {}
    for name, at in wanted.items():
        if name in rows.columns:
            taken = rows[name].iloc[positions[at]].astype("string").tolist()
            found.update(
                ((i, name), v) for i, v in zip(at, taken, strict=True) if isinstance(v, str)
            )
    for i in sorted({i for at in wanted.values() for i in at}):
        names = (cells[i] or "").split("|")
        shown = [found.get((i, name), "") for name in names]
        if any(shown):
            out[i] = "、".join(v or "（空）" for v in shown) if len(shown) > 1 else shown[0]
    return out


__all__ = [
    "TYPED_KINDS",
    "code_names",
    "icd10_category_names",
    "marked_values",
    "procedure_group_names",
    "typed_cells",
    "typed_frame",
]
