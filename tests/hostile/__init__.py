"""Hostile input files: one builder module per file, each a few KB on disk.

Every module has ``FILE_NAME``, ``build(folder) -> Path`` (writes the file into ``folder``),
``EXPECTED`` (the exact rejection sentence the user sees) and ``BOMB`` (decoding it unguarded
would take gigabytes, so tests run it in a memory-capped subprocess). ``MODULES`` lists them.
"""

from __future__ import annotations

MODULES = (
    "giant_ref",
    "wide_range",
    "stray_far_cell",
    "lying_dimension",
    "cells_without_refs",
    "giant_shared_string",
    "long_inline_text",
    "not_a_zip",
    "empty_file",
    "truncated_zip",
    "encrypted",
    "old_xls",
    "zip_without_workbook",
    "folder",
    "gbk_name",
)

#: The sentence every rejection ends with (templates.md "Reading a workbook").
FIX_HINT = "请在系统中下载相关表样，重新整理数据后上传。"
