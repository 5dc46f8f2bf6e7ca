"""The parsed reference lists are cached in the user's cache folder: the cached form equals
the parse, a changed CSV (shipped or ``$CWDX_REFERENCE_DIR``) is parsed again, and a cache
that cannot be written or read only costs the parse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cwdx import reference
from cwdx.log import default_log_path
from cwdx.reference import REFERENCE_FILES, Reference, cache_dir, load_reference, reference_dir


def _fresh_load(directory: Path | None = None) -> Reference:
    """``load_reference`` as a new process runs it (without the per-process memo)."""
    return load_reference.__wrapped__(str(directory) if directory else None)


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> Reference:
        raise AssertionError("parsed the CSVs although the cache holds them")

    monkeypatch.setattr(reference, "parse_reference", refuse)


def _pickles(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped lists as ``$CWDX_REFERENCE_DIR``, and an empty cache folder."""
    folder = tmp_path / "reference"
    folder.mkdir()
    for name in REFERENCE_FILES:
        shutil.copy(reference_dir() / name, folder / name)
    monkeypatch.setenv("CWDX_REFERENCE_DIR", str(folder))
    monkeypatch.setenv("CWDX_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def test_the_first_load_writes_the_cache_and_later_loads_read_it(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _fresh_load()
    assert parsed == reference.parse_reference(lists)
    (written,) = _pickles(tmp_path / "cache")
    assert written.startswith("reference-") and written.endswith(".pickle")
    _no_parsing(monkeypatch)
    cached = _fresh_load()
    assert cached == parsed and cached is not parsed
    assert len(cached.icd10) == 35591 and cached.columns("cases")[0].name == "组织机构代码"
    assert [f.file for f in cached.files] == list(REFERENCE_FILES)


def test_a_changed_list_is_parsed_again_and_its_own_cache_kept(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = (lists / "complications.csv").read_bytes()
    assert "Z99" not in _fresh_load().complications
    (lists / "complications.csv").write_bytes(shipped + "Z99,测试并发症\n".encode())
    changed = _fresh_load()
    assert changed.complications["Z99"] == "测试并发症"
    assert len(_pickles(tmp_path / "cache")) == 2
    (lists / "complications.csv").write_bytes(shipped)  # back as shipped: the first cache
    _no_parsing(monkeypatch)
    assert "Z99" not in _fresh_load().complications


def test_an_unwritable_or_damaged_cache_costs_only_the_parse(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = reference.parse_reference(lists)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("CWDX_CACHE_DIR", str(blocker / "cwdx"))
    assert _fresh_load() == expected
    monkeypatch.setenv("CWDX_CACHE_DIR", str(tmp_path / "cache"))
    _fresh_load()
    (written,) = _pickles(tmp_path / "cache")
    (tmp_path / "cache" / written).write_bytes(b"\x80\x05 truncated")
    assert _fresh_load() == expected  # parsed again and written again, whole
    assert _pickles(tmp_path / "cache") == [written]
    _no_parsing(monkeypatch)
    assert _fresh_load() == expected


@pytest.mark.skipif(os.name == "nt", reason="Windows uses %LOCALAPPDATA%")
def test_the_cache_folder_follows_xdg_and_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWDX_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CWDX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "cwdx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "cwdx"
    # the log without a workspace is kept in the same folder (unless $CWDX_LOG_DIR says)
    monkeypatch.delenv("CWDX_LOG_DIR", raising=False)
    assert default_log_path() == tmp_path / "home" / ".cache" / "cwdx" / "cwdx.log"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_log_path() == tmp_path / "xdg" / "cwdx" / "cwdx.log"
    monkeypatch.setenv("CWDX_LOG_DIR", str(tmp_path / "logs"))
    assert default_log_path() == tmp_path / "logs" / "cwdx.log"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root"
)
def test_a_cache_file_of_another_user_is_not_unpickled(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _fresh_load()
    (written,) = _pickles(tmp_path / "cache")
    os.chown(tmp_path / "cache" / written, 54321, 54321)
    parsed: list[Path] = []
    parse = reference.parse_reference

    def counting(base: Path, files: object = None) -> Reference:
        parsed.append(base)
        return parse(base, files)  # type: ignore[arg-type]

    monkeypatch.setattr(reference, "parse_reference", counting)
    assert _fresh_load() == expected
    assert parsed == [lists]
    assert os.stat(tmp_path / "cache" / written).st_uid == os.getuid()  # replaced by ours
