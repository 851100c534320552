"""Eulerian method-of-lines reference: the twin's model as one ODE system, integrated with no splitting.

The Lagrangian solver (:mod:`qdlab.twin.kernel`) moves size classes and advances the chemistry by an
operator-split step with an implicit supersaturation and explicit nucleation. This module answers the same
question with everything numerical different and everything physical shared:

* **Shared** (imported, not retyped): every rate law in :mod:`qdlab.twin.model` (conditions, the
  Talapin growth law, the MSC acid activation and sink temperature factors, the Smoluchowski fusion
  kernel, classical nucleation), the feed pump's composition, the aliquot withdrawal and the protocol's
  event times (:mod:`qdlab.twin.kernel`).
* **Different**: sizes are a number density on a fixed radius grid, two populations (seed-born particles
  with the seeds' surface factors, nucleated ones with factor 1), transported with face fluxes and a
  smooth van Albada-limited reconstruction; time is one explicit Dormand-Prince 5(4) integration of the
  whole state with embedded error control: growth, dissolution, etching, feed, precursor conversion, MSC
  dissolution, fusion and coalescence and CNT nucleation act at once, the supersaturation is simply
  ``M / (M_inf V)`` and nuclei enter the bin of their radius as a continuous source.

Agreement of the two on every shipped scenario (``tests/twin/test_eulerian.py``, ``tools/convergence.py``)
is evidence that the Lagrangian answer is the model's and not its splitting's or its classes'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from qdlab.twin.kernel import (
    N_X,
    X_FED,
    X_FEEDLEFT,
    X_LOST,
    X_NC,
    X_NM,
    X_NOA,
    X_NP,
    X_NUC,
    X_NUCU,
    X_S,
    X_V,
    X_WD,
    _interp,
    _step_value,
    next_event_time,
    withdraw_aliquot,
)
from qdlab.twin.model import (
    P_ALPHA,
    P_ANUC,
    P_DC,
    P_ETA,
    P_KCC,
    P_KET,
    P_MCC,
    P_NC,
    P_NUOA,
    P_PFUSE,
    P_RC,
    P_RMIN,
    P_SHELL,
    P_VM,
    P_VU,
    cnt_nucleation,
    conditions,
    fusion_kernel_l_per_mol_s,
    growth_coefficients,
    msc_acid_activation,
    msc_sink_temperature_factors,
    pack_parameters,
    radius_of_units,
    units_of_radius,
)

_NA = 6.02214076e23

#: Bin width (nm) at which this solver matches the twin on each shipped scenario (docs/cross-check.md): the
#: narrow ~1-nm cluster-heating QDs need finer bins, fixed bins diffusing them most (dE/dr is steep there)
CROSS_CHECK_DR_NM: dict[str, float] = {"cluster-heating-180c": 2.5e-4}
DEFAULT_DR_NM = 1e-3
_FOUR_PI = 12.566370614359172

# Dormand-Prince 5(4) tableau (Dormand & Prince, J. Comput. Appl. Math. 6, 19 (1980); Hairer, Norsett &
# Wanner, Solving ODEs I, table 5.2)
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.array([
    [0, 0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
])
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
_E = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


@njit(cache=True)
def _face_density(n: np.ndarray, f: int, g: float, dr: float) -> float:
    """Number density (per nm) at face ``f`` reconstructed upwind of velocity ``g`` (van Albada limiter).

    Cells outside the grid are empty. The van Albada limiter ``phi(q) = (q^2 + q) / (q^2 + 1)`` is smooth,
    so the right-hand side stays differentiable for the error-controlled integrator.
    """
    m = n.size
    if g >= 0.0:
        if f - 1 < 0:
            return 0.0
        c = n[f - 1]
        up = n[f - 2] if f - 2 >= 0 else 0.0
        dn = n[f] if f < m else 0.0
    else:
        if f >= m:
            return 0.0
        c = n[f]
        up = n[f + 1] if f + 1 < m else 0.0
        dn = n[f - 1] if f - 1 >= 0 else 0.0
    d1 = c - up
    d2 = dn - c
    val = c
    if d1 * d2 > 0.0:
        val = c + 0.5 * d2 * (d1 * d1 + d1 * d2) / (d1 * d1 + d2 * d2)
    return max(val, 0.0) / dr


@njit(cache=True)
def _rhs(t: float, y: np.ndarray, dy: np.ndarray, p: np.ndarray, m: int, edges: np.ndarray, uc: np.ndarray,
         du: np.ndarray, dr: float, q: float, temp_t: np.ndarray, temp_k: np.ndarray, feed_c: np.ndarray,
         seed_gmul: float, seed_emul: float, j_coal: int) -> None:
    """d(state)/dt. State: seed-born bins (mol), nucleated bins (mol), then the kernel's scalar vector ``x``."""
    x0 = 2 * m
    vol = y[x0 + X_V]
    oa = y[x0 + X_NOA] / vol
    temp = _interp(t, temp_t, temp_k)
    lc, d_nm2, kg_nm, minf, kform, kdiss = conditions(p, temp, oa)
    phi = p[P_VM] * minf
    etch = p[P_KET] * oa
    msat = minf * vol
    s = max(y[x0 + X_NM], 0.0) / msat
    act = msc_acid_activation(p, oa)
    tfus, tcc = msc_sink_temperature_factors(p, temp)
    nc_units = max(y[x0 + X_NC], 0.0)
    vu = p[P_VU]
    for i in range(dy.size):
        dy[i] = 0.0
    to_monomer = 0.0  # units per second, summed over faces
    to_lost = 0.0
    from_clusters = 0.0
    for pop in range(2):
        gm = seed_gmul if pop == 0 else 1.0
        em = seed_emul if pop == 0 else 1.0
        n = y[pop * m: (pop + 1) * m]
        prev_flux = 0.0
        for f in range(m + 1):
            rf = edges[f]
            a_, b_ = growth_coefficients(rf, lc, p[P_ALPHA], d_nm2, kg_nm * gm, phi, etch * em)
            g_mono = a_ * s - (b_ - etch * em)
            g_etch = -etch * em
            g_fus = 0.0
            if p[P_PFUSE] > 0.0 and nc_units > 0.0:
                beta = fusion_kernel_l_per_mol_s(rf, p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL],
                                                 p[P_PFUSE] * gm * act * tfus)
                g_fus = nc_units * beta / vol * vu / (_FOUR_PI * rf * rf)
            g = g_mono + g_etch + g_fus
            flux = 0.0
            if f < m:  # no flux through the top face (the grid reaches beyond every particle)
                flux = g * _face_density(n, f, g, dr)
            if f == 0 and g > 0.0:
                flux = 0.0
            if flux != 0.0 and g != 0.0:
                units = flux * du[f]  # units per second carried across face f
                to_monomer -= units * g_mono / g
                to_lost -= units * g_etch / g
                from_clusters += units * g_fus / g
            if f > 0:
                dy[pop * m + f - 1] = prev_flux - flux
            prev_flux = flux
    # feed, precursor, MSC (first-order formation, dissolution; fusion through the fluxes; coalescence)
    q_eff = q if y[x0 + X_FEEDLEFT] > 0.0 else 0.0
    dy[x0 + X_V] = q_eff
    dy[x0 + X_FEEDLEFT] = -q_eff
    dy[x0 + X_FED] = q_eff * (feed_c[0] + feed_c[1])
    dy[x0 + X_NP] = q_eff * feed_c[0] - kform * y[x0 + X_NP]
    kap = p[P_MCC] * p[P_KCC] * act * tcc / (p[P_NC] * vol)
    coal = kap * nc_units * nc_units
    dy[x0 + X_NC] = kform * y[x0 + X_NP] + q_eff * feed_c[1] - kdiss * nc_units - from_clusters - coal
    nm_rate = kdiss * nc_units + to_monomer
    if coal > 0.0:
        dn = coal / (p[P_MCC] * p[P_NC])
        dy[m + j_coal] += dn
        nm_rate += coal - dn * uc[j_coal]  # the bin holds uc units per nucleus; the rest stays monomer
        dy[x0 + X_NUC] += dn
        dy[x0 + X_NUCU] += coal
    if p[P_ANUC] > 0.0:
        jrate, rstar = cnt_nucleation(s, lc, vu, p[P_ANUC])
        if jrate > 0.0:
            rnuc = max(1.02 * rstar, 1.5 * p[P_RMIN])
            j = min(max(int((rnuc - edges[0]) / dr), 0), m - 1)
            dn = jrate * vol / _NA
            dy[m + j] += dn
            nm_rate -= dn * uc[j]
            dy[x0 + X_NUC] += dn
            dy[x0 + X_NUCU] += dn * uc[j]
    dy[x0 + X_NM] = nm_rate
    dy[x0 + X_LOST] = to_lost
    dy[x0 + X_NOA] = q_eff * feed_c[2] - p[P_NUOA] * to_lost


@njit(cache=True)
def run_mol(p: np.ndarray, edges: np.ndarray, y: np.ndarray, rate_t: np.ndarray, rate_q: np.ndarray,
            temp_t: np.ndarray, temp_k: np.ndarray, feed_c: np.ndarray, t_end: float, ali_t: np.ndarray,
            ali_vol: float, seed_gmul: float, seed_emul: float, rtol: float, out_y: np.ndarray,
            max_steps: int) -> tuple:
    """Integrate from 0 to ``t_end``; the state at each aliquot (before withdrawal) goes to ``out_y``.

    Returns ``(accepted steps, rejected steps, status)``: status 0 ok, 2 step budget exhausted.
    """
    m = edges.size - 1
    vu = p[P_VU]
    dr = edges[1] - edges[0]
    uc = np.empty(m)
    for j in range(m):
        uc[j] = units_of_radius(0.5 * (edges[j] + edges[j + 1]), vu)
    du = np.empty(m + 1)
    du[0] = uc[0]
    for f in range(1, m):
        du[f] = uc[f] - uc[f - 1]
    du[m] = 0.0
    rn = radius_of_units(p[P_MCC] * p[P_NC], vu)
    j_coal = min(max(int((rn - edges[0]) / dr), 0), m - 1)
    ny = y.size
    k = np.zeros((7, ny))
    ytmp = np.empty(ny)
    ynew = np.empty(ny)
    t = 0.0
    ia = 0
    h = 1e-3
    acc = 0
    rej = 0
    x0 = 2 * m
    while True:
        while ia < ali_t.size and ali_t[ia] <= t + 1e-9:
            out_y[ia, :] = y
            qd = 0.0
            for j in range(m):
                qd += (y[j] + y[m + j]) * uc[j]
            withdraw_aliquot(y[x0:], y[: 2 * m], ali_vol, qd)
            ia += 1
        if t >= t_end - 1e-9:
            break
        t_next = next_event_time(t, t_end, ia, ali_t, rate_t, temp_t)
        q = _step_value(t, rate_t, rate_q)
        if q > 0.0 and y[x0 + X_FEEDLEFT] > 0.0:
            t_dry = y[x0 + X_FEEDLEFT] / q
            if t_dry < 1e-6:  # round-off left in an emptied syringe
                y[x0 + X_FEEDLEFT] = 0.0
            elif t + t_dry < t_next - 1e-9:
                t_next = t + t_dry  # the syringe runs dry
        fsal = False
        while t < t_next - 1e-9:
            if acc + rej >= max_steps:
                return acc, rej, 2
            hh = min(h, t_next - t)
            if not fsal:
                _rhs(t, y, k[0], p, m, edges, uc, du, dr, q, temp_t, temp_k, feed_c, seed_gmul, seed_emul, j_coal)
            for st in range(1, 7):
                for i in range(ny):
                    acc_i = y[i]
                    for jj in range(st):
                        acc_i += hh * _A[st, jj] * k[jj, i]
                    ytmp[i] = acc_i
                _rhs(t + _C[st] * hh, ytmp, k[st], p, m, edges, uc, du, dr, q, temp_t, temp_k, feed_c, seed_gmul,
                     seed_emul, j_coal)
            for i in range(ny):
                ynew[i] = ytmp[i]  # stage 7 is evaluated at the 5th-order solution (FSAL)
            # error norm: bins relative to the largest bin of their population, scalars to their own size
            scale_b = 0.0
            for i in range(2 * m):
                scale_b = max(scale_b, abs(y[i]), abs(ynew[i]))
            scale_b = max(scale_b, 1e-300)
            err = 0.0
            for i in range(ny):
                e_i = 0.0
                for st in range(7):
                    e_i += _E[st] * k[st, i]
                e_i *= hh
                if i < 2 * m:
                    sc = rtol * scale_b
                else:
                    sc = rtol * max(abs(y[i]), abs(ynew[i])) + 1e-30
                err = max(err, abs(e_i) / sc)
            if err <= 1.0:
                t += hh
                for i in range(ny):
                    y[i] = ynew[i]
                    k[0, i] = k[6, i]
                fsal = True
                acc += 1
                h = hh * min(5.0, max(0.2, 0.9 * err ** -0.2)) if err > 0.0 else hh * 5.0
            else:
                fsal = False
                rej += 1
                h = hh * max(0.2, 0.9 * err ** -0.2)
            if abs(t - t_next) < 1e-9:
                t = t_next
        # clip round-off below zero in the bins (booked back to the monomer)
        for i in range(2 * m):
            if y[i] < 0.0:
                y[x0 + X_NM] += y[i] * uc[i % m]
                y[i] = 0.0
        s_vol = y[x0 + X_V]
        temp = _interp(t, temp_t, temp_k)
        minf = conditions(p, temp, y[x0 + X_NOA] / s_vol)[3]
        y[x0 + X_S] = y[x0 + X_NM] / (minf * s_vol)
    return acc, rej, 0


def simulate_eulerian(scenario: Any, *, dr_nm: float = DEFAULT_DR_NM, n_bins: int | None = None, r_max_nm: float | None = None,
                      rtol: float = 1e-5, max_steps: int = 2_000_000, _tries: int = 0) -> dict[str, Any]:
    """Run a scenario with the method-of-lines solver.

    Parameters
    ----------
    scenario
        Name, path or :class:`~qdlab.twin.protocol.Scenario`.
    dr_nm
        Width of a radius bin (default 0.001 nm: the van Albada fluxes' numerical diffusion then widens a
        PL band by well under 1 meV; halve it to check).
    n_bins
        Number of bins instead of ``dr_nm``.
    r_max_nm
        Top of the grid (default: 1.5 x the largest seed radius, or 2 nm without seeds). When particles
        reach the top bins, the run is repeated on a grid 1.5 x as tall (twice at most), then refused.
    rtol
        Relative tolerance of the Dormand-Prince error control.

    Returns
    -------
    dict
        ``diameter_nm`` (bin centres x 2), ``number_mol`` (aliquots x bins, both populations),
        ``seed_number_mol``, ``records`` (aliquots x the kernel's scalar state), ``steps``, ``rejected``,
        ``mass_balance_error``.
    """
    from qdlab.data.errors import ModelError
    from qdlab.twin.protocol import load_scenario
    from qdlab.twin.solver import _initial_state, seed_classes

    sc = load_scenario(scenario)
    kp = sc.kinetic_parameters()
    p = pack_parameters(kp)
    st = _initial_state(sc, 0)
    r_seed, _ = seed_classes(sc, n_classes=64)
    top = r_max_nm if r_max_nm is not None else (1.5 * float(r_seed.max()) if r_seed.size else 2.0)
    n_bins_given = n_bins
    if n_bins is None:
        n_bins = max(math.ceil((top - kp.min_radius_nm) / dr_nm), 16)
    edges = np.linspace(kp.min_radius_nm, top, n_bins + 1)
    m = n_bins
    r_seed, n_seed = seed_classes(sc, n_classes=max(8 * n_bins, 64))
    y = np.zeros(2 * m + N_X)
    if r_seed.size:
        idx = np.clip(np.searchsorted(edges, r_seed) - 1, 0, m - 1)
        # deposit each class's units (not its count) so that the seeds' Cd3P2 is exact on the grid
        centers = 0.5 * (edges[1:] + edges[:-1])
        units = n_seed * (4 / 3) * np.pi * r_seed**3
        np.add.at(y[:m], idx, units / ((4 / 3) * np.pi * centers[idx] ** 3))
    y[2 * m:] = st["x"]
    vu = kp.unit_volume_nm3
    centers = 0.5 * (edges[1:] + edges[:-1])
    uc = (4 / 3) * np.pi * centers**3 / vu
    initial_units = float(y[2 * m + X_NP] + y[2 * m + X_NC] + y[2 * m + X_NM] + (y[:m] * uc).sum())
    prot = sc.protocol
    rate_t, rate_q = prot.rate_table()
    temp_t, temp_k = prot.temperature_table()
    ali_t = np.asarray(prot.aliquot_times_min, float) * 60.0
    out = np.zeros((ali_t.size, y.size))
    gmul = sc.seeds.surface.reactivity_factor if sc.seeds else 1.0
    emul = sc.seeds.surface.etch_factor if sc.seeds else 1.0
    acc, rej, status = run_mol(p, edges, y, rate_t, rate_q / 1000.0, temp_t, temp_k, st["feed_c"],
                               prot.duration_min * 60.0, ali_t, prot.aliquot_volume_ml / 1000.0, gmul, emul,
                               rtol, out, max_steps)
    if status != 0:
        raise ModelError(f"{sc.name}: the Eulerian reference used its {max_steps} steps before the end")
    bins = out[:, :m] + out[:, m:2 * m]
    top_share = (bins[:, -max(2, m // 50):] * uc[-max(2, m // 50):]).sum(axis=1) / np.maximum((bins * uc).sum(axis=1), 1e-300)
    if np.any(top_share > 1e-6):
        if _tries < 2:
            return simulate_eulerian(sc, dr_nm=dr_nm, n_bins=None if n_bins_given is None else int(1.5 * n_bins_given),
                                     r_max_nm=1.5 * top, rtol=rtol, max_steps=max_steps, _tries=_tries + 1)
        raise ModelError(f"{sc.name}: particles reach the top of the Eulerian grid ({top:.2f} nm): raise r_max_nm")
    x = y[2 * m:]
    qd = float(((y[:m] + y[m:2 * m]) * uc).sum())
    total_in = initial_units + x[X_FED]
    total_now = x[X_NP] + x[X_NC] + x[X_NM] + qd + x[X_WD] + x[X_LOST]
    return {"diameter_nm": 2 * centers, "number_mol": bins, "seed_number_mol": out[:, :m],
            "records": out[:, 2 * m:], "steps": int(acc), "rejected": int(rej),
            "mass_balance_error": abs(total_now - total_in) / total_in}


def summaries(scenario: Any, result: dict[str, Any]) -> list[dict[str, float]]:
    """Per-aliquot PL peak, FWHM, bimodality and number-mean diameter of an Eulerian run.

    Read by the twin's own observation model (:func:`qdlab.twin.observe.summarize`), so that only the
    solvers differ.
    """
    from qdlab.twin.observe import qd_pl_energy, summarize
    from qdlab.twin.protocol import load_scenario

    sc = load_scenario(scenario)
    optics = sc.optical_parameters()
    window = sc.observation.pl_window_nm
    out = []
    d = result["diameter_nm"]
    for k, num in enumerate(result["number_mol"]):
        live = num > 0
        qd = qd_pl_energy(d[live], num[live], optics)
        rec = result["records"][k]
        a = summarize(f"A{k}", 0.0, 0.0, 0.0, d[live], num[live], np.zeros(int(live.sum()), bool), qd,
                      rec[X_NC], rec[X_NM], 0.0, rec[X_S], window_nm=window)
        out.append({"pl_peak_nm": a.pl_peak_nm, "fwhm_mev": a.fwhm_mev, "bimodal": a.bimodal,
                    "mean_diameter_nm": a.mean_diameter_nm})
    return out


__all__ = ["CROSS_CHECK_DR_NM", "DEFAULT_DR_NM", "run_mol", "simulate_eulerian", "summaries"]
