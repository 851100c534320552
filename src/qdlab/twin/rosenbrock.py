"""Second-order linearly implicit (Rosenbrock ROS2) stepper of the Lagrangian size-class twin (the default).

The same model as :mod:`qdlab.twin.kernel` (rate laws of :mod:`qdlab.twin.model`), integrated as one
ODE system without splitting:

* state: the class radii ``r_i`` (nm) at fixed particle amounts ``N_i`` and the scalars precursor ``P``,
  MSC ``C``, free acid, units lost to etching, and the nuclei born in the step (CNT: amount and units; MSC
  coalescence: amount and units);
* the monomer is not integrated: it is what the conservation of the Cd3P2 units leaves,
  ``M = M0 + fed - dP - dC - lost - born - sum_i N_i (u(r_i) - u(r_i0))``, so the unit balance holds to
  round-off by construction, and the fast monomer/particle exchange shows up in the Jacobian as a
  rank-one coupling through the supersaturation ``S = M / (M_inf V)``;
* ROS2 (Verwer, Spee, Blom & Hundsdorfer, SIAM J. Sci. Comput. 20, 1456, 1999; ``gamma = 1 + 1/sqrt 2``),
  in the form of KPP (Sandu et al. 1997, :func:`method_table`): two linearly implicit stages, L-stable,
  second order for any matrix ``W`` when the step resolves every mode, with an embedded first-order
  solution for the error estimate. The monomer (relaxation 3-8 s) and the MSC (1-35 s) are faster than
  the steps, and a stiff component is only as accurate as ``W``'s couplings to the slow ones, so ``W``
  holds each class's own growth/dissolution (and fusion) derivative, the supersaturation's dependence on
  every amount (rank one), the MSC fusion both ways (``d f_r / d C``, ``d f_C / d r``), the etch loss's
  dependence on the radii and the precursor conversion; the explicit time dependence (volume,
  temperature) and the free acid's drift enter the stages as a finite-difference time derivative.
  ``(I - gamma h W) k = b`` is solved in ``O(classes)`` (a 3x3 system after elimination), with no Newton
  iteration (:func:`_solve`);
* nuclei born within a step (CNT from monomer, MSC coalescence) are integrated as amounts and units that
  grow like a class during the step, and join the size classes at its end
  (:func:`qdlab.twin.kernel._add_nuclei`: the same cohort classes as the split stepper);
* the step is accepted when the embedded difference is within ``rtol |y| + atol`` on the precursor, MSC,
  units born, nuclei born and every class radius, and within ``rtol max(M, M_sat)`` on the monomer (the
  supersaturation to ``rtol``: relative to the run's budget the monomer was 1 % off); the second-order
  solution is kept and the step rescaled by ``0.9 err^(-1/2)``.

A class that dissolves below ``r_min`` within a step is removed and its units return to the monomer (the
conservation formula does that). Steps end at every protocol event (aliquot, rate change, temperature
breakpoint) and where the syringe runs empty. Not supported here (the split stepper runs them): a fixed
supersaturation, the fixed-step scheme, ``dr_max_nm`` and the Strang order. Measurements:
``docs/integrators.md``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from qdlab.twin.kernel import (
    ST_MAX_STEPS,
    ST_POOL_FULL,
    ST_UNDERFLOW,
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
    _add_nuclei,
    _interp,
    _record,
    _step_value,
    next_event_time,
    withdraw_aliquot,
)
from qdlab.twin.model import (
    _KB_J,
    _NA,
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
    conditions,
    fusion_kernel_l_per_mol_s,
    msc_acid_activation,
    msc_sink_temperature_factors,
    radius_of_units,
    units_of_radius,
)

# the scalar ODE state of one step
Z_P, Z_C, Z_OA, Z_LOST, Z_NBC, Z_UBC, Z_NBCC, Z_UBCC = range(8)
N_Z = 8
DT_FD = 1e-3  # s, the finite-difference step of the time derivative
_FOUR_PI = 12.566370614359172


@njit(cache=True)
def _growth_derivs(r: float, lc: float, alpha: float, d_nm2: float, kg_nm: float, phi: float, etch: float) -> tuple:
    """Talapin law ``dr/dt = a S - b`` and the radius derivatives: ``(a, b, da/dr, db/dr)``."""
    lk = d_nm2 / kg_nm
    e = math.exp(lc / r)
    ea = math.sqrt(e) if alpha == 0.5 else math.exp(alpha * lc / r)
    den = r + lk * ea
    a = d_nm2 * phi / den
    b = a * e + etch
    # d(ea)/dr = -alpha lc / r^2 ea ; d(den)/dr = 1 + lk d(ea)/dr ; da/dr = -a / den * d(den)/dr
    dadr = -a / den * (1.0 - lk * alpha * lc / (r * r) * ea)
    dbdr = dadr * e - a * e * lc / (r * r)
    return a, b, dadr, dbdr


@njit(cache=True)
def _fusion_and_slope(r_nm: float, rc_nm: float, dc_m2: float, temperature_k: float, eta: float, shell_nm: float,
                      p_fuse: float) -> tuple:
    """:func:`qdlab.twin.model.fusion_kernel_l_per_mol_s` and its derivative in the QD radius (per nm)."""
    kf = fusion_kernel_l_per_mol_s(r_nm, rc_nm, dc_m2, temperature_k, eta, shell_nm, p_fuse)
    d_qd = _KB_J * temperature_k / (6.0 * math.pi * eta * (r_nm + shell_nm) * 1e-9)
    # kf = K (D_C + D_qd(r)) (r_C + r), D_qd ~ 1 / (r + shell)
    dkf = kf / (rc_nm + r_nm) - kf * d_qd / ((dc_m2 + d_qd) * (r_nm + shell_nm))
    return kf, dkf


# Jacobian parts: columns of jz (scalars) and jr (classes)
J_D, J_S, J_V, J_PHI, J_PSI, J_LAM = range(6)  # diagonal, d f/d S, d S/d y, d f/d C; d f_C/d r, d f_lost/d r (classes)
N_J = 6


def method_table(name: str) -> tuple:
    """Coefficients of a Rosenbrock method in the KPP form (Sandu et al. 1997): ``(A, C, M, E, alpha, gamma, order)``.

    ``G = 1/(h gamma_1) - W``; ``G K_i = f(t + alpha_i h, y + sum_j A_ij K_j) + sum_j C_ij / h K_j + h gamma_i f_t``;
    ``y1 = y + sum M_j K_j``; error ``sum E_j K_j`` (of order ``order - 1``).
    """
    if name == "ros2":  # Verwer, Spee, Blom & Hundsdorfer 1999
        g = 1.0 + 1.0 / math.sqrt(2.0)
        a = np.array([[0.0, 0.0], [1.0 / g, 0.0]])
        c = np.array([[0.0, 0.0], [-2.0 / g, 0.0]])
        return (a, c, np.array([1.5 / g, 0.5 / g]), np.array([0.5 / g, 0.5 / g]), np.array([0.0, 1.0]),
                np.array([g, -g]), 2)
    raise ValueError(f"unknown Rosenbrock method {name!r}")


@njit(cache=True)
def _rhs(p: np.ndarray, t: float, t0: float, q: float, feed_c: np.ndarray, v0: float, m0: float, z0: np.ndarray,
         z: np.ndarray, r0: np.ndarray, r: np.ndarray, nn: np.ndarray, gmul: np.ndarray, emul: np.ndarray, n: int,
         temp_t: np.ndarray, temp_k: np.ndarray, min_nuc: float, jac: bool, fz: np.ndarray, fr: np.ndarray,
         jz: np.ndarray, jr: np.ndarray, cache: np.ndarray, cached: bool) -> tuple:
    """Time derivatives at ``(t, z, r)`` (into ``fz``, ``fr``); with ``jac`` also the parts of ``W`` (``jz``, ``jr``).

    With ``jac`` the per-class coefficients that do not depend on the volume, the acid or the supersaturation
    (growth ``a / phi``, Gibbs-Thomson ``exp(l_c / r)``, fusion kernel per unit sticking probability) are stored
    in ``cache``; with ``cached`` they are read from it instead of computed (same radii and temperature: the
    time derivative of a step, without its exponentials).

    ``W = diag(D) + s v^T + phi e_C^T + e_C psi^T + k_form e_C e_P^T`` with ``s = d f / d S``, ``v = d S / d y``,
    ``phi = d f / d C``, ``psi = d f_C / d r`` (columns :data:`J_D` ... :data:`J_PSI`). Returns
    ``(S, msat, kform, monomer)`` at that point.
    """
    vu = p[P_VU]
    rmin = p[P_RMIN]
    alpha = p[P_ALPHA]
    nc = p[P_NC]
    mcc = p[P_MCC]
    temp = _interp(t, temp_t, temp_k)
    vol = v0 + q * (t - t0)
    oa = max(z[Z_OA], 0.0) / vol
    lc, d_nm2, kg_nm, minf, kform, kdiss = conditions(p, temp, oa)
    phi = p[P_VM] * minf
    etch = p[P_KET] * oa
    msat = minf * vol
    act = msc_acid_activation(p, oa)
    tfus, tcc = msc_sink_temperature_factors(p, temp)
    mono = _monomer(p, t - t0, q, feed_c, m0, z0, z, r0, r, nn, n)  # what the conservation of units leaves
    s = max(mono, 0.0) / msat
    c = max(z[Z_C], 0.0)
    pfuse = p[P_PFUSE] * act * tfus
    lam_fus = 0.0
    etch_units = 0.0
    for i in range(n):
        if nn[i] > 0.0 and r[i] > rmin:
            ri = r[i]
            dadr = 0.0
            dbdr = 0.0
            if cached:
                a = phi * cache[i, 0]
                b = a * cache[i, 1] + etch * emul[i]
            else:
                a, b, dadr, dbdr = _growth_derivs(ri, lc, alpha, d_nm2, kg_nm * gmul[i], phi, etch * emul[i])
                if jac:
                    cache[i, 0] = a / phi
                    cache[i, 1] = (b - etch * emul[i]) / a
            area = _FOUR_PI * ri * ri / vu  # units per nm of radius
            g = a * s - b
            ph = 0.0
            dph = 0.0
            dkf = 0.0
            if pfuse > 0.0:
                if cached:
                    kf = pfuse * gmul[i] * cache[i, 2]
                else:
                    kf, dkf = _fusion_and_slope(ri, p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL], pfuse * gmul[i])
                    if jac:
                        cache[i, 2] = kf / (pfuse * gmul[i])
                lam_fus += kf * nn[i] / vol
                ph = kf / vol / area
                dph = dkf / vol / area - 2.0 * ph / ri
                g += ph * c
            fr[i] = g
            etch_units += nn[i] * area * etch * emul[i]
            if jac:
                jr[i, J_D] = dadr * s - dbdr + dph * c
                jr[i, J_S] = a
                jr[i, J_V] = -nn[i] * area / msat
                jr[i, J_PHI] = ph
                jr[i, J_PSI] = -nn[i] * dkf * c / vol
                jr[i, J_LAM] = 2.0 * nn[i] * area / ri * etch * emul[i]
        else:
            fr[i] = 0.0
            if jac:
                for k in range(N_J):
                    jr[i, k] = 0.0
    if jac:
        for k in range(N_Z):
            for m in range(N_J):
                jz[k, m] = 0.0
    # the nuclei born in this step (CNT: Z_NBC/Z_UBC, MSC coalescence: Z_NBCC/Z_UBCC) grow like a class
    g_ub = 0.0
    g_ubcc = 0.0
    for kind in range(2):
        nb = z[Z_NBC] if kind == 0 else z[Z_NBCC]
        ub = z[Z_UBC] if kind == 0 else z[Z_UBCC]
        if nb > 0.0 and ub > 0.0:
            rb = radius_of_units(ub / nb, vu)
            if rb > rmin:
                a, b, dadr, dbdr = _growth_derivs(rb, lc, alpha, d_nm2, kg_nm, phi, etch)
                area = _FOUR_PI * rb * rb / vu
                g = nb * area * (a * s - b)
                gfus = 0.0
                if pfuse > 0.0:
                    kf = fusion_kernel_l_per_mol_s(rb, p[P_RC], p[P_DC], temp, p[P_ETA], p[P_SHELL], pfuse)
                    lam_fus += kf * nb / vol
                    gfus = kf * nb / vol
                    g += gfus * c
                etch_units += nb * area * etch
                ku = Z_UBC if kind == 0 else Z_UBCC
                if kind == 0:
                    g_ub = g
                else:
                    g_ubcc = g
                if jac:
                    # d/d(units) at a fixed number: dr/du = 1 / (N area)
                    jz[ku, J_D] = 2.0 / rb * (a * s - b) + dadr * s - dbdr
                    jz[ku, J_S] = nb * area * a
                    jz[ku, J_PHI] = gfus
    kap = mcc * p[P_KCC] * act * tcc / (nc * vol)
    coal = kap * c * c
    if coal < min_nuc * mcc * nc:
        coal = 0.0  # slower than the nucleation floor: the clusters stay clusters
    fz[Z_P] = q * feed_c[0] - kform * z[Z_P]
    fz[Z_C] = kform * z[Z_P] + q * feed_c[1] - (kdiss + lam_fus) * c - coal
    fz[Z_OA] = q * feed_c[2] - p[P_NUOA] * etch_units
    fz[Z_LOST] = etch_units
    fz[Z_NBCC] = coal / (mcc * nc)
    fz[Z_UBCC] = coal + g_ubcc
    # CNT nucleation from monomer
    jn = 0.0
    djn = 0.0
    un = 0.0
    dun = 0.0
    if p[P_ANUC] > 0.0 and s > 1.0:
        ln_s = math.log(s)
        n_lc = 4.1887902047863905 * lc ** 3 / vu
        barrier = 0.5 * n_lc / (ln_s * ln_s)
        if barrier <= 700.0:
            jrate = p[P_ANUC] * math.exp(-barrier)
            if jrate * vol >= min_nuc * _NA:
                jn = jrate * vol / _NA  # mol nuclei / s
                djn = jn * 2.0 * barrier / (ln_s * s)  # d jn / d S
                rstar = lc / ln_s
                if 1.02 * rstar > 1.5 * rmin:
                    rn_ = 1.02 * rstar
                    un = units_of_radius(rn_, vu)
                    dun = 3.0 * un / rn_ * (-1.02 * lc / (s * ln_s * ln_s))
                else:
                    un = units_of_radius(1.5 * rmin, vu)
    fz[Z_NBC] = jn
    fz[Z_UBC] = jn * un + g_ub
    if jac:
        jz[Z_P, J_D] = -kform
        jz[Z_C, J_D] = -(kdiss + lam_fus + (2.0 * kap * c if coal > 0.0 else 0.0))
        jz[Z_NBC, J_S] = djn
        jz[Z_UBC, J_S] += djn * un + jn * dun
        if coal > 0.0:
            jz[Z_NBCC, J_PHI] = 2.0 * kap * c / (mcc * nc)
            jz[Z_UBCC, J_PHI] += 2.0 * kap * c
        for k in (Z_P, Z_C, Z_LOST, Z_UBC, Z_UBCC):
            jz[k, J_V] = -1.0 / msat
    return s, msat, kform, mono


@njit(cache=True)
def _solve(gh: float, kform: float, bz: np.ndarray, br: np.ndarray, n: int, jz: np.ndarray, jr: np.ndarray,
           kz: np.ndarray, kr: np.ndarray) -> None:
    """Solve ``(I - gh W) k = b`` for the ``W`` of :func:`_rhs` in O(classes) (``k`` into ``kz``, ``kr``).

    The precursor row is solved first; every other row but the MSC's and the etch loss's is
    ``k_j = alpha_j + beta_j k_C + delta_j sigma`` with ``sigma = v . k``, which leaves a 3x3 system in
    ``(sigma, k_C, k_lost)``.
    """
    kp = bz[Z_P] / (1.0 - gh * jz[Z_P, J_D])
    kz[Z_P] = kp
    # rows: sigma, MSC, lost; columns: sigma, k_C, k_lost
    m00 = 1.0
    m01 = -jz[Z_C, J_V]
    m02 = -jz[Z_LOST, J_V]
    r0 = jz[Z_P, J_V] * kp
    m10 = 0.0
    m11 = 1.0 - gh * jz[Z_C, J_D]
    r1 = bz[Z_C] + gh * kform * kp
    m20 = 0.0
    m21 = 0.0
    r2 = bz[Z_LOST]
    for k in range(N_Z):
        if k != Z_P and k != Z_C and k != Z_LOST:
            d = 1.0 - gh * jz[k, J_D]
            if d < 0.5:
                d = 0.5
            v = jz[k, J_V]
            m00 -= v * gh * jz[k, J_S] / d
            m01 -= v * gh * jz[k, J_PHI] / d
            r0 += v * bz[k] / d
    for i in range(n):
        d = 1.0 - gh * jr[i, J_D]
        if d < 0.5:
            d = 0.5
        v = jr[i, J_V]
        al = br[i] / d
        be = gh * jr[i, J_PHI] / d
        de = gh * jr[i, J_S] / d
        m00 -= v * de
        m01 -= v * be
        r0 += v * al
        ps = gh * jr[i, J_PSI]
        m11 -= ps * be
        m10 -= ps * de
        r1 += ps * al
        la = gh * jr[i, J_LAM]
        m21 -= la * be
        m20 -= la * de
        r2 += la * al
    # k_lost = r2 - m20 sigma - m21 k_C (its row has a unit diagonal): eliminate it, then Cramer on 2x2
    a00 = m00 - m02 * m20
    a01 = m01 - m02 * m21
    b0 = r0 - m02 * r2
    det = a00 * m11 - a01 * m10
    sigma = (b0 * m11 - a01 * r1) / det
    kc = (a00 * r1 - m10 * b0) / det
    kz[Z_C] = kc
    kz[Z_LOST] = r2 - m20 * sigma - m21 * kc
    for k in range(N_Z):
        if k != Z_P and k != Z_C and k != Z_LOST:
            d = 1.0 - gh * jz[k, J_D]
            if d < 0.5:
                d = 0.5
            kz[k] = (bz[k] + gh * (jz[k, J_PHI] * kc + jz[k, J_S] * sigma)) / d
    for i in range(n):
        d = 1.0 - gh * jr[i, J_D]
        if d < 0.5:
            d = 0.5
        kr[i] = (br[i] + gh * (jr[i, J_PHI] * kc + jr[i, J_S] * sigma)) / d


@njit(cache=True)
def _monomer(p: np.ndarray, h: float, q: float, feed_c: np.ndarray, m0: float, z0: np.ndarray, z: np.ndarray,
                   r0: np.ndarray, r: np.ndarray, nn: np.ndarray, n: int) -> float:
    """The monomer the conservation of units leaves ``h`` after the step's start, at ``(z, r)`` (classes below ``r_min``
    dissolved)."""
    vu = p[P_VU]
    rmin = p[P_RMIN]
    dq = 0.0
    for i in range(n):
        if nn[i] > 0.0:
            ri = r[i] if r[i] > rmin else 0.0
            dq += nn[i] * (ri - r0[i]) * (ri * ri + ri * r0[i] + r0[i] * r0[i])
    return (m0 + h * q * (feed_c[0] + feed_c[1]) - (z[Z_P] - z0[Z_P]) - (z[Z_C] - z0[Z_C])
            - (z[Z_LOST] - z0[Z_LOST]) - z[Z_UBC] - z[Z_UBCC] - 4.1887902047863905 / vu * dq)


@njit(cache=True, nogil=True)
def run_kernel_rosenbrock(p: np.ndarray, r: np.ndarray, nn: np.ndarray, origin: np.ndarray, gmul: np.ndarray,
                          emul: np.ndarray, birth: np.ndarray, n_init: int, x: np.ndarray,
                          rate_t: np.ndarray, rate_q: np.ndarray, temp_t: np.ndarray, temp_k: np.ndarray,
                          feed_c: np.ndarray, t_end: float, ali_t: np.ndarray, ali_vol: float,
                          dt_max: float, dt_min: float, rtol: float, atol: float, atol_nm: float, dt_init: float,
                          window: float, class_dr: float, max_steps: int, min_nuc: float,
                          ma: np.ndarray, mc: np.ndarray, mm: np.ndarray, me: np.ndarray, malpha: np.ndarray,
                          mgamma: np.ndarray, order: int,
                          out_r: np.ndarray, out_n: np.ndarray, out_origin: np.ndarray, out_rec: np.ndarray) -> int:
    """Integrate the twin from 0 to ``t_end`` (s) with a Rosenbrock method (:func:`method_table`).

    Arguments and outputs as :func:`qdlab.twin.kernel.run_kernel`. Returns the accepted step count, or
    ``-ST_POOL_FULL`` (no class slot left for new nuclei: grow the pool and rerun), ``-ST_MAX_STEPS`` or
    ``-ST_UNDERFLOW`` (the error control wanted a step below ``dt_min``).
    """
    cap = r.size
    n = n_init
    vu = p[P_VU]
    rmin = p[P_RMIN]
    ns = mm.size
    expo = 1.0 / order
    r0 = np.zeros(cap)
    r1 = np.zeros(cap)
    rs = np.zeros(cap)
    fr = np.zeros(cap)
    f0r = np.zeros(cap)
    ftr = np.zeros(cap)
    br = np.zeros(cap)
    er = np.zeros(cap)
    kr = np.zeros((ns, cap))
    jr = np.zeros((cap, N_J))
    z0 = np.zeros(N_Z)
    z1 = np.zeros(N_Z)
    zs = np.zeros(N_Z)
    fz = np.zeros(N_Z)
    f0z = np.zeros(N_Z)
    ftz = np.zeros(N_Z)
    bz = np.zeros(N_Z)
    ez = np.zeros(N_Z)
    kz = np.zeros((ns, N_Z))
    jz = np.zeros((N_Z, N_J))
    jdum = np.zeros((1, N_J))
    cache = np.zeros((cap, 3))
    budget = x[X_NP] + x[X_NC] + x[X_NM] + x[X_FEEDLEFT] * (feed_c[0] + feed_c[1])
    for i in range(n):
        if nn[i] > 0.0:
            budget += nn[i] * units_of_radius(r[i], vu)
    if budget <= 0.0:
        budget = 1e-30
    t = 0.0
    ia = 0
    n_ali = ali_t.size
    open_idx = -1
    open_t = -1e300
    steps = 0
    tries = 0
    h_prop = min(dt_init, dt_max)
    have_f0 = False
    kform0 = 0.0
    msat0 = 1.0
    while True:
        while ia < n_ali and ali_t[ia] <= t + 1e-9:
            qd = _record(ia, t, n, r, nn, origin, x, temp_t, temp_k, vu, steps, out_r, out_n, out_origin, out_rec)
            withdraw_aliquot(x, nn[:n], ali_vol, qd)
            ia += 1
            have_f0 = False
        if t >= t_end - 1e-9:
            break
        if tries >= max_steps:
            return -ST_MAX_STEPS
        t_next = next_event_time(t, t_end, ia, ali_t, rate_t, temp_t)
        q = _step_value(t, rate_t, rate_q) if x[X_FEEDLEFT] > 0.0 else 0.0
        empties = False
        if q > 0.0 and t + x[X_FEEDLEFT] / q < t_next - 1e-9:
            t_next = t + x[X_FEEDLEFT] / q  # the syringe runs empty
            empties = True
        h = min(h_prop, dt_max)
        clipped = False
        if t + h >= t_next - 1e-9 or t + 1.05 * h > t_next:
            h = t_next - t
            clipped = True
        tries += 1
        m0 = x[X_NM]
        if not have_f0:
            # the state at the start of the step, f and W there (kept across rejected tries)
            for i in range(n):
                r0[i] = r[i]
            z0[Z_P] = x[X_NP]
            z0[Z_C] = x[X_NC]
            z0[Z_OA] = x[X_NOA]
            z0[Z_LOST] = x[X_LOST]
            for k in range(Z_NBC, N_Z):
                z0[k] = 0.0
            _s0, msat0, kform0, _m = _rhs(p, t, t, q, feed_c, x[X_V], m0, z0, z0, r0, r0, nn, gmul, emul, n,
                                         temp_t, temp_k, min_nuc, True, f0z, f0r, jz, jr, cache, False)
            # the explicit time dependence (volume, temperature) and the free acid's drift as a finite difference: the
            # stiff supersaturation and MSC amount are only accurate when the stages see them
            for k in range(N_Z):
                zs[k] = z0[k]
            zs[Z_OA] = z0[Z_OA] + DT_FD * f0z[Z_OA]
            # (at a constant temperature the per-class coefficients are those of t: reused from the cache)
            same_temp = _interp(t + DT_FD, temp_t, temp_k) == _interp(t, temp_t, temp_k)
            _rhs(p, t + DT_FD, t, q, feed_c, x[X_V], m0, z0, zs, r0, r0, nn, gmul, emul, n, temp_t, temp_k,
                 min_nuc, False, ftz, ftr, jdum, jdum, cache, same_temp)
            for k in range(N_Z):
                ftz[k] = (ftz[k] - f0z[k]) / DT_FD
            for i in range(n):
                ftr[i] = (ftr[i] - f0r[i]) / DT_FD
            have_f0 = True
        gh = mgamma[0] * h
        for st in range(ns):
            # the stage value and f there (stage 0 and stages with no new point reuse the last f)
            new_f = st > 0 and (malpha[st] != malpha[st - 1] or ma[st, st - 1] != 0.0 or (st == 1 and malpha[1] != 0.0))
            if st == 0:
                for k in range(N_Z):
                    fz[k] = f0z[k]
                for i in range(n):
                    fr[i] = f0r[i]
            elif new_f:
                for k in range(N_Z):
                    acc = z0[k]
                    for j in range(st):
                        acc += ma[st, j] * kz[j, k]
                    zs[k] = acc
                for i in range(n):
                    acc = r0[i]
                    for j in range(st):
                        acc += ma[st, j] * kr[j, i]
                    rs[i] = acc
                _rhs(p, t + malpha[st] * h, t, q, feed_c, x[X_V], m0, z0, zs, r0, rs, nn, gmul, emul, n, temp_t,
                     temp_k, min_nuc, False, fz, fr, jdum, jdum, cache, False)
            # (I - gh W) K = gh (f + sum_j C_j / h K_j + h gamma_i f_t)
            for k in range(N_Z):
                acc = fz[k] + h * mgamma[st] * ftz[k]
                for j in range(st):
                    acc += mc[st, j] / h * kz[j, k]
                bz[k] = gh * acc
            for i in range(n):
                acc = fr[i] + h * mgamma[st] * ftr[i]
                for j in range(st):
                    acc += mc[st, j] / h * kr[j, i]
                br[i] = gh * acc
            _solve(gh, kform0, bz, br, n, jz, jr, kz[st], kr[st])
        for k in range(N_Z):
            acc = z0[k]
            err_k = 0.0
            for j in range(ns):
                acc += mm[j] * kz[j, k]
                err_k += me[j] * kz[j, k]
            z1[k] = acc
            bz[k] = err_k
        for i in range(n):
            acc = r0[i]
            err_i = 0.0
            for j in range(ns):
                acc += mm[j] * kr[j, i]
                err_i += me[j] * kr[j, i]
            r1[i] = acc
            br[i] = err_i
        # the embedded estimate unfiltered: (I - gamma h W)^-1 filtering (Shampine) would damp the monomer's estimate,
        # which is the error the supersaturation needs controlled (the monomer relaxes in 3-8 s, steps are 5-30 s)
        for k in range(N_Z):
            ez[k] = bz[k]
        for i in range(n):
            er[i] = br[i]
        m1 = _monomer(p, h, q, feed_c, m0, z0, z1, r0, r1, nn, n)
        e_m = ez[Z_P] + ez[Z_C] + ez[Z_LOST] + ez[Z_UBC] + ez[Z_UBCC]
        for i in range(n):
            if nn[i] > 0.0 and r1[i] > rmin:
                e_m += nn[i] * _FOUR_PI * r1[i] * r1[i] / vu * er[i]
        err = 0.0
        negative = m1 < -1e-12 * budget or z1[Z_P] < -atol * budget or z1[Z_C] < -atol * budget
        ub1 = z1[Z_UBC] + z1[Z_UBCC]
        for k in range(4):
            if k == 0:
                ya, ee = z1[Z_P], ez[Z_P]
            elif k == 1:
                ya, ee = z1[Z_C], ez[Z_C]
            elif k == 2:
                ya, ee = m1, e_m
            else:
                ya, ee = x[X_NUCU] + ub1, ez[Z_UBC] + ez[Z_UBCC]  # (cumulative, like the split stepper's)
            if k == 2:
                # the monomer relative to the saturation amount (the supersaturation to rtol when S < 1), not to the
                # budget: the monomer is a small difference of large amounts, and atol of the budget is ~1 % of it
                e = abs(ee) / (rtol * max(abs(ya), msat0))
            else:
                e = abs(ee) / (rtol * abs(ya) + atol * budget)
            if e > err:
                err = e
        nb1 = z1[Z_NBC] + z1[Z_NBCC]
        enb = ez[Z_NBC] + ez[Z_NBCC]
        if enb != 0.0:
            nlive = 0.0
            for i in range(n):
                if nn[i] > 0.0:
                    nlive += nn[i]
            u_typ = ub1 / nb1 if nb1 > 0.0 else 1.0
            scale = rtol * max(abs(nb1), nlive, x[X_NUC]) + atol * budget / max(u_typ, 1.0)
            e = abs(enb) / scale
            if e > err:
                err = e
        for i in range(n):
            if nn[i] > 0.0 and r1[i] > rmin:
                e = abs(er[i]) / (atol_nm + rtol * r0[i])
                if e > err:
                    err = e
        if negative:
            err = max(err, 1e3)
        if err > 1.0 and h > dt_min:
            h_prop = h * max(0.2, 0.9 * err ** -expo)
            if h_prop < dt_min:
                return -ST_UNDERFLOW
            continue
        if err > 1.0:
            return -ST_UNDERFLOW
        # accept: classes below r_min dissolve (their units are in m1 already)
        for i in range(n):
            if nn[i] > 0.0:
                if r1[i] > rmin:
                    r[i] = r1[i]
                else:
                    r[i] = 0.0
                    nn[i] = 0.0
        t1 = t + h
        x[X_V] += q * h
        if clipped and empties:
            x[X_FEEDLEFT] = 0.0
        else:
            x[X_FEEDLEFT] = max(x[X_FEEDLEFT] - q * h, 0.0)
        x[X_FED] += q * h * (feed_c[0] + feed_c[1])
        x[X_NP] = max(z1[Z_P], 0.0)
        x[X_NC] = max(z1[Z_C], 0.0)
        x[X_NOA] = max(z1[Z_OA], 0.0)
        x[X_LOST] = z1[Z_LOST]
        m1 += (z1[Z_P] - x[X_NP]) + (z1[Z_C] - x[X_NC])  # round-off clips stay in the balance
        # the nuclei born in the step (grown since their birth) join the size classes
        for kind in range(2):
            dn = z1[Z_NBC] if kind == 0 else z1[Z_NBCC]
            units_total = z1[Z_UBC] if kind == 0 else z1[Z_UBCC]
            if dn <= 0.0 or units_total <= 0.0 or radius_of_units(units_total / dn, vu) <= rmin:
                m1 += units_total  # none born, a round-off amount, or dissolved again: the units stay monomer
                continue
            n, open_idx, open_t, ok = _add_nuclei(dn, units_total / dn, t, r, nn, origin, gmul, emul, birth, n,
                                                  open_idx, open_t, window, class_dr, vu)
            if not ok:
                return -ST_POOL_FULL
            x[X_NUC] += dn
            x[X_NUCU] += units_total
        if m1 < 0.0:
            m1 = 0.0  # a round-off deficit (at most 1e-12 of the budget: larger ones are rejected above)
        x[X_NM] = m1
        temp1 = _interp(t1, temp_t, temp_k)
        _lc1, _d1, _kg1, minf1, _kf1, _kd1 = conditions(p, temp1, x[X_NOA] / x[X_V])
        x[X_S] = m1 / (minf1 * x[X_V])
        fac = 4.0 if err < 1e-8 else min(4.0, 0.9 * err ** -expo)
        if not clipped or h * fac > h_prop:
            h_prop = h * fac
        have_f0 = False
        t = t1
        steps += 1
        if abs(t - t_next) < 1e-9:
            t = t_next
    return steps
