"""The error-controlled Lagrangian solver: closed forms, the class pool, and convergence on every scenario."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from qdlab.data.errors import InputError, ModelError
from qdlab.twin import list_scenarios, load_scenario, simulate
from qdlab.twin.model import P_RC, cnt_nucleation, fusion_kernel_l_per_mol_s, growth_coefficients, pack_parameters
from qdlab.twin.parameters import KineticParameters, default_parameters
from qdlab.twin.solver import SolverSettings, evolve_closed

T_C = 180.0
T_K = T_C + 273.15
NA = 6.02214076e23


def _bare(**kw: float) -> KineticParameters:
    """The shared set with every process but the one under test switched off."""
    base = default_parameters().model_dump() | dict(
        acid_solubility_l_per_mol=0.0, nucleation_prefactor_per_l_s=0.0, fusion_probability=0.0,
        etch_rate_nm_per_s_per_m=0.0, coalescence_l_per_mol_s=0.0)
    return KineticParameters(**(base | kw))


def test_cnt_nuclei_at_constant_s_equal_j_times_t() -> None:
    # closed form: at a frozen supersaturation the number born is N = J V t, whatever the step
    s, vol, tend = 4.0, 0.02, 50.0
    kp = _bare(nucleation_prefactor_per_l_s=1e20)
    lc = kp.capillary_length_nm(T_K)
    n_lc = 4 / 3 * math.pi * lc**3 / kp.unit_volume_nm3
    j_closed = 1e20 * math.exp(-n_lc / (2 * math.log(s) ** 2))  # CNT written out, not the kernel's helper
    assert j_closed > 0
    for settings in (SolverSettings(), SolverSettings(dt_max_s=0.7, rtol=1e-2)):
        out = evolve_closed(np.array([2.0]), np.array([1e-12]), kp, temperature_c=T_C, times_s=np.array([0.0, tend]),
                            volume_l=vol, fixed_supersaturation=s, settings=settings, nucleation_at_fixed_s=True)
        n_born = float(out["nuclei_mol"][0])
        assert n_born == pytest.approx(j_closed * vol * tend / NA, rel=1e-9)
        # and the nuclei are in the classes (origin 1), none merged into the seed class
        sec = out["secondary"][-1]
        assert float(out["number_mol"][-1][sec].sum()) == pytest.approx(n_born, rel=1e-9)
        assert out["number_mol"][-1][0] == pytest.approx(1e-12, rel=1e-12)


def test_nucleation_below_the_floor_forms_no_class() -> None:
    # the same closed form on either side of SolverSettings.min_nucleation_per_s: J V = 2x the floor gives
    # exactly J V t nuclei, J V = floor / 2 gives none, and the monomer reservoir pays for neither differently
    s, vol, tend = 4.0, 0.02, 50.0
    kp = _bare(nucleation_prefactor_per_l_s=1.0)
    lc = kp.capillary_length_nm(T_K)
    n_lc = 4 / 3 * math.pi * lc**3 / kp.unit_volume_nm3
    j_per_prefactor = math.exp(-n_lc / (2 * math.log(s) ** 2))
    for factor, expect_nuclei in ((2.0, True), (0.5, False)):
        floor_per_s = 10.0
        prefactor = factor * floor_per_s / (j_per_prefactor * vol)  # J V = factor x floor, nuclei per second
        kp_f = _bare(nucleation_prefactor_per_l_s=prefactor)
        out = evolve_closed(np.array([2.0]), np.array([1e-12]), kp_f, temperature_c=T_C,
                            times_s=np.array([0.0, tend]), volume_l=vol, fixed_supersaturation=s,
                            settings=SolverSettings(min_nucleation_per_s=floor_per_s), nucleation_at_fixed_s=True)
        n_born = float(out["nuclei_mol"][0])
        if expect_nuclei:
            assert n_born * NA == pytest.approx(factor * floor_per_s * tend, rel=1e-9)
        else:
            assert n_born == 0.0
            assert not out["secondary"][-1].any() or float(out["number_mol"][-1][out["secondary"][-1]].sum()) == 0.0


def test_nucleation_floor_is_refined_and_validated() -> None:
    assert SolverSettings().refined(4).min_nucleation_per_s == pytest.approx(SolverSettings().min_nucleation_per_s / 4)
    with pytest.raises(InputError, match="min_nucleation_per_s"):
        SolverSettings(min_nucleation_per_s=-1.0)
    with pytest.raises(InputError, match="min_nucleation_per_s"):
        SolverSettings(min_nucleation_per_s=float("nan"))


def test_nucleation_floor_drops_only_sub_particle_classes() -> None:
    # a slow (5.5-h) injection: with the floor off, hundreds of classes hold less than one particle; the floor
    # removes them and no observable moves (the mass balance stays closed in both)
    from qdlab.plan.space import SearchSpace, reference_value
    from qdlab.plan.twin_model import TwinModel

    model = TwinModel(seed_nm=reference_value("seeds.emission_nm"), seed_mg=reference_value("seeds.mass_mg"))
    sc = model.scenario({**SearchSpace.default().defaults(), "cluster_volume_ml": 13.37,
                         "injection_rate_ml_per_h": 2.449}, 1.0)
    base = SolverSettings.for_scenario(sc)
    off = simulate(sc, settings=dataclasses.replace(base, min_nucleation_per_s=0.0))
    on = simulate(sc, settings=base)
    n_off, n_on = off.size_distributions[-1].number_mol, on.size_distributions[-1].number_mol
    assert int((n_off * NA < 1).sum()) > 300
    assert int((n_on * NA < 1).sum()) < int((n_off * NA < 1).sum()) / 5
    assert n_on.size < 0.6 * n_off.size
    assert on.mass_balance_error < 1e-12 and off.mass_balance_error < 1e-12
    for a, b in zip(off.aliquots, on.aliquots, strict=True):
        assert abs(a.pl_peak_nm - b.pl_peak_nm) <= 0.5, a.aliquot_id
        assert abs(a.fwhm_mev - b.fwhm_mev) <= 0.5, a.aliquot_id
        assert a.secondary_mass_fraction == pytest.approx(b.secondary_mass_fraction, rel=1e-3, abs=1e-9)


def test_smoluchowski_kernel_formula() -> None:
    # beta = 4 pi (D_C + D_QD)(r_C + r_QD) p N_A, D_QD by Stokes-Einstein with the ligand shell
    kp = default_parameters()
    r, rc, dc, eta, shell, pf = 2.0, kp.cluster_radius_nm(), 3e-10, 1e-3, 1.8, 1e-3
    kb = 1.380649e-23
    d_qd = kb * T_K / (6 * math.pi * eta * (r + shell) * 1e-9)
    expected = 4 * math.pi * (dc + d_qd) * (rc + r) * 1e-9 * pf * NA * 1e3  # L/(mol s)
    assert fusion_kernel_l_per_mol_s(r, rc, dc, T_K, eta, shell, pf) == pytest.approx(expected, rel=1e-8)  # k_B via eV: 4e-12 apart


def test_fusion_rate_in_the_solver_matches_the_kernel_formula() -> None:
    # MSC fusion onto one QD class in a closed flask: d(units per QD)/dt = beta [C] with the MSC decaying as
    # dC/dt = -(k_diss + beta N/V) C (no coalescence, no precursor): a closed form for the units gained
    kp = _bare(fusion_probability=1e-4, cluster_dissolution_per_s=1e-4, solubility_mol_per_l=1e-12,
               growth_rate_m_per_s=1e-30)
    p = pack_parameters(kp)
    r0, n_qd, vol, c0, tend = 2.0, 1e-9, 0.01, 1e-6, 200.0
    beta = fusion_kernel_l_per_mol_s(r0, p[P_RC], kp.cluster_diffusion_m2_per_s, T_K, kp.qd_viscosity_pa_s,
                                     kp.ligand_shell_nm, kp.fusion_probability)
    lam = kp.cluster_dissolution_per_s + beta * n_qd / vol
    # the fusion rate changes with r only through (r_C + r) and D_QD(r): small over the run, so use the kernel at r0
    gained = beta * c0 / vol / lam * (1 - math.exp(-lam * tend))  # units per QD
    from qdlab.twin import kernel as kn

    cap = 8
    r = np.zeros(cap)
    nn = np.zeros(cap)
    r[0], nn[0] = r0, n_qd
    x = np.zeros(kn.N_X)
    x[kn.X_V], x[kn.X_NC] = vol, c0
    outs = (np.zeros((2, cap)), np.zeros((2, cap)), np.zeros((2, cap), dtype=np.int8), np.zeros((2, kn.N_REC)))
    steps = kn.run_kernel(p, r, nn, np.zeros(cap, dtype=np.int8), np.ones(cap), np.ones(cap), np.zeros(cap), 1, x,
                          np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([T_K]), np.zeros(3), tend,
                          np.array([0.0, tend]), 0.0, 5.0, 1e308, 1e-9, True, -1.0, True, 1e-6, 1e-12, 1e-7, 1e-3,
                          1e308, 0.02, 10**6, False, 0.0, False, *outs)
    assert steps > 0
    u0 = 4 / 3 * math.pi * r0**3 / kp.unit_volume_nm3
    u1 = 4 / 3 * math.pi * r[0] ** 3 / kp.unit_volume_nm3
    assert u1 - u0 == pytest.approx(gained, rel=2e-3)


def test_growth_law_at_fixed_s_matches_ode() -> None:
    # Talapin growth of a single class at frozen S, error-controlled, against scipy's DOP853
    from scipy.integrate import solve_ivp

    kp = _bare(solubility_mol_per_l=1e-3)
    p = pack_parameters(kp)
    lc = kp.capillary_length_nm(T_K)
    s, tend, r0 = 3.0, 20.0, 1.5
    d_nm2 = kp.diffusion_m2_per_s * 1e18
    kg_nm = kp.growth_rate_m_per_s * 1e9
    phi = kp.molar_volume_l_per_mol * kp.solubility_mol_per_l

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        a, b = growth_coefficients(float(y[0]), lc, kp.transfer_coefficient, d_nm2, kg_nm, phi, 0.0)
        return np.array([a * s - b])

    exact = solve_ivp(rhs, (0, tend), [r0], method="DOP853", rtol=1e-11, atol=1e-12).y[0, -1]
    assert p[0] == pytest.approx(T_K)
    out = evolve_closed(np.array([r0]), np.array([1e-9]), kp, temperature_c=T_C, times_s=np.array([0.0, tend]),
                        fixed_supersaturation=s, settings=SolverSettings(rtol=1e-6, atol_radius_nm=1e-7))
    assert abs(exact - r0) > 0.1  # it moved (below the critical size at S = 3: it dissolves)
    assert out["radius_nm"][-1][0] == pytest.approx(exact, abs=1e-4)


def test_cnt_kernel_helper_matches_closed_form() -> None:
    kp = default_parameters()
    lc = kp.capillary_length_nm(T_K)
    j, rstar = cnt_nucleation(3.0, lc, kp.unit_volume_nm3, 1e20)
    n_lc = 4 / 3 * math.pi * lc**3 / kp.unit_volume_nm3
    assert j == pytest.approx(1e20 * math.exp(-n_lc / (2 * math.log(3.0) ** 2)), rel=1e-12)
    assert rstar == pytest.approx(lc / math.log(3.0), rel=1e-12)


def test_class_pool_grows_instead_of_merging() -> None:
    # a tiny pool and a fine class resolution: the solver must grow the pool, not merge nuclei into other classes
    small = SolverSettings(class_pool=1, nucleation_window_s=0.5)
    big = SolverSettings(class_pool=20000, nucleation_window_s=0.5)
    a = simulate("hot-injection-1145nm", settings=small)
    b = simulate("hot-injection-1145nm", settings=big)
    assert a.aliquots[-1].n_classes > 1
    assert a.aliquots[-1].pl_peak_nm == pytest.approx(b.aliquots[-1].pl_peak_nm, abs=1e-9)
    assert a.aliquots[-1].n_classes == b.aliquots[-1].n_classes


def test_class_pool_limit_raises() -> None:
    with pytest.raises(ModelError, match="size classes"):
        simulate("hot-injection-1145nm", settings=SolverSettings(class_pool=2, max_classes=3, nucleation_window_s=0.5))


def test_step_budget_raises() -> None:
    with pytest.raises(ModelError, match="solver steps"):
        simulate("overgrowth-1010nm", settings=SolverSettings(max_steps=50))


def test_bad_settings_are_input_errors() -> None:
    with pytest.raises(InputError, match="rtol"):
        SolverSettings(rtol=0.0)
    with pytest.raises(InputError, match="nucleation_window_s"):
        SolverSettings(nucleation_window_s=-1.0)


def test_old_keywords_map_onto_settings() -> None:
    # dt_max_s is only a cap on the error-controlled step now: the old 971 -> 1638 nm step dependence is gone
    a = simulate("hot-injection-965nm", dt_max_s=5.0).aliquots[-1].pl_peak_nm
    b = simulate("hot-injection-965nm", dt_max_s=0.1).aliquots[-1].pl_peak_nm
    assert abs(a - b) < 1.0


def _assert_converged(name: str) -> None:
    base = SolverSettings.for_scenario(load_scenario(name))
    r0 = simulate(name, settings=base)
    r1 = simulate(name, settings=base.refined(4))
    for a, b in zip(r0.aliquots, r1.aliquots, strict=True):
        assert abs(a.pl_peak_nm - b.pl_peak_nm) <= 1.0, (name, a.aliquot_id, a.pl_peak_nm, b.pl_peak_nm)
        assert abs(a.fwhm_mev - b.fwhm_mev) <= 2.0, (name, a.aliquot_id, a.fwhm_mev, b.fwhm_mev)


def test_converged_one_scenario() -> None:
    _assert_converged("overgrowth-1102nm")


@pytest.mark.slow
@pytest.mark.parametrize("name", list_scenarios())
def test_converged_every_scenario(name: str) -> None:
    _assert_converged(name)


def test_spectra_last_summarizes_only_the_product() -> None:
    full = simulate("overgrowth-965nm")
    last = simulate("overgrowth-965nm", spectra="last")
    assert last.aliquots[-1] == full.aliquots[-1]  # the same run, the same product summary
    for a, b in zip(full.aliquots[:-1], last.aliquots[:-1], strict=True):
        assert math.isnan(b.pl_peak_nm) and math.isfinite(a.pl_peak_nm)
        assert b.mean_diameter_nm == a.mean_diameter_nm  # sizes are still summarized
    with pytest.raises(InputError, match="spectra"):
        simulate("overgrowth-965nm", spectra="first")
