"""Synthesis recipes as validated TOML files, and the stoichiometry report of ``qdlab recipe check``.

A recipe file has a ``[recipe]`` table, ``[[components]]`` (reagent + amount + optional stage) and
``[[steps]]`` (heat, degas, inject, hold, cool, precipitate, aliquot). See the shipped examples in
``qdlab/resources/recipes/`` (the paper's MSC synthesis, the four hot-injection seed syntheses, the
cluster solution and the overgrowth).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qdlab.chem.reagents import ResolvedAmount, get_reagent, parse_amount, resolve_amount
from qdlab.data.errors import FormatError, InputError
from qdlab.resources import load_toml, resource_path

ABSOLUTE_ZERO_C = -273.15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipeInfo(_Strict):
    """The ``[recipe]`` table."""

    name: str = Field(min_length=1)
    kind: Literal["msc", "hot-injection", "cluster-solution", "overgrowth", "other"] = "other"
    description: str = ""
    source: str = ""


class Component(_Strict):
    """One reagent addition: ``reagent`` (key or alias), ``amount`` ("0.30 mmol", "6 ml of 0.50 M"...)."""

    reagent: str
    amount: str | dict[str, Any]
    stage: str = "flask"
    role: str = ""

    @field_validator("reagent")
    @classmethod
    def _known(cls, v: str) -> str:
        get_reagent(v)
        return v

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str | dict[str, Any]) -> str | dict[str, Any]:
        parse_amount(v)
        return v


class Step(_Strict):
    """One procedure step."""

    action: Literal["heat", "degas", "inject", "hold", "cool", "precipitate", "aliquot", "stir"]
    stage: str = "flask"
    into: str | None = None
    temperature_c: float | None = Field(default=None, gt=ABSOLUTE_ZERO_C, le=500)
    duration_s: float | None = Field(default=None, ge=0)
    rate_ml_per_h: float | None = Field(default=None, gt=0, le=10_000)
    note: str = ""


class Recipe(_Strict):
    """A validated synthesis recipe."""

    recipe: RecipeInfo
    components: list[Component] = Field(min_length=1)
    steps: list[Step] = Field(default_factory=list)


def _pydantic_to_input_error(exc: ValidationError, path: str) -> FormatError:
    err = exc.errors()[0]
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (not part of the recipe format)"
    ctx = err.get("ctx", {}).get("error")
    if isinstance(ctx, InputError):
        msg = str(ctx)
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return FormatError(f"{msg}{more}", path=path, field=loc)


def load_recipe(source: str | PathLike[str]) -> Recipe:
    """Load and validate a recipe from a TOML file, or a shipped recipe by name (``"msc-synthesis"``).

    Raises
    ------
    FormatError
        Naming the file and the offending field (``components[2].amount``...).
    """
    text_path = str(source)
    p = Path(text_path)
    if p.suffix != ".toml" and not p.exists():
        names = list_recipes()
        if text_path not in names:
            raise InputError(f"no recipe file or shipped recipe named {text_path!r}; shipped: {', '.join(names)}")
        data = load_toml(f"recipes/{text_path}.toml")
    else:
        if not p.is_file():
            raise InputError(f"recipe file not found: {p}")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise FormatError("not a text (UTF-8) file", path=p) from exc
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(f"not valid TOML: {exc}", path=p) from exc
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_input_error(exc, text_path) from exc


def list_recipes() -> list[str]:
    """Names of the recipes shipped with qdlab."""
    return sorted(p.name.removesuffix(".toml") for p in resource_path("recipes").iterdir() if p.name.endswith(".toml"))


def check_recipe(recipe: Recipe) -> dict[str, Any]:
    """Stoichiometry report: mmol, mass and volume per component; Cd and P totals; Cd:P; volumes; concentrations.

    Returns a JSON-ready dict. Warnings (not errors) flag things a chemist should look at, such as a
    step temperature above a solvent's boiling point.
    """
    rows: list[dict[str, Any]] = []
    per_stage: dict[str, dict[str, float]] = defaultdict(
        lambda: {"cd_mmol": 0.0, "p_mmol": 0.0, "volume_ml": 0.0, "oleic_acid_mmol": 0.0}
    )
    warnings: list[str] = []
    for i, comp in enumerate(recipe.components):
        reagent = get_reagent(comp.reagent)
        try:
            res: ResolvedAmount = resolve_amount(reagent, parse_amount(comp.amount))
        except InputError as exc:
            raise InputError(str(exc).removeprefix("amount: "), field=f"components[{i}].amount") from exc
        cd = res.mmol * reagent.element_mmol_per_mmol("Cd")
        p = res.mmol * reagent.element_mmol_per_mmol("P")
        st = per_stage[comp.stage]
        st["cd_mmol"] += cd
        st["p_mmol"] += p
        st["volume_ml"] += res.volume_ml or 0.0
        if reagent.key == "oleic acid":
            st["oleic_acid_mmol"] += res.mmol
        rows.append(
            {
                "reagent": reagent.key,
                "name": reagent.name,
                "stage": comp.stage,
                "amount": res.text,
                "mmol": res.mmol,
                "mass_g": res.mass_g,
                "volume_ml": res.volume_ml,
                "molar_mass_g_per_mol": reagent.molar_mass_g_per_mol,
                "cd_mmol": cd,
                "p_mmol": p,
                "note": res.note,
            }
        )
    for j, step in enumerate(recipe.steps):
        if step.temperature_c is None:
            continue
        solvents = [get_reagent(c.reagent) for c in recipe.components if c.stage in (step.stage, step.into)]
        for s in solvents:
            if s.boiling_point_c is not None and step.temperature_c > s.boiling_point_c:
                warnings.append(
                    f"steps[{j}]: {step.temperature_c:g} C is above the boiling point of {s.name} ({s.boiling_point_c:g} C)"
                )
    cd_total = sum(s["cd_mmol"] for s in per_stage.values())
    p_total = sum(s["p_mmol"] for s in per_stage.values())
    vol_total = sum(s["volume_ml"] for s in per_stage.values())
    oa_total = sum(s["oleic_acid_mmol"] for s in per_stage.values())
    stages = {
        name: {
            **vals,
            "cd_to_p": vals["cd_mmol"] / vals["p_mmol"] if vals["p_mmol"] else None,
            "cd_conc_mol_per_l": vals["cd_mmol"] / vals["volume_ml"] if vals["volume_ml"] else None,
            "p_conc_mol_per_l": vals["p_mmol"] / vals["volume_ml"] if vals["volume_ml"] else None,
        }
        for name, vals in per_stage.items()
    }
    injections = [s for s in recipe.steps if s.action == "inject"]
    return {
        "name": recipe.recipe.name,
        "kind": recipe.recipe.kind,
        "source": recipe.recipe.source,
        "components": rows,
        "stages": stages,
        "cd_mmol": cd_total,
        "p_mmol": p_total,
        "cd_to_p": cd_total / p_total if p_total else None,
        "cd3p2_limit_mmol": min(cd_total / 3, p_total / 2) if p_total and cd_total else 0.0,
        "oleic_acid_to_cd": oa_total / cd_total if cd_total and oa_total else None,
        "total_volume_ml": vol_total,
        "injection_rate_ml_per_h": [s.rate_ml_per_h for s in injections if s.rate_ml_per_h is not None],
        "warnings": warnings,
    }


__all__ = ["Recipe", "RecipeInfo", "Component", "Step", "load_recipe", "list_recipes", "check_recipe"]
