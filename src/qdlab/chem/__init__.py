"""Chemistry core: formulas, atomic weights, isotope envelopes, reagents and stoichiometry."""

from qdlab.chem.formula import Formula, average_mass_da, ligand_shorthands, parse_formula
from qdlab.chem.isotopes import IsotopeEnvelope, isotope_envelope
from qdlab.chem.weights import atomic_weight, default_table, isotopes, known_elements, weight_tables

__all__ = [
    "Formula",
    "parse_formula",
    "average_mass_da",
    "ligand_shorthands",
    "IsotopeEnvelope",
    "isotope_envelope",
    "atomic_weight",
    "default_table",
    "isotopes",
    "known_elements",
    "weight_tables",
]
