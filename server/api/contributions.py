"""Contributions: add one, a batch or a CSV upload; list, show, edit, withdraw; request a verification rerun.

Every write takes an ``Idempotency-Key``: a replay (same token, key and body) answers the first answer's rows with
200 and ``Idempotent-Replayed: true``, and writes nothing; the same key with another request is a 409. A result
already stored (same task, optimizer, config, budget, seeds, value and owner) is never stored twice: a batch or CSV
lists it under ``duplicates``, a single contribution is refused with a 409 naming the stored one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from server import examples as ex
from server.deps import (
    IDEMPOTENCY_KEY_HEADER,
    ContributeToken,
    ContributionWrites,
    DbUrl,
    Settings,
    SubmitToken,
    page_limit,
)
from server.errors import ApiError, error_responses
from server.schemas import (
    ContributionBatch,
    ContributionCreate,
    ContributionEdit,
    ContributionList,
    ContributionPage,
    ContributionPublic,
    JobPublic,
    Name,
)
from zone_explorer import contrib

router = APIRouter(prefix="/contributions", tags=["contributions"])

ContributionId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", examples=["9c4e2b7a1d3f5e60"])]
WRITE_ERRORS = error_responses(401, 403, 409, 413, 422, 429, 503)
#: a batch or CSV write answered again for a replay of its Idempotency-Key (see ``_list``)
_REPLAY_LIST = ex.ok(
    ex.CONTRIBUTION_LIST, 200, "A replay of an earlier request with the same Idempotency-Key", ContributionList
)
IdempotencyKey = Annotated[
    str | None,
    Header(
        **IDEMPOTENCY_KEY_HEADER,
        description="Makes retries safe: a repeat with the same key (from the same token) and the same body answers "
        "the first answer with 200 and writes nothing; the same key with another request is a 409.",
    ),
]
REPLAYED = "Idempotent-Replayed"


def _key(token_id: str, key: str | None, route: str, body: object) -> contrib.RequestKey | None:
    return contrib.RequestKey.of(token_id, key, route, body)


def _list(stored: contrib.Stored, response: Response) -> ContributionList:
    if stored.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    return ContributionList(items=stored.items, count=len(stored.items), duplicates=stored.duplicates)


@router.post(
    "",
    status_code=201,
    response_model=ContributionPublic,
    summary="Contribute one result",
    responses=ex.ok(ex.CONTRIBUTION, 201, "Stored; Location names it")
    | ex.ok(ex.CONTRIBUTION, 200, "A replay of an earlier request with the same Idempotency-Key", ContributionPublic)
    | WRITE_ERRORS,
)
def contribute(
    item: Annotated[
        ContributionCreate,
        Body(openapi_examples=ex.body(registered_task=ex.CONTRIBUTION_CREATE, new_task=ex.CONTRIBUTION_NEW_TASK)),
    ],
    response: Response,
    url: DbUrl,
    token: ContributeToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    """A result with its context; it shows in the zone views marked `contributed`. The value must lie in the task's
    metric range and each hyperparameter in its finite bounds (GET /optimizers/{name}: contribution_bounds); a
    result already stored is a 409. Needs scope `contribute`."""
    raw = item.raw()
    result = contrib.store_contributions(
        url, [raw], token.id, prefix=None, request=_key(token.id, idempotency_key, "create", raw)
    )
    stored = result.items[0]
    if result.replayed:
        response.status_code = 200
        response.headers[REPLAYED] = "true"
    else:
        written.bump()
    response.headers["Location"] = f"/api/v1/contributions/{stored['id']}"
    return stored


@router.post(
    "/batch",
    status_code=201,
    response_model=ContributionList,
    summary="Contribute a batch",
    responses=ex.ok(ex.CONTRIBUTION_LIST, 201) | _REPLAY_LIST | WRITE_ERRORS,
)
def contribute_batch(
    batch: ContributionBatch,
    response: Response,
    url: DbUrl,
    settings: Settings,
    token: ContributeToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> ContributionList:
    """All or nothing: one invalid item stores none, and the error names it (`contributions[3].config.lr`). Items
    already stored are listed in `duplicates` and not stored again."""
    raw = [c.raw() for c in batch.contributions]
    stored = contrib.store_contributions(
        url,
        raw,
        token.id,
        max_items=settings.max_batch,
        prefix="contributions",
        request=_key(token.id, idempotency_key, "batch", raw),
    )
    written.bump()
    return _list(stored, response)


_CSV_BODY = {
    "description": "CSV with a header: task, optimizer, value, epochs, steps, seeds (;-separated), curve (;-separated), "
    "hardware, software, source_doi, source_url, source_notes, task_dataset/task_model/task_metric/"
    "task_direction/task_description (for a new task) and config.<hyperparameter> columns.",
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}, "example": ex.CSV_UPLOAD},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


@router.post(
    "/csv",
    status_code=201,
    response_model=ContributionList,
    summary="Contribute a CSV file",
    openapi_extra={"requestBody": _CSV_BODY},
    responses=ex.ok(ex.CONTRIBUTION_LIST, 201) | _REPLAY_LIST | error_responses(401, 403, 409, 413, 415, 422, 429, 503),
)
async def contribute_csv(
    request: Request,
    response: Response,
    url: DbUrl,
    settings: Settings,
    token: ContributeToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> ContributionList:
    """Upload as the raw body (`Content-Type: text/csv`) or as the `file` field of a multipart form. All or
    nothing, like a batch; errors name the row and its CSV line. Uploading the same rows again stores nothing:
    they are listed in `duplicates`."""
    data = await _csv_payload(request)
    stored = await run_in_threadpool(
        contrib.add_csv,
        url,
        data,
        token.id,
        max_rows=settings.max_batch,
        request=_key(token.id, idempotency_key, "csv", data),
    )
    written.bump()
    return _list(stored, response)


async def _csv_payload(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception as err:  # python-multipart raises its own errors for malformed forms
            raise ApiError(422, f"malformed multipart form: {err}", "file") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "the form needs a file field named 'file'", "file")
        return await upload.read()
    if kind in ("text/csv", "text/plain", "application/csv"):
        return await request.body()
    raise ApiError(
        415,
        f"send the CSV as text/csv or as multipart/form-data with a 'file' field, not {kind or 'no content type'}",
        "Content-Type",
    )


@router.get(
    "",
    response_model=ContributionPage,
    summary="List contributions",
    responses=ex.ok(ex.CONTRIBUTION_PAGE) | error_responses(422),
)
def get_contributions(
    url: DbUrl,
    settings: Settings,
    task: Annotated[Name | None, Query()] = None,
    optimizer: Annotated[Name | None, Query()] = None,
    status: Literal["active", "withdrawn", "all"] = "active",
    verdict: Literal["none", "pending", "verified", "disputed", "unverified"] | None = None,
    owner: Annotated[Name | None, Query(description="a token id")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> ContributionPage:
    """Newest first."""
    limit = page_limit(limit, settings)
    items, total = contrib.list_contributions(
        url,
        task=task,
        optimizer=optimizer,
        status=None if status == "all" else status,
        verdict=verdict,
        owner=owner,
        limit=limit,
        offset=offset,
    )
    return ContributionPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{contribution_id}",
    response_model=ContributionPublic,
    summary="Show a contribution",
    responses=ex.ok(ex.CONTRIBUTION) | error_responses(404, 422),
)
def get_contribution(contribution_id: ContributionId, url: DbUrl) -> dict:
    """With its verification: the rerun's job, measured value and verdict once the job has finished."""
    return contrib.get_contribution(url, contribution_id)


@router.patch(
    "/{contribution_id}",
    response_model=ContributionPublic,
    summary="Edit a contribution",
    responses=ex.ok(ex.CONTRIBUTION) | error_responses(401, 403, 404, 409, 422, 429, 503),
)
def edit(
    contribution_id: ContributionId,
    changes: ContributionEdit,
    response: Response,
    url: DbUrl,
    token: ContributeToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    """Correct a result in place (a typo stays one row): each field given replaces the stored one, checked like a
    new contribution. A changed claim clears an earlier verification. Its owner or an admin."""
    raw = changes.raw()
    edited = contrib.edit_contribution(
        url,
        contribution_id,
        raw,
        may_act_for=token.may_act_for,
        request=_key(token.id, idempotency_key, "edit", {"id": contribution_id, "changes": raw}),
    )
    written.bump()
    return edited


@router.delete(
    "/{contribution_id}",
    response_model=ContributionPublic,
    summary="Withdraw a contribution",
    responses=ex.ok({**ex.CONTRIBUTION, "status": "withdrawn"}) | error_responses(401, 403, 404, 409, 422, 429, 503),
)
def withdraw(
    contribution_id: ContributionId,
    url: DbUrl,
    token: ContributeToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    """It stays readable, marked withdrawn, and leaves the zone views. Its owner or an admin."""
    withdrawn = contrib.withdraw_contribution(
        url,
        contribution_id,
        may_act_for=token.may_act_for,
        request=_key(token.id, idempotency_key, "withdraw", {"id": contribution_id}),
    )
    written.bump()
    return withdrawn


@router.post(
    "/{contribution_id}/verify",
    status_code=202,
    response_model=ContributionPublic,
    summary="Verify a contribution by rerunning it",
    responses={
        **ex.ok(
            {
                **ex.CONTRIBUTION,
                "verification": {
                    "job_id": ex.JOB_ID,
                    "verdict": "pending",
                    "measured_value": None,
                    "detail": f"rerun queued as job {ex.JOB_ID}",
                },
            },
            202,
            "Rerun queued; Location names the job",
        ),
        **ex.ok(ex.CONTRIBUTION, 200, "A rerun was already queued or has finished", ContributionPublic),
        **error_responses(401, 403, 404, 409, 422, 429, 503),
    },
)
def verify(
    contribution_id: ContributionId,
    response: Response,
    url: DbUrl,
    token: SubmitToken,
    written: ContributionWrites,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    """Queues a 1-trial job fixing the contributed config, on its seeds and epochs (registered tasks only). When
    it finishes, reads show the measured value and a verdict: `verified` when within max(0.01, 5% of |claim|,
    2 x seed std) of the claim, else `disputed`. Needs scope `submit`, and to be its owner or an admin."""
    contribution, job, created = contrib.request_verification(
        url,
        contribution_id,
        owner=token.id,
        may_act_for=token.may_act_for,
        request=_key(token.id, idempotency_key, "verify", {"id": contribution_id}),
    )
    written.bump()
    response.status_code = 202 if created else 200
    response.headers["Location"] = JobPublic.of(job).links["self"]
    return contribution
