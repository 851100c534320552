"""qdlab: a digital twin and analysis toolkit for Cd3P2 quantum-dot growth from magic-sized clusters.

The package follows the layout in ``docs/architecture.md``: a numpy/scipy core (``units``, ``materials``,
``chem``, ``data``), domain packages (``twin``, ``spectra``, ``ms``, ``tem``, ``xrd``) and the workflow
and faces on top (``store``, ``workflow``, ``plan``, ``report``, ``cli``, ``web``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qdlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
