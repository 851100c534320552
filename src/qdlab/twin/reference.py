"""Eulerian reference solver: the same model on a fixed radius grid, high-resolution finite volumes.

The number of particles per radius bin is transported with face fluxes ``F = G n_face``; face values
are reconstructed with the Koren limiter ``phi(q) = max(0, min(2q, (1 + 2q)/3, 2))`` (third-order
upwind-biased where smooth, TVD at fronts; Koren 1993; Gunawan, Fusman & Braatz, AIChE J. 2004).
Time stepping is IMEX Euler: the supersaturation is implicit through the same monomer balance as the
Lagrangian solver (the face fluxes are monotone in ``S``, so the scalar equation is solved by
bisection/Newton); the transport is explicit under a CFL limit. Particles leaving the grid's lower
face (``r_min``) dissolve and return their units. Feed, MSC, fusion (as an extra growth velocity),
coalescence and CNT nuclei (added to the bin holding the nucleus radius) and aliquot withdrawal are
the same as in :mod:`qdlab.twin.kernel`, so both solvers answer the same question; this one pays for a
fixed grid with numerical diffusion and the CFL limit, which is what the benchmark measures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qdlab.twin.kernel import (
    N_REC,
    N_X,
    R_NC,
    R_NM,
    R_NP,
    R_QD,
    R_S,
    R_STEPS,
    R_T,
    R_TEMP,
    R_V,
    R_WD,
    X_FED,
    X_LOST,
    X_NC,
    X_NM,
    X_NOA,
    X_NP,
    X_S,
    X_V,
    X_WD,
    _interp,
    feed_step,
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
    units_of_radius,
)


@njit(cache=True)
def _koren_faces(n: np.ndarray, nl: np.ndarray, nr: np.ndarray) -> None:
    """Left/right reconstructed values at the m+1 faces of m cells (zero ghost cells)."""
    m = n.size
    for f in range(m + 1):
        # left state: from cell f-1, upwind-biased with cells f-2, f
        if f - 1 >= 0:
            c = n[f - 1]
            up = n[f - 2] if f - 2 >= 0 else 0.0
            dn = n[f] if f < m else 0.0
            d1 = c - up
            d2 = dn - c
            if d2 != 0.0:
                q = d1 / d2
                phi = max(0.0, min(2.0 * q, (1.0 + 2.0 * q) / 3.0, 2.0))
                nl[f] = c + 0.5 * phi * d2
            else:
                nl[f] = c
        else:
            nl[f] = 0.0
        # right state: from cell f, biased with cells f+1, f-1
        if f < m:
            c = n[f]
            up = n[f + 1] if f + 1 < m else 0.0
            dn = n[f - 1] if f - 1 >= 0 else 0.0
            d1 = c - up
            d2 = dn - c
            if d2 != 0.0:
                q = d1 / d2
                phi = max(0.0, min(2.0 * q, (1.0 + 2.0 * q) / 3.0, 2.0))
                nr[f] = c + 0.5 * phi * d2
            else:
                nr[f] = c
        else:
            nr[f] = 0.0


@njit(cache=True)
def run_fv(p: np.ndarray, edges: np.ndarray, n: np.ndarray, x: np.ndarray, rate_t: np.ndarray, rate_q: np.ndarray,
           temp_t: np.ndarray, temp_k: np.ndarray, feed_c: np.ndarray, t_end: float, ali_t: np.ndarray,
           ali_vol: float, dt_max: float, cfl: float, seed_emul: float, seed_gmul: float,
           out_n: np.ndarray, out_rec: np.ndarray, fixed_s: float = -1.0) -> int:
    """Integrate the Eulerian model; ``n`` = mol of particles per bin. Returns the number of steps.

    The Eulerian grid does not tell seeds from secondary QDs, so seed-surface factors (``seed_*``)
    apply to all particles (they are 1 for the limiting-case comparisons).
    """
    m = n.size
    vu = p[P_VU]
    centers = 0.5 * (edges[1:] + edges[:-1])
    dr = edges[1:] - edges[:-1]
    uc = np.empty(m)
    for j in range(m):
        uc[j] = units_of_radius(centers[j], vu)
    af = np.zeros(m + 1)
    bf = np.zeros(m + 1)
    nl = np.zeros(m + 1)
    nr = np.zeros(m + 1)
    du = np.zeros(m + 1)  # units gained by a particle crossing face f upward
    for f in range(m + 1):
        ul = uc[f - 1] if f - 1 >= 0 else 0.0
        ur = uc[f] if f < m else uc[m - 1]
        du[f] = ur - ul if f < m else 0.0
    alpha = p[P_ALPHA]
    nc = p[P_NC]
    mcc = p[P_MCC]
    t = 0.0
    ia = 0
    n_ali = ali_t.size
    steps = 0
    while True:
        while ia < n_ali and ali_t[ia] <= t + 1e-9:
            qd = 0.0
            for j in range(m):
                out_n[ia, j] = n[j]
                qd += n[j] * uc[j]
            out_rec[ia, R_T] = t
            out_rec[ia, R_TEMP] = _interp(t, temp_t, temp_k)
            out_rec[ia, R_V] = x[X_V]
            out_rec[ia, R_NP] = x[X_NP]
            out_rec[ia, R_NC] = x[X_NC]
            out_rec[ia, R_NM] = x[X_NM]
            out_rec[ia, R_S] = x[X_S]
            out_rec[ia, R_WD] = x[X_WD]
            out_rec[ia, R_QD] = qd
            out_rec[ia, R_STEPS] = steps
            withdraw_aliquot(x, n[:m], ali_vol, qd)
            ia += 1
        if t >= t_end - 1e-9:
            break
        t_next = next_event_time(t, t_end, ia, ali_t, rate_t, temp_t)
        temp = _interp(t, temp_t, temp_k)
        vol = x[X_V]
        oa = x[X_NOA] / vol
        lc, d_nm2, kg_nm, minf, kform, kdiss = conditions(p, temp, oa)
        phi = p[P_VM] * minf
        etch = p[P_KET] * oa * seed_emul
        msat = minf * vol
        s_now = fixed_s if fixed_s >= 0.0 else x[X_NM] / msat
        gmax = 0.0
        for f in range(m + 1):
            a_, b_ = growth_coefficients(edges[f], lc, alpha, d_nm2, kg_nm * seed_gmul, phi, etch)
            af[f] = a_
            bf[f] = b_
            g = abs(a_ * s_now - b_)
            if g > gmax:
                gmax = g
        dt = min(dt_max, t_next - t)
        if gmax > 0.0 and cfl * dr[0] / gmax < dt:
            dt = cfl * dr[0] / gmax
        _koren_faces(n, nl, nr)
        for f in range(m + 1):  # bin contents -> number densities (per nm) at the faces
            nl[f] /= dr[0]
            nr[f] /= dr[0]
        # etching: the part of the outflow driven by k_et goes to the PH3 sink (as in the Lagrangian kernel)
        etched = 0.0
        if etch > 0.0:
            for j in range(m):
                etched += n[j] * min(12.566370614359172 * centers[j] ** 2 * etch * dt / vu, uc[j])
        nm_av = x[X_NM] - etched
        # implicit S: units taken by the particles, dunits(S) = dt sum_f F_f(S) du_f (increasing in S)
        lo = 0.0
        hi = -1.0
        s = max(s_now, 0.0)
        for _it in range(200 if fixed_s < 0.0 else 0):
            fval = nm_av - s * msat
            dval = -msat
            for f in range(m + 1):
                g = af[f] * s - bf[f]
                if f == m:
                    continue
                if g >= 0.0:
                    flux = g * nl[f]
                    dval -= dt * af[f] * nl[f] * du[f]
                else:
                    flux = g * nr[f]
                    dval -= dt * af[f] * nr[f] * du[f]
                fval -= dt * flux * du[f]
            if fval > 0.0:
                lo = s
            else:
                hi = s
            s_new = s - fval / dval if dval < 0.0 else 2.0 * s + 1.0
            if s_new <= lo or (hi >= 0.0 and s_new >= hi):
                s_new = 0.5 * (lo + hi) if hi >= 0.0 else 2.0 * s + 1.0
            if abs(s_new - s) <= 1e-13 * s + 1e-300:
                s = s_new
                break
            s = s_new
        dunits = 0.0
        fl = np.zeros(m + 1)
        for f in range(m):
            g = af[f] * s - bf[f]
            fl[f] = g * (nl[f] if g >= 0.0 else nr[f])
            dunits += dt * fl[f] * du[f]
        for j in range(m):
            n[j] -= dt * (fl[j + 1] - fl[j])
            if n[j] < 0.0:  # round-off below zero: book the clip back to the monomer
                dunits -= n[j] * uc[j]
                n[j] = 0.0
        if fixed_s < 0.0:
            x[X_NM] = nm_av - dunits
        x[X_LOST] += etched
        x[X_NOA] = max(x[X_NOA] - p[P_NUOA] * etched, 0.0)
        # feed, precursor, MSC (same as the Lagrangian kernel)
        dv, converted = feed_step(x, t, dt, rate_t, rate_q, feed_c, kform)
        vol = x[X_V]
        act = msc_acid_activation(p, oa)
        tfus, tcc = msc_sink_temperature_factors(p, temp)
        lam = 0.0
        if p[P_PFUSE] > 0.0:
            for j in range(m):
                lam += fusion_kernel_l_per_mol_s(centers[j], p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL],
                                                 p[P_PFUSE] * seed_gmul * act * tfus) * n[j] / vol
        c0 = x[X_NC] + converted + dv * feed_c[1]
        kap = mcc * p[P_KCC] * act * tcc / (nc * vol)
        lin = 1.0 + dt * (kdiss + lam)
        c1 = 2.0 * c0 / (lin + math.sqrt(lin * lin + 4.0 * kap * dt * c0)) if c0 > 0.0 else 0.0
        dis = dt * kdiss * c1
        coal = dt * kap * c1 * c1
        gain = 0.0
        if lam > 0.0 and c1 > 0.0:
            # fusion as a growth velocity g = (units per particle per s) * vu / (4 pi r^2), upwind-Koren transport
            for f in range(m + 1):
                rf = edges[f]
                bet = fusion_kernel_l_per_mol_s(rf, p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL],
                                                p[P_PFUSE] * seed_gmul * act * tfus)
                af[f] = c1 * bet / vol * vu / (12.566370614359172 * rf * rf)
            _koren_faces(n, nl, nr)
            for f in range(m):
                fl[f] = af[f] * nl[f] / dr[0] if f > 0 else 0.0
                gain += dt * fl[f] * du[f]
            for j in range(m):
                n[j] -= dt * (fl[j + 1] - fl[j])
        x[X_NC] = c0 - dis - coal - gain
        x[X_NM] += dis
        if coal > 0.0:
            rn = (mcc * nc * vu / 4.1887902047863905) ** (1.0 / 3.0)
            j = int((rn - edges[0]) / dr[0])
            j = min(max(j, 0), m - 1)
            dn = coal / (mcc * nc)
            n[j] += dn
            x[X_NM] += coal - dn * uc[j]  # the bin holds uc[j] units per nucleus; the rest stays monomer
        if p[P_ANUC] > 0.0 and fixed_s < 0.0:
            s_cur = x[X_NM] / (minf * vol)
            jrate, rstar = cnt_nucleation(s_cur, lc, vu, p[P_ANUC])
            if jrate > 0.0:
                j = int((max(1.02 * rstar, edges[0]) - edges[0]) / dr[0])
                j = min(max(j, 0), m - 1)
                dn = jrate * vol * dt / 6.02214076e23
                if dn * uc[j] > 0.5 * x[X_NM]:
                    dn = 0.5 * x[X_NM] / uc[j]
                n[j] += dn
                x[X_NM] -= dn * uc[j]
        x[X_S] = x[X_NM] / (minf * vol)
        t += dt
        steps += 1
        if abs(t - t_next) < 1e-9:
            t = t_next
    return steps


def simulate_reference(scenario: Any, *, n_bins: int = 800, r_max_nm: float = 4.0, dt_max_s: float = 5.0,
                       cfl: float = 0.4) -> dict[str, Any]:
    """Run a scenario with the Eulerian solver; returns per-aliquot mean/std diameter and the mass error.

    Seeds are deposited on the grid from the same Gaussian classes as the Lagrangian solver uses.
    """
    from qdlab.twin.protocol import load_scenario
    from qdlab.twin.solver import _initial_state

    sc = load_scenario(scenario)
    kp = sc.kinetic_parameters()
    p = pack_parameters(kp)
    st = _initial_state(sc, 0)
    edges = np.linspace(kp.min_radius_nm, r_max_nm, n_bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    n = np.zeros(n_bins)
    r_seed, n_seed = st["r"][: st["n_init"]], st["nn"][: st["n_init"]]
    if r_seed.size:
        idx = np.clip(np.searchsorted(edges, r_seed) - 1, 0, n_bins - 1)
        np.add.at(n, idx, n_seed)
    x = st["x"]
    vu = kp.unit_volume_nm3
    initial_units = x[X_NP] + x[X_NC] + x[X_NM] + float((n * 4.1887902047863905 * centers**3).sum()) / vu
    prot = sc.protocol
    rate_t, rate_q = prot.rate_table()
    temp_t, temp_k = prot.temperature_table()
    ali_t = np.asarray(prot.aliquot_times_min, float) * 60.0
    out_n = np.zeros((ali_t.size, n_bins))
    out_rec = np.zeros((ali_t.size, N_REC))
    emul = sc.seeds.surface.etch_factor if sc.seeds else 1.0
    gmul = sc.seeds.surface.reactivity_factor if sc.seeds else 1.0
    steps = run_fv(p, edges, n, x, rate_t, rate_q / 1000.0, temp_t, temp_k, st["feed_c"], prot.duration_min * 60.0,
                   ali_t, prot.aliquot_volume_ml / 1000.0, dt_max_s, cfl, emul, gmul, out_n, out_rec)
    qd = float((n * 4.1887902047863905 * centers**3).sum()) / vu
    total_in = initial_units + x[X_FED]
    total_now = x[X_NP] + x[X_NC] + x[X_NM] + qd + x[X_WD] + x[X_LOST]
    return {"centers_nm": centers, "number_mol": out_n, "records": out_rec, "steps": int(steps),
            "mean_diameter_nm": _moments(centers, out_n)[0], "diameter_std_nm": _moments(centers, out_n)[1],
            "mass_balance_error": abs(total_now - total_in) / total_in}


def evolve_closed_fv(edges_nm: NDArray[np.float64], number_mol: NDArray[np.float64], params: Any, *,
                     temperature_c: float, times_s: NDArray[np.float64], fixed_supersaturation: float,
                     dt_max_s: float, cfl: float = 0.4) -> NDArray[np.float64]:
    """Growth of a binned distribution at fixed supersaturation (the Eulerian side of the focusing benchmark).

    Returns the bin contents at ``times_s`` (shape ``(n_t, n_bins)``).
    """
    from qdlab.twin.parameters import KineticParameters

    kp = params if isinstance(params, KineticParameters) else KineticParameters(**params)
    n = np.asarray(number_mol, float).copy()
    x = np.zeros(N_X)
    x[X_V] = 1.0
    ts = np.asarray(times_s, float)
    out_n = np.zeros((ts.size, n.size))
    out_rec = np.zeros((ts.size, N_REC))
    run_fv(pack_parameters(kp), np.asarray(edges_nm, float), n, x, np.array([0.0]), np.array([0.0]), np.array([0.0]),
           np.array([temperature_c + 273.15]), np.zeros(3), float(ts[-1]), ts, 0.0, dt_max_s, cfl, 1.0, 1.0, out_n,
           out_rec, float(fixed_supersaturation))
    return out_n


def _moments(r: NDArray[np.float64], n: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    tot = n.sum(axis=1)
    safe = np.where(tot > 0, tot, 1.0)
    mean = (n * r).sum(axis=1) / safe
    var = (n * (r[None, :] - mean[:, None]) ** 2).sum(axis=1) / safe
    return 2 * mean, 2 * np.sqrt(np.clip(var, 0, None))


__all__ = ["evolve_closed_fv", "run_fv", "simulate_reference"]
