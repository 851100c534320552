"""Campaign pages: the list, one campaign's history, and ask / tell (a measured result or a failure).

The same :class:`qdlab.plan.campaign.Campaign` as ``qdlab campaign new|ask|tell|status``, on the campaign
database that goes with the server's record (:func:`qdlab.plan.campaign.storage_url`). Every write is a
same-origin POST (the security middleware) answered by a redirect back to the page (no double submit on
reload); what the planner refuses is shown in words beside the form, with the typed values kept.

Creating a campaign with the ``twin`` strategy plans its first recipe on the twin (a few seconds). Like ``/plan``
(:mod:`qdlab.web.plans`) that runs in one background worker (:class:`CreationJobs`): the POST checks the form,
queues the creation and redirects at once to ``/campaigns/{name}``, which shows "Creating ... (N s so far)"
and refreshes itself (a meta refresh: no JavaScript needed) until the campaign is there; a refusal that
comes later (a target the seeds cannot reach) is kept and shown there with the typed form to try again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from qdlab.data.errors import InputError, QdlabError
from qdlab.web.plans import PlanJob

#: how long the POST and the page wait for a creation before answering "being created" (s)
QUICK_S = 1.0


@dataclass(frozen=True)
class CreationJob(PlanJob):
    """One creation: its future, when it was asked for and the form as typed (to show again on a refusal)."""

    typed: dict[str, str] = field(default_factory=dict)


class CreationJobs:
    """Campaign creations run one at a time in a background worker, by campaign name.

    Examples
    --------
    >>> jobs = CreationJobs()
    >>> job = jobs.start("c1", lambda: 42, {"name": "c1"})
    >>> job.future.result(timeout=5), jobs.get("c1").typed
    (42, {'name': 'c1'})
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdlab-campaign")
        self._jobs: dict[str, CreationJob] = {}
        self._lock = threading.Lock()

    def start(self, name: str, create: Callable[[], Any], typed: dict[str, str]) -> CreationJob:
        """Queue ``create()`` for campaign ``name``; InputError if that name is being created already."""
        with self._lock:
            old = self._jobs.get(name)
            if old is not None and not old.future.done():
                raise InputError(f"campaign name: a campaign named {name!r} is being created; wait for it or "
                                 "choose another name")
            job = CreationJob(self._pool.submit(create), time.monotonic(), typed)
            self._jobs[name] = job
            return job

    def get(self, name: str) -> CreationJob | None:
        """The latest creation of ``name`` (``None``: none since the server started)."""
        with self._lock:
            return self._jobs.get(name)

    def creating(self) -> set[str]:
        """Names whose creation has not finished."""
        with self._lock:
            return {n for n, j in self._jobs.items() if not j.future.done()}




def _number(raw: str, label: str, *, required: bool = False) -> float | None:
    text = (raw or "").strip().replace(",", ".")
    if not text:
        if required:
            raise InputError(f"{label}: enter a number")
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{label}: “{text}” is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise InputError(f"{label}: must be more than 0, you typed {text}")
    return value


def register(app: FastAPI, templates: Any, db_url: str | None) -> None:
    """Add ``/campaigns`` and ``/campaigns/{name}`` (GET) and the new/ask/tell POSTs to ``app``."""
    from qdlab.plan.campaign import Campaign, CampaignSpec, list_campaigns

    jobs = CreationJobs()

    def quiet() -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def load(name: str) -> Any:
        quiet()
        if name not in {c["name"] for c in list_campaigns(db_url)}:
            raise HTTPException(status_code=404, detail=f"no campaign named {name!r}")
        return Campaign.load(name, db=db_url)

    def page(request: Request, name: str, error: str | None = None, form: dict[str, str] | None = None,
             asked: list[dict[str, Any]] | None = None) -> Any:
        camp = load(name)
        ctx = {"st": camp.status(), "name": name, "error": error, "form": form or {}, "asked": asked or []}
        return templates.TemplateResponse(request, "campaign.html", ctx)

    @app.get("/campaigns", response_class=HTMLResponse)
    def campaigns_page(request: Request, error: str = "") -> Any:
        quiet()
        return templates.TemplateResponse(request, "campaigns.html", {
            "campaigns": list_campaigns(db_url), "error": error or None, "form": {}, "creating": jobs.creating()})

    @app.post("/campaigns", response_class=HTMLResponse)
    def campaign_new(request: Request, name: str = Form(""), target_nm: str = Form(""), seed_nm: str = Form("1010"),
                     seed_mg: str = Form("20"), strategy: str = Form("twin")) -> Any:
        typed = {"name": name, "target_nm": target_nm, "seed_nm": seed_nm, "seed_mg": seed_mg, "strategy": strategy}
        quiet()
        try:
            if not name.strip() or len(name) > 80 or not all(c.isalnum() or c in "-_." for c in name.strip()):
                raise InputError("campaign name: letters, digits, - _ . (up to 80 characters)")
            spec = CampaignSpec(name=name.strip(), target_nm=_number(target_nm, "target PL peak (nm)", required=True),
                                seed_nm=_number(seed_nm, "seed PL peak (nm)", required=True),
                                seed_mg=_number(seed_mg, "seed amount (mg)", required=True), strategy=strategy)
            if spec.name in {c["name"] for c in list_campaigns(db_url)}:
                raise InputError(f"campaign name: a campaign named {spec.name!r} already exists; choose another name")
            job = jobs.start(spec.name, lambda: Campaign.create(spec, db=db_url), typed)
            job.future.result(timeout=QUICK_S)  # a quick refusal or a quick strategy is answered here
        except FutureTimeout:
            pass  # still planning on the twin: the campaign's page says so and refreshes itself
        except QdlabError as exc:
            return templates.TemplateResponse(request, "campaigns.html", {
                "campaigns": list_campaigns(db_url), "error": str(exc), "form": typed, "creating": jobs.creating()})
        return RedirectResponse(f"/campaigns/{quote(spec.name)}", status_code=303)

    @app.get("/campaigns/{name}", response_class=HTMLResponse)
    def campaign_page(request: Request, name: str) -> Any:
        """The campaign; while it is being created "Creating ... (N s so far)", refreshing itself; a refusal of
        its creation with the form as typed."""
        job = jobs.get(name)
        if job is not None:
            try:
                job.future.result(timeout=QUICK_S)
            except FutureTimeout:
                return templates.TemplateResponse(request, "campaign_pending.html", {
                    "name": name, "elapsed_s": job.elapsed_s, "typed": job.typed})
            except QdlabError as exc:
                if name not in {c["name"] for c in list_campaigns(db_url)}:
                    return templates.TemplateResponse(request, "campaigns.html", {
                        "campaigns": list_campaigns(db_url), "error": f"Campaign {name} was not created: {exc}",
                        "form": job.typed, "creating": jobs.creating()}, status_code=400)
            except Exception as exc:  # a bug: logged, answered in one line with the form kept
                import logging

                logging.getLogger("qdlab.web").error("creating campaign %s failed", name, exc_info=exc)
                if name not in {c["name"] for c in list_campaigns(db_url)}:
                    return templates.TemplateResponse(request, "campaigns.html", {
                        "campaigns": list_campaigns(db_url), "form": job.typed, "creating": jobs.creating(),
                        "error": f"Campaign {name} was not created: internal error ({type(exc).__name__}); "
                                 "the server log has the details"}, status_code=500)
        return page(request, name)

    @app.post("/campaigns/{name}/ask", response_class=HTMLResponse)
    def campaign_ask(request: Request, name: str, n: str = Form("1")) -> Any:
        camp = load(name)
        try:
            count = int(_number(n, "number of experiments", required=True) or 1)
            sugg = camp.ask(count, scheduler="threads")  # as `qdlab campaign ask`
        except QdlabError as exc:
            return page(request, name, error=str(exc))
        return page(request, name, asked=[s.to_dict() for s in sugg])

    @app.post("/campaigns/{name}/tell", response_class=HTMLResponse)
    def campaign_tell(request: Request, name: str, trial: str = Form(""), pl_peak_nm: str = Form(""),
                      fwhm_mev: str = Form(""), bimodal: str = Form(""), failed: str = Form(""),
                      note: str = Form("")) -> Any:
        from qdlab.plan.objective import Outcome

        typed = {"trial": trial, "pl_peak_nm": pl_peak_nm, "fwhm_mev": fwhm_mev, "failed": failed, "note": note}
        camp = load(name)
        try:
            text = trial.strip()
            if not text.isdigit():
                raise InputError(f"trial: the trial number from 'ask' (0, 1, ...), not “{text}”")
            if failed:
                if pl_peak_nm.strip() or fwhm_mev.strip():
                    raise InputError("a failed experiment has no measured values: leave the PL boxes empty")
                camp.tell_failure(int(text), failed, note.strip() or None)
            else:
                peak = _number(pl_peak_nm, "measured PL peak (nm)", required=True)
                camp.tell(int(text), Outcome(pl_peak_nm=peak, fwhm_mev=_number(fwhm_mev, "FWHM (meV)"),
                                             bimodal=bool(bimodal)))
        except QdlabError as exc:
            return page(request, name, error=str(exc), form=typed)
        return RedirectResponse(f"/campaigns/{quote(name)}", status_code=303)


__all__ = ["register"]
