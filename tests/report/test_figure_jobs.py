"""Report figures rendered in forked processes are the figures rendered in this process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qdlab.report import html as H
from qdlab.report.figures import ReportFigure


def _figures(n: int) -> list[ReportFigure]:
    from matplotlib.figure import Figure

    def make(k: int):
        x = np.linspace(0.0, 1.0, 50)
        y = np.sin((k + 1) * 3.0 * x)  # a closure over local arrays: not picklable, hence the fork

        def draw():
            fig = Figure(figsize=(3, 2))
            ax = fig.add_subplot()
            ax.plot(x, y)
            ax.set_title(f"figure {k}")
            return fig, {"x": x, "y": y}

        return draw

    figs = [ReportFigure("series", f"f{k}", f"caption {k}", f"alt {k}", draw=make(k)) for k in range(n)]
    figs.insert(2, ReportFigure("tem", "raster", "a raster", "alt", raster_png=b"\x89PNG fake"))
    return figs


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="POSIX fork")
def test_forked_rendering_writes_the_same_files_as_serial(tmp_path) -> None:
    figs = _figures(5)
    serial = H.write_figures(figs, tmp_path / "a" / "figures", formats=("png",), jobs=1)
    forked = H.write_figures(figs, tmp_path / "b" / "figures", formats=("png",), jobs=2)
    assert [e["name"] for e in serial] == [e["name"] for e in forked] == [f.name for f in figs]
    for e in serial:
        for fmt, rel in e["files"].items():
            a = (tmp_path / "a" / rel).read_bytes()
            b = (tmp_path / "b" / rel).read_bytes()
            assert a == b, (e["name"], fmt)
    assert (tmp_path / "b" / "figures" / "raster.png").read_bytes() == b"\x89PNG fake"
    assert H._FORK_FIGURES == []  # nothing left referenced after the pool


def test_figure_jobs_setting(monkeypatch) -> None:
    monkeypatch.setenv("QDLAB_FIGURE_JOBS", "1")
    assert H.figure_jobs(20) == 1
    monkeypatch.setenv("QDLAB_FIGURE_JOBS", "3")
    assert H.figure_jobs(20) == 3
    monkeypatch.delenv("QDLAB_FIGURE_JOBS")
    assert H.figure_jobs(2) == 1  # too few figures to pay for a pool
    assert 1 <= H.figure_jobs(20) <= min(4, os.cpu_count() or 1)


def test_a_failing_figure_fails_the_same_way_forked(tmp_path) -> None:
    def bad():
        raise RuntimeError("cannot draw")

    figs = [*_figures(4), ReportFigure("series", "bad", "c", "a", draw=bad)]
    with pytest.raises(RuntimeError, match="cannot draw"):
        H.write_figures(figs, tmp_path / "figures", formats=("png",), jobs=2)
