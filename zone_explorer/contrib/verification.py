"""Verification by rerun: :func:`request_verification` queues a 1-trial job that reruns a contribution to a
registered task, with every hyperparameter fixed to the contributed config, on the contribution's seeds (default
``[0]``) and epochs. The engine records the verdict when that job ends (:mod:`zone_explorer.engine.verdicts`,
which also holds the rule: :func:`verdict_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from zone_explorer.contrib.requests import RequestKey, record_request, replayed_request
from zone_explorer.contrib.storage import contribution_dicts, owned_contribution
from zone_explorer.contrib.validation import ContributionError
from zone_explorer.core.errors import Forbidden
from zone_explorer.core.statuses import ContributionStatus, Verdict
from zone_explorer.engine.jobs import JobSpec, JobSpecError, create_job, get_job
from zone_explorer.engine.verdicts import (
    VERIFY_ATOL,
    VERIFY_RTOL,
    VERIFY_STD_FACTOR,
    record_ended_verifications,
    record_verdicts,
    verdict_for,
)
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution, Job, utcnow
from zone_explorer.tasks import get_task, task_names

__all__ = [
    "VERIFY_ATOL",
    "VERIFY_RTOL",
    "VERIFY_STD_FACTOR",
    "record_ended_verifications",
    "record_verdicts",
    "check_may_cancel_rerun",
    "request_verification",
    "verdict_for",
]


def request_verification(
    url: str,
    contribution_id: str,
    owner: str | None = None,
    *,
    may_act_for: Callable[[str | None], bool],
    request: RequestKey | None = None,
) -> tuple[dict[str, Any], Job, bool]:
    """Queue (or return the queued) rerun of a contribution: ``(contribution, job, created)``; the job is ``owner``'s.
    Only who ``may_act_for`` the contribution's owner (its owner or an admin) may: a verdict is public, and another
    token could otherwise queue a rerun and cancel it to flip it. A replay of a keyed request answers the
    contribution and its rerun as they are now, and queues nothing."""
    with session_scope(url) as s:
        done = replayed_request(s, request)
        c = owned_contribution(s, contribution_id, may_act_for, "verify")
    if done is not None and c.verify_job_id and (job := get_job(url, c.verify_job_id)) is not None:
        return contribution_dicts(url, [c])[0], job, False
    if c.status != ContributionStatus.ACTIVE:
        raise ContributionError("id", f"contribution {c.id} is withdrawn")
    if c.task not in task_names():
        raise ContributionError(
            "task", f"{c.task!r} is a contributed task; only results on registered tasks can be rerun"
        )
    if c.verify_job_id and c.verdict != Verdict.UNVERIFIED:
        job = get_job(url, c.verify_job_id)
        if job is not None:
            return contribution_dicts(url, [c])[0], job, False
    space = {"optimizer": c.optimizer, "params": {k: {"type": "fixed", "value": v} for k, v in c.config.items()}}
    raw = {
        "task": c.task,
        "optimizer": c.optimizer,
        "space": space,
        "n_trials": 1,
        "sampler": "random",
        "sampler_seed": 0,
        "seeds": c.seeds or [0],
        "epochs": c.epochs or get_task(c.task).default_epochs,
    }
    try:
        spec = JobSpec.parse(raw)
    except JobSpecError as err:
        raise ContributionError(f"verification.{err.field}", f"cannot rerun this contribution: {err.message}") from None
    # the key makes concurrent requests queue one job; a cancelled rerun is followed by a new one
    job, created = create_job(url, spec, idempotency_key=f"verify:{c.id}:{c.verify_job_id or 0}", owner=owner)
    with session_scope(url) as s:
        s.execute(
            sa.update(Contribution)
            .where(Contribution.id == c.id)
            .values(
                verify_job_id=job.id,
                verdict=Verdict.PENDING,
                measured_value=None,
                verdict_detail=f"rerun queued as job {job.id}",
                updated_at=utcnow(),
            )
        )
        if request is not None and replayed_request(s, request) is None:
            record_request(s, request, [c.id])
        c = s.scalars(sa.select(Contribution).where(Contribution.id == c.id)).one()  # contributions are never deleted
    return contribution_dicts(url, [c])[0], job, created


def check_may_cancel_rerun(url: str, job_id: str, may_act_for: Callable[[str | None], bool]) -> None:
    """Refuse (:class:`Forbidden`) cancelling the rerun of a contribution that the caller may not act for: a
    cancelled rerun records the verdict ``unverified``, so only the contribution's owner or an admin may (on top of
    the job's own rule). Any other job is left to that rule."""
    with session_scope(url) as s:
        owners = s.execute(
            sa.select(Contribution.id, Contribution.owner).where(Contribution.verify_job_id == job_id)
        ).all()
    for contribution_id, contribution_owner in owners:
        if not may_act_for(contribution_owner):
            raise Forbidden(
                "Authorization",
                f"job {job_id} reruns contribution {contribution_id}, which belongs to another token; its owner or an "
                "admin may cancel the rerun",
            )
