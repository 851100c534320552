"""MALDI-TOF mass spectrometry of clusters and QDs (``qdlab.ms``).

Readers (Bruker flex, mzML, text) -> MALDIquant-style preprocessing -> peak picking -> composition
assignment from building blocks -> molecular-ion band sizing. See ``docs/ms.md``.
"""

from qdlab.ms.analysis import AnalysisResult, analyze
from qdlab.ms.assign import AssignmentResult, Candidate, PeakAssignment, assign_masses, parse_blocks
from qdlab.ms.flex import read_flex, write_flex
from qdlab.ms.io import read_mass_spectrum, write_mass_spectrum, write_mzml, write_text
from qdlab.ms.peaks import PeakList, pick_peaks
from qdlab.ms.preprocess import Preprocessed, preprocess
from qdlab.ms.size import SizeMode, SizeResult, molecular_ion_size
from qdlab.ms.spacing import explain_spacings

__all__ = [
    "read_mass_spectrum",
    "write_mass_spectrum",
    "write_flex",
    "write_mzml",
    "write_text",
    "read_flex",
    "preprocess",
    "Preprocessed",
    "pick_peaks",
    "PeakList",
    "assign_masses",
    "parse_blocks",
    "AssignmentResult",
    "PeakAssignment",
    "Candidate",
    "analyze",
    "AnalysisResult",
    "molecular_ion_size",
    "SizeResult",
    "SizeMode",
    "explain_spacings",
]
