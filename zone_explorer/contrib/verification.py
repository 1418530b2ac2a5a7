"""Verification by rerun: a contribution to a registered task is rerun as a 1-trial job, and its verdict is
recorded when that job ends.

:func:`request_verification` queues a job whose space fixes every hyperparameter to the contributed config, on
the contribution's seeds (default ``[0]``) and epochs. When the job ends, :func:`record_verdicts` (called in the
transaction that ends it: the worker's for a finished job, :func:`~zone_explorer.engine.jobs.cancel_job`'s for a
cancelled one) records the measured value and a verdict: ``verified`` when ``|measured - claimed| <=
max(VERIFY_ATOL, VERIFY_RTOL * |claimed|, VERIFY_STD_FACTOR * seed std)``, else ``disputed`` (also when the rerun
diverged); ``unverified`` when the job was cancelled or failed (its trial raised an error; a new request queues a
new job). Reads never
judge: they show what was recorded.
"""

from __future__ import annotations

import logging
import math
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zone_explorer.contrib.storage import contribution_dicts
from zone_explorer.contrib.validation import ContributionError, is_lookup_name
from zone_explorer.core.errors import NotFound
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, ContributionStatus, JobStatus, Outcome, Verdict
from zone_explorer.engine.jobs import JobSpec, JobSpecError, create_job, get_job
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution, Job, utcnow
from zone_explorer.store.trials import load_trials
from zone_explorer.tasks import get_task, task_names

__all__ = [
    "VERIFY_ATOL",
    "VERIFY_RTOL",
    "VERIFY_STD_FACTOR",
    "record_ended_verifications",
    "record_verdicts",
    "request_verification",
    "verdict_for",
]

log = logging.getLogger("zone_explorer.contrib.verification")

VERIFY_RTOL = 0.05
VERIFY_ATOL = 0.01
VERIFY_STD_FACTOR = 2.0


def verdict_for(claimed: float, measured: float, measured_std: float | None = None) -> tuple[str, float]:
    """``(verdict, tolerance)``: verified when |measured - claimed| is within the tolerance (see module docs)."""
    tol = max(VERIFY_ATOL, VERIFY_RTOL * abs(claimed), VERIFY_STD_FACTOR * (measured_std or 0.0))
    return (Verdict.VERIFIED if abs(measured - claimed) <= tol else Verdict.DISPUTED), tol


def request_verification(url: str, contribution_id: str, owner: str | None = None) -> tuple[dict[str, Any], Job, bool]:
    """Queue (or return the queued) rerun of a contribution: ``(contribution, job, created)``."""
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
    if c is None:
        raise NotFound("id", f"contribution {contribution_id!r} not found")
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
        c = s.scalars(sa.select(Contribution).where(Contribution.id == c.id)).one()  # contributions are never deleted
    return contribution_dicts(url, [c])[0], job, created


def record_verdicts(s: Session, url: str, job_id: str) -> int:
    """In the transaction that ends job ``job_id``: record the verdict of the contributions it reruns, once the
    job is no longer queued or running (else nothing). Returns how many were recorded."""
    job = s.get(Job, job_id)  # by key: the worker asks after every trial, and most jobs are no rerun
    if job is None or job.status in ACTIVE_JOB_STATUSES:
        return 0
    pending = sa.select(Contribution).where(
        Contribution.verify_job_id == job_id, Contribution.verdict == Verdict.PENDING
    )
    return sum(_record(s, url, c, job) for c in s.scalars(pending).all())


def record_ended_verifications(url: str) -> int:
    """Record the verdicts still pending on jobs that have ended or no longer exist: what a database written
    before verdicts were recorded at a job's end may hold. Returns how many were recorded."""
    with session_scope(url) as s:
        pending = (
            sa.select(Contribution, Job)
            .outerjoin(Job, Job.id == Contribution.verify_job_id)
            .where(
                Contribution.verdict == Verdict.PENDING,
                Contribution.verify_job_id.is_not(None),
                sa.or_(Job.id.is_(None), Job.status.not_in(ACTIVE_JOB_STATUSES)),
            )
        )
        recorded = sum(_record(s, url, c, job) for c, job in s.execute(pending).all())
    if recorded:
        log.info("recorded %d verification verdict(s) of ended jobs", recorded, extra={"event": "verdicts_recorded"})
    return recorded


def _record(s: Session, url: str, c: Contribution, job: Job | None) -> bool:
    verdict, measured, detail = _judge(url, c, job)
    # conditional: a verdict already recorded for this rerun (by a concurrent ender) stands
    # (an UPDATE's result is a CursorResult, which has the row count; Session.execute is typed for any statement)
    updated = cast(
        "sa.CursorResult[Any]",
        s.execute(
            sa.update(Contribution)
            .where(
                Contribution.id == c.id,
                Contribution.verdict == Verdict.PENDING,
                Contribution.verify_job_id == c.verify_job_id,
            )
            .values(verdict=verdict, measured_value=measured, verdict_detail=detail, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return bool(updated.rowcount)


def _judge(url: str, c: Contribution, job: Job | None) -> tuple[str, float | None, str]:
    if job is None:
        return (
            Verdict.UNVERIFIED,
            None,
            f"verification job {c.verify_job_id} no longer exists; request verification again",
        )
    if job.status != JobStatus.COMPLETED:
        return Verdict.UNVERIFIED, None, f"verification job {job.id} ended {job.status}; request verification again"
    finished = [
        t
        for t in load_trials(url, job.study_name)
        if t.attrs.get("outcome") not in (None, Outcome.LOST, Outcome.CANCELLED)
    ]
    if not finished:
        return Verdict.UNVERIFIED, None, f"verification job {job.id} recorded no result; request verification again"
    t = finished[-1]
    if t.state != "COMPLETE" or t.value is None or not math.isfinite(t.value):
        reason = t.attrs.get("fail_reason") or t.attrs.get("outcome")
        return Verdict.DISPUTED, None, f"the rerun did not finish ({t.attrs.get('outcome')}: {reason})"
    verdict, tol = verdict_for(c.value, t.value, t.attrs.get("value_std"))
    rel = "<=" if verdict == Verdict.VERIFIED else ">"
    return (
        verdict,
        float(t.value),
        (
            f"rerun measured {t.value:.6g} against the claimed {c.value:.6g}: |difference| "
            f"{abs(t.value - c.value):.3g} {rel} tolerance {tol:.3g} (max({VERIFY_ATOL:g}, "
            f"{VERIFY_RTOL:.0%} of |claim|, {VERIFY_STD_FACTOR:g} x seed std))"
        ),
    )
