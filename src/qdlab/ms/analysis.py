"""One call from a raw spectrum to assigned cluster compositions: preprocess -> pick peaks -> assign.

The result also explains the spacings of neighbouring peaks as small building-block steps
(:func:`qdlab.ms.assign.explain_spacings`).

The profile of each picked peak (the baseline-corrected signal on its original intensity scale, within
1.5 FWHM of the centroid and inside the peak's own region, so never a neighbour's envelope) is passed to :func:`qdlab.ms.assign.assign_masses`, so candidates are also
ranked by isotope-envelope similarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdlab.data.types import MassSpectrum, Result
from qdlab.ms.assign import AssignmentResult, assign_masses, explain_spacings
from qdlab.ms.peaks import PeakList, pick_peaks
from qdlab.ms.preprocess import Preprocessed, preprocess


@dataclass(frozen=True, eq=False)
class AnalysisResult(Result):
    """Preprocessed spectrum, picked peaks and their composition assignments."""

    source: str
    preprocessed: Preprocessed = field(repr=False)
    peak_list: PeakList
    assignment: AssignmentResult
    spectrum: MassSpectrum = field(repr=False)
    spacings: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.spectrum.mode,
            "calibration": self.spectrum.calibration,
            "preprocessing": self.preprocessed.to_dict(),
            "noise": self.peak_list.noise,
            "peaks": self.peak_list.rows(),
            "assignment": self.assignment.to_dict(),
            "spacings": list(self.spacings),
        }


def analyze(
    spectrum: MassSpectrum,
    *,
    preprocess_options: dict[str, Any] | None = None,
    snr: float | None = None,
    half_window: int | None = None,
    mz_range_da: tuple[float | None, float | None] = (None, None),
    min_separation_da: float | None = None,
    max_peaks: int | None = 50,
    use_profiles: bool = True,
    **assign_options: Any,
) -> AnalysisResult:
    """Preprocess, pick peaks (most intense ``max_peaks``) and assign compositions.

    ``assign_options`` go to :func:`qdlab.ms.assign.assign_masses` (``blocks``, ``adducts``, ``charges``,
    ``tolerance_da``, ``weights``, ``target_ratio``, ``max_candidates``...).

    Examples
    --------
    >>> from qdlab.ms.synth import fragment_spectrum
    >>> syn = fragment_spectrum(["Cd32P20(OA)5+"], noise=0.005)
    >>> res = analyze(syn.spectrum, weights="iupac2007", max_candidates=5, max_peaks=1)
    >>> res.assignment.peaks[0].best.formula
    'Cd32P20(OA)5+'
    """
    pre = preprocess(spectrum, **(preprocess_options or {}))
    pk = pick_peaks(pre, snr=snr, half_window=half_window, mz_range_da=mz_range_da, min_separation_da=min_separation_da)
    pk = pk.strongest(max_peaks)
    profiles = None
    if use_profiles and len(pk):
        profiles = []
        for c, w, lo, hi in zip(pk.mz_da, pk.fwhm_da, pk.region_left_mz_da, pk.region_right_mz_da, strict=True):
            half = 1.5 * (w if np.isfinite(w) and w > 0 else 10.0)
            sel = (pre.mz >= max(c - half, lo)) & (pre.mz <= min(c + half, hi))
            profiles.append((pre.mz[sel], pre.linear[sel]) if np.count_nonzero(sel) >= 3 else None)
    asg = assign_masses(pk.mz_da, profiles=profiles, **assign_options)
    spacings: tuple[dict[str, Any], ...] = ()
    if len(asg.blocks) <= 5 and len(pk) > 1:
        spacings = tuple(explain_spacings(pk.mz_da, assign_options.get("blocks", "Cd,P,OA"),
                                          tolerance_da=float(np.median([p.tolerance_da for p in asg.peaks])),
                                          weights=assign_options.get("weights")))
    return AnalysisResult(str(spectrum.meta.get("source", "")), pre, pk, asg, spectrum, spacings)


__all__ = ["AnalysisResult", "analyze"]
