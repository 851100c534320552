"""``qdlab recipe``: validate recipe files and report their stoichiometry."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qdlab.cli.common import JsonOpt, emit

sub = typer.Typer(help="Synthesis recipes: list the shipped ones, check a file's stoichiometry.", no_args_is_help=True)


@sub.command("check")
def check(
    recipe: Annotated[
        str, typer.Argument(help="Recipe TOML file, or a shipped recipe name (see `qdlab recipe list`).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Validate a recipe and report mmol, Cd:P ratio, concentrations and volumes."""
    from qdlab.chem.recipe import check_recipe, load_recipe

    report = check_recipe(load_recipe(recipe))

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        def fmt(v: Any, spec: str = ".4g") -> str:
            return "—" if v is None else format(v, spec)

        t = Table(title=f"{d['name']} ({d['kind']})", title_justify="left")
        for col in ("stage", "reagent", "amount", "mmol", "mass (g)", "volume (mL)", "Cd (mmol)", "P (mmol)"):
            t.add_column(col)
        for r in d["components"]:
            t.add_row(
                r["stage"],
                r["reagent"],
                r["amount"],
                fmt(r["mmol"]),
                fmt(r["mass_g"]),
                fmt(r["volume_ml"]),
                fmt(r["cd_mmol"]),
                fmt(r["p_mmol"]),
            )
        out_console().print(t)
        out_console().print(
            f"Cd {d['cd_mmol']:.4g} mmol, P {d['p_mmol']:.4g} mmol, Cd:P = {fmt(d['cd_to_p'], '.3f')}, "
            f"Cd3P2 limit {d['cd3p2_limit_mmol']:.4g} mmol, total liquid volume {d['total_volume_ml']:.4g} mL"
        )
        for name, s in d["stages"].items():
            if s["volume_ml"]:
                out_console().print(
                    f"  {name}: {s['volume_ml']:.4g} mL, Cd {fmt(s['cd_conc_mol_per_l'])} M, P {fmt(s['p_conc_mol_per_l'])} M, Cd:P {fmt(s['cd_to_p'], '.3f')}"
                )
        for w in d["warnings"]:
            out_console().print(f"[yellow]warning:[/yellow] {w}")

    emit(report, json_out, render)


@sub.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """List the recipes shipped with qdlab (from the reference paper's Experimental section)."""
    from qdlab.chem.recipe import list_recipes, load_recipe

    data = {"recipes": [{"name": n, "description": load_recipe(n).recipe.description} for n in list_recipes()]}
    emit(data, json_out, lambda d: print("\n".join(f"{r['name']:24s} {r['description']}" for r in d["recipes"])))


def register(app: typer.Typer) -> None:
    """Attach ``qdlab recipe`` to the root app."""
    app.add_typer(sub, name="recipe")
