"""Material parameter sets, sizing curves and mass/diameter conversions (``qdlab.materials``)."""

from qdlab.materials.mass import (
    diameter_from_formula_units,
    diameter_to_mass_da,
    formula_units,
    mass_da_to_diameter_nm,
)
from qdlab.materials.params import Material, Quantity, get_material, list_materials
from qdlab.materials.sizing import (
    KaneCurve,
    MoreelsCurve,
    SizingCurve,
    SizingFit,
    curve_for,
    fit_sizing_curve,
)

__all__ = [
    "Material",
    "Quantity",
    "get_material",
    "list_materials",
    "SizingCurve",
    "MoreelsCurve",
    "KaneCurve",
    "SizingFit",
    "curve_for",
    "fit_sizing_curve",
    "diameter_to_mass_da",
    "mass_da_to_diameter_nm",
    "formula_units",
    "diameter_from_formula_units",
]
