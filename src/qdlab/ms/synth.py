"""Synthetic MALDI-TOF spectra with exact ground truth, for tests, benchmarks and demos.

* :func:`fragment_spectrum`: cluster fragments (any formulas and charges), each drawn as its exact
  nominal-mass isotope envelope (:func:`qdlab.chem.isotope_envelope`) broadened by a Gaussian instrument
  response of resolving power ``resolution`` (FWHM = m/z / resolution), on an exponentially decaying
  baseline with Gaussian noise. The ground truth lists every species' formula, its isotope-averaged m/z
  (the centroid of its profile, exactly, because broadening preserves the mean), the standard-weight
  average m/z and the apex height.
* :func:`molecular_ion_band`: broad QD molecular-ion bands (Gaussian in mass, relative width given) with
  known modes, e.g. the paper's bimodal 40 + 140 kDa band after overgrowth (Fig. 5b).
* :func:`table1_spectrum`: the paper's six heaviest fragments (Table 1, first formula of each row).

``SyntheticMS.write(path, fmt)`` writes Bruker flex folders (:func:`qdlab.ms.flex.write_flex`), mzML or
text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qdlab.chem import isotope_envelope, parse_formula
from qdlab.data.errors import InputError
from qdlab.data.types import MassSpectrum, Result
from qdlab.resources import load_toml


@dataclass(frozen=True, eq=False)
class SyntheticMS(Result):
    """A synthetic spectrum and its exact ground truth.

    Attributes
    ----------
    spectrum
        The simulated spectrum.
    truth
        One dict per species (fragments) or per mode (bands).
    settings
        Generator parameters (seed included).
    """

    spectrum: MassSpectrum
    truth: tuple[dict[str, Any], ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def write(self, path: str | Path, fmt: Literal["flex", "mzml", "text"] = "flex", **kwargs: Any) -> Path:
        """Write the spectrum as a flex acquisition folder, mzML or text file; returns the written file."""
        from qdlab.ms.io import write_mass_spectrum

        return write_mass_spectrum(path, self.spectrum, fmt=fmt, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"n_points": len(self.spectrum), "mode": self.spectrum.mode, "truth": list(self.truth), "settings": self.settings}


def _noise_and_baseline(x: np.ndarray, scale: float, noise: float, baseline_amplitude: float, baseline_decay_da: float,
                        seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = baseline_amplitude * scale * np.exp(-(x - x[0]) / baseline_decay_da)
    return base + rng.normal(0.0, noise * scale, x.size)


def fragment_spectrum(
    formulas: Sequence[str],
    amplitudes: Sequence[float] | None = None,
    *,
    mz_range_da: tuple[float, float] | None = None,
    step_da: float = 0.25,
    resolution: float = 2000.0,
    noise: float = 0.01,
    baseline_amplitude: float = 0.3,
    baseline_decay_da: float = 2000.0,
    weights: str | None = None,
    mode: Literal["linear", "reflectron"] = "linear",
    seed: int = 0,
) -> SyntheticMS:
    """Fragment ions with isotope envelopes on a baseline with noise.

    Parameters
    ----------
    formulas
        Ion formulas with charge, e.g. ``"Cd32P20(OA)5+"`` (a neutral formula is taken as 1+).
    amplitudes
        Apex heights (default 1000 each, counts).
    mz_range_da
        m/z window (default: 100 Da beyond the lightest and heaviest envelopes).
    step_da
        Sampling step of the m/z grid.
    resolution
        Resolving power m/dm (FWHM) of the Gaussian instrument response.
    noise
        Gaussian noise sigma as a fraction of the largest amplitude.
    baseline_amplitude, baseline_decay_da
        Exponential baseline ``a * max_amp * exp(-(mz - mz_min)/decay)``.
    weights
        Atomic-weight table for the reported standard-weight masses.
    seed
        Random seed (noise only).

    Examples
    --------
    >>> syn = fragment_spectrum(["Cd32P20(OA)5+"], noise=0.0, baseline_amplitude=0.0)
    >>> abs(syn.truth[0]["isotopic_average_mz"] - 5623.9) < 0.2
    True
    """
    if not formulas:
        raise InputError("give at least one formula", field="formulas")
    amps = np.full(len(formulas), 1000.0) if amplitudes is None else np.asarray(amplitudes, dtype=float)
    if amps.size != len(formulas) or np.any(amps <= 0):
        raise InputError("one positive amplitude per formula", field="amplitudes")
    if not (resolution > 0 and step_da > 0 and noise >= 0):
        raise InputError("resolution and step must be > 0, noise >= 0")
    envs = []
    for text in formulas:
        f = parse_formula(text)
        if f.charge == 0:
            f = f.with_charge(1)
        if f.charge < 0:
            raise InputError(f"{text!r}: negative ions are not simulated", field="formulas")
        envs.append((text, f, isotope_envelope(f)))
    lo = min(float(e.mz.min()) for _, _, e in envs) - 100 if mz_range_da is None else mz_range_da[0]
    hi = max(float(e.mz.max()) for _, _, e in envs) + 100 if mz_range_da is None else mz_range_da[1]
    if not 0 < lo < hi:
        raise InputError("mz_range_da must be increasing and positive", field="mz_range_da")
    x = np.arange(lo, hi + step_da / 2, step_da)
    y = np.zeros_like(x)
    truth = []
    for (text, f, env), amp in zip(envs, amps, strict=True):
        mz = env.mz
        sigma = float(np.average(mz, weights=env.probability)) / resolution / 2.3548200450309493
        window = (x > mz.min() - 8 * sigma) & (x < mz.max() + 8 * sigma)
        prof = np.exp(-0.5 * ((x[window, None] - mz[None, :]) / sigma) ** 2) @ env.probability
        if prof.size == 0 or prof.max() <= 0:
            raise InputError(f"{text!r} lies outside the m/z range", field="mz_range_da")
        y[window] += amp * prof / prof.max()
        z = abs(f.charge)
        truth.append({
            "formula": text, "charge": f.charge, "amplitude": float(amp),
            "isotopic_average_mz": env.average_da / z, "most_abundant_mz": env.most_abundant_da / z,
            "average_mz": f.average_mass_da(weights) / z, "envelope_fwhm_da": env.fwhm_da / z,
            "instrument_sigma_da": sigma,
        })
    scale = float(amps.max())
    y = y + _noise_and_baseline(x, scale, noise, baseline_amplitude, baseline_decay_da, seed)
    ms = MassSpectrum(x, y, mode=mode, calibration={"model": "synthetic (exact m/z grid)"},
                      meta={"format": "synthetic", "generator": "qdlab.ms.synth.fragment_spectrum"})
    return SyntheticMS(ms, tuple(truth), {"resolution": resolution, "noise": noise, "baseline_amplitude": baseline_amplitude,
                                          "baseline_decay_da": baseline_decay_da, "step_da": step_da, "seed": seed})


def table1_spectrum(**kwargs: Any) -> SyntheticMS:
    """The paper's six heaviest cluster fragments (first formula of each Table 1 row), decreasing heights."""
    rows = load_toml("ms/table1.toml")["rows"]
    formulas = [r["formulas"][0] for r in rows]
    kwargs.setdefault("amplitudes", [600.0, 1000.0, 800.0, 700.0, 650.0, 500.0])
    return fragment_spectrum(formulas, **kwargs)


def molecular_ion_band(
    modes_da: Sequence[float] = (40_000.0, 140_000.0),
    relative_widths: Sequence[float] | float = 0.15,
    amplitudes: Sequence[float] | None = None,
    *,
    mz_range_da: tuple[float, float] = (10_000.0, 250_000.0),
    step_da: float = 25.0,
    noise: float = 0.01,
    baseline_amplitude: float = 0.3,
    baseline_decay_da: float = 30_000.0,
    seed: int = 0,
) -> SyntheticMS:
    """QD molecular-ion bands: Gaussians in mass with the given modes and relative sigmas.

    The defaults reproduce the paper's bimodal band after overgrowth (40 and 140 kDa, Fig. 5b), with
    apex heights of 1000 counts (flex files store integer counts).

    Examples
    --------
    >>> syn = molecular_ion_band()
    >>> [m["mass_da"] for m in syn.truth]
    [40000.0, 140000.0]
    """
    modes = np.asarray(modes_da, dtype=float)
    rel = np.broadcast_to(np.asarray(relative_widths, dtype=float), modes.shape)
    amps = np.full(modes.size, 1000.0) if amplitudes is None else np.asarray(amplitudes, dtype=float)
    if modes.size == 0 or amps.size != modes.size or np.any(modes <= 0) or np.any(rel <= 0) or np.any(amps <= 0):
        raise InputError("modes, widths and amplitudes must be positive and of equal length", field="modes_da")
    lo, hi = mz_range_da
    if not 0 < lo < hi:
        raise InputError("mz_range_da must be increasing and positive", field="mz_range_da")
    x = np.arange(lo, hi + step_da / 2, step_da)
    y = np.zeros_like(x)
    truth = []
    for m, r, a in zip(modes, rel, amps, strict=True):
        y += a * np.exp(-0.5 * ((x - m) / (r * m)) ** 2)
        truth.append({"mass_da": float(m), "sigma_da": float(r * m), "amplitude": float(a),
                      "fwhm_da": float(2.3548200450309493 * r * m)})
    y = y + _noise_and_baseline(x, float(amps.max()), noise, baseline_amplitude, baseline_decay_da, seed)
    ms = MassSpectrum(x, y, mode="linear", calibration={"model": "synthetic (exact m/z grid)"},
                      meta={"format": "synthetic", "generator": "qdlab.ms.synth.molecular_ion_band"})
    return SyntheticMS(ms, tuple(truth), {"noise": noise, "baseline_amplitude": baseline_amplitude,
                                          "baseline_decay_da": baseline_decay_da, "step_da": step_da, "seed": seed})


__all__ = ["SyntheticMS", "fragment_spectrum", "table1_spectrum", "molecular_ion_band"]
