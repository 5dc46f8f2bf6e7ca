"""Imported once by the fork server of the helper processes (:mod:`cwdx.pool`): everything a
stage's piece needs (decoding, checking, computing, writing workbooks) and the reference lists,
so each helper forked from it starts warm. Importing it has no other effect."""

from __future__ import annotations

import contextlib

import cwdx.check
import cwdx.feedback
import cwdx.metrics.compute
import cwdx.results
import cwdx.workspace.decode
import cwdx.xlsx_guard  # noqa: F401 - imported for its side effect of being loaded
from cwdx.errors import CwdxError
from cwdx.reference import load_reference

# a piece that needs the lists says what is wrong with them
with contextlib.suppress(CwdxError, OSError):
    load_reference()
