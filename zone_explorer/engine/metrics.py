"""Operational counts for monitoring: jobs by status, trials by outcome, queue depth (read on each scrape)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, SLOT_TAKING_CLAIMS, ClaimStatus, Outcome
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Job, TrialClaim

__all__ = ["Snapshot", "snapshot"]


@dataclass
class Snapshot:
    jobs_by_status: dict[str, int]
    trials_by_state: dict[str, int]  # running, lost, cancelled, and each finished outcome (complete, pruned, ...)
    queue_depth: int  # trials of active jobs that no worker has started yet


def snapshot(url: str) -> Snapshot:
    with session_scope(url) as s:
        jobs = dict(s.execute(sa.select(Job.status, sa.func.count()).group_by(Job.status)).all())
        trials: dict[str, int] = {}
        for status, outcome, n in s.execute(
            sa.select(TrialClaim.status, TrialClaim.outcome, sa.func.count()).group_by(
                TrialClaim.status, TrialClaim.outcome
            )
        ):
            key = (outcome or Outcome.COMPLETE) if status == ClaimStatus.DONE else status
            trials[key] = trials.get(key, 0) + n
        taken = (
            sa.select(sa.func.count())
            .where(TrialClaim.job_id == Job.id, TrialClaim.status.in_(SLOT_TAKING_CLAIMS))
            .scalar_subquery()
        )
        depth = s.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Job.n_trials - taken), 0)).where(Job.status.in_(ACTIVE_JOB_STATUSES))
        )
    return Snapshot(jobs, trials, int(depth or 0))
