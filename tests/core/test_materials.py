import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdlab.data import InputError
from qdlab.materials import (
    KaneCurve,
    curve_for,
    diameter_to_mass_da,
    fit_sizing_curve,
    formula_units,
    get_material,
    list_materials,
    mass_da_to_diameter_nm,
)


def test_materials_have_sources_and_units():
    for name in list_materials():
        m = get_material(name)
        for q in m.params.values():
            assert q.unit and q.source
        assert 3 < m.density_g_per_cm3("xray") < 7


def test_cd3p2_xray_density_from_lattice():
    m = get_material("cd3p2")
    assert m.density_g_per_cm3("xray") == pytest.approx(5.62, abs=0.01)
    assert m.formula_mass_da == pytest.approx(399.19, abs=0.01)
    assert m.molar_volume_cm3_per_mol == pytest.approx(71.05, abs=0.1)
    with pytest.raises(InputError, match="unknown material"):
        get_material("unobtainium")


@pytest.mark.parametrize(("mass_da", "paper_nm"), [(40_000, 2.8), (140_000, 4.2)])
def test_paper_maldi_sizes_with_handbook_density(mass_da, paper_nm):
    # "the QDs emitting at 1010 nm estimated growth from 2.8 nm to 4.2 nm" (40 and 140 kDa bands)
    assert float(mass_da_to_diameter_nm(mass_da, density="handbook")) == pytest.approx(paper_nm, abs=0.05)


def test_mass_diameter_round_trip_with_ligands():
    d = np.array([2.0, 3.4, 5.0])
    for sigma in (0.0, 2.0):
        m = diameter_to_mass_da(d, ligands_per_nm2=sigma)
        np.testing.assert_allclose(mass_da_to_diameter_nm(m, ligands_per_nm2=sigma), d, rtol=1e-10)
    # ligand shells make the same mass a smaller core (notes-physics §3: sigma=2 -> 2.48 / 3.99 nm for 38 / 140 kDa at rho 5.6)
    assert mass_da_to_diameter_nm(38_000, density=5.6, ligands_per_nm2=2) == pytest.approx(2.48, abs=0.01)
    assert mass_da_to_diameter_nm(140_000, density=5.6, ligands_per_nm2=2) == pytest.approx(3.99, abs=0.01)
    # 38 kDa is about 95 Cd3P2 units
    assert float(formula_units(mass_da_to_diameter_nm(38_000))) == pytest.approx(95.2, abs=0.5)


def test_kane_curve_matches_notes_table():
    k = curve_for("Cd3P2", "kane")
    assert isinstance(k, KaneCurve)
    np.testing.assert_allclose(k.energy_ev([2.0, 3.4, 5.0, 8.0]), [2.97, 1.69, 1.20, 0.86], atol=0.01)
    # bulk limit
    assert float(k.energy_ev(1000.0)) == pytest.approx(0.53, abs=0.01)


def test_default_cd3p2_curve_reproduces_its_anchors_and_is_monotonic():
    c = curve_for("Cd3P2")
    np.testing.assert_allclose(c.emission_nm([2.8, 4.2]), [1010, 1277], atol=0.5)
    d = np.linspace(1.0, 20, 200)
    assert np.all(np.diff(c.energy_ev(d)) < 0)
    # Stokes shift equals the cluster value
    assert 1000 * (c.energy_ev(3.0) - c.emission_energy_ev(3.0)) == pytest.approx(48.8)


@given(st.floats(min_value=600, max_value=2400))
def test_wavelength_diameter_wavelength_round_trip(lam):
    for kind in ("moreels", "kane"):
        c = curve_for("Cd3P2", kind)
        d = c.diameter_from_emission_nm(lam)
        assert float(c.emission_nm(d)) == pytest.approx(lam, rel=1e-7)


def test_fit_recovers_synthetic_truth_with_uncertainty():
    truth = curve_for("Cd3P2")
    rng = np.random.default_rng(1)
    d = np.linspace(2.0, 6.0, 12)
    e = truth.energy_ev(d) + rng.normal(0, 0.005, d.size)
    fit = fit_sizing_curve(d, energy_ev=e, kind="moreels")
    assert fit.params["b_per_ev_nm"] == pytest.approx(truth.b_per_ev_nm, abs=3 * fit.std["b_per_ev_nm"] + 1e-3)
    assert fit.rms_residual_ev == pytest.approx(0.005, rel=0.5)
    assert np.all(np.isfinite(list(fit.std.values())))
    kfit = fit_sizing_curve(d, energy_ev=curve_for("Cd3P2", "kane").energy_ev(d), kind="kane")
    assert kfit.params["electron_mass_rel"] == pytest.approx(0.045, rel=1e-3)
    assert kfit.params["hole_mass_rel"] == pytest.approx(0.5, rel=1e-2)
    assert "Sizing fit" in kfit.report()


def test_fit_rejects_bad_input():
    with pytest.raises(InputError, match="bulk gap"):
        fit_sizing_curve([2, 3], energy_ev=[0.4, 0.5])
    with pytest.raises(InputError, match="at least 2"):
        fit_sizing_curve([2], emission_nm=[1000])
