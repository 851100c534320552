"""Compiled time stepper of the Lagrangian size-class solver (method of characteristics).

State: QD classes ``(N_i [mol particles], r_i [nm])`` plus scalars (volume, precursor, MSC, monomer
and free-acid amounts). One step of length ``dt``:

1. feed and precursor conversion (exact exponential integrator), MSC balance (implicit Euler, solved
   exactly as a quadratic), MSC dissolution to monomer, MSC fusion onto classes (Smoluchowski
   kernel), MSC coalescence into secondary nuclei;
2. growth/dissolution/etching of every class along its characteristic ``dr/dt = a_i S - b_i``
   (Talapin law, linear in the supersaturation ``S``), with ``S`` taken *implicitly*: the new
   monomer amount must equal ``S [M]_inf V`` after the classes have taken or returned their units.
   The scalar equation is monotone in ``S`` and solved by safeguarded Newton. This removes the
   stiffness of the fast monomer/particle exchange (no explicit step limit from it). A Heun
   corrector then makes the characteristic update second order in time; classes falling below
   ``r_min`` are removed and their units returned to the monomer. Taking the growth after the MSC
   release matters for the step size: the monomer an MSC releases within a step is taken up in the
   same step, so the end-of-step monomer is the growth-balanced amount. In the opposite order it
   carried one step's release, the step-doubling estimate saw that as error, and the monomer set
   the step (6x more steps in the overgrowths, 2026-12-07);
3. CNT nucleation from monomer at the end-of-step ``S`` (at constant ``S`` the number born is exactly
   ``J V t``; otherwise the step doubling controls its error); new nuclei join the open nucleus class
   while its radius is within ``class_dr`` of theirs (volume-weighted, mass-conserving), else a new class
   opens; when no slot is left the kernel stops with a status and the solver grows the pool (never a
   silent merge). Nucleation slower than a floor (``SolverSettings.min_nucleation_per_s``, one nucleus
   per second in the whole flask) is not simulated: near ``S = 1`` CNT gives rates far below one
   particle per run, and every such step opened a class holding a fraction of one particle (in a 5.5-h
   injection 927 of 1,469 classes held less than one particle, and each step looped over them).

Every transfer is booked from one reservoir to another, so the Cd3P2 units (precursor + MSC +
monomer + QDs + withdrawn) are conserved to round-off; :func:`qdlab.twin.solver.simulate` checks it.
The step is chosen by error control (step doubling, :func:`run_kernel`) and limited by ``dt_max`` and
the next event (aliquot, rate change, temperature breakpoint); the old fixed scheme (``dr_max`` on
the fastest surviving class) is kept for the limiting-case tests.

:func:`run_kernel` releases the GIL (``nogil=True``), so runs in threads of one process go in parallel
(calibration and the planner use the ``"threads"`` scheduler of :mod:`qdlab.compute`).

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
    cnt_nucleation,
    conditions,
    fusion_kernel_l_per_mol_s,
    grown_radius,
    growth_coefficients,
    msc_acid_activation,
    msc_sink_temperature_factors,
    radius_of_units,
    units_of_radius,
)

# scalar state (amounts in mol Cd3P2 units unless stated)
X_V, X_NP, X_NC, X_NM, X_NOA, X_FED, X_WD, X_FEEDLEFT, X_S, X_LOST = range(10)
X_NUC, X_NUCU = 10, 11  # cumulative nuclei born (mol particles) and the Cd3P2 units they took (mol)
N_X = 12
# status codes returned (negated) by run_kernel
ST_OK, ST_POOL_FULL, ST_MAX_STEPS, ST_UNDERFLOW = 0, 1, 2, 3
# parts of a split step (:func:`_step`): all (Lie order: MSC processes, then growth and nucleation), MSC only, growth only
PART_ALL, PART_MSC, PART_GROWTH = 0, 1, 2
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
                window: float, class_dr: float, vu: float) -> tuple:
    """Add ``dn`` mol of nuclei holding ``units`` each; returns ``(n, open_idx, open_t, ok)``.

    The nuclei join the nearest live nucleus class whose radius is within ``class_dr`` (nm) of theirs and
    that was opened in the same time cohort ``floor(t / window)``; otherwise a new class is opened (a dead slot is reused).
    Merging is volume-weighted (mass-conserving); its error in radius is bounded by ``class_dr``, so the
    class resolution converges as ``class_dr`` and ``window`` are refined. When no slot is free the state
    is left unchanged and ``ok`` is False: the caller grows the pool (it never merges silently).
    """
    if dn <= 0.0:
        return n, open_idx, open_t, True
    rnew = radius_of_units(units, vu)
    k = -1
    best = class_dr
    # nucleus classes are cohorts of a fixed time grid (multiples of ``window``), so that the class boundaries
    # do not depend on where the steps fall
    cohort = math.floor(t / window) if window < 1e300 else 0.0
    for j in range(n):  # the nearest live nucleus class of the same cohort within class_dr
        if origin[j] == 1 and nn[j] > 0.0 and (window >= 1e300 or math.floor(birth[j] / window) == cohort):
            dj = abs(r[j] - rnew)
            if dj <= best:
                best = dj
                k = j
    if k >= 0:
        u_old = units_of_radius(r[k], vu)
        tot = nn[k] + dn
        r[k] = radius_of_units((nn[k] * u_old + dn * units) / tot, vu)
        nn[k] = tot
        return n, k, open_t, True
    k = -1
    if n < r.size:
        k = n
        n += 1
    else:
        for j in range(r.size):  # reuse a dead slot
            if nn[j] <= 0.0:
                k = j
                break
    if k < 0:
        return n, open_idx, open_t, False
    r[k] = rnew
    nn[k] = dn
    origin[k] = 1
    gmul[k] = 1.0
    emul[k] = 1.0
    birth[k] = t
    return n, k, t, True


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
def _step(p: np.ndarray, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray, emul: np.ndarray,
          birth: np.ndarray, n: int, open_idx: int, open_t: float, x: np.ndarray, t: float, dt: float,
          rate_t: np.ndarray, rate_q: np.ndarray, temp_t: np.ndarray, temp_k: np.ndarray, feed_c: np.ndarray,
          heun: bool, fixed_s: float, nuc_fixed: bool, window: float, class_dr: float, min_nuc: float,
          a: np.ndarray, b: np.ndarray, u0: np.ndarray, rn: np.ndarray, part: int) -> tuple:
    """One split step of length ``dt`` from ``t``; returns ``(n, open_idx, open_t, status, capped)``.

    ``part`` selects what is advanced: :data:`PART_ALL` (the Lie step: feed and MSC processes, then growth
    and nucleation), :data:`PART_MSC` (feed and MSC processes only) or :data:`PART_GROWTH` (growth and
    nucleation only); :func:`_split_step` composes them.

    ``status`` is :data:`ST_POOL_FULL` when nuclei found no free class slot (the state is then
    inconsistent and must be discarded); ``capped`` is True when the explicit nucleation had to be
    limited to half the monomer (the step is too long for the nucleation burst). Nucleation (CNT or MSC
    coalescence) slower than ``min_nuc`` (mol of nuclei per s in the flask) is not simulated: the units
    stay monomer or MSC.
    """
    vu = p[P_VU]
    rmin = p[P_RMIN]
    alpha = p[P_ALPHA]
    nc = p[P_NC]
    mcc = p[P_MCC]
    temp = _interp(t, temp_t, temp_k)
    vol = x[X_V]
    oa = x[X_NOA] / vol
    lc, d_nm2, kg_nm, minf, kform, kdiss = conditions(p, temp, oa)
    phi = p[P_VM] * minf
    etch = p[P_KET] * oa
    msat = minf * vol
    # ---- 1. feed, precursor -> MSC, MSC -> monomer / fusion / coalescence (before the growth, so that the
    # monomer they release is taken up by the implicit growth of the same step: the end-of-step monomer is then
    # the growth-balanced amount, not that amount plus a step's release, and the step error stays small) ----
    if part != PART_GROWTH:
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
                    r[i] = grown_radius(r[i], units_of_radius(r[i], vu), per_particle)
        coal = dt * kap * c1 * c1
        if coal > 0.0 and coal < min_nuc * dt * mcc * nc:
            # fewer nuclei than the floor: the clusters stay clusters (no class for a fraction of a particle)
            x[X_NC] += coal
            coal = 0.0
        if coal > 0.0:
            dnc = coal / (mcc * nc)
            n, open_idx, open_t, ok = _add_nuclei(dnc, mcc * nc, t, r, nn, origin, gmul, emul, birth, n,
                                                  open_idx, open_t, window, class_dr, vu)
            if not ok:
                return n, open_idx, open_t, ST_POOL_FULL, False
            x[X_NUC] += dnc
            x[X_NUCU] += coal
    if part == PART_MSC:
        return n, open_idx, open_t, ST_OK, False
    # the growth sees the volume, acid and monomer after the feed
    msat = minf * vol
    oa = x[X_NOA] / vol
    etch = p[P_KET] * oa
    s_now = fixed_s if fixed_s >= 0.0 else x[X_NM] / msat
    for i in range(n):
        if nn[i] > 0.0 and r[i] > 0.0:
            ai, bi = growth_coefficients(r[i], lc, alpha, d_nm2, kg_nm * gmul[i], phi, etch * emul[i])
            a[i] = ai
            b[i] = bi
            u0[i] = units_of_radius(r[i], vu)
        else:
            a[i] = 0.0
            b[i] = 0.0
            u0[i] = 0.0
    # ---- 2. growth / dissolution / etching with implicit supersaturation ----
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
    # ---- 3. CNT nucleation from monomer ----
    capped = False
    if p[P_ANUC] > 0.0 and (fixed_s < 0.0 or nuc_fixed):
        s_cur = fixed_s if fixed_s >= 0.0 else x[X_NM] / (minf * vol)
        jrate, rstar = cnt_nucleation(s_cur, lc, vu, p[P_ANUC])
        if jrate * vol < min_nuc * _NA:
            jrate = 0.0
        if jrate > 0.0:
            rnuc = max(1.02 * rstar, 1.5 * rmin)
            unuc = units_of_radius(rnuc, vu)
            dn = jrate * vol * dt / _NA
            if fixed_s < 0.0:
                if dn * unuc > 0.5 * x[X_NM]:
                    dn = 0.5 * x[X_NM] / unuc
                    capped = True
                x[X_NM] -= dn * unuc
            n, open_idx, open_t, ok = _add_nuclei(dn, unuc, t, r, nn, origin, gmul, emul, birth, n, open_idx,
                                                  open_t, window, class_dr, vu)
            if not ok:
                return n, open_idx, open_t, ST_POOL_FULL, capped
            x[X_NUC] += dn
            x[X_NUCU] += dn * unuc
    x[X_S] = s if fixed_s >= 0.0 else x[X_NM] / (minf * vol)
    return n, open_idx, open_t, ST_OK, capped


@njit(cache=True)
def _split_step(p: np.ndarray, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray, emul: np.ndarray,
                birth: np.ndarray, n: int, open_idx: int, open_t: float, x: np.ndarray, t: float, dt: float,
                rate_t: np.ndarray, rate_q: np.ndarray, temp_t: np.ndarray, temp_k: np.ndarray, feed_c: np.ndarray,
                heun: bool, fixed_s: float, nuc_fixed: bool, window: float, class_dr: float, min_nuc: float,
                a: np.ndarray, b: np.ndarray, u0: np.ndarray, rn: np.ndarray, strang: bool) -> tuple:
    """One step of length ``dt``: Lie order (:data:`PART_ALL`) or Strang order (MSC ``dt/2``, growth ``dt``, MSC ``dt/2``).

    Returns what :func:`_step` returns; ``capped`` is True when any part capped its nucleation.
    """
    # one call site of _step (numba inlines it: three would triple the compile time of run_kernel)
    capped = False
    for k in range(3 if strang else 1):
        if not strang:
            tk, hk, part = t, dt, PART_ALL
        elif k == 1:
            tk, hk, part = t, dt, PART_GROWTH
        else:
            tk, hk, part = (t, 0.5 * dt, PART_MSC) if k == 0 else (t + 0.5 * dt, 0.5 * dt, PART_MSC)
        n, open_idx, open_t, st, c = _step(p, r, nn, origin, gmul, emul, birth, n, open_idx, open_t, x, tk, hk, rate_t,
                                           rate_q, temp_t, temp_k, feed_c, heun, fixed_s, nuc_fixed, window, class_dr,
                                           min_nuc, a, b, u0, rn, part)
        capped = capped or c
        if st != ST_OK:
            return n, open_idx, open_t, st, capped
    return n, open_idx, open_t, ST_OK, capped


@njit(cache=True)
def _copy_state(n: int, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray, emul: np.ndarray,
                birth: np.ndarray, x: np.ndarray, r2: np.ndarray, nn2: np.ndarray, origin2: np.ndarray,
                gmul2: np.ndarray, emul2: np.ndarray, birth2: np.ndarray, x2: np.ndarray) -> None:
    for i in range(n):
        r2[i] = r[i]
        nn2[i] = nn[i]
        origin2[i] = origin[i]
        gmul2[i] = gmul[i]
        emul2[i] = emul[i]
        birth2[i] = birth[i]
    for k in range(x.size):
        x2[k] = x[k]


@njit(cache=True)
def _max_growth_rate(p: np.ndarray, r: np.ndarray, nn: np.ndarray, gmul: np.ndarray, emul: np.ndarray, n: int,
                     x: np.ndarray, t: float, temp_t: np.ndarray, temp_k: np.ndarray, fixed_s: float,
                     dt_max: float) -> float:
    """Fastest |dr/dt| (nm/s) of a class that survives a step of ``dt_max`` (for the ``dr_max`` limit)."""
    temp = _interp(t, temp_t, temp_k)
    vol = x[X_V]
    oa = x[X_NOA] / vol
    lc, d_nm2, kg_nm, minf, _kform, _kdiss = conditions(p, temp, oa)
    phi = p[P_VM] * minf
    etch = p[P_KET] * oa
    s_now = fixed_s if fixed_s >= 0.0 else x[X_NM] / (minf * vol)
    gmax = 0.0
    for i in range(n):
        if nn[i] > 0.0 and r[i] > 0.0:
            ai, bi = growth_coefficients(r[i], lc, p[P_ALPHA], d_nm2, kg_nm * gmul[i], phi, etch * emul[i])
            g = ai * s_now - bi
            if g < 0.0 and r[i] + dt_max * g < p[P_RMIN]:
                continue  # vanishes within a step anyway
            if abs(g) > gmax:
                gmax = abs(g)
    return gmax


@njit(cache=True)
def _record(ia: int, t: float, n: int, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, x: np.ndarray,
            temp_t: np.ndarray, temp_k: np.ndarray, vu: float, steps: int, out_r: np.ndarray, out_n: np.ndarray,
            out_origin: np.ndarray, out_rec: np.ndarray) -> float:
    qd = 0.0
    nlive = 0
    for i in range(n):
        out_r[ia, i] = r[i]
        out_n[ia, i] = nn[i]
        out_origin[ia, i] = origin[i]
        if nn[i] > 0.0:
            qd += nn[i] * units_of_radius(r[i], vu)
            nlive += 1
    out_rec[ia, R_T] = t
    out_rec[ia, R_TEMP] = _interp(t, temp_t, temp_k)
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
    return qd


@njit(cache=True, nogil=True)
def run_kernel(p: np.ndarray, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray,
               emul: np.ndarray, birth: np.ndarray, n_init: int, x: np.ndarray,
               rate_t: np.ndarray, rate_q: np.ndarray, temp_t: np.ndarray, temp_k: np.ndarray,
               feed_c: np.ndarray, t_end: float, ali_t: np.ndarray, ali_vol: float,
               dt_max: float, dr_max: float, dt_min: float, heun: bool, fixed_s: float,
               adaptive: bool, rtol: float, atol: float, atol_nm: float, dt_init: float,
               window: float, class_dr: float, max_steps: int, nuc_fixed: bool, min_nuc: float, strang: bool,
               out_r: np.ndarray, out_n: np.ndarray, out_origin: np.ndarray, out_rec: np.ndarray) -> int:
    """Integrate the twin from 0 to ``t_end`` (s); fills the per-aliquot outputs; returns the step count.

    With ``adaptive`` the step is chosen by step doubling: every step is taken once with ``dt`` and
    twice with ``dt/2`` from the same state, and accepted (the two half steps kept) when the difference,
    scaled by ``rtol |y| + atol``, is at most 1 on every scalar amount (precursor, MSC, monomer: atol is
    a fraction of the run's Cd3P2 budget; nuclei born: relative to the particles present), on every
    class radius (``atol_nm``). The splitting is first order, so the step is rescaled by
    ``0.9 err^(-1/2)``. A step whose explicit nucleation would take more than half the monomer is rejected.
    Without ``adaptive`` the old fixed scheme runs: ``dt = min(dt_max, dr_max / max|dr/dt|)``, floored at
    ``dt_min``.

    ``feed_c`` = (precursor, MSC, oleic acid) in mol per L of feed; ``rate_q`` in L/s; ``fixed_s`` >= 0
    freezes the supersaturation (infinite monomer reservoir; CNT nuclei then form only with
    ``nuc_fixed``); ``min_nuc`` (mol/s) is the slowest nucleation simulated (see :func:`_step`). Returns the accepted step count, or ``-ST_POOL_FULL`` (no class slot left: grow the
    pool and rerun), ``-ST_MAX_STEPS``, ``-ST_UNDERFLOW`` (the error control wanted a step below ``dt_min``).
    """
    cap = r.size
    n = n_init
    vu = p[P_VU]
    a = np.zeros(cap)
    b = np.zeros(cap)
    u0 = np.zeros(cap)
    rn = np.zeros(cap)
    # step-doubling copies
    rA = np.zeros(cap)
    nA = np.zeros(cap)
    oA = np.zeros(cap, dtype=origin.dtype)
    gA = np.zeros(cap)
    eA = np.zeros(cap)
    bA = np.zeros(cap)
    xA = np.zeros(x.size)
    rB = np.zeros(cap)
    nB = np.zeros(cap)
    oB = np.zeros(cap, dtype=origin.dtype)
    gB = np.zeros(cap)
    eB = np.zeros(cap)
    bB = np.zeros(cap)
    xB = np.zeros(x.size)
    # the Cd3P2 budget of the run (absolute tolerance scale of the amounts)
    budget = x[X_NP] + x[X_NC] + x[X_NM] + x[X_FEEDLEFT] * (feed_c[0] + feed_c[1])
    for i in range(n):
        if nn[i] > 0.0:
            budget += nn[i] * units_of_radius(r[i], vu)
    if budget <= 0.0:
        budget = 1e-30
    # step-size exponent: 1/2 for the Lie splitting's O(dt^2) local error; the Strang order uses that of an O(dt^3)
    # local error (a symmetric composition), although its two parts are first order (docs/splitting.md)
    expo = 1.0 / 3.0 if strang else 0.5
    t = 0.0
    ia = 0
    n_ali = ali_t.size
    open_idx = -1
    open_t = -1e300
    steps = 0
    tries = 0
    dt_prop = min(dt_init, dt_max)
    while True:
        while ia < n_ali and ali_t[ia] <= t + 1e-9:
            qd = _record(ia, t, n, r, nn, origin, x, temp_t, temp_k, vu, steps, out_r, out_n, out_origin, out_rec)
            withdraw_aliquot(x, nn[:n], ali_vol, qd)
            ia += 1
        if t >= t_end - 1e-9:
            break
        if tries >= max_steps:
            return -ST_MAX_STEPS
        t_next = next_event_time(t, t_end, ia, ali_t, rate_t, temp_t)
        if not adaptive:
            dt = min(dt_max, t_next - t)
            gmax = _max_growth_rate(p, r, nn, gmul, emul, n, x, t, temp_t, temp_k, fixed_s, dt_max)
            if gmax > 0.0 and dr_max / gmax < dt:
                dt = max(dr_max / gmax, dt_min)
                if t + 1.5 * dt > t_next:
                    dt = t_next - t
            n, open_idx, open_t, st, _capped = _split_step(p, r, nn, origin, gmul, emul, birth, n, open_idx, open_t, x,
                                                          t, dt, rate_t, rate_q, temp_t, temp_k, feed_c, heun, fixed_s,
                                                          nuc_fixed, window, class_dr, min_nuc, a, b, u0, rn, strang)
            if st != ST_OK:
                return -st
            tries += 1
        else:
            dt = min(dt_prop, dt_max)
            if dr_max < 1e300:
                gmax = _max_growth_rate(p, r, nn, gmul, emul, n, x, t, temp_t, temp_k, fixed_s, dt)
                if gmax > 0.0 and dr_max / gmax < dt:
                    dt = dr_max / gmax
            clipped = False
            if t + dt >= t_next - 1e-9 or t + 1.05 * dt > t_next:
                dt = t_next - t
                clipped = True
            elif strang and t + 2.0 * dt > t_next:
                # Strang: reach the event in two equal steps, so that the growth step before it takes up the MSC
                # release of a step of its own length (the supersaturation recorded there is then balanced)
                dt = 0.5 * (t_next - t)
                clipped = True
            tries += 1
            # one full step (A)
            _copy_state(n, r, nn, origin, gmul, emul, birth, x, rA, nA, oA, gA, eA, bA, xA)
            _nA, _oiA, _otA, stA, capA = _split_step(p, rA, nA, oA, gA, eA, bA, n, open_idx, open_t, xA, t, dt, rate_t,
                                             rate_q, temp_t, temp_k, feed_c, heun, fixed_s, nuc_fixed, window,
                                             class_dr, min_nuc, a, b, u0, rn, strang)
            if stA != ST_OK:
                return -stA
            # two half steps (B)
            _copy_state(n, r, nn, origin, gmul, emul, birth, x, rB, nB, oB, gB, eB, bB, xB)
            h = 0.5 * dt
            nB_, oiB, otB, stB, capB = _split_step(p, rB, nB, oB, gB, eB, bB, n, open_idx, open_t, xB, t, h, rate_t,
                                             rate_q, temp_t, temp_k, feed_c, heun, fixed_s, nuc_fixed, window,
                                             class_dr, min_nuc, a, b, u0, rn, strang)
            if stB != ST_OK:
                return -stB
            nB_, oiB, otB, stB, capB2 = _split_step(p, rB, nB, oB, gB, eB, bB, nB_, oiB, otB, xB, t + h, h, rate_t,
                                              rate_q, temp_t, temp_k, feed_c, heun, fixed_s, nuc_fixed, window,
                                              class_dr, min_nuc, a, b, u0, rn, strang)
            if stB != ST_OK:
                return -stB
            # error estimate
            err = 0.0
            for k in (X_NP, X_NC, X_NM, X_NUCU):
                if strang and k == X_NM:
                    continue  # the fast monomer is taken up within the growth part; its error shows in the radii
                e = abs(xA[k] - xB[k]) / (rtol * max(abs(xA[k]), abs(xB[k])) + atol * budget)
                if e > err:
                    err = e
            nlive = 0.0
            for i in range(n):
                if nn[i] > 0.0:
                    nlive += nn[i]
            dnuc_a = xA[X_NUC] - x[X_NUC]
            dnuc_b = xB[X_NUC] - x[X_NUC]
            if dnuc_a != dnuc_b:
                # absolute floor: atol of the budget, counted in nuclei of the mean size born in the step
                u_typ = (xA[X_NUCU] - x[X_NUCU] + xB[X_NUCU] - x[X_NUCU]) / (dnuc_a + dnuc_b + 1e-300)
                scale = rtol * max(max(abs(dnuc_a), abs(dnuc_b)), nlive, x[X_NUC]) + atol * budget / max(u_typ, 1.0)
                e = abs(dnuc_a - dnuc_b) / scale
                if e > err:
                    err = e
            for i in range(n):
                if nn[i] > 0.0 and nA[i] > 0.0 and nB[i] > 0.0 and bA[i] == birth[i] and bB[i] == birth[i] and (
                        not strang or (nA[i] == nn[i] and nB[i] == nn[i])):
                    # (Strang: a class that took new nuclei in the step has a volume-weighted radius, set by the class
                    # resolution, not by the time step; the nuclei count is controlled above)
                    e = abs(rA[i] - rB[i]) / (atol_nm + rtol * r[i])
                    if e > err:
                        err = e
            if capA or capB or capB2:
                err = max(err, 1e3)
            if err <= 1.0 or dt <= dt_min:
                if err > 1.0 and dt <= dt_min:
                    return -ST_UNDERFLOW
                # accept the two half steps
                _copy_state(nB_, rB, nB, oB, gB, eB, bB, xB, r, nn, origin, gmul, emul, birth, x)
                n = nB_
                open_idx = oiB
                open_t = otB
                fac = 4.0 if err < 1e-8 else min(4.0, 0.9 * err ** -expo)
                if not clipped or dt * fac > dt_prop:
                    dt_prop = dt * fac
            else:
                fac = max(0.2, 0.9 * err ** -expo)
                dt_prop = dt * fac
                if dt_prop < dt_min:
                    return -ST_UNDERFLOW
                continue
        t += dt
        steps += 1
        if abs(t - t_next) < 1e-9:
            t = t_next
    return steps
