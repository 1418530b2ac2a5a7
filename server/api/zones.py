"""Zones of a task and optimizer: all explored trials merged with contributions, each point marked by origin.

Answers are served from the app's cache (:class:`~server.services.zone_answers.ZoneAnswers`) as ready-made JSON
bytes: a repeated read costs the data-version query and a copy, not an analysis or a serialisation; a read within
``poll_cache_s`` of the last check of the same answer is served on the event loop without the query
(``ZoneAnswers.recent_view``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from server import examples as ex
from server.deps import Answers
from server.errors import error_responses
from server.schemas import Name, ZonePublic, ZoneSummaryPublic
from server.services.zone_answers import MAX_BUDGET_KEY, ZoneFilters, ZoneResult

router = APIRouter(prefix="/zones", tags=["zones"])

Task = Annotated[Name, Path(description="a registered or contributed task", examples=["digits-cnn"])]
Optimizer = Annotated[Name, Path(description="a registry optimizer", examples=["fsgdm"])]
TopQ = Annotated[
    float | None,
    Query(
        gt=0, le=1, allow_inf_nan=False, description="the trials' view: the best fraction q of results (default 0.1)"
    ),
]
Delta = Annotated[
    float | None,
    Query(
        ge=0,
        allow_inf_nan=False,
        description="the trials within delta of the best (instead of top_q), and the model zone's delta "
        "(metric units; default per metric, e.g. 0.01 accuracy)",
    ),
]
Axis = Annotated[Name | None, Query(max_length=100, description="a parameter name, or K for FSGDM")]
Budget = Annotated[
    str | None,
    Query(
        max_length=MAX_BUDGET_KEY,
        description="a budget key from `budgets`, e.g. `epochs=10;seeds=2` (default: the budget with the most results)",
    ),
]
JobId = Annotated[str | None, Query(max_length=32, description="one job's explored trials only")]
Origin = Annotated[
    str | None,
    Query(
        max_length=100,
        description="comma-separated subset of explored, contributed, verified (default: all)",
        examples=["explored,verified"],
    ),
]
IncludeDisputed = Annotated[
    bool, Query(description="count contributions their verification disputed (by default they are listed apart)")
]


def zone_filters(
    budget: Budget = None, job: JobId = None, origin: Origin = None, include_disputed: IncludeDisputed = False
) -> ZoneFilters:
    """The filters of a zone request (a bad one is a 422 naming its field)."""
    return ZoneFilters.parse(budget, job, origin, include_disputed)


Filters = Annotated[ZoneFilters, Depends(zone_filters)]


def _json(result: ZoneResult) -> Response:
    return Response(result.json_bytes, media_type="application/json", headers={"X-Data-Version": result.version})


@router.get(
    "/{task}/{optimizer}",
    response_model=ZonePublic,
    summary="Zone map of a task and optimizer",
    responses=ex.ok(ex.ZONE) | error_responses(404, 422),
)
async def get_zone(
    task: Task,
    optimizer: Optimizer,
    answers: Answers,
    filters: Filters,
    x: Axis = None,
    y: Axis = None,
    top_q: TopQ = None,
    delta: Delta = None,
    grid_size: Annotated[int, Query(ge=10, le=200)] = 60,
) -> Response:
    """The zone over axes x and y (default: the optimizer's natural pair). ``zone``: the zone on a model of the
    metric - P(in zone) over the map (``membership``), its 0.5 ``outline`` and 0.9 ``core``, the
    ``volume_fraction`` of the searched space with an interval and the ``hit_chance`` of k random trials; ``k``:
    FSGDM's K with its interval, status, lr K and ridge; ``diagnostics`` and coded ``warnings``. Beside it, the
    trials' view: their smoothed metric and the trials within the tolerance (``zone_map``), best configurations,
    top-q marginals and importance. ``delta`` is also the model zone's tolerance (else a default per metric).

    One budget at a time (``budget``; ``budgets`` lists the others), narrowed by ``job`` and ``origin``;
    disputed contributions are left out (listed in ``disputed``) unless ``include_disputed``."""
    args: dict[str, Any] = {"x": x, "y": y, "top_q": top_q, "delta": delta, "grid_size": grid_size}
    result = answers.recent_view(task, optimizer, **args, filters=filters)
    if result is None:
        view = partial(answers.view, task, optimizer, **args, filters=filters)
        result = await run_in_threadpool(view)
    return _json(result)


@router.get(
    "/{task}/{optimizer}/summary",
    response_model=ZoneSummaryPublic,
    summary="Zone summary",
    responses=ex.ok(ex.ZONE_SUMMARY) | error_responses(404, 422),
)
async def get_zone_summary(
    task: Task, optimizer: Optimizer, answers: Answers, filters: Filters, top_q: TopQ = None, delta: Delta = None
) -> Response:
    """Best configurations (full configs), importance, each parameter's range among the best trials, the zone on
    the model (volume, outline, membership), for FSGDM K with its interval and status, diagnostics and warnings;
    the same budget and filters as the zone map."""
    result = answers.recent_summary(task, optimizer, top_q=top_q, delta=delta, filters=filters)
    if result is None:
        summary = partial(answers.summary, task, optimizer, top_q=top_q, delta=delta, filters=filters)
        result = await run_in_threadpool(summary)
    return _json(result)
