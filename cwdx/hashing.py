"""Content fingerprints: the SHA-256 of a file's bytes, used to recognise a file imported
before and to key the reference cache. Kept apart from :mod:`cwdx.reader` so that callers
that only hash (the workspace facade, the reference loader) do not import pandas."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 (hex) of a file's bytes, or None when the file cannot be opened."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
