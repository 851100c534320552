"""``qdlab run`` on an unchanged folder: recognised from its fingerprint before any analysis."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from qdlab.workflow import run_experiment


def _folder(root: Path, peaks_nm: tuple[float, ...] = (1010.0, 1100.0)) -> Path:
    """Two Gaussian PL spectra (in energy) and a manifest: the smallest folder ``qdlab run`` analyses."""
    from qdlab.units import HC_EV_NM

    (root / "pl").mkdir(parents=True, exist_ok=True)
    lam = np.arange(850.0, 1300.0, 3.0)
    entries = []
    for i, peak in enumerate(peaks_nm):
        y = 1000 * np.exp(-0.5 * ((HC_EV_NM / lam - HC_EV_NM / peak) / 0.04) ** 2) + 5
        np.savetxt(root / "pl" / f"A{i}.csv", np.c_[lam, y], delimiter=",", header="wavelength_nm,intensity",
                   comments="", fmt="%.5f")
        entries.append(f'\n[[aliquots]]\nid = "A{i}"\ntime_min = {10 * i}\npl = "pl/A{i}.csv"\n')
    (root / "experiment.toml").write_text('[experiment]\nid = "noop"\nmaterial = "Cd3P2"\n' + "".join(entries))
    return root


def _no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("an unchanged folder must not be analysed")

    import qdlab.compute
    import qdlab.workflow.pipeline as pipeline

    monkeypatch.setattr(qdlab.compute, "map_progress", boom)
    monkeypatch.setattr(pipeline, "analyse_series", boom)


def _run(folder: Path, db: str, **kw: object):
    return run_experiment(folder, db=db, scheduler="serial", quiet=True, **kw)


def test_unchanged_folder_is_not_analysed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path / "exp")
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    first = _run(folder, db)
    assert first.summary["record"]["action"] == "created"
    with monkeypatch.context() as m:
        _no_analysis(m)
        t0 = time.perf_counter()
        again = _run(folder, db)
        elapsed_s = time.perf_counter() - t0
    assert again.summary["record"] == {**first.summary["record"], "action": "unchanged"}
    assert again.summary["aliquots"] == first.summary["aliquots"]
    assert again.report_html == first.report_html and again.summary_json == first.summary_json
    assert elapsed_s < 2.0  # hashing two files and one query (imports already warm)
    # the fast path must not hide a change: new bytes in one file -> analysed and replaced
    _folder(folder, (1010.0, 1150.0))
    changed = _run(folder, db)
    assert changed.summary["record"]["action"] == "replaced"
    assert changed.summary["aliquots"][1]["pl_peak_nm"] == pytest.approx(1150.0, abs=8)


def test_no_fast_path_without_the_report_or_with_another_qdlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qdlab

    folder = _folder(tmp_path / "exp")
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    _run(folder, db, out=tmp_path / "a")
    analysed: list[int] = []
    import qdlab.compute

    real = qdlab.compute.map_progress

    def counting(*a: object, **k: object):
        analysed.append(1)
        return real(*a, **k)

    monkeypatch.setattr(qdlab.compute, "map_progress", counting)
    # the record is current but this --out has no report yet: analyse and write it (record unchanged)
    res = _run(folder, db, out=tmp_path / "b")
    assert res.summary["record"]["action"] == "unchanged" and analysed
    analysed.clear()
    assert (tmp_path / "b" / "report" / "index.html").exists()
    # another qdlab version: the fingerprint differs, the analyses run again and replace the record
    monkeypatch.setattr(qdlab, "__version__", qdlab.__version__ + ".post1")
    res = _run(folder, db, out=tmp_path / "b")
    assert res.summary["record"]["action"] == "replaced" and analysed
