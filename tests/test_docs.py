"""The README's and docs' Python examples run as written (docs describe what exists)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import unistack as us

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import quickstart  # writes orders.parquet and customers.parquet, the files the README reads

    monkeypatch.chdir(tmp_path)
    quickstart.write_inputs(str(tmp_path))
    namespace: dict[str, object] = {}
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) >= 3
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    finally:
        us.reset_config()
    table = namespace["table"]
    assert table.schema.equals(namespace["best_months"].schema)  # type: ignore[attr-defined]
    assert 0 < table.num_rows <= 10  # type: ignore[attr-defined]


def test_quickstart_main_prints_result_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    import quickstart

    quickstart.main()
    out = capsys.readouterr().out
    assert "customer-" in out
    assert "== Optimized plan ==" in out
    assert "chosen " in out


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    assert os.access(ROOT / "scripts" / "test.sh", os.X_OK)


def test_streaming_doc_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(ROOT / "docs" / "streaming.md")
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/streaming.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "'k': 'b', 'n': 1" in out and "late_rows_dropped" in out


def test_streaming_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import streaming

    streaming.main()
    out = capsys.readouterr().out
    assert "window_start" in out and "rows_in': 4000" in out
