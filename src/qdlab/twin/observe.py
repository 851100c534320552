"""Observation model: size classes -> PL and absorption spectra and a per-aliquot summary.

PL (energy space, notes-kinetics section 4)::

    I(E) = sum_i N_i d_i^p QY L(E - E_PL(d_i); Gamma_hom)  +  MSC line at 455 nm

with ``d^p`` the excitation cross-section far above the gap (``p = 3``: per-volume absorption), a
Gaussian homogeneous line ``L`` and ``E_PL(d)`` from :func:`qdlab.materials.curve_for`. The spectrum is
built on an energy grid and handed over as a canonical :class:`~qdlab.data.types.Spectrum` on a
wavelength axis through :meth:`Spectrum.to_wavelength`, which applies the Jacobian ``hc/lambda^2``.
Absorbance: a first-exciton Gaussian at the band-edge energy plus a smoothed continuum above it,
both proportional to the QD volume, plus the MSC band at 447 nm.

Peak wavelength, FWHM and bimodality come from :func:`qdlab.spectra.band.summarize_band`, the estimator
that :func:`qdlab.spectra.analyze_pl` applies to a measured spectrum's fitted band: peak and width in nm
on the wavelength-axis band (as a chemist reads them), the FWHM in meV on the energy axis, ``bimodal``
for two resolved maxima on the wavelength axis.

Every aliquot of a run goes through :func:`qd_pl_energy` and :func:`summarize`, so what does not change
between aliquots is computed once (the Gaussian line per FWHM and grid step, the sizing curve, the
wavelength axis of :data:`ENERGY_GRID_EV` as a :class:`~qdlab.spectra.band.BandGrid`, the detector
window's mask) and the loops over the size classes are compiled (numba, ``cache=True``): the deposit of
the classes' emission on the grid (for a Moreels sizing curve, Cd3P2's) and the gathering of the classes
that the size moments sum over. Both do numpy's arithmetic in numpy's order, and the sums themselves stay
numpy's (pairwise) as does the convolution (:func:`numpy.convolve`, BLAS dot products), so the summary is
the same to the last bit (``tests/twin/test_observe.py``): the seed classes are fitted to the PL and the
emission model to the moments, so last bits reach the whole run and the fits.
Developer note: numba does not notice edits to functions called from a cached kernel in another module,
so keep every helper of the kernels in this file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qdlab.data.types import Result, Spectrum
from qdlab.materials import curve_for
from qdlab.materials.sizing import MoreelsCurve, SizingCurve
from qdlab.spectra.band import BandGrid, summarize_band
from qdlab.twin.parameters import OpticalParameters
from qdlab.units import FWHM_PER_SIGMA, HC_EV_NM

ENERGY_GRID_EV: NDArray[np.float64] = np.linspace(0.70, 3.10, 1201)
_BAND_GRID = BandGrid.of(ENERGY_GRID_EV)  # its wavelength axis, computed once for summarize_band


@dataclass(frozen=True)
class Aliquot(Result):
    """Per-aliquot summary (what the CLI's ``--json`` prints for each aliquot).

    ``secondary_fraction`` is the number fraction of QDs that nucleated during the run;
    ``secondary_mass_fraction`` the fraction of the QDs' Cd3P2 (volume-weighted, ∝ N d³) they hold,
    which is closer to what the PL and the yield see. ``tem_mean_diameter_nm`` is what TEM sizing would
    report: the number mean of the QDs at or above ``OpticalParameters.tem_min_diameter_nm`` (smaller ones
    are not counted on a micrograph), ``tem_counted_fraction`` the share of the QDs it counts.
    """

    aliquot_id: str
    time_min: float
    temperature_c: float
    volume_ml: float
    pl_peak_nm: float
    fwhm_mev: float
    fwhm_nm: float
    mean_diameter_nm: float
    diameter_std_nm: float
    secondary_fraction: float
    secondary_mass_fraction: float
    bimodal: bool
    cluster_fraction: float
    supersaturation: float
    n_classes: int
    tem_mean_diameter_nm: float = float("nan")
    tem_counted_fraction: float = float("nan")


def wavelength_peak_nm(qd_pl_e: NDArray[np.float64], energy_ev: NDArray[np.float64] = ENERGY_GRID_EV) -> float:
    """Peak wavelength (nm) of an energy-grid PL after the Jacobian to the wavelength axis."""
    return summarize_band(_BAND_GRID if energy_ev is ENERGY_GRID_EV else energy_ev, qd_pl_e).peak_wavelength_nm


@functools.lru_cache(maxsize=64)
def _gaussian_line(fwhm_ev: float, step_ev: float) -> NDArray[np.float64]:
    """The unit-area Gaussian of FWHM ``fwhm_ev`` sampled at ``step_ev`` out to 5 sigma (read-only, cached)."""
    sig = fwhm_ev / FWHM_PER_SIGMA
    half = math.ceil(5 * sig / step_ev)
    k = np.arange(-half, half + 1) * step_ev
    kern = np.exp(-0.5 * (k / sig) ** 2) / (sig * math.sqrt(2 * math.pi))
    kern.flags.writeable = False
    return kern


@functools.cache
def _emission_curve(material: str) -> tuple[SizingCurve, NDArray[np.float64]]:
    """The material's default sizing curve and, for the Moreels form, ``(E_g, a, b, c, stokes)`` (else empty)."""
    curve = curve_for(material)
    if type(curve) is MoreelsCurve:
        return curve, np.array([curve.eg_ev, curve.a_per_ev_nm2, curve.b_per_ev_nm, curve.c_per_ev,
                                curve.stokes_shift_ev])
    return curve, np.zeros(0)


@functools.lru_cache(maxsize=16)
def _window_mask(lo_nm: float, hi_nm: float) -> NDArray[np.bool_]:
    """Points of :data:`ENERGY_GRID_EV` whose wavelength lies in ``[lo_nm, hi_nm]`` (read-only, cached)."""
    lam_e = HC_EV_NM / ENERGY_GRID_EV
    mask = (lam_e >= lo_nm) & (lam_e <= hi_nm)
    mask.flags.writeable = False
    return mask


def _broaden(energy_ev: NDArray[np.float64], centers_ev: NDArray[np.float64], weights: NDArray[np.float64],
             fwhm_ev: float) -> NDArray[np.float64]:
    """Sum of unit-area Gaussians (FWHM ``fwhm_ev``) at ``centers_ev`` with ``weights`` on a uniform grid.

    Weights are deposited on the grid by linear interpolation (conserving area and centroid) and then
    convolved with the sampled Gaussian: O(grid x kernel) instead of O(grid x classes).
    """
    de = float(energy_ev[1] - energy_ev[0])
    pos = (centers_ev - energy_ev[0]) / de
    ok = (pos >= 0) & (pos < energy_ev.size - 1)
    i0 = np.floor(pos[ok]).astype(np.int64)
    fr = pos[ok] - i0
    w = weights[ok]
    hist = np.bincount(i0, w * (1 - fr), minlength=energy_ev.size) + np.bincount(i0 + 1, w * fr, minlength=energy_ev.size)
    return np.convolve(hist[: energy_ev.size], _gaussian_line(fwhm_ev, de), mode="same")


def qd_pl_energy(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], optics: OpticalParameters,
                 energy_ev: NDArray[np.float64] = ENERGY_GRID_EV, material: str = "Cd3P2") -> NDArray[np.float64]:
    """QD PL intensity per unit energy on the uniform grid ``energy_ev`` (arbitrary units)."""
    curve, moreels = _emission_curve(material)
    if moreels.size and energy_ev.size > 1 and np.ndim(number) == 1 and np.shape(diameter_nm) == np.shape(number):
        # compiled: the classes' emission deposited on the grid in one pass (the same sums as below)
        de = float(energy_ev[1] - energy_ev[0])
        hist, upper = np.zeros(energy_ev.size), np.zeros(energy_ev.size)
        k = _moreels_deposit(np.ascontiguousarray(diameter_nm, dtype=float), np.ascontiguousarray(number, dtype=float),
                             float(optics.excitation_exponent), moreels, float(energy_ev[0]), de, hist, upper)
        if k == 0:
            return np.zeros_like(energy_ev)
        if k > 0:
            return np.convolve(hist, _gaussian_line(optics.homogeneous_fwhm_mev / 1000, de), mode="same")
    keep = (number > 0) & (diameter_nm > 0.5)
    if not np.any(keep):
        return np.zeros_like(energy_ev)
    d = diameter_nm[keep]
    w = number[keep] * d**optics.excitation_exponent
    e0 = curve.emission_energy_ev(d)
    return _broaden(energy_ev, e0, w, optics.homogeneous_fwhm_mev / 1000)


@njit(cache=True, error_model="numpy")
def _moreels_deposit(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], exponent: float,
                     moreels: NDArray[np.float64], grid_start_ev: float, step_ev: float, hist: NDArray[np.float64],
                     upper: NDArray[np.float64]) -> int:
    """The deposit of :func:`qd_pl_energy` for a Moreels curve, in one pass over the classes.

    For the classes that emit (``number > 0``, ``d > 0.5 nm``), in order: the weight ``number d^exponent``
    (``d^exponent`` as numpy's ``power`` computes it: its exact special cases, else ``pow``), the emission
    energy ``E_g + 1/(a d^2 + b d + c) - stokes`` (``moreels = (E_g, a, b, c, stokes)``, in the order of
    :meth:`MoreelsCurve.energy_ev`'s numpy arithmetic) and its linear-interpolation deposit on the grid
    ``grid_start_ev + step_ev * arange(n)``: the lower neighbours' shares into ``hist``, the upper ones' into ``upper``
    (both zeroed, of the grid's size; then ``hist += upper``), the sums of :func:`_broaden`'s ``np.bincount``
    calls. Returns the number of emitting classes, or -1 (``hist`` unfinished) for an infinite diameter,
    which the curve refuses.
    """
    n = hist.size
    k = 0
    for i in range(number.size):
        d = diameter_nm[i]
        if not (number[i] > 0 and d > 0.5):
            continue
        if d == np.inf:
            return -1
        if exponent == 2.0:
            dp = d * d
        elif exponent == 1.0:
            dp = d
        elif exponent == 0.5:
            dp = math.sqrt(d)
        elif exponent == 0.0:
            dp = 1.0
        elif exponent == -1.0:
            dp = 1.0 / d
        else:
            dp = d**exponent
        w = number[i] * dp
        e = moreels[0] + 1.0 / (moreels[1] * d * d + moreels[2] * d + moreels[3]) - moreels[4]
        pos = (e - grid_start_ev) / step_ev
        if pos >= 0 and pos < n - 1:
            i0 = math.floor(pos)
            fr = pos - i0
            hist[i0] += w * (1 - fr)
            upper[i0 + 1] += w * fr
        k += 1
    for m in range(n):
        hist[m] += upper[m]
    return k


def spectra_for(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], cluster_units: float,
                optics: OpticalParameters, meta: dict[str, object], unit_volume_nm3: float,
                material: str = "Cd3P2") -> tuple[Spectrum, Spectrum, NDArray[np.float64]]:
    """PL and absorbance spectra (wavelength axis) and the QD-only PL on the energy grid."""
    e = ENERGY_GRID_EV
    curve = curve_for(material)
    qd = qd_pl_energy(diameter_nm, number, optics, e, material)
    # MSC line: per-volume excitation like a QD (units x unit volume), relative QY
    sig_c = optics.cluster_fwhm_mev / 1000 / FWHM_PER_SIGMA
    e_c = HC_EV_NM / optics.cluster_pl_nm
    w_c = cluster_units * 6.0 * unit_volume_nm3 / math.pi * optics.cluster_relative_qy  # d^3 equivalent
    pl = qd + w_c * np.exp(-0.5 * ((e - e_c) / sig_c) ** 2) / (sig_c * math.sqrt(2 * math.pi))
    # absorbance
    keep = (number > 0) & (diameter_nm > 0.5)
    ab = np.zeros_like(e)
    if np.any(keep):
        d = diameter_nm[keep]
        vol = number[keep] * d**3
        e1 = curve.energy_ev(d)
        fw = optics.homogeneous_fwhm_mev / 1000
        sig = fw / FWHM_PER_SIGMA
        peak = _broaden(e, e1, vol * sig * math.sqrt(2 * math.pi), fw)
        # continuum: a smoothed step above each band edge (cumulative sum of the deposited weights)
        steps = np.cumsum(_broaden(e, e1 + 2 * sig, vol, fw)) * float(e[1] - e[0])
        ab = peak + optics.absorption_continuum_ratio * steps
    e_ca = HC_EV_NM / optics.cluster_abs_nm
    ab = ab + w_c / max(optics.cluster_relative_qy, 1e-12) * np.exp(-0.5 * ((e - e_ca) / sig_c) ** 2)
    pl_s = Spectrum(e, pl, x_unit="ev", kind="pl", meta={**meta, "source": "qdlab.twin"}).to_wavelength()
    ab_s = Spectrum(e, ab, x_unit="ev", kind="absorbance", meta={**meta, "source": "qdlab.twin"}).to_wavelength()
    # normalised to 1 at the maximum of the displayed (wavelength-axis) spectrum
    pl_s = dataclasses.replace(pl_s, y=pl_s.y / (float(pl_s.y.max()) or 1.0))
    ab_s = dataclasses.replace(ab_s, y=ab_s.y / (float(ab_s.y.max()) or 1.0))
    return pl_s, ab_s, qd


def summarize(aliquot_id: str, time_min: float, temperature_c: float, volume_ml: float,
              diameter_nm: NDArray[np.float64], number: NDArray[np.float64], secondary: NDArray[np.bool_],
              qd_pl_e: NDArray[np.float64], cluster_units: float, monomer_units: float, qd_units: float,
              supersaturation: float, window_nm: tuple[float, float] | None = None,
              tem_min_diameter_nm: float = 0.0) -> Aliquot:
    """The per-aliquot summary from the classes and the QD-only PL on the energy grid.

    With ``window_nm`` the peak, FWHM and bimodality are read only inside that wavelength window
    (the detector's range), as a spectroscopist measuring there would; the sizes are not windowed.
    ``tem_min_diameter_nm``: QDs smaller than this are not counted in ``tem_mean_diameter_nm``.
    """
    d = np.asarray(diameter_nm, dtype=float)
    n = np.asarray(number, dtype=float)
    flags = np.asarray(secondary, dtype=np.bool_)
    if not (n.ndim == 1 and d.shape == n.shape == flags.shape):  # the classes as numpy's masks would take them
        d, n, flags = (a.ravel() for a in np.broadcast_arrays(d, n, flags))
    # the live classes (number > 0), their secondary ones and those a micrograph counts, compacted in class
    # order by the kernel; numpy sums them (pairwise, as before: the same bits)
    rows = np.empty((7, n.size))
    n_live, n_sec, n_tem = _live_classes(np.ascontiguousarray(d), np.ascontiguousarray(n), np.ascontiguousarray(flags),
                                         float(tem_min_diameter_nm), 3.0, rows)  # d^3 as numpy's d**3: pow
    # (a row-wise sum of a block is each row's own pairwise sum)
    num_sum, vol_tot = rows[0:2, :n_live].sum(axis=1)  # vol: the Cd3P2 each class holds
    sec_num, sec_vol = rows[3:5, :n_sec].sum(axis=1)
    seen_num, seen_nd = rows[5:7, :n_tem].sum(axis=1)
    ntot = float(num_sum)
    if ntot > 0:
        d_live = rows[2, :n_live]
        w = rows[0, :n_live] / ntot
        mean = float((w * d_live).sum())
        std = float(math.sqrt(max((w * (d_live - mean) ** 2).sum(), 0.0)))
        sec = float(sec_num / ntot)
        sec_mass = float(sec_vol / vol_tot) if vol_tot > 0 else float("nan")
    else:
        mean = std = sec = sec_mass = float("nan")
    n_seen = float(seen_num)
    tem_mean = float(seen_nd / n_seen) if n_seen > 0 else float("nan")
    tem_frac = n_seen / ntot if ntot > 0 else float("nan")
    if window_nm is not None:
        qd_pl_e = np.where(_window_mask(float(window_nm[0]), float(window_nm[1])), qd_pl_e, 0.0)
    # the same estimator as a measured spectrum's analysis (qdlab.spectra.analyze_pl reads its fitted band so)
    band = summarize_band(_BAND_GRID, qd_pl_e)
    total = cluster_units + monomer_units + qd_units
    return Aliquot(
        aliquot_id=aliquot_id, time_min=time_min, temperature_c=temperature_c, volume_ml=volume_ml,
        pl_peak_nm=band.peak_wavelength_nm, fwhm_mev=band.fwhm_mev, fwhm_nm=band.fwhm_nm, mean_diameter_nm=mean,
        diameter_std_nm=std, secondary_fraction=sec, secondary_mass_fraction=sec_mass, bimodal=band.bimodal,
        cluster_fraction=cluster_units / total if total > 0 else float("nan"),
        supersaturation=supersaturation, n_classes=n_live, tem_mean_diameter_nm=tem_mean,
        tem_counted_fraction=tem_frac,
    )


@njit(cache=True, error_model="numpy")
def _live_classes(diameter_nm: NDArray[np.float64], number: NDArray[np.float64], secondary: NDArray[np.bool_],
                  tem_min_diameter_nm: float, exponent: float, rows: NDArray[np.float64]) -> tuple[int, int, int]:
    """The classes :func:`summarize` sums over, compacted in class order into the rows of ``rows``.

    Live classes (``number > 0``): ``rows[0]`` their number, ``rows[1]`` ``number d^exponent`` (``pow``, as
    numpy's ``power`` for an exponent of 3), ``rows[2]`` their diameter; the secondary ones among them:
    ``rows[3]`` number, ``rows[4]`` ``number d^exponent``; those at or above ``tem_min_diameter_nm``:
    ``rows[5]`` number, ``rows[6]`` ``number d``. Returns the three counts.
    """
    n_live = n_sec = n_tem = 0
    for k in range(number.size):
        nk = number[k]
        if not nk > 0:
            continue
        dk = diameter_nm[k]
        vk = nk * dk**exponent
        rows[0, n_live] = nk
        rows[1, n_live] = vk
        rows[2, n_live] = dk
        n_live += 1
        if secondary[k]:
            rows[3, n_sec] = nk
            rows[4, n_sec] = vk
            n_sec += 1
        if dk >= tem_min_diameter_nm:
            rows[5, n_tem] = nk
            rows[6, n_tem] = nk * dk
            n_tem += 1
    return n_live, n_sec, n_tem


__all__ = ["Aliquot", "ENERGY_GRID_EV", "qd_pl_energy", "spectra_for", "summarize", "wavelength_peak_nm"]
