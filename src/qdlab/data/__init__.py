"""Canonical data objects and the error hierarchy (``qdlab.data``)."""

from typing import Any

from qdlab.data.errors import FormatError, InputError, ModelError, QdlabError
from qdlab.data.hashing import file_sha256

_TYPES = ("Diffractogram", "MassSpectrum", "Micrograph", "Result", "Spectrum", "SpectrumSeries", "to_jsonable")


def __getattr__(name: str) -> Any:
    """The canonical types load numpy: imported on first use, so that the errors (and ``qdlab --help``) stay light."""
    if name in _TYPES:
        from qdlab.data import types

        return getattr(types, name)
    raise AttributeError(f"module 'qdlab.data' has no attribute {name!r}")


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
