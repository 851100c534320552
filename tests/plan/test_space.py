"""Search space, recipe arithmetic and objective: known values and hypothesis invariants."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlab.data.errors import InputError
from qdlab.plan import design
from qdlab.plan.campaign import storage_url
from qdlab.plan.objective import Objective, Outcome
from qdlab.plan.space import SearchSpace, aliquot_schedule, build_recipe, feed_composition, rate_profile

SPACE = SearchSpace.default()
VOL = SPACE["cluster_volume_ml"]
CONC = SPACE["p_conc_mol_per_l"]


def test_paper_feed_is_the_default():
    """6 mL 0.50 M Cd(oleate)2 + 6 mL ODE + 290 uL TMSP (reference paper, Experimental)."""
    c = feed_composition(VOL.default, CONC.default)
    assert c["tmsp_volume_ul"] == pytest.approx(290.0, abs=0.5)
    assert c["cd_oleate_stock_ml"] == pytest.approx(6.0, abs=0.01)
    assert c["ode_ml"] == pytest.approx(6.0, abs=0.01)
    assert c["cd_mmol"] == pytest.approx(3.0, abs=5e-3)  # 6 mL x 0.50 M


def test_mass_balance_matches_paper_volume():
    """At the notes' 15 % incorporation the 1010 -> 1277 nm growth needs about the paper's 12.3 mL."""
    v = design.volume_for_target_ml(20.0, 1010.0, 1277.0, CONC.default)
    assert v == pytest.approx(12.29, rel=0.1)
    assert design.seed_diameter_nm(1010.0) == pytest.approx(2.8, abs=0.01)  # the paper's MALDI size
    assert design.volume_for_target_ml(20.0, 1010.0, 1000.0, CONC.default) == 0.0


def test_etch_limit_matches_paper():
    """170 meV bluer than 1102 nm is the paper's 956 nm (A3 of the 1102-nm batch)."""
    assert design.max_blue_shift_nm(1102.0) == pytest.approx(956.0, abs=1.5)


@settings(max_examples=60, deadline=None)
@given(v=st.floats(VOL.low, VOL.high), c=st.floats(CONC.low, CONC.high))
def test_feed_composition_conserves(v, c):
    f = feed_composition(v, c)
    assert f["p_mmol"] == pytest.approx(v * c)
    assert f["cd_oleate_stock_ml"] + f["ode_ml"] + f["tmsp_volume_ul"] * 1e-3 == pytest.approx(v)
    assert f["ode_ml"] >= 0


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.25, 24.0), ramp=st.floats(1.0, 3.0), v=st.floats(0.5, 40.0), n=st.integers(1, 8))
def test_rate_profile_delivers_the_volume(rate, ramp, v, n):
    prof = rate_profile(rate, ramp, v, n_steps=n)
    assert sum(s["volume_ml"] for s in prof) == pytest.approx(v)
    assert all(s["end_min"] > s["start_min"] for s in prof)
    assert all(b["start_min"] == pytest.approx(a["end_min"]) for a, b in itertools.pairwise(prof))
    assert all(s["rate_ml_per_h"] * (s["end_min"] - s["start_min"]) / 60 == pytest.approx(s["volume_ml"]) for s in prof)
    rates = [s["rate_ml_per_h"] for s in prof]
    assert rates == sorted(rates) and rates[0] >= rate * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(d=st.floats(1.0, 5000.0), n=st.integers(2, 30))
def test_aliquot_schedule(d, n):
    t = aliquot_schedule(d, n)
    assert len(t) == n and t[0] == 0.0 and t[-1] == pytest.approx(d) and t == sorted(t)


def test_recipe_rejects_out_of_bounds():
    with pytest.raises(InputError, match="cluster_volume_ml"):
        build_recipe({"cluster_volume_ml": 100.0}, seed_nm=1010.0, seed_mg=20.0)
    with pytest.raises(InputError, match="unknown"):
        build_recipe({"volume": 1.0}, seed_nm=1010.0, seed_mg=20.0)


@settings(max_examples=80, deadline=None)
@given(
    target=st.floats(900.0, 1600.0),
    peak=st.floats(900.0, 1600.0),
    fwhm=st.one_of(st.none(), st.floats(1.0, 500.0)),
    qy=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_objective_invariants(target, peak, fwhm, qy):
    obj = Objective(target_nm=target)
    out = Outcome(pl_peak_nm=peak, fwhm_mev=fwhm, plqy=qy)
    loss = obj.loss(out)
    assert loss >= 0 and math.isfinite(loss)
    assert loss >= abs(peak - target) / 15.0 - 1e-12
    # moving the peak towards the target never increases the loss
    closer = Outcome(pl_peak_nm=(peak + target) / 2, fwhm_mev=fwhm, plqy=qy)
    assert obj.loss(closer) <= loss + 1e-12


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=20))
def test_storage_url_never_shares_the_record_file(name):
    url = storage_url(f"sqlite:////tmp/{name}.db")
    assert url.startswith("sqlite:///") and "campaign" in url.rsplit("/", 1)[-1]


@pytest.mark.parametrize("bad", [dict(pl_peak_nm=-5.0), dict(pl_peak_nm=1200.0, plqy=15.0), dict(pl_peak_nm=1200.0, fwhm_mev=-1.0)])
def test_outcome_validation(bad):
    with pytest.raises(InputError):
        Outcome(**bad)
