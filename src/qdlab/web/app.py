"""FastAPI application: server-rendered pages (Jinja2) with interactive plots, downloads and a JSON API.

Pages: ``/`` experiments in the record (search, sort, filter by material, seed, date, target reached and
tag through query parameters: bookmarkable, no JavaScript needed), ``/experiments/{id}`` (everything the
report shows: spectra with zoom and a wavelength/energy switch, trends, each analysis's values and
warnings, twin calibration, downloads, its tags with an add/remove form), ``/size`` (sizing calculator), ``/twin`` (a twin scenario with overrides, live with JS, a GET form without),
``/docs`` (OpenAPI docs with local assets). Downloads: ``/experiments/{id}/aliquots.csv``,
``/experiments/{id}/figures/{name}.{png,svg,pdf,csv}``, ``/experiments/{id}/files/{measurement}``,
``/experiments/{id}/export.eln``, ``/experiments/{id}/report.html``. API: ``/api/health``,
``/api/experiments`` (the list's filters), ``/api/experiments/{id}``, ``/api/experiments/{id}/tags`` (POST, DELETE), ``/api/experiments/{id}/spectra/{pl|absorbance}``,
``/api/experiments/{id}/figures``, ``/api/size``, ``/api/twin/scenarios``, ``/api/twin/run``.
User errors (:class:`~qdlab.data.errors.QdlabError`) become HTTP 400 with a ``detail`` naming the
field; unknown ids 404; malformed requests 422 (FastAPI validation). Every script, style sheet and
font is served by the app itself (:mod:`qdlab.web.assets`): it works with no internet.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import tempfile
import threading
import zipfile
from collections import OrderedDict
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from qdlab import __version__
from qdlab.data.errors import InputError, QdlabError
from qdlab.data.types import to_jsonable
from qdlab.store.query import TARGET_WORDS, ExperimentQuery, split_tags, target_tolerance_nm
from qdlab.web import assets, forms, security, twinrun, uploads, views
from qdlab.web.plans import PlanJobs

_TEMPLATES = Jinja2Templates(directory=str(resources.files("qdlab.web") / "templates"))
_TEMPLATES.env.globals.update(fmt=views.fmt, words=views.words, formula=views.formula_html,
                              columns=views.ALIQUOT_COLUMNS)
#: matplotlib's pyplot is not thread-safe; FastAPI runs sync routes in a thread pool
_MPL_LOCK = threading.Lock()


class TagsRequest(BaseModel):
    """Body of ``POST``/``DELETE /api/experiments/{id}/tags``."""

    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(max_length=100, description="Tags: 1-32 letters, digits, - or _ each, e.g. [\"good\"]")


class TwinRunRequest(BaseModel):
    """Body of ``POST /api/twin/run``."""

    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(description="Built-in scenario name, e.g. overgrowth-1010nm")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Dotted-path overrides, e.g. protocol.injection_rate_ml_per_h"
    )


def _warm_up() -> None:
    """Load what the first requests would otherwise load under the user's nose (the sizing curves and SciPy,
    matplotlib and a first figure in the report style, the array store). Runs once in a background thread
    at start-up; the server answers meanwhile. Measured: the first sizing answer 0.9 s cold, and under 20
    concurrent clients the cold first figure and sizing page made the load test's p99 (docs/reliability.md)."""
    try:
        import matplotlib.pyplot as plt

        from qdlab.materials.convert import size_info
        from qdlab.store import arrays  # noqa: F401  (the spectra endpoints read through it)

        size_info("Cd3P2", diameter_nm=3.0)
        for name in ("index.html", "experiment.html", "size.html", "upload.html", "error.html"):
            _TEMPLATES.get_template(name)  # compiled once, kept by Jinja
        with _MPL_LOCK:  # pyplot's state is shared with the requests' renders
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.plot([0, 1], [0, 1])
            _png(fig)  # the report style and the PNG writer
    except Exception:  # a warm-up is an optimisation: never let it take the server down
        logging.getLogger("qdlab.web").exception("warm-up failed (the server is unaffected)")


def _png(fig: Any) -> str:
    from qdlab.report import style as S

    buf = io.BytesIO()
    with S.figure_style():
        fig.savefig(buf, format="png", dpi=110)
    S.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pl_figure(result: Any, title: str) -> str:
    import numpy as np

    from qdlab.report import figures as F

    # what the scenario's spectrometer sees (its detector window), normalised there
    lo, hi = result.scenario.observation.pl_window_nm or (-np.inf, np.inf)
    curves = []
    for spec, row in zip(result.pl, result.aliquots, strict=True):
        s = spec.to_wavelength()
        m = (s.x >= lo) & (s.x <= hi)
        curves.append((f"{row.aliquot_id}" + (" bimodal" if row.bimodal else ""), s.x[m], s.y[m]))
    fig, _ = F.waterfall_figure(curves, title=f"{title}: simulated PL of each aliquot")
    return _png(fig)


#: most bytes of rendered downloads (figures, spectra JSON, reports) the server keeps in memory
CACHE_BYTES = 256 * 1024**2


class _LRU:
    """A small in-memory cache of rendered downloads (figures, reports), keyed by the record's fingerprint.

    Parameters
    ----------
    size
        Most entries kept; the least recently used go first.
    max_bytes
        Most bytes kept in ``bytes``/``str`` values (other values count 0); ``None``: no limit.
    """

    def __init__(self, size: int = 48, max_bytes: int | None = None) -> None:
        self.size, self.max_bytes, self.data, self.lock = size, max_bytes, OrderedDict(), threading.Lock()
        self.pending: dict[Any, threading.Event] = {}
        self.nbytes = 0

    @staticmethod
    def _weight(value: Any) -> int:
        return len(value) if isinstance(value, (bytes, str)) else 0

    def get(self, key: Any, make: Any) -> Any:
        """The cached value, made once: concurrent requests for a missing key wait for the first one's result.

        (Without this, 20 clients asking for one new figure each rendered it, one at a time behind the
        matplotlib lock: a 52 s p99 in benchmarks/web_load.py.)
        """
        while True:
            with self.lock:
                if key in self.data:
                    self.data.move_to_end(key)
                    return self.data[key]
                pending = self.pending.get(key)
                if pending is None:
                    pending = self.pending[key] = threading.Event()
                    break
            pending.wait(300)
        try:
            value = make()
            with self.lock:
                self.data[key] = value
                self.nbytes += self._weight(value)
                while len(self.data) > self.size or (self.max_bytes is not None and self.nbytes > self.max_bytes
                                                     and len(self.data) > 1):
                    self.nbytes -= self._weight(self.data.popitem(last=False)[1])
        finally:
            with self.lock:
                self.pending.pop(key, None)
            pending.set()  # waiters re-check: the value, or (if make failed) one of them makes it
        return value


def create_app(db_url: str | None = None, upload_scheduler: Any = None, *, token: str | None = None,
               max_upload_bytes: int = security.MAX_UPLOAD_BYTES, warm_experiments: int = 3) -> FastAPI:
    """Build the app.

    Parameters
    ----------
    db_url
        The record to show and to store uploads in (default: ``QDLAB_DATABASE_URL`` or the user SQLite file).
    upload_scheduler
        Where uploaded experiments are analysed (as ``qdlab run --scheduler``; ``None``: local processes).
    token
        If given, every request must carry it (see :mod:`qdlab.web.security`); required to serve beyond loopback.
    max_upload_bytes
        Largest request body (uploaded zip) accepted; larger ones get 413 before they are read.
    warm_experiments
        How many of the newest experiments the start-up warm-up prepares (see ``warm`` below; 0: none).
    """

    # Warm-up threads are not daemons: one killed at exit inside matplotlib's C++ renderer aborts the
    # process ("terminate called without an active exception"). Shutting down sets ``stopping``; a warm-up
    # then ends after its current item, and the exit waits for at most that.
    stopping = threading.Event()
    warmers: list[threading.Thread] = []

    def background(target: Any, *args: Any, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=name)
        warmers[:] = [w for w in warmers if w.is_alive()] + [t]
        t.start()

    def stored(exp_id: int) -> None:  # an upload stored an experiment: prepare it before anyone opens it
        if not stopping.is_set():
            background(warm, [exp_id], name=f"qdlab-warm-{exp_id}")

    jobs = uploads.Jobs(db_url, upload_scheduler, on_stored=stored)

    def start_up() -> None:
        _warm_up()
        if stopping.is_set():
            return
        try:
            newest = [e["id"] for e in store().list_experiments()[:warm_experiments]] if warm_experiments else []
        except Exception:  # an unreachable or empty record: the pages say so themselves
            logging.getLogger("qdlab.web").exception("warm-up could not list the record (the server is unaffected)")
            newest = []
        warm(newest[::-1])  # the newest last: the most recently used in the caches
        state["warm"] = True

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        background(start_up, name="qdlab-warm-up")
        yield
        stopping.set()
        jobs.close()  # the upload worker process goes with the server
        for t in list(warmers):
            t.join(timeout=30)

    app = FastAPI(title="qdlab", version=__version__, description="Cd3P2 QD growth: record, sizing, digital twin",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=assets.static_dir()), name="static")
    app.add_middleware(security.Guard, token=token, max_body_bytes=max_upload_bytes)
    state: dict[str, Any] = {}
    # rendered downloads (figures, spectra JSON, report): the warm-up alone puts about 20 per experiment here
    cache = _LRU(256, max_bytes=CACHE_BYTES)
    records = _LRU(32)  # experiment_dict without the tags, by stamp (Store.experiment_stamp)
    derived = _LRU(128, max_bytes=CACHE_BYTES // 4)  # what each page computes from a record, by stamp and name
    plans = PlanJobs(_plan)
    runs = twinrun.TwinRuns()
    from qdlab.web import campaigns

    campaigns.register(app, _TEMPLATES, db_url)

    def store() -> Any:
        if "store" not in state:
            from qdlab.store import Store

            state["store"] = Store(db_url)
        return state["store"]

    def record(ident: str) -> dict[str, Any]:
        """The experiment as :meth:`~qdlab.store.Store.experiment_dict` gives it (404 if unknown).

        Read whole once per stamp (fingerprint, version, time of the last write) and kept; each request
        reads only the stamp and the tags (two small queries), so a re-run, an import or a tag change by
        any process is seen at once. The dict is shared between requests: callers must not change it.
        """
        try:
            stamp, tags = store().experiment_stamp(int(ident) if ident.isdigit() else ident)
            base = records.get(stamp, lambda: store().experiment_dict(stamp[0]))
        except InputError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return {**base, "tags": tags}

    def memo(rec: dict[str, Any], name: str, make: Any) -> Any:
        """``make()``, computed once per state of the experiment ``rec`` (its stamp) and ``name``."""
        return derived.get((rec["id"], rec["fingerprint"], rec["version"], rec["updated_at"], name), make)

    def figures_of(rec: dict[str, Any]) -> list[Any]:
        def make() -> list[Any]:
            from qdlab.report import figures as F

            cal = next((c for c in rec.get("calibrations") or [] if c.get("status") == "ok"), None)
            return F.collect(rec.get("summary") or {}, F.analyses_from_record(rec, store().arrays.get),
                             {"status": "ok", "result": cal.get("result") or {}} if cal else {})

        return memo(rec, "figures", make)

    def page_parts(rec: dict[str, Any]) -> dict[str, Any]:
        """What the experiment page shows of the record, computed once per state of it."""
        def make() -> dict[str, Any]:
            analyses = views.analyses(rec)
            return {
                "rows": views.aliquot_rows(rec), "analyses": analyses, "summ": rec.get("summary") or {},
                "figures": figures_of(rec), "reference": (rec.get("meta") or {}).get("reference") or {},
                "has": {k: any(m["kind"] == k and m.get("array_sha256") for m in rec["measurements"])
                        for k in ("pl", "absorbance")},
                "twin": views.twin_series(rec), "warnings_count": sum(len(a["warnings"]) for a in analyses),
            }

        return memo(rec, "page", make)

    def page_html(rec: dict[str, Any], request: Request | None) -> str:
        """The plain experiment page (no tag form message): the same HTML until the record or its tags change."""
        return memo(rec, f"page-html-{rec['tags']}", lambda: _TEMPLATES.get_template("experiment.html").render(
            {"request": request, "e": rec, **page_parts(rec), "tag_error": None, "typed_tags": ""}))

    def spectra_body(rec: dict[str, Any], kind: str) -> bytes:
        """Every aliquot's ``kind`` spectrum as JSON: read and encoded once per record version."""
        def make() -> bytes:
            from qdlab.data.types import dumps_json

            return dumps_json({"kind": kind, "spectra": views.spectra(rec, kind, store().arrays.get)}).encode()

        return cache.get((rec["fingerprint"], rec["id"], f"spectra-{kind}.json"), make)

    def figure_body(rec: dict[str, Any], filename: str) -> tuple[bytes, str]:
        """``(bytes, format)`` of a figure download ``{name}.{png,svg,pdf,csv}`` or ``{name}.preview.png``."""
        from qdlab.report import style as S

        name, _, fmt = filename.rpartition(".")
        preview = name.endswith(".preview") and fmt == "png"  # the page's own image: 110 dpi, same drawing
        name = name.removesuffix(".preview") if preview else name
        fig = next((f for f in figures_of(rec) if f.name == name), None)
        if fig is None or fmt not in (*fig.formats, "csv"):
            raise HTTPException(status_code=404, detail=f"no figure {filename!r} in experiment {rec['key']}; "
                                f"formats: png, svg, pdf (300 dpi PNG) and csv (the plotted data)")

        def make() -> bytes:
            with _MPL_LOCK:
                if preview:
                    return fig.render_preview()
                blobs, data = fig.render([] if fmt == "csv" else [fmt])
            if fmt == "csv":
                if data is None:
                    raise HTTPException(status_code=404, detail=f"figure {name} has no data table")
                return S.table_csv(data).encode()
            return blobs[fmt]

        return cache.get((rec["fingerprint"], rec["id"], filename), make), fmt

    def warm(exp_ids: list[int]) -> None:
        """Prepare what opening these experiments asks for, so that no visitor waits for a first read or render.

        For each: the record, its page, its PL and absorbance spectra, and every figure's page preview and
        300 dpi PNG (a first 300 dpi render takes 0.2-1.1 s alone, several seconds behind 20 clients; 9
        figures of the example experiment: about 5 s in all, in this background thread). Errors are logged:
        a visitor then gets the same answer, or error, as without warm-up.
        """
        log = logging.getLogger("qdlab.web")
        for exp_id in exp_ids:
            try:
                rec = record(str(exp_id))
                page_html(rec, None)
                memo(rec, f"api-json-{rec['tags']}", lambda rec=rec: _json_bytes(to_jsonable(rec)))
                for kind in ("pl", "absorbance"):
                    if page_parts(rec)["has"][kind]:
                        spectra_body(rec, kind)
                for f in figures_of(rec):
                    for filename in (f"{f.name}.preview.png", f"{f.name}.png"):
                        if stopping.is_set():  # the server is shutting down
                            return
                        with contextlib.suppress(HTTPException):
                            figure_body(rec, filename)
            except Exception:  # an optimisation: never let it take the server down
                log.exception("warm-up of experiment %s failed (the server is unaffected)", exp_id)

    @app.exception_handler(QdlabError)
    async def _user_error(request: Request, exc: QdlabError) -> Any:
        if request.url.path.startswith("/api"):
            return JSONResponse(status_code=400, content={"detail": str(exc), "field": getattr(exc, "field", None)})
        return _TEMPLATES.TemplateResponse(request, "error.html", {"status": 400, "message": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Any:
        """A bug, not a bad request: log the traceback, answer one line (never the traceback)."""
        logging.getLogger("qdlab.web").exception("%s %s failed", request.method, request.url.path)
        msg = f"internal error ({type(exc).__name__}); the server log has the details"
        if request.url.path.startswith("/api"):
            return JSONResponse(status_code=500, content={"detail": msg})
        return _TEMPLATES.TemplateResponse(request, "error.html", {"status": 500, "message": msg}, status_code=500)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Any:
        if request.url.path.startswith("/api") or request.url.path.startswith(("/vendor", "/static")):
            return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})
        return _TEMPLATES.TemplateResponse(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                                           status_code=exc.status_code)

    # ---------------------------------------------------------------- assets and docs (offline)
    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Any:
        try:
            path, mime = assets.vendor_file(name)
        except InputError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return FileResponse(path, media_type=mime, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="qdlab API",
                                   swagger_js_url="/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui.css",
                                   swagger_favicon_url="/vendor/swagger-favicon.png")

    # ---------------------------------------------------------------- JSON API
    @app.get("/api/health")
    async def health() -> dict[str, Any]:  # async: answered on the event loop, never queued for a thread
        """``status`` ok when serving; ``warm`` true once the start-up warm-up has prepared the newest experiments."""
        return {"status": "ok", "version": __version__, "warm": bool(state.get("warm"))}

    def listing(params: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], ExperimentQuery]:
        """Every experiment, and those the query ``params`` keeps in its order (InputError: a bad parameter)."""
        query = ExperimentQuery.from_params(params)
        rows = store().list_experiments()
        return rows, query.apply(rows), query

    @app.get("/api/experiments")
    def api_experiments(
        q: str = Query("", description="Text in the title, key, material, seed batch or tags"),
        material: str = Query("", description="Exactly this material, e.g. Cd3P2"),
        seed: str = Query("", description="Seed batch (part of its name) or seed PL peak in nm, e.g. 1010"),
        date_from: str = Query("", alias="from", description="Experiment date from (YYYY-MM-DD, included)"),
        date_to: str = Query("", alias="to", description="Experiment date to (YYYY-MM-DD, included)"),
        target: str = Query("", description="reached, missed, unmeasured or none"),
        tag: str = Query("", description="Experiments carrying this tag"),
        origin: str = Query("", description="measured or synthetic"),
        sort: str = Query("", description="experiment, material, seed, seed_nm, date, final_nm, target_nm, target, "
                                          "tags, aliquots, files, data or updated (default)"),
        order: str = Query("", description="asc or desc"),
    ) -> dict[str, Any]:
        """The experiments in the record, filtered and sorted like the list page (same query parameters)."""
        rows, kept, query = listing({"q": q, "material": material, "seed": seed, "from": date_from, "to": date_to,
                                     "target": target, "tag": tag, "origin": origin, "sort": sort, "order": order})
        return {"experiments": to_jsonable(kept), "total": len(rows), "query": query.params()}

    def change_tags(ident: str, add: list[str], remove: list[str]) -> dict[str, Any]:
        rec = record(ident)  # 404 for an unknown experiment
        out = store().set_tags(rec["id"], add=add, remove=remove)
        return {"id": out["id"], "key": out["key"], "tags": out["tags"], "added": out["added"],
                "removed": out["removed"], "not_tagged": out["unknown"]}

    @app.post("/api/experiments/{ident}/tags")
    def api_add_tags(ident: str, req: TagsRequest) -> dict[str, Any]:
        """Add tags to an experiment (``{"tags": ["good"]}``); the experiment's tags after it."""
        return change_tags(ident, req.tags, [])

    @app.delete("/api/experiments/{ident}/tags")
    def api_remove_tags(ident: str, tag: list[str] = Query([], description="Tag to remove (repeat)"),
                        req: TagsRequest | None = None) -> dict[str, Any]:
        """Remove tags (``?tag=bad``, or a body ``{"tags": [...]}``); removing a tag it has not changes nothing."""
        remove = [*tag, *(req.tags if req is not None else [])]
        if not remove:
            raise InputError("name the tags to remove: ?tag=bad or a body {\"tags\": [\"bad\"]}", field="tag")
        return change_tags(ident, [], remove)

    @app.get("/api/experiments/{ident}")
    def api_experiment(ident: str) -> Response:
        """Everything stored about one experiment (as ``qdlab db show --json``)."""
        rec = record(ident)  # encoded once per state of the record and its tags (175 kB for the example)
        body = memo(rec, f"api-json-{rec['tags']}", lambda: _json_bytes(to_jsonable(rec)))
        return Response(body, media_type="application/json")

    @app.get("/api/experiments/{ident}/spectra/{kind}")
    def api_spectra(ident: str, kind: str) -> Response:
        """Every aliquot's ``pl`` or ``absorbance`` spectrum on a wavelength axis (nm), as stored."""
        if kind not in ("pl", "absorbance"):
            raise HTTPException(status_code=404, detail=f"no spectra of kind {kind!r}; use pl or absorbance")
        return Response(spectra_body(record(ident), kind), media_type="application/json")

    @app.get("/api/experiments/{ident}/figures")
    def api_figures(ident: str) -> dict[str, Any]:
        """The experiment's report figures with the URL of each format."""
        rec = record(ident)
        base = f"/experiments/{rec['id']}/figures"
        return {"figures": [{"name": f.name, "section": f.section, "caption": f.caption,
                             "files": {fmt: f"{base}/{f.name}.{fmt}" for fmt in (*f.formats, "csv")}}
                            for f in figures_of(rec)]}

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
        """The built-in scenarios, and for each the value of every box of the ``/twin`` page (its defaults)."""
        from qdlab.twin import list_scenarios

        names = list_scenarios()
        return {"scenarios": names, "defaults": {n: twinrun.scenario_defaults(n) for n in names},
                "fields": {box: {"path": path, "label": label, "unit": unit, "plausible": list(rng)}
                           for box, (path, label, unit, _, rng) in twinrun.TWIN_FIELDS.items()}}

    @app.post("/api/twin/run")
    def api_twin_run(req: TwinRunRequest) -> dict[str, Any]:
        """Run a built-in scenario with dotted-path overrides: every aliquot, and (added keys) ``pl_spectra`` (the
        wavelength grid once, each aliquot's PL to 4 significant digits) and ``warnings`` (unusual values).

        A value the twin cannot use answers 400 with ``{"detail": "...", "field": "<dotted path>"}``.
        """
        return runs.run(req.scenario, req.overrides).payload

    # ---------------------------------------------------------------- pages
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Any:
        """The experiments, filtered and sorted by the query (the same parameters as ``/api/experiments``)."""
        names = ("q", "material", "seed", "from", "to", "target", "tag", "origin", "sort", "order")
        typed = {n: request.query_params.get(n, "") for n in names}
        error, status = None, 200
        try:
            rows, kept, query = listing(typed)
        except InputError as exc:  # the list unfiltered, the message above it, what was typed kept
            error, status = str(exc), 400
            rows = store().list_experiments()
            kept, query = rows, ExperimentQuery()
        ctx = {"experiments": kept, "total": len(rows), "db": store().display_url, "query": query, "typed": typed,
               "error": error, "list_columns": views.LIST_COLUMNS, "target_words": TARGET_WORDS,
               "tolerance_nm": target_tolerance_nm(),
               "materials": sorted({e["material"] for e in rows if e.get("material")}),
               "tags": sorted({t for e in rows for t in e.get("tags") or []}, key=str.lower)}
        return _TEMPLATES.TemplateResponse(request, "index.html", ctx, status_code=status)

    @app.get("/experiments/{ident}", response_class=HTMLResponse)
    def experiment(request: Request, ident: str) -> Any:
        return experiment_page(request, ident)

    @app.post("/experiments/{ident}/tags", response_class=HTMLResponse)
    def experiment_tags(request: Request, ident: str, add: str = Form(""), remove: str = Form("")) -> Any:
        """The tag form of the experiment page (same-origin POST, see :mod:`qdlab.web.security`): add the tags
        typed (several separated by blanks or commas) or remove one; back to the page, or the page with the
        refusal in words (400)."""
        rec = record(ident)
        if not add.strip() and not remove.strip():
            return experiment_page(request, ident, tag_error="Type a tag to add first.", status_code=400)
        try:
            store().set_tags(rec["id"], add=split_tags([add]), remove=split_tags([remove]))
        except InputError as exc:
            return experiment_page(request, ident, tag_error=str(exc), typed=add, status_code=400)
        return RedirectResponse(f"/experiments/{rec['id']}#tags", status_code=303)

    def experiment_page(request: Request, ident: str, tag_error: str | None = None, typed: str = "",
                        status_code: int = 200) -> Any:
        rec = record(ident)
        if tag_error is None and not typed and status_code == 200:
            return HTMLResponse(page_html(rec, request))
        ctx = {"e": rec, **page_parts(rec), "tag_error": tag_error, "typed_tags": typed}
        return _TEMPLATES.TemplateResponse(request, "experiment.html", ctx, status_code=status_code)

    @app.get("/experiments/{ident}/aliquots.csv")
    def aliquots_csv(ident: str) -> Response:
        rec = record(ident)
        return Response(memo(rec, "aliquots.csv", lambda: views.aliquots_csv(rec)), media_type="text/csv",
                        headers=_attachment(f"{rec['key']}-aliquots.csv"))

    @app.get("/experiments/{ident}/figures/{filename}")
    def figure_file(ident: str, filename: str) -> Response:
        from qdlab.report import style as S

        rec = record(ident)
        body, fmt = figure_body(rec, filename)
        return Response(body, media_type=S.mime_type(fmt), headers=_attachment(f"{rec['key']}-{filename}", inline=True))

    @app.get("/experiments/{ident}/files/{measurement_id}")
    def raw_file(ident: str, measurement_id: int) -> Any:
        rec = record(ident)
        m = next((m for m in rec["measurements"] if m["id"] == measurement_id), None)
        if m is None:
            raise HTTPException(status_code=404, detail=f"experiment {rec['key']} has no file #{measurement_id}")
        blobs = store().blobs
        folder = (m.get("meta") or {}).get("files")
        name = m["source_name"].replace("/", "_")
        if folder:  # an instrument folder (e.g. a Bruker acquisition): zipped
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel, digest in folder.items():
                    if blobs.path(digest).exists():
                        zf.write(blobs.path(digest), f"{m['source_name']}/{rel}")
            return Response(buf.getvalue(), media_type="application/zip", headers=_attachment(f"{name}.zip"))
        path = blobs.path(m["sha256"])
        if not path.exists():
            raise HTTPException(status_code=404, detail=f"the raw file {m['source_name']} is not in the blob store "
                                f"({path.parent}); run qdlab run on its folder again")
        return FileResponse(path, media_type="application/octet-stream", filename=Path(m["source_name"]).name)

    @app.get("/experiments/{ident}/export.eln")
    def eln(ident: str) -> Response:
        from qdlab.store.export import export_eln

        rec = record(ident)
        with tempfile.TemporaryDirectory() as d:
            path = export_eln(store(), rec["id"], Path(d) / f"{rec['key']}.eln")
            body = path.read_bytes()
        return Response(body, media_type="application/vnd.eln+zip", headers=_attachment(f"{rec['key']}.eln"))

    @app.get("/experiments/{ident}/report.html")
    def report(ident: str) -> Response:
        from qdlab.report.html import embed_figures, render_html

        rec = record(ident)

        def make() -> bytes:
            with _MPL_LOCK:
                entries = embed_figures(figures_of(rec))
            return render_html(views.report_summary(rec), entries).encode()

        body = cache.get((rec["fingerprint"], rec["id"], "report.html"), make)
        return Response(body, media_type="text/html", headers=_attachment(f"{rec['key']}-report.html", inline=True))

    @app.get("/api/plan")
    def api_plan(
        target_nm: float = Query(..., gt=0, description="Wanted final PL peak (nm)"),
        seed_nm: float = Query(1010.0, gt=0, description="PL peak of the seed QDs (nm)"),
        seed_mg: float = Query(20.0, gt=0, description="Seed QD amount (mg, with ligands)"),
        max_fwhm_mev: float | None = Query(None, gt=0, description="Reject recipes predicted broader (meV)"),
    ) -> dict[str, Any]:
        """Target -> recipe on the twin (as ``qdlab plan``), with the prediction and its uncertainty."""
        return to_jsonable(plans.get((seed_nm, target_nm, seed_mg, max_fwhm_mev)).future.result().to_dict())

    @app.get("/plan", response_class=HTMLResponse)
    def plan_page(request: Request, seed_nm: str = "1010", target_nm: str = "", seed_mg: str = "20",
                  max_fwhm_mev: str = "") -> Any:
        typed = {"seed_nm": seed_nm, "target_nm": target_nm, "seed_mg": seed_mg, "max_fwhm_mev": max_fwhm_mev}
        ctx: dict[str, Any] = {"form": forms.kept(typed), "checked": forms.Checked(), "plan": None}
        if target_nm.strip():
            checked = forms.plan_form(typed)
            ctx["checked"] = checked
            if checked.ok:
                v = checked.values
                job = plans.get((v["seed_nm"], v["target_nm"], v.get("seed_mg", 20.0), v.get("max_fwhm_mev")))
                try:
                    # a quick answer (a refusal, a kept plan) is shown at once; else the page refreshes itself
                    ctx["plan"] = job.future.result(timeout=1.0).to_dict()
                except FutureTimeout:
                    ctx["planning_s"] = job.elapsed_s
                except QdlabError as exc:
                    checked.errors["form"] = forms.in_words(str(exc))
        return _TEMPLATES.TemplateResponse(request, "plan.html", ctx)

    # ---------------------------------------------------------------- upload (a zipped experiment folder)
    def _accept(upload: UploadFile) -> uploads.Job:
        name = Path(upload.filename or "upload.zip").name
        if not name.lower().endswith(".zip"):
            raise InputError(f"{name}: upload the experiment folder as a .zip file (right-click the folder, "
                             "compress)", field="file")
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".zip", dir=jobs.work)  # never the client's name
        size = 0
        with open(fd, "wb") as out:
            while chunk := upload.file.read(1 << 20):
                size += len(chunk)
                if size > max_upload_bytes:
                    out.close()
                    Path(tmp).unlink(missing_ok=True)
                    raise HTTPException(status_code=413, detail=f"{name}: over {max_upload_bytes // 1024**2} MB")
                out.write(chunk)
        return jobs.start(name, Path(tmp))

    @app.post("/api/uploads", status_code=202)
    def api_upload(file: UploadFile = File(..., description="The experiment folder as a .zip")) -> dict[str, Any]:
        """Start ingesting a zipped experiment folder like ``qdlab run``; poll ``/api/uploads/{job}``."""
        return _accept(file).to_dict()

    @app.get("/api/uploads/{job_id}")
    def api_upload_status(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no upload {job_id!r} (uploads are forgotten on restart)")
        return job.to_dict()

    @app.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request) -> Any:
        return _TEMPLATES.TemplateResponse(request, "upload.html", {"job": None, "error": None})

    @app.post("/upload", response_class=HTMLResponse)
    def upload_form(request: Request, file: UploadFile | None = File(None)) -> Any:
        if file is None or not file.filename:
            return _TEMPLATES.TemplateResponse(request, "upload.html", {
                "job": None, "error": "Choose the zipped experiment folder first."}, status_code=400)
        try:
            job = _accept(file)
        except QdlabError as exc:
            return _TEMPLATES.TemplateResponse(request, "upload.html", {"job": None, "error": str(exc)},
                                               status_code=400)
        return RedirectResponse(f"/upload/{job.id}", status_code=303)

    @app.get("/upload/{job_id}", response_class=HTMLResponse)
    def upload_status(request: Request, job_id: str) -> Any:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no upload {job_id!r} (uploads are forgotten on restart)")
        return _TEMPLATES.TemplateResponse(request, "upload.html", {"job": job.to_dict(), "error": None})

    @app.get("/size", response_class=HTMLResponse)
    def size_page(
        request: Request, material: str = "Cd3P2", wavelength_nm: str = "", diameter_nm: str = "", mass_da: str = ""
    ) -> Any:
        from qdlab.materials import list_materials
        from qdlab.materials.convert import size_info

        typed = {"wavelength_nm": wavelength_nm, "diameter_nm": diameter_nm, "mass_da": mass_da}
        checked = forms.size_form(typed)
        info = None
        if checked.ok and checked.values:
            try:
                info = size_info(material, **checked.values)
            except QdlabError as exc:
                checked.errors["form"] = forms.in_words(str(exc))
        return _TEMPLATES.TemplateResponse(
            request, "size.html",
            {"info": info, "materials": list_materials(), "material": material, "form": forms.kept(typed),
             "checked": checked},
        )  # a form with mistakes is a normal page (200) showing them beside the boxes; the API answers 400

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request, a: str = "", b: str = "", scenario: str = "", calibrated: str = "") -> Any:
        """Overlay the aliquots of one or two experiments, and a twin run against experiment a's series."""
        from qdlab.twin import list_scenarios
        from qdlab.web import compare

        exps = store().list_experiments()
        ctx: dict[str, Any] = {"experiments": exps, "scenarios": list_scenarios(), "a": a, "b": b,
                               "scenario": scenario, "calibrated": bool(calibrated), "series": [], "twin": None,
                               "residuals": None, "errors": {}, "notes": []}
        for which, ident in (("a", a), ("b", b)):
            if not ident:
                continue
            try:
                rec = store().experiment_dict(int(ident) if ident.isdigit() else ident)
            except InputError:
                ctx["errors"][which] = f"There is no experiment “{ident}” in this record; pick one from the list."
                continue
            ctx["series"].append({**compare.measured_series(rec, store().arrays.get), "which": which, "record": rec})
        if scenario:
            if scenario not in ctx["scenarios"]:
                ctx["errors"]["scenario"] = f"There is no scenario called “{scenario}”; pick one from the list."
            else:
                overrides: dict[str, Any] = {}
                first = ctx["series"][0] if ctx["series"] else None
                if calibrated and first is not None:
                    cal = compare.calibrated_overrides(first["record"], scenario)
                    if cal is None:
                        ctx["notes"].append(f"experiment {first['key']} has no twin calibration of {scenario}: "
                                            "the scenario runs with its own parameters")
                    else:
                        overrides = cal
                        ctx["notes"].append(f"twin run with the parameters fitted to experiment {first['key']}")
                ctx["twin"] = compare.twin_series(runs.run(scenario, overrides).result)
                if first is not None:
                    ctx["residuals"] = compare.residuals(first["rows"], ctx["twin"])
        for s in ctx["series"]:
            s.pop("record")
        return _TEMPLATES.TemplateResponse(request, "compare.html", ctx)

    @app.get("/twin", response_class=HTMLResponse)
    def twin_page(request: Request, scenario: str = "", confirm: str = "") -> Any:
        """A built-in scenario with the boxes' values (empty: the scenario's own); the same form live with JS.

        Query parameters: ``scenario``, the boxes of :data:`qdlab.web.twinrun.TWIN_FIELDS` (``rate_ml_per_h``,
        ``feed_volume_ml``, ``temperature_c``, ``duration_min``, ``etch_factor``, ``reactivity_factor``),
        ``more`` (``dotted.path = value`` lines) and ``confirm`` (run unusual values anyway).
        """
        from qdlab.twin import list_scenarios

        names = list_scenarios()
        typed = {box: request.query_params.get(box, "") for box in (*twinrun.TWIN_FIELDS, "more")}
        ctx: dict[str, Any] = {
            "scenarios": names, "scenario": scenario, "form": typed, "fields": twinrun.TWIN_FIELDS,
            "defaults": {n: twinrun.scenario_defaults(n) for n in names}, "errors": {}, "warnings": [],
            "result": None, "payload": None, "window": None, "confirm": bool(confirm), "warnings_by_path": {},
        }
        if not scenario:
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        if scenario not in names:
            ctx["errors"]["scenario"] = f"There is no scenario called “{scenario}”; pick one from the list."
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        overrides, ctx["errors"] = twinrun.form_overrides(typed)
        if ctx["errors"]:
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        try:
            scen = twinrun.checked_scenario(scenario, overrides)
        except InputError as exc:
            box = twinrun.PATH_TO_BOX.get(exc.field or "") or ("more" if exc.field in overrides else "form")
            ctx["errors"][box] = _without_field(str(exc), exc.field if box != "more" else None)
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        ctx["warnings"] = twinrun.plausibility(twinrun.overrides_as_numbers(overrides), scen.protocol.duration_min,
                                               ctx["defaults"][scenario]["rate_ml_per_h"])
        ctx["warnings_by_path"] = {w["field"]: w["message"] for w in ctx["warnings"]}
        if ctx["warnings"] and not confirm:  # an implausible value runs only when the user says so
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        try:
            run = runs.run(scenario, overrides)
        except InputError as exc:
            ctx["errors"]["form"] = str(exc)
            return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)
        ctx["result"], ctx["payload"] = run.payload, run.payload
        with _MPL_LOCK:
            ctx["figure"] = _pl_figure(run.result, scenario)
        ctx["window"] = run.result.scenario.observation.pl_window_nm
        return _TEMPLATES.TemplateResponse(request, "twin.html", ctx)

    return app


def _json_bytes(data: Any) -> bytes:
    """``data`` (already JSON-able) encoded as FastAPI's JSONResponse does."""
    import json

    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _attachment(filename: str, inline: bool = False) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return {"Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{safe}"'}


def _float(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(f"expected a number, got {text!r}", field=field) from exc
    if not value > 0 or value == float("inf"):
        raise InputError(f"must be a positive number, got {text!r}", field=field)
    return value


def _plan(seed_nm: float, target_nm: float, seed_mg: float, max_fwhm_mev: float | None) -> Any:
    from qdlab.plan import plan_recipe
    from qdlab.plan.twin_model import TwinModel

    model = TwinModel(seed_nm=seed_nm, seed_mg=seed_mg, material="Cd3P2")
    # threads, as `qdlab plan`: the twin's kernel releases the GIL, so the page answers ~1.4x sooner and the
    # server's other requests still get the interpreter between kernel runs
    return plan_recipe(model, target_nm, max_fwhm_mev=max_fwhm_mev, scheduler="threads")


def _without_field(message: str, field: str | None) -> str:
    """An error message shown beside its box: without the leading ``dotted.path: `` the box already says."""
    return message.removeprefix(f"{field}: ") if field else message


__all__ = ["create_app", "TwinRunRequest", "TagsRequest"]
