"""FastAPI application: server-rendered pages (Jinja2, no JavaScript needed) and a JSON API.

Pages: ``/`` experiments in the record, ``/experiments/{id}``, ``/size`` (sizing calculator),
``/twin`` (run a twin scenario with an injection rate, see the PL aliquots). API: ``/api/health``,
``/api/experiments``, ``/api/experiments/{id}``, ``/api/size``, ``/api/twin/scenarios``,
``/api/twin/run``. User errors (:class:`~qdlab.data.errors.QdlabError`) become HTTP 400 with a
``detail`` naming the field; unknown ids 404; malformed requests 422 (FastAPI validation).
"""

from __future__ import annotations

import base64
import io
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from qdlab import __version__
from qdlab.data.errors import InputError, QdlabError
from qdlab.data.types import to_jsonable

_TEMPLATES = Jinja2Templates(directory=str(resources.files("qdlab.web") / "templates"))


class TwinRunRequest(BaseModel):
    """Body of ``POST /api/twin/run``."""

    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(description="Built-in scenario name, e.g. overgrowth-1010nm")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Dotted-path overrides, e.g. protocol.injection_rate_ml_per_h"
    )


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pl_figure(result: Any, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    n = len(result.pl)
    # what the scenario's spectrometer sees (its detector window), normalised there
    lo, hi = result.scenario.observation.pl_window_nm or (-np.inf, np.inf)
    for i, (spec, row) in enumerate(zip(result.pl, result.aliquots, strict=True)):
        s = spec.to_wavelength()
        m = (s.x >= lo) & (s.x <= hi)
        x, y = s.x[m], s.y[m] / (np.max(s.y[m]) if np.any(m) and np.max(s.y[m]) > 0 else 1.0)
        ax.plot(x, y + 0.6 * i, color=plt.cm.viridis(i / max(n - 1, 1)), lw=1.4)
        ax.text(x[-1], 0.6 * i + 0.05, f" {row.aliquot_id}" + (" bimodal" if row.bimodal else ""), fontsize=8,
                va="bottom")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("normalised PL (offset)")
    ax.set_yticks([])
    ax.set_title(f"{title}: simulated PL of each aliquot")
    return _png(fig)


def create_app(db_url: str | None = None) -> FastAPI:
    """Build the app. ``db_url``: the record to show (default: ``QDLAB_DATABASE_URL`` or the user SQLite file)."""
    app = FastAPI(title="qdlab", version=__version__, description="Cd3P2 QD growth: record, sizing, digital twin")
    state: dict[str, Any] = {}

    def store() -> Any:
        if "store" not in state:
            from qdlab.store import Store

            state["store"] = Store(db_url)
        return state["store"]

    @app.exception_handler(QdlabError)
    async def _user_error(request: Request, exc: QdlabError) -> Any:
        if request.url.path.startswith("/api"):
            return JSONResponse(status_code=400, content={"detail": str(exc), "field": getattr(exc, "field", None)})
        return _TEMPLATES.TemplateResponse(request, "error.html", {"status": 400, "message": str(exc)}, status_code=400)

    # ---------------------------------------------------------------- JSON API
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/experiments")
    def api_experiments() -> dict[str, Any]:
        return {"experiments": to_jsonable(store().list_experiments())}

    @app.get("/api/experiments/{ident}")
    def api_experiment(ident: str) -> dict[str, Any]:
        try:
            return to_jsonable(store().experiment_dict(int(ident) if ident.isdigit() else ident))
        except InputError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    @app.get("/api/size")
    def api_size(
        material: str = "Cd3P2",
        wavelength_nm: float | None = Query(None, gt=0),
        energy_ev: float | None = Query(None, gt=0),
        diameter_nm: float | None = Query(None, gt=0),
        mass_da: float | None = Query(None, gt=0),
        sizing: str | None = None,
        density: str = "xray",
    ) -> dict[str, Any]:
        from qdlab.materials.convert import size_info

        dens: str | float = density if density in ("xray", "handbook") else _float(density, "density")
        return size_info(
            material,
            wavelength_nm=wavelength_nm,
            energy_ev=energy_ev,
            diameter_nm=diameter_nm,
            mass_da=mass_da,
            sizing=sizing,
            density=dens,
        )

    @app.get("/api/twin/scenarios")
    def api_scenarios() -> dict[str, Any]:
        from qdlab.twin import list_scenarios

        return {"scenarios": list_scenarios()}

    @app.post("/api/twin/run")
    def api_twin_run(req: TwinRunRequest) -> dict[str, Any]:
        result = _run_twin(req.scenario, req.overrides)
        return to_jsonable(result.to_dict())

    # ---------------------------------------------------------------- pages
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Any:
        return _TEMPLATES.TemplateResponse(
            request, "index.html", {"experiments": store().list_experiments(), "db": store().display_url}
        )

    @app.get("/experiments/{ident}", response_class=HTMLResponse)
    def experiment(request: Request, ident: str) -> Any:
        try:
            data = store().experiment_dict(int(ident) if ident.isdigit() else ident)
        except InputError as exc:
            return _TEMPLATES.TemplateResponse(
                request, "error.html", {"status": 404, "message": str(exc)}, status_code=404
            )
        return _TEMPLATES.TemplateResponse(request, "experiment.html", {"e": data})

    @app.get("/size", response_class=HTMLResponse)
    def size_page(
        request: Request, material: str = "Cd3P2", wavelength_nm: str = "", diameter_nm: str = "", mass_da: str = ""
    ) -> Any:
        from qdlab.materials import list_materials
        from qdlab.materials.convert import size_info

        given = {
            k: v
            for k, v in {"wavelength_nm": wavelength_nm, "diameter_nm": diameter_nm, "mass_da": mass_da}.items()
            if v.strip()
        }
        info = None
        if given:
            info = size_info(material, **{k: _float(v, k) for k, v in given.items()})
        return _TEMPLATES.TemplateResponse(
            request, "size.html", {"info": info, "materials": list_materials(), "material": material, "form": given}
        )

    @app.get("/twin", response_class=HTMLResponse)
    def twin_page(request: Request, scenario: str = "", rate_ml_per_h: str = "") -> Any:
        from qdlab.twin import list_scenarios

        ctx: dict[str, Any] = {
            "scenarios": list_scenarios(),
            "scenario": scenario,
            "rate": rate_ml_per_h,
            "result": None,
            "window": None,
        }
        if scenario:
            overrides = (
                {"protocol.injection_rate_ml_per_h": _float(rate_ml_per_h, "rate_ml_per_h")}
                if rate_ml_per_h.strip()
                else {}
            )
            result = _run_twin(scenario, overrides)
            ctx["result"] = result.to_dict()
            ctx["figure"] = _pl_figure(result, scenario)
            ctx["window"] = result.scenario.observation.pl_window_nm
        return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)

    return app


def _float(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(f"expected a number, got {text!r}", field=field) from exc
    if not value > 0 or value == float("inf"):
        raise InputError(f"must be a positive number, got {text!r}", field=field)
    return value


def _run_twin(name: str, overrides: dict[str, Any]) -> Any:
    from qdlab.twin import list_scenarios, load_scenario, simulate

    if name not in list_scenarios():
        raise InputError(f"unknown scenario {name!r}; built-in: {', '.join(list_scenarios())}", field="scenario")
    scenario = load_scenario(name)
    if overrides:
        scenario = scenario.with_overrides(overrides)
    return simulate(scenario)


__all__ = ["create_app", "TwinRunRequest"]
