"""Every output of ``cwdx run`` on the demo province is what it was (see tests/golden_outputs.py)."""

from __future__ import annotations

import json

from golden_outputs import GOLDEN_FILE, differences, digest_run


def test_run_outputs_equal_the_golden_digest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(digest_run(tmp_path), ensure_ascii=False, sort_keys=True))
    changed = differences(expected, actual)
    assert not changed, "cwdx run 的输出与黄金样本不同：\n" + "\n".join(changed)
