"""A verification job's verdict, recorded in the transaction that ends the job.

A contributed result is verified by a rerun: a 1-trial job whose space fixes every hyperparameter to the
contributed config (:func:`zone_explorer.contrib.request_verification` queues it). When that job ends, the engine
records the measured value and a verdict on the contribution, in the same transaction (:func:`record_verdicts`,
called by :func:`~zone_explorer.engine.worker` when the last trial closes the job and by
:func:`~zone_explorer.engine.jobs.cancel_job`): ``verified`` when ``|measured - claimed| <= max(VERIFY_ATOL,
VERIFY_RTOL * |claimed|, VERIFY_STD_FACTOR * seed std)``, else ``disputed`` (also when the rerun diverged);
``unverified`` when the job was cancelled or failed (its trial raised an error; a new request queues a new job).
Reads never judge: they show what was recorded.
"""

from __future__ import annotations

import logging
import math

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, JobStatus, Outcome, Verdict
from zone_explorer.store.db import rows_changed, session_scope
from zone_explorer.store.models import Contribution, Job, utcnow
from zone_explorer.store.trials import load_trials

__all__ = [
    "VERIFY_ATOL",
    "VERIFY_RTOL",
    "VERIFY_STD_FACTOR",
    "record_ended_verifications",
    "record_verdicts",
    "verdict_for",
]

log = logging.getLogger("zone_explorer.engine.verdicts")

VERIFY_RTOL = 0.05
VERIFY_ATOL = 0.01
VERIFY_STD_FACTOR = 2.0


def verdict_for(claimed: float, measured: float, measured_std: float | None = None) -> tuple[str, float]:
    """``(verdict, tolerance)``: verified when |measured - claimed| is within the tolerance (see module docs)."""
    tol = max(VERIFY_ATOL, VERIFY_RTOL * abs(claimed), VERIFY_STD_FACTOR * (measured_std or 0.0))
    return (Verdict.VERIFIED if abs(measured - claimed) <= tol else Verdict.DISPUTED), tol


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
    updated = s.execute(
        sa.update(Contribution)
        .where(
            Contribution.id == c.id,
            Contribution.verdict == Verdict.PENDING,
            Contribution.verify_job_id == c.verify_job_id,
        )
        .values(verdict=verdict, measured_value=measured, verdict_detail=detail, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(rows_changed(updated))


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
