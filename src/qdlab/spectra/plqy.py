"""Photoluminescence quantum yield: integrating sphere (de Mello; two-step) and the relative method.

All integrals are **photon numbers**: spectra are divided by the detector's relative spectral response
(counts per photon) when one is given, and spectra proportional to *energy* (radiometric W/nm) are
converted with ``photons ∝ energy * lambda / hc``. Integration windows are explicit inputs.

de Mello, Wittmann & Friend, Adv. Mater. 9, 230 (1997) — three measurements (a) empty sphere,
(b) sample in the sphere with the beam on the wall, (c) beam on the sample::

    A = 1 - L_c / L_b,    eta = [P_c - (1 - A) P_b] / (L_a A)

Two-measurement method (blank = solvent cuvette; Leyre et al., Rev. Sci. Instrum. 85, 123115 (2014))::

    Phi = (E_sample - E_blank) / (L_blank - L_sample)

Relative method (Brouwer, Pure Appl. Chem. 83, 2213 (2011))::

    Phi_x = Phi_ref (F_x / F_ref) (f_ref / f_x) (n_x^2 / n_ref^2),   f = 1 - 10^(-A)

The reference QY is always an explicit input with its provenance; IR-26 triggers a warning because its
QY is disputed (0.5 % legacy vs 0.05-0.11 % re-measured; notes-physics §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdlab.data.errors import InputError
from qdlab.data.types import Result, Spectrum
from qdlab.resources import load_toml
from qdlab.units import HC_EV_NM

IR26_WARNING = (
    "IR-26 reference: its QY is disputed (0.5 % legacy value vs 0.048 % Semonin et al. 2010 and 0.11 % "
    "Hatami et al. 2015); QYs computed against 0.5 % are inflated ~5-10x. Prefer an absolute sphere measurement."
)


@dataclass(frozen=True)
class PLQYResult(Result):
    """A quantum yield with the integrals it came from (photon units) and any warnings."""

    method: str
    qy: float
    qy_percent: float
    absorptance: float | None
    photons_absorbed: float | None
    photons_emitted: float | None
    excitation_window_nm: tuple[float, float] | None
    emission_window_nm: tuple[float, float] | None
    reference: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def reference_dyes() -> dict[str, dict[str, Any]]:
    """Reference dyes shipped in ``resources/spectra/reference_dyes.toml`` (QY as a fraction, source, solvent)."""
    return {k: dict(v) for k, v in load_toml("spectra/reference_dyes.toml").items()}


def refractive_index(solvent_or_n: str | float) -> tuple[float, str]:
    """Refractive index from a number or a solvent name in ``resources/spectra/solvents.toml``; (n, source)."""
    if isinstance(solvent_or_n, (int, float)):
        n = float(solvent_or_n)
        if not 1.0 <= n <= 3.0:
            raise InputError(f"refractive index {n} outside 1-3", field="refractive_index")
        return n, "given"
    try:
        return float(solvent_or_n), "given"
    except ValueError:
        pass
    table = load_toml("spectra/solvents.toml")
    key = str(solvent_or_n).strip().lower()
    aliases = {"tce": "tetrachloroethylene", "dce": "dichloroethane", "chcl3": "chloroform", "etoh": "ethanol", "ode": "octadecene"}
    key = aliases.get(key, key)
    if key not in table:
        raise InputError(f"unknown solvent {solvent_or_n!r}; known: {', '.join(sorted(table))}, or give n as a number", field="solvent")
    return float(table[key]["value"]), str(table[key]["source"])


def _photons(spectrum: Spectrum, window_nm: tuple[float, float], response: Any, y_units: str) -> float:
    from qdlab.spectra.preprocess import correct_response, integrate_photons

    lo, hi = window_nm
    if not (0 < lo < hi):
        raise InputError(f"integration window must be 0 < lo < hi nm, got {window_nm}", field="window_nm")
    s = spectrum.to_wavelength() if spectrum.x_unit != "nm" else spectrum
    if response is not None:
        s = correct_response(s, response)
    if y_units == "energy":
        s = Spectrum(s.x, s.y * s.x / HC_EV_NM, "nm", s.kind, s.meta, s.label)
    elif y_units != "photons":
        raise InputError(f"y_units must be 'photons' or 'energy', got {y_units!r}", field="y_units")
    if s.x.min() > lo or s.x.max() < hi:
        raise InputError(
            f"{spectrum.label!r} covers {s.x.min():.1f}-{s.x.max():.1f} nm, not the whole window {lo:g}-{hi:g} nm", field="window_nm"
        )
    return integrate_photons(s, lo, hi)


def _check_windows(excitation_nm: tuple[float, float], emission_nm: tuple[float, float]) -> None:
    if max(excitation_nm[0], emission_nm[0]) < min(excitation_nm[1], emission_nm[1]):
        raise InputError(
            f"excitation window {excitation_nm} overlaps emission window {emission_nm}; they must be disjoint", field="window_nm"
        )


def _absorptance_warnings(a: float) -> list[str]:
    w = []
    if a < 0.1:
        w.append(
            f"absorptance {a:.3f} < 0.1: small differences of large laser integrals — the QY is biased once the "
            "absorptance uncertainty exceeds ~10 % of A (van Dam et al., arXiv:1711.06200)"
        )
    return w


def plqy_demello(
    a: Spectrum,
    b: Spectrum,
    c: Spectrum,
    *,
    excitation_nm: tuple[float, float],
    emission_nm: tuple[float, float],
    response: Any = None,
    y_units: str = "photons",
) -> PLQYResult:
    """Absolute PLQY from the de Mello three-measurement integrating-sphere method.

    Parameters
    ----------
    a, b, c
        Spectra of the empty sphere, the sample with the beam on the sphere wall, and the beam on the
        sample (same acquisition settings).
    excitation_nm, emission_nm
        Integration windows (nm) of the scattered laser and of the emission; disjoint.
    response
        Detector relative spectral response (counts per photon) — a Spectrum, ``(wavelength_nm, r)``
        or a function of wavelength.
    y_units
        ``"photons"`` (photon-counting detector: counts) or ``"energy"`` (radiometric, W/nm).

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_sphere, detector_response
    >>> s = synth_sphere(qy=0.26, absorptance=0.4, indirect_absorptance=0.1)
    >>> r = plqy_demello(s["a"], s["b"], s["c"], excitation_nm=(780, 840), emission_nm=(900, 1600),
    ...                  response=detector_response)
    >>> round(r.qy, 4), round(r.absorptance, 4)
    (0.26, 0.4)
    """
    _check_windows(excitation_nm, emission_nm)
    la, lb, lc = (_photons(s, excitation_nm, response, y_units) for s in (a, b, c))
    pb, pc = (_photons(s, emission_nm, response, y_units) for s in (b, c))
    if not (la > 0 and lb > 0):
        raise InputError("the laser integrals of measurements a and b must be positive", field="excitation_nm")
    absorb = 1.0 - lc / lb
    if not 0 < absorb < 1:
        raise InputError(f"absorptance A = 1 - Lc/Lb = {absorb:.4f} is not in (0, 1): check the spectra and windows")
    eta = (pc - (1 - absorb) * pb) / (la * absorb)
    warns = _absorptance_warnings(absorb)
    if not 0 <= eta <= 1:
        warns.append(f"QY {eta:.3f} outside 0-1: check the spectral correction and the windows")
    return PLQYResult(
        method="demello",
        qy=float(eta),
        qy_percent=100 * float(eta),
        absorptance=float(absorb),
        photons_absorbed=float(la * absorb),
        photons_emitted=float(pc - (1 - absorb) * pb),
        excitation_window_nm=tuple(excitation_nm),  # type: ignore[arg-type]
        emission_window_nm=tuple(emission_nm),  # type: ignore[arg-type]
        warnings=tuple(warns),
        details={"L_a": la, "L_b": lb, "L_c": lc, "P_b": pb, "P_c": pc, "y_units": y_units, "response_corrected": response is not None},
    )


def plqy_two_step(
    blank: Spectrum,
    sample: Spectrum,
    *,
    excitation_nm: tuple[float, float],
    emission_nm: tuple[float, float],
    response: Any = None,
    y_units: str = "photons",
) -> PLQYResult:
    """Absolute PLQY from the two-measurement sphere method (solvent blank, then sample).

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_sphere
    >>> s = synth_sphere(qy=0.073, absorptance=0.3, response=None)
    >>> round(plqy_two_step(s["blank"], s["sample"], excitation_nm=(780, 840), emission_nm=(900, 1600)).qy, 4)
    0.073
    """
    _check_windows(excitation_nm, emission_nm)
    lb, ls = (_photons(s, excitation_nm, response, y_units) for s in (blank, sample))
    eb, es = (_photons(s, emission_nm, response, y_units) for s in (blank, sample))
    absorbed = lb - ls
    if not (lb > 0 and absorbed > 0):
        raise InputError("the sample must scatter fewer laser photons than the blank (L_blank > L_sample > 0)")
    phi = (es - eb) / absorbed
    warns = _absorptance_warnings(absorbed / lb)
    if not 0 <= phi <= 1:
        warns.append(f"QY {phi:.3f} outside 0-1: check the spectral correction and the windows")
    return PLQYResult(
        method="two-step",
        qy=float(phi),
        qy_percent=100 * float(phi),
        absorptance=float(absorbed / lb),
        photons_absorbed=float(absorbed),
        photons_emitted=float(es - eb),
        excitation_window_nm=tuple(excitation_nm),  # type: ignore[arg-type]
        emission_window_nm=tuple(emission_nm),  # type: ignore[arg-type]
        warnings=tuple(warns),
        details={"L_blank": lb, "L_sample": ls, "E_blank": eb, "E_sample": es, "y_units": y_units},
    )


def plqy_relative(
    sample_pl: Spectrum,
    reference_pl: Spectrum,
    *,
    sample_absorbance: float,
    reference_absorbance: float,
    reference_qy: float | str,
    reference_source: str | None = None,
    sample_solvent: str | float = "toluene",
    reference_solvent: str | float | None = None,
    emission_nm: tuple[float, float] | None = None,
    reference_emission_nm: tuple[float, float] | None = None,
    response: Any = None,
    y_units: str = "photons",
) -> PLQYResult:
    """Relative PLQY against a reference dye (same excitation wavelength and settings).

    Parameters
    ----------
    sample_pl, reference_pl
        Emission spectra.
    sample_absorbance, reference_absorbance
        Absorbance (OD) at the excitation wavelength; keep both <= 0.1.
    reference_qy
        The reference's QY as a fraction with ``reference_source`` (required), or the name of an entry of
        :func:`reference_dyes` (its value and source are used and reported).
    sample_solvent, reference_solvent
        Solvent names (see ``solvents.toml``) or refractive indices; the reference solvent defaults to the
        dye's entry.
    emission_nm, reference_emission_nm
        Integration windows (default: each whole spectrum).

    Examples
    --------
    >>> from qdlab.spectra.synth import synth_pl
    >>> ref, _ = synth_pl([(1100.0, 150.0, 1.0)])
    >>> qd, _ = synth_pl([(1250.0, 110.0, 2.0)])
    >>> r = plqy_relative(qd, ref, sample_absorbance=0.05, reference_absorbance=0.05,
    ...                   reference_qy="IR-26-hatami", sample_solvent="toluene")
    >>> round(r.qy, 6), len(r.warnings) > 0
    (0.002361, True)
    """
    warns: list[str] = []
    if isinstance(reference_qy, str):
        dyes = reference_dyes()
        if reference_qy not in dyes:
            raise InputError(f"unknown reference dye {reference_qy!r}; known: {', '.join(dyes)}; or give the QY as a number with its source", field="reference_qy")
        entry = dyes[reference_qy]
        name, qy_ref, source = reference_qy, float(entry["value"]), str(entry["source"])
        if reference_solvent is None:
            reference_solvent = str(entry["solvent"])
    else:
        qy_ref = float(reference_qy)
        if not reference_source:
            raise InputError("give the reference QY's provenance (reference_source / --reference-source)", field="reference_source")
        name, source = "custom", str(reference_source)
        if reference_solvent is None:
            raise InputError("give the reference solvent or its refractive index", field="reference_solvent")
    if not 0 < qy_ref <= 1:
        raise InputError(f"reference QY must be a fraction in (0, 1], got {qy_ref}", field="reference_qy")
    if "ir-26" in f"{name} {source}".lower() or "ir26" in f"{name} {source}".lower():
        warns.append(IR26_WARNING)
    for label, a in (("sample", sample_absorbance), ("reference", reference_absorbance)):
        if not a > 0:
            raise InputError(f"{label} absorbance must be positive, got {a}", field=f"{label}_absorbance")
        if a > 0.1:
            warns.append(f"{label} absorbance {a:.3f} > 0.1 OD: inner-filter and reabsorption errors (Brouwer 2011)")
    n_x, n_x_src = refractive_index(sample_solvent)
    n_r, n_r_src = refractive_index(reference_solvent)  # type: ignore[arg-type]

    def whole(s: Spectrum) -> tuple[float, float]:
        lam = s.wavelength_nm
        return float(lam.min()), float(lam.max())

    win_x = emission_nm or whole(sample_pl)
    win_r = reference_emission_nm or emission_nm or whole(reference_pl)
    f_x = _photons(sample_pl, win_x, response, y_units)
    f_r = _photons(reference_pl, win_r, response, y_units)
    if not f_r > 0:
        raise InputError("the reference emission integral must be positive")
    abs_x = 1 - 10 ** (-sample_absorbance)
    abs_r = 1 - 10 ** (-reference_absorbance)
    qy = qy_ref * (f_x / f_r) * (abs_r / abs_x) * (n_x**2 / n_r**2)
    if not 0 <= qy <= 1:
        warns.append(f"QY {qy:.3f} outside 0-1: check the absorbances, windows and reference")
    return PLQYResult(
        method="relative",
        qy=float(qy),
        qy_percent=100 * float(qy),
        absorptance=float(abs_x),
        photons_absorbed=None,
        photons_emitted=float(f_x),
        excitation_window_nm=None,
        emission_window_nm=win_x,
        reference={"name": name, "qy": qy_ref, "source": source, "solvent": str(reference_solvent), "refractive_index": n_r},
        warnings=tuple(warns),
        details={
            "F_sample": f_x,
            "F_reference": f_r,
            "absorptance_sample": abs_x,
            "absorptance_reference": abs_r,
            "n_sample": n_x,
            "n_sample_source": n_x_src,
            "n_reference_source": n_r_src,
            "refractive_index_factor": n_x**2 / n_r**2,
            "y_units": y_units,
        },
    )


__all__ = ["PLQYResult", "plqy_demello", "plqy_two_step", "plqy_relative", "reference_dyes", "refractive_index", "IR26_WARNING"]
