from __future__ import annotations

import numpy as np

from qdlab.plan.benchmark import make_cases, plot_benchmark, run_benchmark


def test_cases_are_reproducible_and_in_range(standin):
    a = make_cases(standin, 5, rng_seed=1)
    b = make_cases(standin, 5, rng_seed=1)
    assert a == b
    assert all(1150 <= c.target_nm <= 1400 for c in a)
    assert len({c.truth_parameters["efficiency"] for c in a}) == 5


def test_benchmark_on_standin(standin, tmp_path):
    res = run_benchmark(standin, n_targets=4, budget=5, scheduler="serial", show=False)
    s = res.summary
    assert set(s) == {"twin", "tpe", "random"}
    assert s["twin"]["success_rate"] == 1.0  # an exact two-parameter residual model finds the hidden efficiency
    assert s["twin"]["success_rate"] >= s["random"]["success_rate"]
    curve = np.array(s["twin"]["median_best_error_nm"])
    assert np.all(np.diff(curve) <= 0)  # best-so-far never gets worse
    paths = plot_benchmark(res, str(tmp_path / "planner"))
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 1000 for p in paths)
