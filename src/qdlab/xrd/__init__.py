"""Powder X-ray diffraction of Cd3P2 quantum dots.

Structures (:mod:`.structure`), bulk reference patterns (:mod:`.pattern`), Debye-equation patterns of
finite spheres (:mod:`.debye`), Scherrer estimates (:mod:`.scherrer`), readers and writers
(:mod:`.io`), background subtraction (:mod:`.background`), size fits and the phase check
(:mod:`.match`), simulated measurements (:mod:`.synth`) and figures (:mod:`.plot`).
Heavy dependencies (pymatgen, pybaselines, lxml) are imported inside the functions that need them.
"""

from qdlab.xrd.background import BackgroundResult, subtract_background
from qdlab.xrd.debye import DebyePattern, SphereLibrary, debye_intensity, debye_pattern, form_factor
from qdlab.xrd.io import read_diffractogram, write_xrdml, write_xy
from qdlab.xrd.match import (
    ImpurityCheck,
    MatchResult,
    PhaseScore,
    SizeFit,
    check_impurities,
    fit_crystallite_size,
    match_phases,
)
from qdlab.xrd.pattern import ReferencePattern, Reflection, reference_pattern, wavelength_angstrom
from qdlab.xrd.scherrer import PeakFit, ScherrerResult, fit_peak, scherrer_from_pattern, scherrer_size, shape_factor
from qdlab.xrd.structure import PHASES, carve_sphere, cd3p2_structure, phase_structure
from qdlab.xrd.synth import SyntheticPattern, simulate_measurement

__all__ = [
    "BackgroundResult",
    "DebyePattern",
    "ImpurityCheck",
    "MatchResult",
    "PHASES",
    "PeakFit",
    "PhaseScore",
    "ReferencePattern",
    "Reflection",
    "ScherrerResult",
    "SizeFit",
    "SphereLibrary",
    "SyntheticPattern",
    "carve_sphere",
    "check_impurities",
    "cd3p2_structure",
    "debye_intensity",
    "debye_pattern",
    "fit_crystallite_size",
    "fit_peak",
    "form_factor",
    "match_phases",
    "phase_structure",
    "read_diffractogram",
    "reference_pattern",
    "scherrer_from_pattern",
    "scherrer_size",
    "shape_factor",
    "simulate_measurement",
    "subtract_background",
    "wavelength_angstrom",
    "write_xrdml",
    "write_xy",
]
