"""Canonical data objects and the error hierarchy (``qdlab.data``)."""

from qdlab.data.errors import FormatError, InputError, ModelError, QdlabError
from qdlab.data.hashing import file_sha256
from qdlab.data.types import (
    Diffractogram,
    MassSpectrum,
    Micrograph,
    Result,
    Spectrum,
    SpectrumSeries,
    to_jsonable,
)

__all__ = [
    "QdlabError",
    "InputError",
    "FormatError",
    "ModelError",
    "Spectrum",
    "SpectrumSeries",
    "MassSpectrum",
    "Micrograph",
    "Diffractogram",
    "Result",
    "to_jsonable",
    "file_sha256",
]
