"""A password-protected workbook: Excel stores it as an OLE2 compound file holding an
``EncryptionInfo`` and an ``EncryptedPackage`` stream."""

from __future__ import annotations

from pathlib import Path

from hostile import FIX_HINT

FILE_NAME = "有密码.xlsx"
BOMB = False
EXPECTED = (
    f"文件“{FILE_NAME}”设有打开密码（已加密），系统无法读取，请在 Excel 中打开该文件，"
    f"在“文件→信息→保护工作簿→用密码进行加密”中清空密码后另存为 .xlsx。{FIX_HINT}"
)
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _directory_entry(name: str) -> bytes:
    encoded = (name + "\0").encode("utf-16-le")
    return encoded.ljust(64, b"\0") + len(encoded).to_bytes(2, "little") + b"\2" + b"\0" * 61


def build(folder: Path) -> Path:
    """Write the file into ``folder``: a compound-file header and a directory sector naming
    the two streams of an encrypted workbook (what the guard looks for)."""
    header = CFB_MAGIC + b"\0" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    header = header.ljust(512, b"\xff")
    directory = b"".join(
        _directory_entry(name)
        for name in ("Root Entry", "EncryptionInfo", "EncryptedPackage", "\x06DataSpaces")
    )
    path = folder / FILE_NAME
    path.write_bytes(header + directory.ljust(512, b"\0") + b"\0" * 4096)
    return path
