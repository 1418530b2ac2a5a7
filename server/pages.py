"""The web pages: server-rendered Jinja2 templates (``web/templates``), their small JSON helpers under
``/pages-api``, the static assets and plotly.js from the installed plotly package, and the security headers.

Pages hold no inline script: data reaches the page's JS modules through one escaped
``<script type="application/json" id="page-data">`` block, and a Content-Security-Policy forbids anything else.
Every route calls the engine (through ``server.views``) and shapes the answer; nothing is computed here.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.zones import Filters as ZoneFilterQuery
from server.deps import Answers, DbUrl
from server.query_json import JsonQuery, json_object
from server.schemas import Name
from server.services.zone_answers import ZoneFilters
from server.views.compare import PRESETS, compare_task, parse_selection
from server.views.filters import filter_view
from server.views.home import home_view
from server.views.jobs import job_live, job_public
from server.views.snippets import run_length_call
from server.views.zone import point_details, running_jobs, zone_bundle
from web import STATIC_DIR, TEMPLATES_DIR, asset_version, plotly_js
from zone_explorer.contrib import (
    CSV_COLUMNS,
    describe_optimizer,
    describe_task,
    list_contributions,
    list_optimizers,
    list_tasks,
)
from zone_explorer.core.errors import NotFound
from zone_explorer.core.limits import INT32_MAX
from zone_explorer.core.profiles import get_profile
from zone_explorer.engine.external_trials import logged_trials
from zone_explorer.engine.job_zones import ZoneRequestError
from zone_explorer.engine.jobs import get_job, list_jobs
from zone_explorer.tasks import task_names

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeadersMiddleware", "install_pages", "pages_api", "pages_router"]

#: no inline script and no eval anywhere; styles may be set inline (plotly.js styles its SVG that way)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: on every answer, the API's included: never guess a content type, never be framed, send no referrer off-site
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(
    asset=lambda path: f"/static/{path}?v={asset_version()}",
    plotly_src=lambda: f"/vendor/plotly.min.js?v={asset_version()}",
    q=lambda text: quote(str(text), safe=""),
)

pages_router = APIRouter(include_in_schema=False)
pages_api = APIRouter(prefix="/pages-api", include_in_schema=False)

TaskName = Annotated[Name, Path()]
OptimizerName = Annotated[Name, Path()]
TopQ = Annotated[float | None, Query(gt=0, le=1, allow_inf_nan=False)]
Delta = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]
Axis = Annotated[Name | None, Query(max_length=100)]
#: ``<job id>/<trial number>`` or ``contribution/<id>``; the trial number is bounded here (9 digits), before the
#: database compares it with a 32-bit column
PointId = Annotated[
    str, Path(max_length=140, pattern=r"^(contribution/[A-Za-z0-9_-]{1,64}|[A-Za-z0-9_-]{1,64}/[0-9]{1,9})$")
]
#: the compare page's selection: comma-separated optimizer names or job ids (prefixes)
Selection = Annotated[str, Query(max_length=2000)]
#: the zone page's filters as given (its JSON request validates them: a bad one shows as the page's error)
PageFilter = Annotated[str | None, Query(max_length=100)]


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every answer, and the CSP to those outside ``/api/`` (the API's own docs
    page loads Swagger UI, whose page has an inline script)."""

    def __init__(self, app: ASGIApp, csp_skip_prefixes: tuple[str, ...] = ("/api/",)) -> None:
        self.app = app
        self.csp_skip_prefixes = csp_skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = dict(SECURITY_HEADERS)
        if not scope["path"].startswith(self.csp_skip_prefixes):
            added["content-security-policy"] = CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in added.items():
                    if key not in headers:
                        headers[key] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: where the page-data routes' own OpenAPI document is served (they stay out of the public API's docs)
PAGES_OPENAPI_URL = "/pages-api/openapi.json"


@functools.cache
def page_data_openapi() -> dict[str, Any]:
    """An OpenAPI document of the JSON routes the pages call (``/pages-api/...``): not part of the public API, so
    left out of its docs, yet described, so that clients and property tests (schemathesis) can exercise them."""
    routes = []
    for route in pages_api.routes:
        if isinstance(route, APIRoute):
            described = copy.copy(route)  # the router's routes are hidden from the API's schema; a copy is not
            described.include_in_schema = True
            routes.append(described)
    return get_openapi(
        title="Zone Explorer page data",
        version="0.1.0",
        description="The JSON the pages read; not a stable API (use /api/v1 for that).",
        routes=routes,
    )


def install_pages(app: FastAPI) -> None:
    """Mount the pages on an app (``create_app`` calls this)."""
    app.include_router(pages_router)
    app.include_router(pages_api)
    app.add_api_route(PAGES_OPENAPI_URL, page_data_openapi, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(SecurityHeadersMiddleware)


# ---- helpers ---------------------------------------------------------------------------------------------------------
def render(
    request: Request,
    template: str,
    *,
    page: str,
    title: str,
    data: dict[str, Any] | None = None,
    status: int = 200,
    plots: bool = True,
    self_ready: bool = True,
    **context: Any,
) -> HTMLResponse:
    """A page: ``data`` reaches its JS as the escaped JSON block ``#page-data``; ``plots`` loads plotly.js;
    ``self_ready``: the page's own script marks ``<body data-ready>`` once it is interactive (else at once)."""
    context = {
        "page": page,
        "title": title,
        "page_data": data or {},
        "plots": plots,
        "self_ready": self_ready,
        **context,
    }
    return templates.TemplateResponse(request, template, context, status_code=status)


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(
        request,
        "not_found.html",
        page="error",
        title="Not found",
        status=404,
        plots=False,
        self_ready=False,
        message=message,
    )


def _catalog(url: str) -> dict[str, Any]:
    return {"tasks": list_tasks(url), "optimizers": list_optimizers()}


# ---- pages -----------------------------------------------------------------------------------------------------------
@pages_router.get("/", response_class=HTMLResponse)
def home(request: Request, url: DbUrl) -> HTMLResponse:
    return render(
        request,
        "home.html",
        page="home",
        title="Optimal zones of momentum optimizers",
        plots=False,
        view=home_view(url),
    )


@pages_router.get("/zones/{task}/{optimizer}", response_class=HTMLResponse)
def zone_page(
    request: Request,
    task: TaskName,
    optimizer: OptimizerName,
    url: DbUrl,
    x: Axis = None,
    y: Axis = None,
    top_q: TopQ = None,
    delta: Delta = None,
    budget: PageFilter = None,
    job: PageFilter = None,
    origin: PageFilter = None,
    include_disputed: bool = False,
) -> HTMLResponse:
    try:
        task_info = describe_task(url, task)
        opt_info = describe_optimizer(optimizer)
    except NotFound as err:
        return not_found(request, err.message)
    base = f"{quote(task, safe='')}/{quote(optimizer, safe='')}"
    data = {
        "task": task_info,
        "optimizer": opt_info,
        "initial": {"x": x, "y": y, "top_q": top_q, "delta": delta},
        "filters": {"budget": budget, "job": job, "origin": origin, "include_disputed": include_disputed},
        "api": {"zone": f"/pages-api/zones/{base}", "point": f"/pages-api/zones/{base}/points/"},
    }
    # the copy-call calculator, for an optimizer whose call depends on the run length
    run_length_params = list(get_profile(opt_info["name"]).run_length_params)
    if run_length_params:
        data["calls"] = {
            "api": f"/pages-api/calls/{quote(optimizer, safe='')}",
            "defaults": {
                "steps_per_epoch": task_info.get("steps_per_epoch"),
                "epochs": task_info.get("default_epochs"),
            },
        }
    return render(
        request,
        "zone.html",
        page="zone",
        title=f"{optimizer} on {task}",
        data=data,
        task=task_info,
        optimizer=opt_info,
        run_length_params=run_length_params,
    )


@pages_router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, url: DbUrl, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    jobs, total = list_jobs(url, limit=50, offset=offset)
    return render(
        request,
        "jobs.html",
        page="jobs",
        title="Jobs",
        plots=False,
        self_ready=False,
        jobs=[job_public(j) for j in jobs],
        total=total,
        offset=offset,
        limit=50,
    )


@pages_router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: Annotated[str, Path(max_length=64)], url: DbUrl) -> HTMLResponse:
    job = get_job(url, job_id) if job_id.replace("-", "").replace("_", "").isalnum() else None
    if job is None:
        return not_found(request, f"There is no job {job_id!r}.")
    data = {
        "job": job_public(job),
        "api": {"live": f"/pages-api/jobs/{job.id}/live", "cancel": f"/api/v1/jobs/{job.id}/cancel"},
    }
    logs = [(n, f"/api/v1/jobs/{job.id}/trials/{n}/log") for n in logged_trials(url, job.id)]
    return render(request, "job.html", page="job", title=f"Job {job.id}", data=data, job=job_public(job), logs=logs)


@pages_router.get("/contributions", response_class=HTMLResponse)
def contributions_page(
    request: Request, url: DbUrl, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> HTMLResponse:
    items, total = list_contributions(url, status=None, limit=50, offset=offset)
    return render(
        request,
        "contributions.html",
        page="contributions",
        title="Contributions",
        plots=False,
        self_ready=False,
        items=items,
        total=total,
        offset=offset,
        limit=50,
        rerunnable=set(task_names()),  # only a registered task can be rerun: verify is offered for those alone
    )


@pages_router.get("/compare", response_class=HTMLResponse)
def compare_index(request: Request, url: DbUrl) -> Response:
    for task in list_tasks(url):
        if list_jobs(url, task=task["name"], limit=1)[1]:
            return RedirectResponse(f"/compare/{quote(task['name'], safe='')}", status_code=307)
    return render(
        request, "compare.html", page="compare", title="Compare optimizers", plots=False, self_ready=False, task=None
    )


@pages_router.get("/compare/{task}", response_class=HTMLResponse)
def compare_page(
    request: Request, task: TaskName, url: DbUrl, optimizers: Selection = "", jobs: Selection = ""
) -> HTMLResponse:
    """One task across optimizers; ``optimizers`` (names) or ``jobs`` (ids) narrows it to a selection, which the
    page's JSON request checks (a bad one shows as the page's error)."""
    try:
        info = describe_task(url, task)
    except NotFound as err:
        return not_found(request, err.message)
    path = quote(task, safe="")
    selection = {k: v for k, v in (("optimizers", optimizers), ("jobs", jobs)) if v}
    presets = [
        {**p, "key": key, "href": f"/compare/{path}?optimizers={quote(','.join(p['optimizers']), safe=',')}"}
        for key, p in PRESETS.items()
    ]
    data = {
        "task": info,
        "tasks": list_tasks(url),
        "selection": selection,
        "api": {"compare": f"/pages-api/compare/{path}" + (f"?{urlencode(selection)}" if selection else "")},
    }
    return render(
        request,
        "compare.html",
        page="compare",
        title=f"Compare optimizers on {task}",
        task=info,
        data=data,
        presets=presets,
        selection=selection,
    )


@pages_router.get("/filters", response_class=HTMLResponse)
def filters_page(request: Request, url: DbUrl) -> HTMLResponse:
    return render(request, "filters.html", page="filters", title="Filter response", data=_catalog(url))


@pages_router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request, url: DbUrl) -> HTMLResponse:
    return render(request, "submit.html", page="submit", title="Submit a job", plots=False, data=_catalog(url))


@pages_router.get("/contribute", response_class=HTMLResponse)
def contribute_page(request: Request, url: DbUrl) -> HTMLResponse:
    return render(
        request,
        "contribute.html",
        page="contribute",
        title="Contribute results",
        plots=False,
        data=_catalog(url),
        csv_columns=CSV_COLUMNS,
    )


@pages_router.get("/vendor/plotly.min.js")
async def plotly_min_js() -> Response:
    """plotly.js from the installed plotly package, with V8's compile hint (versioned URL: cached for long)."""
    return Response(
        plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )


# ---- JSON for the pages ----------------------------------------------------------------------------------------------
def _too_few(err: ZoneRequestError) -> bool:
    """The engine's answer for a task and optimizer with fewer than two results: an empty state, not an error."""
    return err.field == "task"


@pages_api.get("/zones/{task}/{optimizer}")
def zone_json(
    task: TaskName,
    optimizer: OptimizerName,
    answers: Answers,
    filters: ZoneFilterQuery,
    x: Axis = None,
    y: Axis = None,
    top_q: TopQ = None,
    delta: Delta = None,
) -> Response:
    """The API's zone view plus the Python constructor call of each best configuration; ``{"empty": ...}``
    (200) while there are fewer than two results, so that a page's empty state logs no failed request (with
    filters that leave fewer than two, the API's 422: the page keeps its controls to change them)."""
    try:
        body, version = zone_bundle(answers, task, optimizer, x=x, y=y, top_q=top_q, delta=delta, filters=filters)
    except ZoneRequestError as err:
        if not _too_few(err) or filters != ZoneFilters():
            raise
        # a queued job will fill the zone: the page polls while one is queued or running
        return JSONResponse(
            {"empty": True, "detail": err.message, "running_jobs": running_jobs(answers.url, task, optimizer)}
        )
    return Response(body, media_type="application/json", headers={"X-Data-Version": version})


@pages_api.get("/zones/{task}/{optimizer}/summary")
def zone_summary_json(task: TaskName, optimizer: OptimizerName, answers: Answers, filters: ZoneFilterQuery) -> Response:
    """The API's zone summary (for the home grid), or ``{"empty": ...}`` (200) below two results."""
    try:
        result = answers.summary(task, optimizer, filters=filters)
    except ZoneRequestError as err:
        if not _too_few(err):
            raise
        return JSONResponse({"empty": True, "detail": err.message})
    return Response(result.json_bytes, media_type="application/json")


@pages_api.get("/zones/{task}/{optimizer}/points/{point_id:path}")
def zone_point(task: TaskName, optimizer: OptimizerName, point_id: PointId, url: DbUrl) -> dict[str, Any]:
    """Configuration, metric, seeds and source of one point of the zone map."""
    return point_details(url, task, optimizer, point_id)


@pages_api.get("/jobs/{job_id}/live")
def job_live_json(
    job_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    url: DbUrl,
    zone_for: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
) -> dict[str, Any]:
    """Progress, history, curves and (when trials finished since ``zone_for``) the job's zone map."""
    return job_live(url, job_id, zone_for=zone_for)


@pages_api.get("/filters/{optimizer}")
def filter_json(
    optimizer: OptimizerName,
    config: JsonQuery = "{}",
    task: Annotated[Name | None, Query()] = None,
    epochs: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> dict[str, Any]:
    """|H(e^jw)| of the optimizer's momentum filter for ``config`` (JSON), stage by stage for FSGDM."""
    return filter_view(optimizer, json_object(config, "config"), task=task, epochs=epochs)


@pages_api.get("/calls/{optimizer}")
def call_json(
    optimizer: OptimizerName,
    config: JsonQuery = "{}",
    steps_per_epoch: Annotated[str, Query(max_length=40)] = "",
    epochs: Annotated[str, Query(max_length=40)] = "",
) -> dict[str, Any]:
    """The zone page's copy-call calculator: ``config``'s (JSON) constructor call with the run-length
    hyperparameters (FSGDM's sigma and n_stages, AutoSGM's window) of ``epochs`` epochs of ``steps_per_epoch``."""
    return run_length_call(optimizer, json_object(config, "config"), steps_per_epoch, epochs)


@pages_api.get("/compare/{task}")
def compare_json(
    task: TaskName, url: DbUrl, answers: Answers, optimizers: Selection = "", jobs: Selection = ""
) -> dict[str, Any]:
    """The compare page's data; ``optimizers`` (comma-separated names) or ``jobs`` (ids or unique prefixes) keep a
    selection, each job its own series."""
    names, ids = parse_selection(url, optimizers, jobs)
    return compare_task(url, answers, task, names, ids)
