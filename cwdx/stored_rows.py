"""The stored rows of one read file as an Arrow table (``DESIGN.md`` row frame format): every
template column as strings (null = empty), then ``_file``, ``_row`` (the Excel row) and
``_org`` (the institution each row is attributed to).

The reader builds this table straight from the normalised Arrow columns and the import writes it
to Parquet without a round trip through pandas (:func:`cwdx.workspace.files.stored_table`);
:func:`to_frame` makes the pandas frame for the callers that want one.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.columns import FILE, ORG, ROW, ROW_ORG
from cwdx.reference import UNKNOWN_ORG
from cwdx.values import ORG_CODE_PATTERN, to_string_series

#: The 医疗机构名称 column whose most common value names an institution.
NAME_COLUMN = "医疗机构名称"


def stored_rows(num_rows: int, columns: dict[str, pa.Array], name: str) -> pa.Table:
    """One file's stored rows from its normalised template columns: rows whose cells are all
    empty skipped, the Excel row kept (data row 0 is Excel row 2), file name and institution."""
    filled = np.zeros(num_rows, dtype=bool)
    for values in columns.values():
        filled |= pc.is_valid(values).to_numpy(zero_copy_only=False)
    keep = np.flatnonzero(filled)
    if len(keep) < num_rows:
        take = pa.array(keep)
        columns = {column: values.take(take) for column, values in columns.items()}
    arrays = dict(columns)
    arrays[FILE] = pa.array([name] * len(keep), type=pa.string())
    arrays[ROW] = pa.array((keep + 2).astype("int64"))
    arrays[ROW_ORG] = attribute_orgs(columns[ORG])
    return pa.table(arrays)


def attribute_orgs(codes: pa.Array) -> pa.Array:
    """The institution of each row: its own valid code, else the file's most frequent valid
    code (ties: the first appearing), else :data:`~cwdx.reference.UNKNOWN_ORG`."""
    valid = pc.fill_null(pc.match_substring_regex(codes, ORG_CODE_PATTERN), False)
    valid_np = valid.to_numpy(zero_copy_only=False)
    values = np.array(codes.to_pylist(), dtype=object)
    if valid_np.any():
        counter = Counter(values[valid_np])  # insertion order = first appearance
        best = max(counter.items(), key=lambda item: item[1])[0]
    else:
        best = UNKNOWN_ORG
    values[~valid_np] = best
    return pa.array(values.tolist(), type=pa.string())


def org_counts(table: pa.Table) -> dict[str, int]:
    """Rows per institution, in order of first appearance."""
    return dict(Counter(table.column(ROW_ORG).to_pylist()))


def org_names(table: pa.Table) -> dict[str, str]:
    """Per institution, its most common 医疗机构名称 in the file (tie: first appearing)."""
    if NAME_COLUMN not in table.column_names:
        return {}
    # counted in C over (institution, name) pairs, which come in order of first appearance
    orgs, names = table.column(ROW_ORG).to_pylist(), table.column(NAME_COLUMN).to_pylist()
    pairs = Counter(zip(orgs, names, strict=True))
    best: dict[str, tuple[str, int]] = {}
    for (org, name), count in pairs.items():
        if name is not None and (org not in best or count > best[org][1]):
            best[org] = (name, count)
    return {org: name for org, (name, _) in best.items()}


def to_frame(table: pa.Table) -> pd.DataFrame:
    """The rows as the pandas row frame: ``string`` columns (NA when empty), ``_row`` int64."""
    data: dict[str, object] = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if pa.types.is_integer(column.type):
            data[name] = column.to_numpy()
        else:
            data[name] = to_string_series(column)
    return pd.DataFrame(data)
