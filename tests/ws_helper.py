"""Small input workbooks for the workspace, CLI and kill tests."""

from __future__ import annotations

from pathlib import Path

from frames_helper import CASE_OK, STAFF_OK, write_book

__all__ = ["case_book", "case_row", "staff_book", "staff_row", "write_book"]


def staff_row(org: str | None, name: str, cert: str = "110000001", **extra: object) -> dict:
    """A valid applicant of ``org`` (``None``: empty 组织机构代码)."""
    row: dict[str, object] = {**STAFF_OK, "姓名": name, "执业证书编码": cert, **extra}
    row["组织机构代码"] = org
    return row


def case_row(org: str | None, number: str, **extra: object) -> dict:
    """A valid record of ``org`` with 病案号 ``number``."""
    row: dict[str, object] = {**CASE_OK, "病案号": number, **extra}
    row["组织机构代码"] = org
    return row


def staff_book(path: Path, *orgs: str | None) -> Path:
    """A staff workbook with one applicant per entry of ``orgs`` (names 甲1, 甲2, ...)."""
    rows = [staff_row(org, f"甲{i + 1}", cert=f"C{i + 1:06d}") for i, org in enumerate(orgs)]
    return write_book(path, "staff", rows)


def case_book(path: Path, *orgs: str | None) -> Path:
    """A case workbook with one record per entry of ``orgs`` (病案号 BA00001, ...)."""
    rows = [case_row(org, f"BA{i + 1:05d}") for i, org in enumerate(orgs)]
    return write_book(path, "cases", rows)
