"""``qdlab plan`` (inverse design) and ``qdlab campaign new|ask|tell|status|list`` (closed loop)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from qdlab.cli.common import DbOpt, JsonOpt, ThreadsSchedulerOpt, emit, key_value_table
from qdlab.data.errors import InputError

NameArg = Annotated[str, typer.Argument(help="Campaign name (letters, digits, '-', '_', '.').")]


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def plan_cmd(
    seed_nm: Annotated[float, typer.Option(help="PL peak of the seed QDs (nm).")],
    target_nm: Annotated[float, typer.Option(help="Wanted final PL peak (nm).")],
    material: Annotated[str, typer.Option(help="Material (the twin models Cd3P2).")] = "Cd3P2",
    seed_mg: Annotated[float, typer.Option(help="Seed QD amount (mg, with ligands).")] = 20.0,
    seed_fwhm_mev: Annotated[float | None, typer.Option(help="Seed PL FWHM (meV); default: the nearest paper batch.")] = None,
    max_fwhm_mev: Annotated[float | None, typer.Option(help="Reject recipes predicted broader than this (meV).")] = None,
    temperature_c: Annotated[float | None, typer.Option(help="Fix the temperature (C); default 180.")] = None,
    oleic_acid_mmol: Annotated[float | None, typer.Option(help="Fix the free oleic acid (mmol).")] = None,
    p_conc_mol_per_l: Annotated[float | None, typer.Option(help="Fix the feed's phosphorus concentration (mol/L).")] = None,
    rate_ml_per_h: Annotated[float | None, typer.Option(help="Fix the starting injection rate (mL/h); default: no-renucleation rule.")] = None,
    calibration: Annotated[str | None, typer.Option(help="Calibration JSON (values + covariance) for the uncertainty.")] = None,
    samples: Annotated[int | None, typer.Option(help="Parameter samples for the uncertainty (0: none; default: package data, fixed so that the answer does not depend on the machine's speed).")] = None,
    scheduler: ThreadsSchedulerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Plan one overgrowth: seeds at SEED_NM to TARGET_NM, with the twin's prediction and uncertainty."""
    from qdlab.cli.common import existing_file
    from qdlab.plan import plan_recipe
    from qdlab.plan.twin_model import Calibration, TwinModel

    if material != "Cd3P2":
        raise InputError(f"the planner's twin models Cd3P2 only, got {material!r}", field="--material")
    if samples is not None and not (0 <= samples <= 1000):
        raise InputError(f"must be 0-1000, got {samples}", field="--samples")
    cal = Calibration.from_file(existing_file(calibration, "calibration file")) if calibration else None
    fixed = {
        k: v
        for k, v in dict(
            temperature_c=temperature_c, oleic_acid_mmol=oleic_acid_mmol, p_conc_mol_per_l=p_conc_mol_per_l, injection_rate_ml_per_h=rate_ml_per_h
        ).items()
        if v is not None
    }
    if samples is None:
        # a fixed number of samples (not "as many as fit a time budget"): the same command gives the same answer
        from qdlab.plan.space import value

        samples = int(value("design", "uncertainty_samples"))
    model = TwinModel(seed_nm=seed_nm, seed_mg=seed_mg, material=material, seed_fwhm_mev=seed_fwhm_mev, calibration=cal)
    res = plan_recipe(model, target_nm, max_fwhm_mev=max_fwhm_mev, params=fixed, n_samples=samples, scheduler=scheduler or "threads")

    def render(d: dict[str, Any]) -> None:
        r, p = d["recipe"], d["predicted"]
        cs, inj = r["cluster_solution"], r["injection"]
        key_value_table(
            f"Recipe: {d['recipe']['seeds']['pl_peak_nm']:g} nm -> {d['target_nm']:g} nm ({r['seeds']['mass_mg']:g} mg seeds)",
            {
                "feed": f"{cs['volume_ml']:.2f} mL: {cs['cd_oleate_stock_ml']:.2f} mL 0.50 M Cd(oleate)2 + {cs['ode_ml']:.2f} mL ODE + {cs['tmsp_volume_ul']:.0f} uL TMSP",
                "rate": f"{inj['rate_ml_per_h']:.3g} -> {inj['final_rate_ml_per_h']:.3g} mL/h (ramp x{inj['ramp_factor']:.2f})",
                "duration": f"{r['duration_min']:.0f} min at {r['temperature_c']:g} C, {r['oleic_acid_mmol']:g} mmol oleic acid",
                "aliquots": ", ".join(f"{t:.0f}" for t in r["aliquot_times_min"]) + " min",
            },
        )
        pk = f"{p['pl_peak_nm']:.0f} nm" + (f" +/- {p['pl_peak_nm_std']:.0f}" if "pl_peak_nm_std" in p else "")
        key_value_table(
            "Twin prediction (final aliquot)",
            {
                "PL peak": pk,
                "FWHM": f"{p['fwhm_mev']:.0f} meV" if p.get("fwhm_mev") is not None else "n/a",
                "secondary QDs (share of Cd3P2 / of particles)": (
                    f"{p['secondary_mass_fraction']:.2f} / {p['secondary_fraction']:.2f}"
                    if p.get("secondary_mass_fraction") is not None and p.get("secondary_fraction") is not None else "n/a"),
                "P(|peak-target| <= 15 nm)": f"{p['p_within_tolerance']:.2f}" if "p_within_tolerance" in p else "n/a",
                "reachable": f"{d['reachable_nm'][0]:.0f}-{d['reachable_nm'][1]:.0f} nm",
                "twin runs / time": f"{d['twin_runs']} / {d['elapsed_s']:.2f} s",
            },
        )
        for n in d["notes"]:
            print(f"note: {n}")
        if d.get("reason"):
            print(f"caution: {d['reason']}")

    emit(res, json_out, render)


campaign_app = typer.Typer(help="Closed-loop campaigns: ask for the next experiments, tell what you measured.", no_args_is_help=True)


@campaign_app.command("new")
def campaign_new(
    name: NameArg,
    target_nm: Annotated[float, typer.Option(help="Wanted final PL peak (nm).")],
    seed_nm: Annotated[float, typer.Option(help="PL peak of the seed QDs (nm).")] = 1010.0,
    seed_mg: Annotated[float, typer.Option(help="Seed QD amount per experiment (mg).")] = 20.0,
    material: Annotated[str, typer.Option(help="Material (Cd3P2).")] = "Cd3P2",
    max_fwhm_mev: Annotated[float | None, typer.Option(help="Constraint: final FWHM at most this (meV).")] = None,
    strategy: Annotated[str, typer.Option(help="twin (twin prior + residual model), tpe (data only) or random.")] = "twin",
    seed: Annotated[int | None, typer.Option(help="Seed of every random draw (stored with the campaign): the same asks and tells give the same proposals.")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start a campaign (the twin strategy queues the twin-optimal recipe as its first experiment)."""
    from qdlab.plan.campaign import Campaign, CampaignSpec

    _quiet_optuna()
    spec = CampaignSpec(name=name, target_nm=target_nm, seed_nm=seed_nm, seed_mg=seed_mg, material=material, max_fwhm_mev=max_fwhm_mev, strategy=strategy)
    camp = Campaign.create(spec, db=db, seed=seed)
    spec = camp.spec
    data = {"created": spec.to_dict(), "n_queued": len(camp.study.trials)}
    emit(data, json_out, lambda d: print(f"campaign {name!r} created ({strategy}); next: qdlab campaign ask {name}"))


@campaign_app.command("ask")
def campaign_ask(
    name: NameArg,
    n: Annotated[int, typer.Option("--n", help="Number of experiments to propose.")] = 1,
    db: DbOpt = None,
    scheduler: ThreadsSchedulerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose the next experiment(s)."""
    from qdlab.plan.campaign import Campaign

    _quiet_optuna()
    camp = Campaign.load(name, db=db)
    sugg = camp.ask(n, scheduler=scheduler or "threads")
    data = {"campaign": name, "suggestions": [s.to_dict() for s in sugg]}

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        t = Table(title=f"Campaign {name}: next experiments", title_justify="left")
        for col in ("trial", "feed (mL)", "P (M)", "rate (mL/h)", "ramp", "T (C)", "OA (mmol)", "predicted (nm)", "source"):
            t.add_column(col)
        for s in d["suggestions"]:
            p = s["params"]
            pred = (s.get("predicted") or {}).get("pl_peak_nm")
            t.add_row(
                str(s["trial"]), f"{p['cluster_volume_ml']:.2f}", f"{p['p_conc_mol_per_l']:.3f}", f"{p['injection_rate_ml_per_h']:.2f}",
                f"{s['ramp_factor']:.2f}", f"{p['temperature_c']:.0f}", f"{p['oleic_acid_mmol']:.2f}",
                "" if pred is None else f"{pred:.0f}", s["source"],
            )
        out_console().print(t)
        print(f"after the experiment: qdlab campaign tell {name} --trial N --pl-peak-nm ... --fwhm-mev ...")

    emit(data, json_out, render)


@campaign_app.command("tell")
def campaign_tell(
    name: NameArg,
    trial: Annotated[int, typer.Option(help="Trial number from 'ask'.")],
    pl_peak_nm: Annotated[float | None, typer.Option(help="Measured final PL peak (nm).")] = None,
    fwhm_mev: Annotated[float | None, typer.Option(help="Measured final PL FWHM (meV).")] = None,
    plqy: Annotated[float | None, typer.Option(help="Measured PLQY as a fraction 0-1.")] = None,
    bimodal: Annotated[bool, typer.Option("--bimodal", help="The PL showed two populations.")] = False,
    failed: Annotated[
        str | None, typer.Option("--failed", help="The experiment gave no result: no-emission (the planner avoids the recipe) or aborted (no data).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text kept with a failure (what happened).")] = None,
    from_run: Annotated[
        str | None, typer.Option("--from-run", help="Take the outcome (last aliquot) from this 'qdlab run' experiment (id or key) in the record.")
    ] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record what an experiment gave (typed in, or --from-run an experiment in the record)."""
    from qdlab.plan.campaign import Campaign
    from qdlab.plan.objective import Outcome

    _quiet_optuna()
    if failed is not None:
        if from_run is not None or pl_peak_nm is not None or fwhm_mev is not None or plqy is not None or bimodal:
            raise InputError("a failed experiment has no measured values: give --failed alone (with --note)", field="--failed")
        res = Campaign.load(name, db=db).tell_failure(trial, failed, note)
        emit(res, json_out, lambda d: print(f"trial {trial}: failed ({d['failed']})"
                                            + ("; the planner avoids this recipe" if d["learnt"] else "; not used as data")))
        return
    if note is not None:
        raise InputError("--note goes with --failed", field="--note")
    source: dict[str, Any] = {"source": "typed in"}
    if from_run is not None:
        if pl_peak_nm is not None or fwhm_mev is not None or plqy is not None or bimodal:
            raise InputError("give either --from-run or the measured values, not both", field="--from-run")
        from qdlab.plan.fromrun import outcome_from_run

        outcome, source = outcome_from_run(from_run, db)
    else:
        if pl_peak_nm is None:
            raise InputError("give the measured --pl-peak-nm (or --from-run EXPERIMENT_ID)", field="--pl-peak-nm")
        outcome = Outcome(pl_peak_nm=pl_peak_nm, fwhm_mev=fwhm_mev, plqy=plqy, bimodal=bimodal)
    camp = Campaign.load(name, db=db)
    res = {**camp.tell(trial, outcome), "measured": outcome.to_dict(), "from": source}
    emit(res, json_out, lambda d: print(f"trial {trial}: loss {d['loss']:.3f}, |peak - target| = {d['wavelength_error_nm']:.1f} nm"))


@campaign_app.command("status")
def campaign_status(name: NameArg, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Trials, measurements, best result so far."""
    from qdlab.plan.campaign import Campaign

    _quiet_optuna()
    st = Campaign.load(name, db=db).status()

    def render(d: dict[str, Any]) -> None:
        from rich.table import Table

        from qdlab.console import out_console

        c = d["campaign"]
        t = Table(title=f"Campaign {c['name']}: {c['seed_nm']:g} -> {c['target_nm']:g} nm ({c['strategy']})", title_justify="left")
        for col in ("trial", "state", "feed (mL)", "rate (mL/h)", "measured (nm)", "FWHM (meV)", "|error| (nm)", "loss", "source"):
            t.add_column(col)
        for r in d["trials"]:
            m = r["measured"] or {}
            t.add_row(
                str(r["trial"]), r["state"] + (f" ({r['failure']['reason']})" if r.get("failure") else ""),
                f"{r['params'].get('cluster_volume_ml', float('nan')):.2f}",
                f"{r['params'].get('injection_rate_ml_per_h', float('nan')):.2f}",
                f"{m['pl_peak_nm']:.0f}" if m else "", f"{m['fwhm_mev']:.0f}" if m.get("fwhm_mev") else "",
                f"{r['wavelength_error_nm']:.1f}" if r["wavelength_error_nm"] is not None else "",
                f"{r['loss']:.3f}" if r["loss"] is not None else "", str(r["source"]),
            )
        out_console().print(t)
        if d.get("reachable_nm"):
            lo, hi = d["reachable_nm"]
            print(f"reachable on the current twin line (whole feed range, single-peaked): {lo:.0f}-{hi:.0f} nm")

    emit(st, json_out, render)


@campaign_app.command("list")
def campaign_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Campaigns in the database."""
    from qdlab.plan.campaign import list_campaigns

    _quiet_optuna()
    data = {"campaigns": list_campaigns(db)}
    emit(data, json_out, lambda d: print("\n".join(f"{c['name']}: {c['seed_nm']:g} -> {c['target_nm']:g} nm, {c['n_trials']} trials ({c['strategy']})" for c in d["campaigns"]) or "no campaigns"))


def register(app: typer.Typer) -> None:
    """Attach ``plan`` and the ``campaign`` sub-app to the root app."""
    app.command("plan")(plan_cmd)
    app.add_typer(campaign_app, name="campaign")
