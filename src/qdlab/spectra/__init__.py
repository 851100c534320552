"""Optical spectroscopy of QD aliquots: readers, energy-space band analysis, PLQY, aliquot series.

Public API::

    from qdlab.spectra import (read_spectra, analyze_pl, analyze_absorbance, analyze_series,
                               stokes_shift, plqy_demello, plqy_two_step, plqy_relative)

Every fit runs through :mod:`qdlab.fit` (one ``FitResult`` with standard errors and quality flags).

Heavy submodules (plotting) are imported lazily.
"""

from __future__ import annotations

from typing import Any

from qdlab.spectra.fit import Peak, PLAnalysis, analyze_pl
from qdlab.spectra.io import (
    read_series,
    read_spectra,
    write_cary_csv,
    write_delimited,
    write_jcamp,
    write_ocean_optics,
)

_LAZY = {
    "analyze_absorbance": "qdlab.spectra.absorption",
    "AbsorbanceAnalysis": "qdlab.spectra.absorption",
    "stokes_shift": "qdlab.spectra.absorption",
    "StokesShift": "qdlab.spectra.absorption",
    "plqy_demello": "qdlab.spectra.plqy",
    "plqy_two_step": "qdlab.spectra.plqy",
    "plqy_relative": "qdlab.spectra.plqy",
    "PLQYResult": "qdlab.spectra.plqy",
    "analyze_series": "qdlab.spectra.series",
    "SeriesAnalysis": "qdlab.spectra.series",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qdlab.spectra' has no attribute {name!r}")


__all__ = [
    "read_spectra",
    "read_series",
    "write_delimited",
    "write_ocean_optics",
    "write_cary_csv",
    "write_jcamp",
    "analyze_pl",
    "Peak",
    "PLAnalysis",
    *_LAZY,
]
