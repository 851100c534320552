"""Rate laws of the twin (pure, numba-compiled scalar functions shared by both solvers).

Species and units: amounts in mol of Cd3P2 formula units ("units"); QD classes carry a number of
particles (mol) and a radius (nm); volume in L; time in s.

Processes (sources in ``resources/twin/parameters.toml`` and ``docs/science.md``):

* precursor -> MSC, first order ``k_form`` (Owen et al. JACS 2010 style precursor conversion);
* MSC -> monomer, first order ``k_diss``; MSC fusion onto QD ``i`` with the Smoluchowski kernel
  ``beta_i = 4 pi (D_C + D_i)(r_C + r_i) p_fuse``; MSC + MSC -> secondary nucleus, second order ``k_cc``;
  free acid activates the MSCs: all three are multiplied by ``1 + kappa_C [OA]`` (:func:`msc_acid_activation`);
* growth/dissolution of QDs by the Talapin-Rogach-Haase-Weller (2001) mixed diffusion/reaction law
  with Gibbs-Thomson solubility::

      dr/dt = D V_m [M]_inf (S - exp(l_c/r)) / (r + (D/k_g) exp(alpha l_c/r)) - k_et [OA]

  (linear in the supersaturation ``S`` for a given radius, which the solvers exploit);
* homogeneous nucleation from monomer by classical nucleation theory,
  ``J = A exp(-n_lc / (2 ln^2 S))``, nuclei at the critical radius ``r* = l_c / ln S``;
* free oleic acid raises the solubility, ``[M]_inf = [M]_inf,0 (1 + kappa [OA])`` (Abe et al. 2013),
  and etches QD surfaces at ``k_et [OA]`` (consuming acid);
* Arrhenius temperature dependence of the rate constants (MSC fusion and coalescence included,
  :func:`msc_sink_temperature_factors`); ``l_c = 2 gamma(T) V_m / (R T)`` with a surface
  energy falling linearly with temperature, ``gamma(T) = gamma_ref + dgamma/dT (T - T_ref)`` (floored at 0).
  Every temperature factor is exactly 1 at ``T_ref`` (the kernels skip the surface-energy factor there), so
  runs at the reference temperature do not depend on the activation energies or on ``dgamma/dT``; these
  are fitted to the paper's hot-injection seeds (200-215 C) by ``tools/fit_hot_injection.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from qdlab.twin.parameters import KineticParameters
from qdlab.units import AVOGADRO_PER_MOL, BOLTZMANN_EV_PER_K, GAS_CONSTANT_J_PER_MOL_K

# indices into the packed parameter vector (module constants are compile-time constants for numba)
P_TREF, P_LC_REF, P_ALPHA, P_D, P_ED, P_KG, P_EG, P_MINF, P_EMINF, P_KAPPA = range(10)
P_KFORM, P_EFORM, P_KDISS, P_EDISS, P_NC, P_DC, P_PFUSE, P_KCC, P_MCC, P_ANUC = range(10, 20)
P_KET, P_NUOA, P_ETA, P_SHELL, P_RMIN, P_WINDOW, P_VU, P_VM, P_RC, P_KAPPA_C = range(20, 30)
P_GSLOPE = 30  # relative slope of the surface energy, (dgamma/dT) / gamma_ref in 1/K
P_EFUSE, P_ECC = 31, 32  # activation energies (J/mol) of MSC fusion onto QDs and of MSC-MSC coalescence
N_PARAMS = 33

_R = GAS_CONSTANT_J_PER_MOL_K
_NA = AVOGADRO_PER_MOL
_KB_J = BOLTZMANN_EV_PER_K * 1.602176634e-19  # J/K (e is exact in the SI)


def pack_parameters(p: KineticParameters) -> np.ndarray:
    """Pack a parameter set into the float vector the compiled kernels read."""
    tref = p.reference_temperature_c + 273.15
    v = np.zeros(N_PARAMS)
    v[P_TREF] = tref
    v[P_LC_REF] = p.capillary_length_nm(tref)
    v[P_ALPHA] = p.transfer_coefficient
    v[P_D] = p.diffusion_m2_per_s
    v[P_ED] = p.diffusion_activation_kj_per_mol * 1e3
    v[P_KG] = p.growth_rate_m_per_s
    v[P_EG] = p.growth_activation_kj_per_mol * 1e3
    v[P_MINF] = p.solubility_mol_per_l
    v[P_EMINF] = p.solubility_enthalpy_kj_per_mol * 1e3
    v[P_KAPPA] = p.acid_solubility_l_per_mol
    v[P_KFORM] = p.precursor_conversion_per_s
    v[P_EFORM] = p.precursor_activation_kj_per_mol * 1e3
    v[P_KDISS] = p.cluster_dissolution_per_s
    v[P_EDISS] = p.cluster_dissolution_activation_kj_per_mol * 1e3
    v[P_NC] = p.cluster_units
    v[P_DC] = p.cluster_diffusion_m2_per_s
    v[P_PFUSE] = p.fusion_probability
    v[P_KCC] = p.coalescence_l_per_mol_s
    v[P_MCC] = p.coalescence_nucleus_clusters
    v[P_ANUC] = p.nucleation_prefactor_per_l_s
    v[P_KET] = p.etch_rate_nm_per_s_per_m
    v[P_NUOA] = p.etch_acid_per_unit
    v[P_ETA] = p.qd_viscosity_pa_s
    v[P_SHELL] = p.ligand_shell_nm
    v[P_RMIN] = p.min_radius_nm
    v[P_VU] = p.unit_volume_nm3
    v[P_VM] = p.molar_volume_l_per_mol
    v[P_RC] = p.cluster_radius_nm()
    v[P_KAPPA_C] = p.acid_cluster_activation_l_per_mol
    if p.surface_energy_j_per_m2 > 0.0:
        v[P_GSLOPE] = p.surface_energy_slope_j_per_m2_k / p.surface_energy_j_per_m2
    v[P_EFUSE] = p.fusion_activation_kj_per_mol * 1e3
    v[P_ECC] = p.coalescence_activation_kj_per_mol * 1e3
    return v


@njit(cache=True)
def arrhenius(k_ref: float, ea_j_per_mol: float, temperature_k: float, tref_k: float) -> float:
    """``k_ref exp(-Ea/R (1/T - 1/T_ref))``."""
    return k_ref * math.exp(-ea_j_per_mol / _R * (1.0 / temperature_k - 1.0 / tref_k))


@njit(cache=True)
def units_of_radius(r_nm: float, vu_nm3: float) -> float:
    """Cd3P2 formula units in a sphere of radius ``r_nm``."""
    return 4.1887902047863905 * r_nm * r_nm * r_nm / vu_nm3


@njit(cache=True)
def radius_of_units(units: float, vu_nm3: float) -> float:
    """Radius (nm) of a sphere holding ``units`` formula units."""
    if units <= 0.0:
        return 0.0
    return np.cbrt(units * vu_nm3 / 4.1887902047863905)


@njit(cache=True)
def grown_radius(r_nm: float, units: float, d_units: float) -> float:
    """Radius (nm) of a sphere of radius ``r_nm`` holding ``units`` after it gains ``d_units`` units.

    ``r (1 + e)^(1/3)`` with ``e = d_units / units``: a cube root, or for ``|e| < 0.02`` (the MSC fusion of
    one step) its binomial series to ``e^6`` (relative error below ``0.019 |e|^7``, under 3e-14): the cube
    root was the costliest call of the kernel (a fifth of a run's time).
    """
    if units <= 0.0:
        return 0.0
    e = d_units / units
    if -0.02 < e < 0.02:
        # binomial coefficients of (1 + e)^(1/3): 1/3, -1/9, 5/81, -10/243, 22/729, -154/6561
        return r_nm * (1.0 + e * (0.3333333333333333 + e * (-0.1111111111111111 + e * (0.06172839506172839 + e * (
            -0.0411522633744856 + e * (0.03017832647462277 - e * 0.023472031702484377))))))
    if e <= -1.0:
        return 0.0
    return r_nm * np.cbrt(1.0 + e)


@njit(cache=True)
def conditions(p: np.ndarray, temperature_k: float, oa_mol_per_l: float) -> tuple:
    """Temperature/acid-dependent quantities: (l_c nm, D nm^2/s, k_g nm/s, M_inf mol/L, k_form, k_diss).

    ``l_c`` scales as ``gamma(T) / T``; at ``T_ref`` it is the packed reference value bit for bit.
    """
    tref = p[P_TREF]
    lc = p[P_LC_REF] * tref / temperature_k
    if temperature_k != tref:
        # gamma(T) = gamma_ref + dgamma/dT (T - T_ref), linear (Eotvos-like) and never below zero
        lc *= max(1.0 + p[P_GSLOPE] * (temperature_k - tref), 0.0)
    d_nm2 = arrhenius(p[P_D], p[P_ED], temperature_k, tref) * 1e18
    kg_nm = arrhenius(p[P_KG], p[P_EG], temperature_k, tref) * 1e9
    minf = arrhenius(p[P_MINF], p[P_EMINF], temperature_k, tref) * (1.0 + p[P_KAPPA] * oa_mol_per_l)
    kform = arrhenius(p[P_KFORM], p[P_EFORM], temperature_k, tref)
    kdiss = arrhenius(p[P_KDISS], p[P_EDISS], temperature_k, tref) * msc_acid_activation(p, oa_mol_per_l)
    return lc, d_nm2, kg_nm, minf, kform, kdiss


@njit(cache=True)
def msc_acid_activation(p: np.ndarray, oa_mol_per_l: float) -> float:
    """``1 + kappa_C [OA]``: free acid strips the MSCs' ligand shell and speeds up all three MSC sinks.

    Dissolution to monomer, fusion onto a QD and MSC-MSC coalescence are multiplied alike. Because
    coalescence is second order in the MSC concentration and the other two are first order, more acid
    lowers the steady MSC level and thereby the share of the feed that ends in secondary QDs (the
    reference paper adds oleic acid "to prevent the formation of small secondary nucleates").
    """
    return 1.0 + p[P_KAPPA_C] * oa_mol_per_l


@njit(cache=True)
def msc_sink_temperature_factors(p: np.ndarray, temperature_k: float) -> tuple:
    """Arrhenius factors (fusion onto QDs, MSC-MSC coalescence), each exactly 1.0 at ``T_ref``.

    They multiply the fusion probability and ``k_cc`` next to :func:`msc_acid_activation`; the
    dissolution factor is part of :func:`conditions`. Referenced at 180 C, so runs at the reference
    temperature are bit-identical whatever the activation energies.
    """
    tref = p[P_TREF]
    return (arrhenius(1.0, p[P_EFUSE], temperature_k, tref), arrhenius(1.0, p[P_ECC], temperature_k, tref))


@njit(cache=True)
def growth_coefficients(r_nm: float, lc_nm: float, alpha: float, d_nm2: float, kg_nm: float, phi_inf: float,
                        etch_nm_per_s: float) -> tuple:
    """Talapin law as ``dr/dt = a S - b`` for a particle of radius ``r_nm``; returns ``(a, b)`` in nm/s."""
    lk = d_nm2 / kg_nm
    e = math.exp(lc_nm / r_nm)
    # the usual alpha = 1/2 (Talapin 2001): exp(x / 2) = sqrt(exp(x)), one exp per call instead of two
    ea = math.sqrt(e) if alpha == 0.5 else math.exp(alpha * lc_nm / r_nm)
    a = d_nm2 * phi_inf / (r_nm + lk * ea)
    b = a * e + etch_nm_per_s
    return a, b


@njit(cache=True)
def fusion_kernel_l_per_mol_s(r_nm: float, rc_nm: float, dc_m2: float, temperature_k: float, eta: float,
                              shell_nm: float, p_fuse: float) -> float:
    """Smoluchowski MSC-QD collision kernel times the sticking probability, in L/(mol s)."""
    d_qd = _KB_J * temperature_k / (6.0 * math.pi * eta * (r_nm + shell_nm) * 1e-9)
    return 4.0 * math.pi * (dc_m2 + d_qd) * (rc_nm + r_nm) * 1e-9 * p_fuse * _NA * 1e3


@njit(cache=True)
def cnt_nucleation(s: float, lc_nm: float, vu_nm3: float, prefactor: float) -> tuple:
    """CNT rate (1/(L s)) and critical radius (nm) at supersaturation ``s``; ``(0, 0)`` if ``s <= 1``."""
    if s <= 1.0 or prefactor <= 0.0:
        return 0.0, 0.0
    ln_s = math.log(s)
    n_lc = 4.1887902047863905 * lc_nm ** 3 / vu_nm3
    barrier = n_lc / (2.0 * ln_s * ln_s)
    if barrier > 700.0:
        return 0.0, lc_nm / ln_s
    return prefactor * math.exp(-barrier), lc_nm / ln_s


__all__ = ["pack_parameters", "arrhenius", "conditions", "msc_acid_activation",
           "msc_sink_temperature_factors", "growth_coefficients", "fusion_kernel_l_per_mol_s",
           "cnt_nucleation", "units_of_radius", "radius_of_units", "grown_radius", "N_PARAMS"]
