"""The twin's emission (PLQY) model: physics invariants, the fit to Table 2, the generated document."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qdlab.fit import Model, Parameter, fit
from qdlab.twin import emission as em

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "emission_cv.py"
DOC = ROOT / "docs" / "emission.md"


@pytest.fixture(scope="module")
def feats():
    return {b: em.features(b) for b in em.OVERGROWTHS}


def _tool():
    spec = importlib.util.spec_from_file_location("emission_cv", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paper_values_match_table_2():
    # Table 2 and the overgrowth paragraphs of the paper (final QYs of 1010/1145 as in the text)
    want = {"overgrowth-965nm": (22.0, 22.0, 7.3, 0), "overgrowth-1010nm": (13.0, 26.0, 14.8, 5),
            "overgrowth-1102nm": (19.0, 31.0, 6.7, 4), "overgrowth-1145nm": (15.0, 19.0, 17.6, 5)}
    for b, (q0, qb, qf, k) in want.items():
        pq = em.paper_qy(b)
        assert (pq.qy_initial_pct, pq.qy_brightest_pct, pq.qy_final_pct, pq.brightest_aliquot) == (q0, qb, qf, k)


def test_every_parameter_has_unit_and_source():
    cfg = em.emission_config()["fitted"]
    assert set(cfg) == set(em.PARAMETER_NAMES)
    for n in em.PARAMETER_NAMES:
        assert cfg[n]["unit"] and cfg[n]["source"].startswith("[fit]"), n
        assert cfg[n]["min"] <= cfg[n]["value"] <= cfg[n]["max"], n


def test_features_come_from_the_twin(feats):
    for b, f in feats.items():
        assert f.etch_nm_per_min[0] == 0.0 and f.growth_nm_per_min[0] == 0.0
        assert np.all(f.etch_nm_per_min >= 0) and np.all(f.growth_nm_per_min >= 0)
        assert np.all((f.secondary_mass_fraction >= 0) & (f.secondary_mass_fraction <= 1))
        assert len(f.seed_diameter_nm) == 11 and np.all(np.isfinite(f.seed_diameter_nm)), b
    # the strongly etched batches (etch factors 5.8, 7.3) are etched faster than 965 (1.7) in A1
    assert feats["overgrowth-1145nm"].etch_nm_per_min[1] > 3 * feats["overgrowth-965nm"].etch_nm_per_min[1]


def test_qy_in_unit_interval_and_initial_exact(feats):
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = {"surface_exponent": rng.uniform(0, 6), "growth_coefficient_min_per_nm": rng.uniform(0, 1000),
             "etch_coefficient_min_per_nm": rng.uniform(0, 1000), "secondary_coefficient": rng.uniform(0, 100)}
        q0 = rng.uniform(0.01, 1.0)
        for f in feats.values():
            qy = em.quantum_yield(f, q0, p)
            assert np.all((qy > 0) & (qy <= 1))
            assert qy[0] == pytest.approx(q0, rel=1e-12)


@pytest.mark.parametrize("field", ["etch_nm_per_min", "growth_nm_per_min", "secondary_mass_fraction"])
def test_more_trap_channel_never_raises_qy(feats, field):
    rng = np.random.default_rng(1)
    f = feats["overgrowth-1010nm"]
    for _ in range(100):
        p = {"surface_exponent": rng.uniform(0, 6), "growth_coefficient_min_per_nm": rng.uniform(0, 100),
             "etch_coefficient_min_per_nm": rng.uniform(0, 100), "secondary_coefficient": rng.uniform(0, 10)}
        more = replace(f, **{field: getattr(f, field) * rng.uniform(1.0, 5.0) + rng.uniform(0, 0.1)})
        assert np.all(em.quantum_yield(more, 0.13, p) <= em.quantum_yield(f, 0.13, p) + 1e-15)


def test_negative_coefficient_refused(feats):
    with pytest.raises(ValueError):
        em.quantum_yield(feats["overgrowth-965nm"], 0.2, {"etch_coefficient_min_per_nm": -1.0})
    with pytest.raises(ValueError):
        em.quantum_yield(feats["overgrowth-965nm"], 0.0)


def test_shipped_values_are_the_fit_and_reproduce_training_data_within_stated_errors(feats):
    fit = em.fit_emission(feats=feats)
    shipped = em.default_parameters()
    for n in em.PARAMETER_NAMES:
        assert shipped[n] == pytest.approx(fit.params[n], rel=1e-5, abs=1e-12), n
    r = fit.result
    # stated error of one datum: the RMS residual sqrt(RSS/(N-k)) the standard errors are scaled by
    sigma = math.sqrt(r.rss / (r.n_points - r.n_free))
    for b in em.OVERGROWTHS:
        pq = em.paper_qy(b)
        qy = 100 * em.quantum_yield(feats[b], pq.qy_initial_pct / 100, shipped)
        assert qy[0] == pytest.approx(pq.qy_initial_pct)
        assert abs(qy[-1] - pq.qy_final_pct) <= 2.5 * sigma, b
        assert abs(qy[pq.brightest_aliquot] - pq.qy_brightest_pct) <= 2.5 * sigma, b


def test_fit_recovers_known_parameters(feats):
    # synthetic Table 2 from known parameters: the fit layer must find them again (tests the plumbing)
    true = {"surface_exponent": 1.0, "growth_coefficient_min_per_nm": 20.0, "etch_coefficient_min_per_nm": 30.0,
            "secondary_coefficient": 2.0}
    q0 = {b: em.paper_qy(b).qy_initial_pct / 100 for b in em.OVERGROWTHS}
    rows, _ = em._targets(em.OVERGROWTHS)
    y = np.array([100 * em.quantum_yield(feats[em.OVERGROWTHS[b]], q0[em.OVERGROWTHS[b]], true)[k] for b, k in rows])
    model = Model(lambda x, p: np.array([100 * em.quantum_yield(
        feats[em.OVERGROWTHS[rows[int(i)][0]]], q0[em.OVERGROWTHS[rows[int(i)][0]]],
        dict(zip(em.PARAMETER_NAMES, p, strict=True)))[rows[int(i)][1]] for i in x]), em.PARAMETER_NAMES)
    params = [Parameter(n, v * 1.5, min=0.0) for n, v in true.items()]
    r = fit(model, np.arange(len(y), dtype=float), y, params)
    for n, v in true.items():
        assert r[n] == pytest.approx(v, rel=1e-3), n


def test_doc_numbers_equal_what_the_tool_computes():
    tool = _tool()
    assert DOC.read_text() == tool.render(tool.compute()), "docs/emission.md is stale: run tools/emission_cv.py --write"
