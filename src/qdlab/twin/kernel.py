"""Compiled time stepper of the Lagrangian size-class solver (method of characteristics).

State: QD classes ``(N_i [mol particles], r_i [nm])`` plus scalars (volume, precursor, MSC, monomer
and free-acid amounts). One step of length ``dt``:

1. growth/dissolution/etching of every class along its characteristic ``dr/dt = a_i S - b_i``
   (Talapin law, linear in the supersaturation ``S``), with ``S`` taken *implicitly*: the new
   monomer amount must equal ``S [M]_inf V`` after the classes have taken or returned their units.
   The scalar equation is monotone in ``S`` and solved by safeguarded Newton. This removes the
   stiffness of the fast monomer/particle exchange (no explicit step limit from it). A Heun
   corrector then makes the characteristic update second order in time; classes falling below
   ``r_min`` are removed and their units returned to the monomer;
2. feed and precursor conversion (exact exponential integrator), MSC balance (implicit Euler, solved
   exactly as a quadratic), MSC dissolution to monomer, MSC fusion onto classes (Smoluchowski
   kernel), MSC coalescence into secondary nuclei;
3. CNT nucleation from monomer; new nuclei are collected into the class opened for the current
   nucleation window (volume-weighted, mass-conserving), a new class per window.

Every transfer is booked from one reservoir to another, so the Cd3P2 units (precursor + MSC +
monomer + QDs + withdrawn) are conserved to round-off; :func:`qdlab.twin.solver.simulate` checks it.
The step is limited by ``dt_max``, by the next event (aliquot, rate change) and by ``dr_max`` on
the fastest surviving class.

Developer note: the kernels are cached by numba (``cache=True``); numba does not notice edits to the
helpers they call in :mod:`qdlab.twin.model`, so delete ``src/qdlab/twin/__pycache__/*.nb[ic]`` after
changing ``model.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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
    P_WINDOW,
    cnt_nucleation,
    conditions,
    fusion_kernel_l_per_mol_s,
    growth_coefficients,
    msc_acid_activation,
    msc_sink_temperature_factors,
    radius_of_units,
    units_of_radius,
)

# scalar state (amounts in mol Cd3P2 units unless stated)
X_V, X_NP, X_NC, X_NM, X_NOA, X_FED, X_WD, X_FEEDLEFT, X_S, X_LOST = range(10)
N_X = 10
# per-aliquot record
R_T, R_TEMP, R_V, R_NP, R_NC, R_NM, R_NOA, R_S, R_FED, R_WD, R_QD, R_NLIVE, R_STEPS, R_LOST = range(14)
N_REC = 14

_NA = 6.02214076e23


@njit(cache=True)
def _interp(t: float, xs: np.ndarray, ys: np.ndarray) -> float:
    if t <= xs[0]:
        return ys[0]
    for k in range(1, xs.size):
        if t <= xs[k]:
            w = (t - xs[k - 1]) / (xs[k] - xs[k - 1])
            return ys[k - 1] + w * (ys[k] - ys[k - 1])
    return ys[-1]


@njit(cache=True)
def _step_value(t: float, xs: np.ndarray, ys: np.ndarray) -> float:
    v = ys[0]
    for k in range(xs.size):
        if t >= xs[k] - 1e-9:
            v = ys[k]
    return v


@njit(cache=True)
def _add_nuclei(dn: float, units: float, t: float, r: np.ndarray, nn: np.ndarray, origin: np.ndarray,
                gmul: np.ndarray, emul: np.ndarray, birth: np.ndarray, n: int, open_idx: int, open_t: float,
                window: float, vu: float) -> tuple:
    """Add ``dn`` mol of nuclei holding ``units`` each; returns (n, open_idx, open_t)."""
    if dn <= 0.0:
        return n, open_idx, open_t
    if open_idx >= 0 and nn[open_idx] > 0.0 and t - open_t < window:
        k = open_idx
    else:
        k = -1
        if n < r.size:
            k = n
            n += 1
        else:
            for j in range(r.size):  # reuse a dead slot
                if nn[j] <= 0.0:
                    k = j
                    break
        if k >= 0:
            r[k] = radius_of_units(units, vu)
            nn[k] = dn
            origin[k] = 1
            gmul[k] = 1.0
            emul[k] = 1.0
            birth[k] = t
            return n, k, t
        # no slot left: merge into the nearest live class by size
        best = 1e300
        rn = radius_of_units(units, vu)
        for j in range(r.size):
            if nn[j] > 0.0 and abs(r[j] - rn) < best:
                best = abs(r[j] - rn)
                k = j
    u_old = units_of_radius(r[k], vu)
    tot = nn[k] + dn
    r[k] = radius_of_units((nn[k] * u_old + dn * units) / tot, vu)
    nn[k] = tot
    return n, open_idx, open_t


@njit(cache=True)
def withdraw_aliquot(x: np.ndarray, numbers: np.ndarray, ali_vol: float, qd_units: float) -> None:
    """Remove ``ali_vol`` (mL) of well-mixed solution: every species and size class loses the same fraction.

    The withdrawn Cd3P2 units (precursor, clusters, monomer and ``qd_units`` in QDs) are booked in
    ``x[X_WD]`` so that the mass balance stays closed. Shared by the Lagrangian and Eulerian solvers.
    """
    if ali_vol <= 0.0 or x[X_V] <= 0.0:
        return
    f = min(ali_vol / x[X_V], 1.0)
    x[X_WD] += f * (x[X_NP] + x[X_NC] + x[X_NM] + qd_units)
    x[X_NP] *= 1.0 - f
    x[X_NC] *= 1.0 - f
    x[X_NM] *= 1.0 - f
    x[X_NOA] *= 1.0 - f
    x[X_V] -= f * x[X_V]
    for i in range(numbers.size):
        numbers[i] *= 1.0 - f


@njit(cache=True)
def next_event_time(t: float, t_end: float, ia: int, ali_t: np.ndarray, rate_t: np.ndarray, temp_t: np.ndarray) -> float:
    """The next protocol event after ``t``: an aliquot, a change of injection rate or a temperature breakpoint."""
    t_next = t_end
    if ia < ali_t.size and ali_t[ia] < t_next:
        t_next = ali_t[ia]
    for k in range(rate_t.size):
        if rate_t[k] > t + 1e-9 and rate_t[k] < t_next:
            t_next = rate_t[k]
    for k in range(temp_t.size):
        if temp_t[k] > t + 1e-9 and temp_t[k] < t_next:
            t_next = temp_t[k]
    return t_next


@njit(cache=True)
def feed_step(x: np.ndarray, t: float, dt: float, rate_t: np.ndarray, rate_q: np.ndarray, feed_c: np.ndarray,
              kform: float) -> tuple[float, float]:
    """Pump the feed for ``dt`` and convert precursor to clusters (exact for first-order formation).

    Updates volume, free acid, fed units and precursor in ``x``; returns ``(dv, converted)``: the
    injected volume (mL, limited by what is left in the syringe) and the precursor units turned into
    clusters during the step. Shared by the Lagrangian and Eulerian kernels.
    """
    q = _step_value(t, rate_t, rate_q)
    dv = min(q * dt, x[X_FEEDLEFT])
    x[X_FEEDLEFT] -= dv
    x[X_V] += dv
    x[X_NOA] += dv * feed_c[2]
    x[X_FED] += dv * (feed_c[0] + feed_c[1])
    inflow_p = dv / dt * feed_c[0]
    np0 = x[X_NP]
    if kform > 0.0:
        e = math.exp(-kform * dt)
        np1 = np0 * e + inflow_p / kform * (1.0 - e)
    else:
        np1 = np0 + inflow_p * dt
    x[X_NP] = np1
    return dv, np0 + inflow_p * dt - np1


@njit(cache=True)
def run_kernel(p: np.ndarray, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray,
               emul: np.ndarray, birth: np.ndarray, n_init: int, x: np.ndarray,
               rate_t: np.ndarray, rate_q: np.ndarray, temp_t: np.ndarray, temp_k: np.ndarray,
               feed_c: np.ndarray, t_end: float, ali_t: np.ndarray, ali_vol: float,
               dt_max: float, dr_max: float, dt_min: float, heun: bool, fixed_s: float,
               out_r: np.ndarray, out_n: np.ndarray, out_origin: np.ndarray, out_rec: np.ndarray) -> int:
    """Integrate the twin from 0 to ``t_end`` (s); fills the per-aliquot outputs; returns the step count.

    ``feed_c`` = (precursor, MSC, oleic acid) in mol per L of feed; ``rate_q`` in L/s; ``fixed_s`` >= 0
    freezes the supersaturation (infinite monomer reservoir; used by the focusing test). ``dt_min`` floors
    the step that ``dr_max`` would impose (bounds the cost of extreme, very fast regimes).
    """
    cap = r.size
    n = n_init
    vu = p[P_VU]
    rmin = p[P_RMIN]
    alpha = p[P_ALPHA]
    nc = p[P_NC]
    mcc = p[P_MCC]
    a = np.zeros(cap)
    b = np.zeros(cap)
    u0 = np.zeros(cap)
    rn = np.zeros(cap)
    t = 0.0
    ia = 0
    n_ali = ali_t.size
    open_idx = -1
    open_t = -1e300
    steps = 0
    while True:
        while ia < n_ali and ali_t[ia] <= t + 1e-9:
            # record the aliquot, then withdraw it
            qd = 0.0
            nlive = 0
            for i in range(n):
                out_r[ia, i] = r[i]
                out_n[ia, i] = nn[i]
                out_origin[ia, i] = origin[i]
                if nn[i] > 0.0:
                    qd += nn[i] * units_of_radius(r[i], vu)
                    nlive += 1
            temp = _interp(t, temp_t, temp_k)
            out_rec[ia, R_T] = t
            out_rec[ia, R_TEMP] = temp
            out_rec[ia, R_V] = x[X_V]
            out_rec[ia, R_NP] = x[X_NP]
            out_rec[ia, R_NC] = x[X_NC]
            out_rec[ia, R_NM] = x[X_NM]
            out_rec[ia, R_NOA] = x[X_NOA]
            out_rec[ia, R_S] = x[X_S]
            out_rec[ia, R_FED] = x[X_FED]
            out_rec[ia, R_WD] = x[X_WD]
            out_rec[ia, R_QD] = qd
            out_rec[ia, R_NLIVE] = nlive
            out_rec[ia, R_STEPS] = steps
            out_rec[ia, R_LOST] = x[X_LOST]
            withdraw_aliquot(x, nn[:n], ali_vol, qd)
            ia += 1
        if t >= t_end - 1e-9:
            break
        # next event
        t_next = next_event_time(t, t_end, ia, ali_t, rate_t, temp_t)
        temp = _interp(t, temp_t, temp_k)
        vol = x[X_V]
        oa = x[X_NOA] / vol
        lc, d_nm2, kg_nm, minf, kform, kdiss = conditions(p, temp, oa)
        phi = p[P_VM] * minf
        etch = p[P_KET] * oa
        msat = minf * vol
        s_now = fixed_s if fixed_s >= 0.0 else x[X_NM] / msat
        # growth coefficients and the step size
        gmax = 0.0
        for i in range(n):
            if nn[i] > 0.0 and r[i] > 0.0:
                ai, bi = growth_coefficients(r[i], lc, alpha, d_nm2, kg_nm * gmul[i], phi, etch * emul[i])
                a[i] = ai
                b[i] = bi
                u0[i] = units_of_radius(r[i], vu)
                g = ai * s_now - bi
                if g < 0.0 and r[i] + dt_max * g < rmin:
                    continue  # vanishes within a step anyway
                if abs(g) > gmax:
                    gmax = abs(g)
            else:
                a[i] = 0.0
                b[i] = 0.0
                u0[i] = 0.0
        dt = min(dt_max, t_next - t)
        if gmax > 0.0 and dr_max / gmax < dt:
            dt = max(dr_max / gmax, dt_min)
            if t + 1.5 * dt > t_next:
                dt = t_next - t
        # ---- 1. growth / dissolution / etching with implicit supersaturation ----
        # acid etching removes units as Cd oleate + PH3 (the phosphine leaves the flask): booked to a sink
        # (the exact volume the etch term alone removes in this step, so that the monomer balance keeps a
        # root S >= 0: the full update shrinks every class at least this much when S = 0)
        etched = 0.0
        for i in range(n):
            if u0[i] > 0.0 and etch * emul[i] > 0.0:
                r_e = r[i] - dt * etch * emul[i]
                etched += nn[i] * (u0[i] - (units_of_radius(r_e, vu) if r_e > rmin else 0.0))
        nm_av = x[X_NM] - etched  # the shrinkage by etching (in dunits) must not feed the monomer
        if fixed_s >= 0.0:
            s = fixed_s
        else:
            s = max(s_now, 0.0)
            lo = 0.0
            hi = -1.0
            for _it in range(100):
                f = nm_av - s * msat
                df = -msat
                for i in range(n):
                    if u0[i] > 0.0:
                        ri = r[i] + dt * (a[i] * s - b[i])
                        if ri > rmin:
                            f -= nn[i] * (units_of_radius(ri, vu) - u0[i])
                            df -= nn[i] * 12.566370614359172 * ri * ri / vu * dt * a[i]
                        else:
                            f += nn[i] * u0[i]
                if f > 0.0:
                    lo = s
                else:
                    hi = s
                s_new = s - f / df
                if s_new <= lo or (hi >= 0.0 and s_new >= hi):
                    s_new = 0.5 * (lo + hi) if hi >= 0.0 else 2.0 * s + 1.0
                if abs(s_new - s) <= 1e-13 * s + 1e-300:
                    s = s_new
                    break
                s = s_new
        dunits = 0.0
        for i in range(n):
            if u0[i] > 0.0:
                ri = r[i] + dt * (a[i] * s - b[i])
                rn[i] = ri if ri > rmin else 0.0
        if heun:
            for i in range(n):
                if u0[i] > 0.0 and rn[i] > 0.0:
                    a2, b2 = growth_coefficients(rn[i], lc, alpha, d_nm2, kg_nm * gmul[i], phi, etch * emul[i])
                    ri = r[i] + 0.5 * dt * ((a[i] + a2) * s - b[i] - b2)
                    rn[i] = ri if ri > rmin else 0.0
        for i in range(n):
            if u0[i] > 0.0:
                dunits += nn[i] * (units_of_radius(rn[i], vu) - u0[i])
        if fixed_s < 0.0 and nm_av - dunits < 0.0:
            # the corrector over-drew the monomer: fall back to the implicit Euler update
            dunits = 0.0
            for i in range(n):
                if u0[i] > 0.0:
                    ri = r[i] + dt * (a[i] * s - b[i])
                    rn[i] = ri if ri > rmin else 0.0
                    dunits += nn[i] * (units_of_radius(rn[i], vu) - u0[i])
        for i in range(n):
            if u0[i] > 0.0:
                r[i] = rn[i]
                if rn[i] <= 0.0:
                    nn[i] = 0.0
        if fixed_s < 0.0:
            x[X_NM] = max(nm_av - dunits, 0.0)
            x[X_LOST] += etched
        x[X_NOA] = max(x[X_NOA] - p[P_NUOA] * etched, 0.0)
        # ---- 2. feed, precursor -> MSC, MSC -> monomer / fusion / coalescence ----
        dv, converted = feed_step(x, t, dt, rate_t, rate_q, feed_c, kform)
        vol = x[X_V]
        act = msc_acid_activation(p, oa)
        tfus, tcc = msc_sink_temperature_factors(p, temp)
        lam_fus = 0.0
        if p[P_PFUSE] > 0.0:
            for i in range(n):
                if nn[i] > 0.0:
                    a[i] = fusion_kernel_l_per_mol_s(r[i], p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL],
                                                     p[P_PFUSE] * gmul[i] * act * tfus)
                    lam_fus += a[i] * nn[i] / vol
        c0 = x[X_NC] + converted + dv * feed_c[1]
        kap = mcc * p[P_KCC] * act * tcc / (nc * vol)
        lin = 1.0 + dt * (kdiss + lam_fus)
        c1 = 2.0 * c0 / (lin + math.sqrt(lin * lin + 4.0 * kap * dt * c0)) if c0 > 0.0 else 0.0
        x[X_NC] = c1
        x[X_NM] += dt * kdiss * c1
        if lam_fus > 0.0 and c1 > 0.0:
            for i in range(n):
                if nn[i] > 0.0:
                    per_particle = dt * c1 * a[i] / vol  # units gained per particle
                    r[i] = radius_of_units(units_of_radius(r[i], vu) + per_particle, vu)
        coal = dt * kap * c1 * c1
        if coal > 0.0:
            n, open_idx, open_t = _add_nuclei(coal / (mcc * nc), mcc * nc, t, r, nn, origin, gmul, emul, birth, n,
                                              open_idx, open_t, p[P_WINDOW], vu)
        # ---- 3. CNT nucleation from monomer ----
        if fixed_s < 0.0 and p[P_ANUC] > 0.0:
            s_cur = x[X_NM] / (minf * vol)
            jrate, rstar = cnt_nucleation(s_cur, lc, vu, p[P_ANUC])
            if jrate > 0.0:
                rnuc = max(1.02 * rstar, 1.5 * rmin)
                unuc = units_of_radius(rnuc, vu)
                dn = jrate * vol * dt / _NA
                if dn * unuc > 0.5 * x[X_NM]:
                    dn = 0.5 * x[X_NM] / unuc
                x[X_NM] -= dn * unuc
                n, open_idx, open_t = _add_nuclei(dn, unuc, t, r, nn, origin, gmul, emul, birth, n, open_idx,
                                                  open_t, p[P_WINDOW], vu)
        x[X_S] = s if fixed_s >= 0.0 else x[X_NM] / (minf * vol)
        t += dt
        steps += 1
        if abs(t - t_next) < 1e-9:
            t = t_next
    return steps
