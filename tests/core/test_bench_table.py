"""``make bench``'s table: docs/benchmarks.md's summary is what benchmarks/run_all.py makes of docs/benchmarks.json."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_docs_summary_is_generated_from_the_json() -> None:
    run_all = _load("run_all")
    rows = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    section = text.split(run_all.START, 1)[1].split(run_all.END, 1)[0].strip()
    assert section == run_all.table(rows).strip()  # nobody edited the table by hand
    assert {r["benchmark"] for r in rows} >= {"chem", "ms", "pipeline", "spectra", "tem", "twin", "xrd"}


def test_record_ratio_and_target(monkeypatch, tmp_path) -> None:
    table = _load("_table")
    out = tmp_path / "rows.jsonl"
    monkeypatch.setenv("QDLAB_BENCH_RECORDS", str(out))
    a = table.record("x", "fast enough", 2.0, "ms", reference=100.0, reference_name="ref", target=50.0,
                     target_on="ratio", better="higher")
    b = table.record("x", "too slow", 3.0, "s", target=0.5)
    assert a["ratio"] == pytest.approx(50.0) and a["met"] is True and b["met"] is False and b["ratio"] is None
    assert [json.loads(line)["figure"] for line in out.read_text().splitlines()] == ["fast enough", "too slow"]
