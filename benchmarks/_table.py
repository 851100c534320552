"""One row per measured figure, collected by ``run_all.py`` into ``docs/benchmarks.json`` and the generated
summary table of ``docs/benchmarks.md``.

A benchmark calls :func:`record` for each figure it measures (its own printout stays as it is). Outside
``make bench`` (no ``QDLAB_BENCH_RECORDS`` in the environment) the rows are only printed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any


def record(benchmark: str, figure: str, qdlab: float, unit: str, *, reference: float | None = None,
           reference_name: str | None = None, target: float | None = None, target_on: str = "qdlab",
           better: str = "lower", note: str = "") -> dict[str, Any]:
    """Record one figure.

    Parameters
    ----------
    benchmark, figure
        The script and what was measured.
    qdlab, unit
        qdlab's figure and its unit (``ms``, ``s``, ...).
    reference, reference_name
        The reference's figure in the same unit, measured in the same run, and what it is.
    target, target_on, better
        The issue's target, whether it applies to qdlab's figure or to the ratio reference/qdlab, and
        whether lower or higher is better; ``None``: reported, no target.
    note
        Conditions worth knowing (sizes, load).
    """
    qdlab = float(qdlab)
    reference = None if reference is None else float(reference)
    ratio = reference / qdlab if reference is not None and qdlab > 0 else None
    met = None
    if target is not None:
        value = qdlab if target_on == "qdlab" else ratio
        if value is not None:
            met = bool(value <= target) if better == "lower" else bool(value >= target)
    row = {"benchmark": benchmark, "figure": figure, "qdlab": qdlab, "unit": unit, "reference": reference,
           "reference_name": reference_name, "ratio": ratio, "target": target, "target_on": target_on,
           "better": better, "met": met, "note": note, "load_1min": os.getloadavg()[0],
           "measured": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    path = os.environ.get("QDLAB_BENCH_RECORDS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    return row
