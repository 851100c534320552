"""Canonical data objects shared by the instruments' readers and the digital twin.

A measured PL series and a simulated one are the same kind of object, so the same analysis code,
record and report serve both. Objects are frozen dataclasses over numpy arrays; conversions return
new objects.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qdlab.data.errors import InputError

XUnit = Literal["nm", "ev", "cm-1"]
SpectrumKind = Literal["pl", "absorbance", "excitation", "transmittance", "other"]
_X_UNITS = ("nm", "ev", "cm-1")
_KINDS = ("pl", "absorbance", "excitation", "transmittance", "other")


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, dataclasses, paths and enums to plain JSON-serialisable Python.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return obj.to_dict()
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    return obj


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """Strict JSON (NaN -> null) of results, dataclasses and numpy values (what every ``--json`` prints).

    Examples
    --------
    >>> import numpy as np
    >>> dumps_json({"peak_nm": np.float64(1010.0), "qy": float("nan")})
    '{"peak_nm": 1010.0, "qy": null}'
    """
    import json

    return json.dumps(to_jsonable(obj), allow_nan=False, indent=indent)


class Result:
    """Mixin for frozen result dataclasses: ``to_dict()`` gives what ``--json`` prints."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _as_1d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InputError(f"expected a 1-D array, got shape {arr.shape}", field=name)
    return arr


@dataclass(frozen=True, eq=False)
class Spectrum:
    """An optical spectrum on a wavelength, energy or wavenumber axis.

    Parameters
    ----------
    x
        Axis values in ``x_unit``.
    y
        Intensity (PL: counts or photons per unit of the x axis; absorbance: optical density).
    x_unit
        ``"nm"``, ``"ev"`` or ``"cm-1"``.
    kind
        ``"pl"``, ``"absorbance"``, ``"excitation"``, ``"transmittance"`` or ``"other"``. Emission-like
        kinds (PL, excitation) are densities and get the Jacobian when the axis changes.
    meta
        Free metadata: instrument, ``source`` file and ``sha256``, ``aliquot_id``, ``time_min``...
    label
        Short name for tables and legends.
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    x_unit: XUnit = "nm"
    kind: SpectrumKind = "pl"
    meta: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        x = _as_1d(self.x, "x")
        y = _as_1d(self.y, "y")
        if x.shape != y.shape:
            raise InputError(f"x has {x.size} points but y has {y.size}", field="y")
        if self.x_unit not in _X_UNITS:
            raise InputError(f"unknown x unit {self.x_unit!r}; expected one of {_X_UNITS}", field="x_unit")
        if self.kind not in _KINDS:
            raise InputError(f"unknown spectrum kind {self.kind!r}; expected one of {_KINDS}", field="kind")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def uses_jacobian(self) -> bool:
        """True for emission-like spectra (densities per unit axis)."""
        return self.kind in ("pl", "excitation")

    def to_energy(self) -> Spectrum:
        """Return the spectrum on an increasing energy axis (eV), applying the Jacobian if needed."""
        from qdlab import units

        if self.x_unit == "ev":
            order = np.argsort(self.x, kind="stable")
            return dataclasses.replace(self, x=self.x[order], y=self.y[order])
        if self.x_unit == "cm-1":
            e = units.wavenumber_cm_to_energy_ev(self.x)
            y = self.y * units.WAVENUMBER_CM_PER_EV if self.uses_jacobian else self.y
            order = np.argsort(e, kind="stable")
            return dataclasses.replace(self, x=e[order], y=y[order], x_unit="ev")
        e, y = units.spectrum_to_energy(self.x, self.y, jacobian=self.uses_jacobian)
        return dataclasses.replace(self, x=e, y=y, x_unit="ev")

    def to_wavelength(self) -> Spectrum:
        """Return the spectrum on an increasing wavelength axis (nm), applying the Jacobian if needed."""
        from qdlab import units

        if self.x_unit == "nm":
            order = np.argsort(self.x, kind="stable")
            return dataclasses.replace(self, x=self.x[order], y=self.y[order])
        s = self.to_energy()
        lam, y = units.spectrum_to_wavelength(s.x, s.y, jacobian=self.uses_jacobian)
        return dataclasses.replace(self, x=lam, y=y, x_unit="nm")

    @property
    def energy_ev(self) -> NDArray[np.float64]:
        """Axis in eV (same order as ``x``)."""
        from qdlab import units

        if self.x_unit == "ev":
            return self.x
        if self.x_unit == "cm-1":
            return units.wavenumber_cm_to_energy_ev(self.x)
        return units.wavelength_nm_to_energy_ev(self.x)

    @property
    def wavelength_nm(self) -> NDArray[np.float64]:
        """Axis in nm (same order as ``x``)."""
        from qdlab import units

        if self.x_unit == "nm":
            return self.x
        return units.energy_ev_to_wavelength_nm(self.energy_ev)

    def __len__(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True, eq=False)
class SpectrumSeries:
    """Spectra of one experiment's aliquots, in order, with their times.

    Parameters
    ----------
    spectra
        One :class:`Spectrum` per aliquot.
    time_min
        Time of each aliquot since the start of injection, in minutes (NaN if unknown).
    aliquot_ids
        Labels such as ``"A0"``, ``"A1"``...
    meta
        Experiment-level metadata.
    """

    spectra: tuple[Spectrum, ...]
    time_min: NDArray[np.float64]
    aliquot_ids: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spectra = tuple(self.spectra)
        t = np.asarray(self.time_min, dtype=float).reshape(-1)
        ids = tuple(str(a) for a in self.aliquot_ids)
        if not (len(spectra) == t.size == len(ids)):
            raise InputError(f"series lengths differ: {len(spectra)} spectra, {t.size} times, {len(ids)} aliquot ids")
        object.__setattr__(self, "spectra", spectra)
        object.__setattr__(self, "time_min", t)
        object.__setattr__(self, "aliquot_ids", ids)
        object.__setattr__(self, "meta", dict(self.meta))

    @classmethod
    def from_spectra(
        cls,
        spectra: Sequence[Spectrum],
        time_min: Sequence[float] | None = None,
        aliquot_ids: Sequence[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> SpectrumSeries:
        """Build a series, defaulting ids to ``A0, A1, ...`` and times to each spectrum's ``meta['time_min']``."""
        n = len(spectra)
        if aliquot_ids is None:
            aliquot_ids = [str(s.meta.get("aliquot_id", f"A{i}")) for i, s in enumerate(spectra)]
        if time_min is None:
            time_min = [float(s.meta.get("time_min", np.nan)) for s in spectra]
        return cls(tuple(spectra), np.asarray(time_min, dtype=float).reshape(n), tuple(aliquot_ids), meta or {})

    def __len__(self) -> int:
        return len(self.spectra)

    def __iter__(self) -> Iterator[Spectrum]:
        return iter(self.spectra)

    def __getitem__(self, i: int) -> Spectrum:
        return self.spectra[i]

    def to_xarray(self, x_unit: XUnit = "nm"):
        """Return an ``xarray.DataArray`` (aliquot x axis) interpolated onto the first spectrum's axis."""
        import xarray as xr

        conv = [s.to_wavelength() if x_unit == "nm" else s.to_energy() for s in self.spectra]
        grid = conv[0].x
        data = np.vstack([np.interp(grid, s.x, s.y, left=np.nan, right=np.nan) for s in conv])
        axis = "wavelength_nm" if x_unit == "nm" else "energy_ev"
        return xr.DataArray(
            data,
            dims=("aliquot", axis),
            coords={"aliquot": list(self.aliquot_ids), axis: grid, "time_min": ("aliquot", self.time_min)},
            attrs=dict(self.meta),
        )


@dataclass(frozen=True, eq=False)
class MassSpectrum:
    """A mass spectrum: ``mz`` (Th, = Da for z = 1) and intensity.

    Parameters
    ----------
    mz
        Mass-to-charge axis, increasing.
    intensity
        Detector counts (or arbitrary units).
    mode
        ``"linear"``, ``"reflectron"`` or ``"unknown"``.
    calibration
        Provenance of the mass axis: the constants and the formula used to compute it.
    meta
        Source file, sha256, instrument, polarity...
    """

    mz: NDArray[np.float64]
    intensity: NDArray[np.float64]
    mode: Literal["linear", "reflectron", "unknown"] = "unknown"
    calibration: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mz = _as_1d(self.mz, "mz")
        y = _as_1d(self.intensity, "intensity")
        if mz.shape != y.shape:
            raise InputError(f"mz has {mz.size} points but intensity has {y.size}", field="intensity")
        object.__setattr__(self, "mz", mz)
        object.__setattr__(self, "intensity", y)
        object.__setattr__(self, "calibration", dict(self.calibration))
        object.__setattr__(self, "meta", dict(self.meta))

    def __len__(self) -> int:
        return int(self.mz.size)


@dataclass(frozen=True, eq=False)
class Micrograph:
    """A 2-D electron micrograph with its pixel calibration.

    Parameters
    ----------
    image
        2-D array (rows = y).
    nm_per_px
        Pixel size in nm as ``(y, x)``; a scalar is expanded to square pixels. Never guessed: readers
        raise :class:`~qdlab.data.errors.FormatError` when the file carries no calibration.
    meta
        Source file, sha256, instrument, magnification...
    """

    image: NDArray[Any]
    nm_per_px: tuple[float, float]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = np.asarray(self.image)
        if img.ndim != 2:
            raise InputError(f"a micrograph must be 2-D, got shape {img.shape}", field="image")
        cal = self.nm_per_px
        if np.ndim(cal) == 0:
            cal = (float(cal), float(cal))  # type: ignore[arg-type]
        cal = tuple(float(c) for c in cal)  # type: ignore[union-attr]
        if len(cal) != 2 or not all(math.isfinite(c) and c > 0 for c in cal):
            raise InputError(
                f"nm_per_px must be one or two positive numbers, got {self.nm_per_px!r}", field="nm_per_px"
            )
        object.__setattr__(self, "image", img)
        object.__setattr__(self, "nm_per_px", cal)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]

    @property
    def is_square_pixel(self) -> bool:
        return math.isclose(self.nm_per_px[0], self.nm_per_px[1], rel_tol=1e-6)


@dataclass(frozen=True, eq=False)
class Diffractogram:
    """A powder X-ray diffraction pattern.

    Parameters
    ----------
    two_theta_deg
        Scattering angle 2-theta in degrees, increasing.
    intensity
        Counts or arbitrary units.
    wavelength_angstrom
        X-ray wavelength (Cu K-alpha1 = 1.5406 A by default in readers that do not state it).
    meta
        Source file, sha256, instrument...
    """

    two_theta_deg: NDArray[np.float64]
    intensity: NDArray[np.float64]
    wavelength_angstrom: float = 1.5406
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tt = _as_1d(self.two_theta_deg, "two_theta_deg")
        y = _as_1d(self.intensity, "intensity")
        if tt.shape != y.shape:
            raise InputError(f"two_theta has {tt.size} points but intensity has {y.size}", field="intensity")
        if not (math.isfinite(self.wavelength_angstrom) and self.wavelength_angstrom > 0):
            raise InputError("must be positive", field="wavelength_angstrom")
        object.__setattr__(self, "two_theta_deg", tt)
        object.__setattr__(self, "intensity", y)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def q_inv_angstrom(self) -> NDArray[np.float64]:
        """Scattering vector magnitude q = 4 pi sin(theta) / lambda in 1/A."""
        return 4 * np.pi * np.sin(np.radians(self.two_theta_deg) / 2) / self.wavelength_angstrom

    def __len__(self) -> int:
        return int(self.two_theta_deg.size)


__all__ = [
    "Result",
    "to_jsonable",
    "dumps_json",
    "Spectrum",
    "SpectrumSeries",
    "MassSpectrum",
    "Micrograph",
    "Diffractogram",
]
