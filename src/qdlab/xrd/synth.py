"""Simulated measured powder patterns of Cd3P2 quantum dots with exact ground truth.

The signal is the Debye-equation pattern of spheres cut from the crystal (strain-free), averaged over
a number-weighted lognormal size distribution, times the polarisation factor; optionally convolved
with a Gaussian instrument profile. On top: a smooth background (constant + exponential decay from
air/holder scatter + a broad amorphous hump from the ligand shell/holder) and Poisson counting noise.
Written as ``.xy`` or ``.xrdml`` with a ``<stem>.truth.json`` beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qdlab.data.errors import InputError
from qdlab.data.types import Diffractogram, Result


def gaussian_broaden(two_theta_deg: NDArray[np.float64], y: NDArray[np.float64], fwhm_deg: float) -> NDArray[np.float64]:
    """Convolve ``y`` on an evenly spaced 2-theta grid with a unit-area Gaussian of ``fwhm_deg``."""
    if fwhm_deg <= 0:
        return np.asarray(y, float).copy()
    step = float(np.median(np.diff(two_theta_deg)))
    if not np.allclose(np.diff(two_theta_deg), step, rtol=1e-4, atol=1e-9):
        raise InputError("instrument broadening needs an evenly spaced 2-theta grid", field="two_theta_deg")
    sigma = fwhm_deg / (2 * np.sqrt(2 * np.log(2))) / step
    half = int(np.ceil(5 * sigma))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(np.asarray(y, float), half, mode="edge")
    return np.convolve(padded, k, mode="valid")


@dataclass(frozen=True, eq=False)
class SyntheticPattern(Result):
    """A simulated measurement and the exact truth it was made from."""

    diffractogram: Diffractogram
    truth: dict[str, Any]
    signal: NDArray[np.float64]
    background: NDArray[np.float64]
    meta: dict[str, Any] = field(default_factory=dict)

    def write(self, path: str | Path) -> Path:
        """Write ``.xy``/``.txt``/``.dat`` or ``.xrdml`` (by suffix) plus ``<stem>.truth.json``."""
        from qdlab.xrd.io import write_xrdml, write_xy

        p = Path(path)
        if p.suffix.lower() == ".xrdml":
            write_xrdml(self.diffractogram, p, counting_time_s=float(self.truth.get("counting_time_s", 1.0)))
        elif p.suffix.lower() in (".xy", ".txt", ".dat"):
            write_xy(self.diffractogram, p, header={"simulated_by": "qdlab.xrd.synth", "diameter_nm": self.truth["diameter_nm"]})
        else:
            raise InputError(f"write .xy or .xrdml, not {p.suffix!r}", field="path")
        p.with_name(p.stem + ".truth.json").write_text(json.dumps(self.truth, indent=2), encoding="utf-8")
        return p


def simulate_measurement(
    diameter_nm: float,
    *,
    sigma_rel: float = 0.08,
    phase: str = "Cd3P2",
    two_theta_min_deg: float = 15.0,
    two_theta_max_deg: float = 80.0,
    step_deg: float = 0.02,
    wavelength_angstrom: float | None = None,
    peak_counts: float = 2000.0,
    background_counts: float = 300.0,
    amorphous_fraction: float = 0.15,
    instrument_fwhm_deg: float = 0.05,
    seed: int | None = 0,
    noise: bool = True,
    lattice_scale: float = 1.0,
    kalpha2: bool = False,
) -> SyntheticPattern:
    """Simulate a lab powder pattern of quantum dots (Bragg-Brentano, Cu K-alpha1 by default).

    Parameters
    ----------
    diameter_nm, sigma_rel
        Mean diameter and relative standard deviation of the number-weighted lognormal sizes.
    peak_counts
        Counts of the strongest point of the crystalline signal (before noise).
    background_counts
        Background level at low angle (counts): 60 % flat, 40 % decaying with 2-theta.
    amorphous_fraction
        Height of a broad hump at 20 deg (FWHM 8 deg, e.g. ligands/holder) relative to ``peak_counts``.
    instrument_fwhm_deg
        Gaussian instrument profile (0 = none).
    seed
        Random seed for the Poisson noise (``None``: fresh).
    lattice_scale
        Isotropic strain: the tabulated a and c are multiplied by this (e.g. 0.99 = 1 % contraction).
    kalpha2
        Add the Cu K-alpha2 line (ratio from ``xrd.toml``) as an unresolved doublet; the pattern's
        wavelength is then the weighted mean and ``meta`` carries both lines (as an XRDML "K-Alpha" scan).

    Examples
    --------
    >>> s = simulate_measurement(4.0, seed=1)
    >>> s.truth["diameter_nm"], len(s.diffractogram) > 1000
    (4.0, True)
    """
    from qdlab.xrd.debye import debye_pattern
    from qdlab.xrd.pattern import wavelength_angstrom as _wl
    from qdlab.xrd.structure import build_structure, structure_data

    if not (0 < step_deg <= 0.5):
        raise InputError("step must be in (0, 0.5] degrees", field="step_deg")
    if not (0 < two_theta_min_deg < two_theta_max_deg < 180):
        raise InputError("need 0 < two_theta_min < two_theta_max < 180", field="two_theta")
    if peak_counts <= 0 or background_counts < 0 or amorphous_fraction < 0:
        raise InputError("counts must be positive (background and amorphous >= 0)", field="peak_counts")
    wl = float(wavelength_angstrom or _wl("CuKa1"))
    n = round((two_theta_max_deg - two_theta_min_deg) / step_deg) + 1
    tt = two_theta_min_deg + step_deg * np.arange(n)
    if not 0.8 <= lattice_scale <= 1.2:
        raise InputError("lattice_scale must be within 0.8-1.2", field="lattice_scale")
    rec = structure_data(phase)
    a = float(rec["lattice_a_angstrom"]["value"]) * lattice_scale
    c = float(rec["lattice_c_angstrom"]["value"]) * lattice_scale
    crystal = None if lattice_scale == 1.0 else build_structure(phase, lattice_a_angstrom=a, lattice_c_angstrom=c)
    pat = debye_pattern(diameter_nm, tt, wavelength_angstrom=wl, phase=phase, sigma_rel=sigma_rel, structure=crystal)
    raw = pat.intensity
    line_meta: dict[str, Any] = {}
    if kalpha2:
        from qdlab.resources import load_toml

        table = load_toml("xrd/xrd.toml")["wavelengths_angstrom"]
        wl2 = float(table["CuKa2"]["value"])
        ratio = float(table["CuKa2_to_Ka1_ratio"]["value"])
        pat2 = debye_pattern(diameter_nm, tt, wavelength_angstrom=wl2, phase=phase, sigma_rel=sigma_rel, structure=crystal)
        raw = (raw + ratio * pat2.intensity) / (1 + ratio)
        line_meta = {"doublet": True, "kalpha1_angstrom": wl, "kalpha2_angstrom": wl2, "kalpha2_ratio": ratio}
        wl = (wl + ratio * wl2) / (1 + ratio)
    signal = gaussian_broaden(tt, raw, instrument_fwhm_deg)
    # shift the signal so its minimum is zero (a constant; fits absorb it in the background), scale to peak_counts
    signal = signal - signal.min()
    scale = peak_counts / signal.max()
    signal = signal * scale
    bg = background_counts * (0.6 + 0.4 * np.exp(-(tt - tt[0]) / 20.0))
    bg = bg + amorphous_fraction * peak_counts * np.exp(-4 * np.log(2) * ((tt - 20.0) / 8.0) ** 2)
    expected = signal + bg
    rng = np.random.default_rng(seed)
    y = rng.poisson(expected).astype(float) if noise else expected.copy()
    truth = {
        "phase": phase,  # the crystal the spheres are cut from
        "diameter_nm": float(diameter_nm),
        "sigma_rel": float(sigma_rel),
        "distribution": "lognormal, number-weighted; diameter_nm is the mean",
        "wavelength_angstrom": wl,
        "instrument_fwhm_deg": float(instrument_fwhm_deg),
        "peak_counts": float(peak_counts),
        "background_counts": float(background_counts),
        "amorphous_fraction": float(amorphous_fraction),
        "lattice_scale": float(lattice_scale),
        "lattice_a_angstrom": a,
        "lattice_c_angstrom": c,
        "b_iso_angstrom2": pat.b_iso_angstrom2,
        "n_atoms_mean": pat.n_atoms_mean,
        "scale_counts_per_electron2": float(scale),
        "seed": seed,
        "noise": "poisson" if noise else "none",
        "counting_time_s": 1.0,
    }
    truth.update(line_meta)
    meta = {"source": "qdlab.xrd.synth", "truth": truth, **line_meta}
    return SyntheticPattern(Diffractogram(tt, y, wl, meta), truth, signal, bg)


__all__ = ["gaussian_broaden", "SyntheticPattern", "simulate_measurement"]
