"""Preprocessing of optical spectra in energy space: Jacobian, response correction, baseline, smoothing.

Analysis happens on an increasing energy axis (eV). Emission spectra recorded per nm are densities and
are multiplied by ``lambda^2/hc`` on the way (see :mod:`qdlab.units`); absorbance only changes axis.
Baselines use `pybaselines <https://pybaselines.readthedocs.io>`_ (``Baseline(x).<method>(y)``);
smoothing is a Savitzky–Golay filter (:func:`scipy.signal.savgol_filter`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Spectrum
from qdlab.signal import BASELINE_METHODS
from qdlab.signal import estimate_baseline as estimate_array_baseline

ResponseLike = Spectrum | Callable[[NDArray[np.float64]], NDArray[np.float64]] | tuple[ArrayLike, ArrayLike]


def to_energy(spectrum: Spectrum, *, emission: bool | None = None) -> Spectrum:
    """Spectrum on an increasing eV axis; ``emission=True`` forces the Jacobian (density per eV).

    Parameters
    ----------
    spectrum
        Any spectrum.
    emission
        None: use the spectrum's kind (PL/excitation get the Jacobian); True/False to force.

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_pl
    >>> s, t = synth_pl([(1000.0, 100.0, 2.0)], axis="nm", n_points=4000)
    >>> e = to_energy(s)
    >>> round(float(np.trapezoid(e.y, e.x)), 3)
    2.0
    """
    if emission is not None:
        kind = "pl" if emission else "absorbance"
        spectrum = dataclasses.replace(spectrum, kind=kind)
    out = spectrum.to_energy()
    ok = np.isfinite(out.x) & np.isfinite(out.y)
    if not ok.all():
        out = dataclasses.replace(out, x=out.x[ok], y=out.y[ok])
    return out


def crop(spectrum: Spectrum, lo: float | None = None, hi: float | None = None) -> Spectrum:
    """Keep points with ``lo <= x <= hi`` (in the spectrum's own unit)."""
    m = np.ones(spectrum.x.shape, bool)
    if lo is not None:
        m &= spectrum.x >= lo
    if hi is not None:
        m &= spectrum.x <= hi
    if m.sum() < 3:
        raise InputError(f"crop [{lo}, {hi}] leaves {int(m.sum())} points of {spectrum.label!r}")
    return dataclasses.replace(spectrum, x=spectrum.x[m], y=spectrum.y[m])


def _response_on(spectrum: Spectrum, response: ResponseLike) -> NDArray[np.float64]:
    lam = spectrum.wavelength_nm
    if callable(response) and not isinstance(response, Spectrum):
        r = np.asarray(response(lam), dtype=float)
    else:
        if isinstance(response, Spectrum):
            rx, ry = response.wavelength_nm, response.y
        else:
            rx, ry = (np.asarray(v, dtype=float) for v in response)
        order = np.argsort(rx)
        rx, ry = rx[order], ry[order]
        if lam.min() < rx.min() - 1e-9 or lam.max() > rx.max() + 1e-9:
            raise InputError(
                f"the response curve covers {rx.min():.1f}-{rx.max():.1f} nm but {spectrum.label!r} spans "
                f"{lam.min():.1f}-{lam.max():.1f} nm; crop the spectrum or extend the calibration",
                field="response",
            )
        r = np.interp(lam, rx, ry)
    if r.shape != lam.shape or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise InputError("the spectral response must be positive and finite over the spectrum", field="response")
    return r


def correct_response(spectrum: Spectrum, response: ResponseLike) -> Spectrum:
    """Divide by the detector's relative spectral response (counts per photon vs wavelength).

    Parameters
    ----------
    response
        A :class:`Spectrum` or ``(wavelength_nm, response)`` pair (interpolated linearly; must cover the
        spectrum), or a function of wavelength in nm.

    Returns
    -------
    Spectrum
        ``y / R(lambda)``, i.e. photons in the same density units; ``meta['response_corrected'] = True``.
    """
    r = _response_on(spectrum, response)
    return dataclasses.replace(spectrum, y=spectrum.y / r, meta={**spectrum.meta, "response_corrected": True})


def estimate_baseline(spectrum: Spectrum, method: str = "modpoly", **kwargs: Any) -> NDArray[np.float64]:
    """Baseline of a spectrum: :func:`qdlab.signal.estimate_baseline` on its axis and values.

    ``"linear"`` is a straight line through the mean of the first and last 5 % of the points;
    ``"none"`` is zeros. Defaults: ``modpoly`` poly_order=1, ``asls``/``arpls``/``airpls`` lam=1e6.
    """
    return estimate_array_baseline(spectrum.y, spectrum.x, method, **kwargs)


def subtract_baseline(spectrum: Spectrum, method: str = "modpoly", **kwargs: Any) -> tuple[Spectrum, NDArray[np.float64]]:
    """Return (spectrum minus baseline, baseline)."""
    base = estimate_baseline(spectrum, method, **kwargs)
    return dataclasses.replace(spectrum, y=spectrum.y - base, meta={**spectrum.meta, "baseline": method}), base


def smooth(spectrum: Spectrum, window_points: int = 11, polyorder: int = 3) -> Spectrum:
    """Savitzky–Golay smoothing (odd window of ``window_points``, polynomial order ``polyorder``)."""
    from scipy.signal import savgol_filter

    w = int(window_points) | 1
    if w <= polyorder or w > spectrum.x.size:
        raise InputError(f"smoothing window {w} must exceed polyorder {polyorder} and fit in {spectrum.x.size} points")
    return dataclasses.replace(spectrum, y=savgol_filter(spectrum.y, w, polyorder))


def normalize(spectrum: Spectrum, mode: str = "max") -> Spectrum:
    """Scale to unit maximum (``"max"``) or unit area over x (``"area"``)."""
    if mode == "max":
        s = float(np.nanmax(spectrum.y))
    elif mode == "area":
        order = np.argsort(spectrum.x)
        s = float(np.trapezoid(spectrum.y[order], spectrum.x[order]))
    else:
        raise InputError(f"normalisation must be 'max' or 'area', got {mode!r}", field="normalize")
    if not np.isfinite(s) or s == 0:
        raise InputError(f"cannot normalise {spectrum.label!r}: scale is {s}")
    return dataclasses.replace(spectrum, y=spectrum.y / s)


def integrate_photons(spectrum: Spectrum, lo_nm: float | None = None, hi_nm: float | None = None) -> float:
    """Integrated photons of an emission-density spectrum between two wavelengths (nm).

    The integral is taken on the wavelength axis (``∫ y dlambda`` for per-nm densities,
    ``∫ y dE`` for per-eV ones — identical numbers by construction of the Jacobian).
    """
    s = spectrum.to_wavelength() if spectrum.x_unit != "nm" else spectrum
    order = np.argsort(s.x)
    x, y = s.x[order], s.y[order]
    m = np.ones(x.shape, bool)
    if lo_nm is not None:
        m &= x >= lo_nm
    if hi_nm is not None:
        m &= x <= hi_nm
    if m.sum() < 2:
        raise InputError(f"integration window [{lo_nm}, {hi_nm}] nm holds fewer than 2 points of {spectrum.label!r}")
    return float(np.trapezoid(y[m], x[m]))


__all__ = [
    "to_energy",
    "crop",
    "correct_response",
    "BASELINE_METHODS",
    "estimate_baseline",
    "subtract_baseline",
    "smooth",
    "normalize",
    "integrate_photons",
]
