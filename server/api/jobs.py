"""Jobs: submit (idempotent with a key), list, show with progress, cancel, read trials, export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from server import examples as ex
from server.deps import IDEMPOTENCY_KEY_HEADER, DbUrl, JobStatuses, Settings, SubmitToken, page_limit
from server.errors import ApiError, error_responses
from server.schemas import JobCreate, JobDetail, JobPage, JobPublic, Name, TrialPage
from zone_explorer.contrib import check_may_cancel_rerun
from zone_explorer.core.job_ids import ID_PREFIX_PATTERN, MAX_ID_LENGTH
from zone_explorer.core.limits import INT32_MAX
from zone_explorer.core.statuses import JobStatus
from zone_explorer.engine.external_trials import trial_log
from zone_explorer.engine.jobs import (
    JobSpec,
    Progress,
    cancel_job,
    create_job,
    get_job,
    job_detail,
    job_progress,
    list_jobs,
)
from zone_explorer.io.export import export_trials
from zone_explorer.store.models import Job
from zone_explorer.store.trials import load_trials

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", examples=[ex.JOB_ID])]
Limit = Annotated[int, Query(ge=1, le=10_000, description="page size (capped by the server)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        **IDEMPOTENCY_KEY_HEADER,
        description="Makes retries safe: a repeat with the same key (from the same token) returns the first job with "
        "200 instead of creating another; the same key with a different job is a 409.",
    ),
]


def _job(url: str, job_id: str) -> Job:
    job = get_job(url, job_id)
    if job is None:
        raise ApiError(404, f"job {job_id!r} not found", "job_id")
    return job


def _detail(job: Job, progress: Progress) -> JobDetail:
    p = progress.to_dict()
    return JobDetail.of(
        job,
        progress={
            k: p[k] for k in ("claims", "outcomes", "finished", "running", "best_value", "best_config", "eta_seconds")
        },
    )


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    summary="Submit a job",
    responses={
        **ex.ok(ex.JOB, 202, "Queued; Location names the job"),
        **ex.ok(ex.JOB, 200, "A replay of an earlier request with the same Idempotency-Key", JobPublic),
        **error_responses(401, 403, 409, 413, 422, 429, 503),
    },
)
def submit_job(
    job: Annotated[JobCreate, Body(openapi_examples=ex.body(fsgdm_zone=ex.JOB_CREATE, minimal=ex.JOB_CREATE_MINIMAL))],
    response: Response,
    url: DbUrl,
    token: SubmitToken,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Queue a tuning job; workers pick it up. Needs scope `submit`."""
    spec = JobSpec.parse(job.raw())
    # keys are per token: one client's key can never return another client's job
    key = f"{token.id}:{idempotency_key}" if idempotency_key else None
    created_job, created = create_job(url, spec, idempotency_key=key, owner=token.id)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/api/v1/jobs/{created_job.id}"
    return JobPublic.of(created_job)


@router.get("", response_model=JobPage, summary="List jobs", responses=ex.ok(ex.JOB_PAGE) | error_responses(422))
def get_jobs(
    url: DbUrl,
    settings: Settings,
    status: JobStatus | None = None,
    task: Annotated[Name | None, Query()] = None,
    optimizer: Annotated[Name | None, Query()] = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            pattern=ID_PREFIX_PATTERN,
            description="only the jobs whose id starts with this (the job with exactly this id first): how a "
            "client turns the first characters of an id into the job, or lists the jobs they could mean",
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JobPage:
    """Newest first, filtered by status, task, optimizer and the start of the id."""
    limit = page_limit(limit, settings)
    jobs, total = list_jobs(
        url, status=status, task=task, optimizer=optimizer, id_prefix=id_prefix, limit=limit, offset=offset
    )
    return JobPage(items=[JobPublic.of(j) for j in jobs], total=total, limit=limit, offset=offset)


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    summary="Show a job with its progress",
    responses=ex.ok(ex.JOB_DETAIL) | error_responses(404, 422),
)
async def get_one_job(job_id: JobId, url: DbUrl, statuses: JobStatuses) -> Response:
    """Status, trial counts by state, the best value and config so far, and an ETA.

    Clients poll this: an answer is reused for up to `ZONE_EXPLORER_POLL_CACHE_S` seconds (default 0.5), except
    after a cancel through this server."""
    body = statuses.get(job_id)
    if body is None:
        found = await run_in_threadpool(job_detail, url, job_id)
        if found is None:
            raise ApiError(404, f"job {job_id!r} not found", "job_id")
        body = _detail(*found).model_dump_json(by_alias=True).encode()
        statuses.put(job_id, body)
    return Response(body, media_type="application/json")


@router.post(
    "/{job_id}/cancel",
    response_model=JobDetail,
    summary="Cancel a job",
    responses=ex.ok({**ex.JOB_DETAIL, "status": "cancelled"}) | error_responses(401, 403, 404, 422, 429, 503),
)
def cancel(job_id: JobId, url: DbUrl, token: SubmitToken, statuses: JobStatuses) -> JobDetail:
    """Running trials stop within one epoch; finished jobs stay as they are. The job's owner or an admin (and for
    the rerun that verifies a contribution, that contribution's owner or an admin too)."""
    job = _job(url, job_id)
    if not token.may_act_for(job.owner):
        raise ApiError(
            403, f"job {job.id} belongs to another token; its owner or an admin may cancel it", "Authorization"
        )
    check_may_cancel_rerun(url, job.id, token.may_act_for)
    cancelled = cancel_job(url, job.id)
    statuses.discard(job.id)
    if cancelled is None:  # deleted since it was read
        raise ApiError(404, f"job {job_id!r} not found", "job_id")
    return _detail(cancelled, job_progress(url, cancelled))


@router.get(
    "/{job_id}/trials",
    response_model=TrialPage,
    summary="List a job's trials",
    responses=ex.ok(ex.TRIAL_PAGE) | error_responses(404, 422),
)
def get_trials(
    job_id: JobId,
    url: DbUrl,
    settings: Settings,
    state: Literal["complete", "pruned", "fail", "running", "waiting"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TrialPage:
    """In trial-number order; `has_more` says whether another page follows."""
    job = _job(url, job_id)
    limit = page_limit(limit, settings)
    # one row more than asked tells whether another page follows, without counting the study
    rows = load_trials(url, job.study_name, states=[state.upper()] if state else None, limit=limit + 1, offset=offset)
    return TrialPage(items=[r.to_dict() for r in rows[:limit]], limit=limit, offset=offset, has_more=len(rows) > limit)


@router.get(
    "/{job_id}/trials/{number}/log",
    summary="Show a command trial's log",
    response_class=Response,  # the errors stay JSON; the log itself is text/plain
    responses={
        200: {
            "description": "Its output (the end is kept)",
            "content": {"text/plain": {"example": "epoch 1: val_acc 0.912\nval_acc=0.912\n"}},
        },
        **error_responses(404, 422),
    },
)
def get_trial_log(job_id: JobId, number: Annotated[int, Path(ge=0, le=INT32_MAX)], url: DbUrl) -> PlainTextResponse:
    """What a command trial printed (stdout and stderr; its last 64 000 characters)."""
    _job(url, job_id)
    found = trial_log(url, job_id, number)
    if found is None:
        raise ApiError(404, f"trial {number} of job {job_id} has no log (only command trials leave one)", "number")
    text, truncated = found
    return PlainTextResponse(("[beginning cut]\n" if truncated else "") + text)


@router.get(
    "/{job_id}/export",
    summary="Export a job's trials",
    response_class=Response,
    responses={
        200: {
            "description": "One row per trial, the full config in columns",
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": ex.EXPORT_CSV},
                "application/json": {"schema": {"type": "object"}, "example": ex.EXPORT_JSON},
            },
        },
        **error_responses(404, 422),
    },
)
def export(job_id: JobId, url: DbUrl, format: Literal["csv", "json"] = "csv") -> Response:
    job = _job(url, job_id)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(
        export_trials(url, job, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{job.id}.{format}"'},
    )
