"""The worker: claim a trial slot, run it with a heartbeat, record the result; recover slots of dead workers.

Any number of workers on any machines that reach the database cooperate through two rules:

1. A slot is claimed by inserting ``(job_id, slot)`` into ``ze_trial_claims`` under a unique constraint, only
   while fewer than ``n_trials`` claims are running or done. Two workers racing for the last slot cannot both
   insert it, so a job ends with exactly ``n_trials`` finished trials and no trial runs twice.
2. A running claim's heartbeat is refreshed every ``heartbeat_interval`` seconds. Any worker that finds one
   older than ``grace_period`` marks it ``lost``, fails its Optuna trial with the reason and queues the same
   configuration again as a waiting trial, all in one transaction that starts with a conditional UPDATE of the
   claim (so exactly one worker wins). Marking it lost frees its slot, and the retry is queued by the same commit:
   a worker that takes a slot asks Optuna for its trial afterwards, and Optuna hands out waiting trials first, so
   an idle worker never fills the slot with a new configuration while the lost one is dropped. Every lost
   configuration runs again, and a job that has all its results holds no waiting trial. A worker that dies after
   asking Optuna for its trial but before writing the trial's id on its claim leaves a running trial no claim
   names: reaping that claim fails and requeues the trial the same way, so none stays RUNNING without an owner.

3. **Fair across owners.** Among the jobs with a free slot, a worker claims for the owner (the token that submitted
   the job; jobs submitted without one, from the CLI, share one owner) served longest ago: the owner whose newest
   claim on an active job is the oldest, an owner never served first. Owners take turns, claim by claim, so one
   owner's 100,000-trial job delays another owner's small job by at most one trial per owner ahead of it in the
   round; an owner's own jobs run first in, first out. (How much one owner may queue at all is capped at submission:
   see :func:`zone_explorer.engine.jobs.check_owner_quota`.)

The worker that records a job's last result ends the job: ``completed``, or ``failed`` when none of its trials
produced a result because every one raised an error (see :func:`_finish_claim`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import statistics
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from zone_explorer.core.spaces import Space
from zone_explorer.core.statuses import (
    ACTIVE_JOB_STATUSES,
    RESULT_OUTCOMES,
    SLOT_TAKING_CLAIMS,
    ClaimStatus,
    JobStatus,
    Outcome,
)
from zone_explorer.engine.jobs import job_run_length
from zone_explorer.engine.objective import TrialOutcome, TrialPlan, evaluate
from zone_explorer.engine.studies import (
    fail_and_requeue_trial,
    make_pruner,
    make_sampler,
    set_running_trial_user_attrs,
    storage_for,
    trial_result,
)
from zone_explorer.engine.verdicts import record_verdicts
from zone_explorer.store import optuna_tables
from zone_explorer.store.db import rows_changed, session_scope
from zone_explorer.store.models import Job, TrialClaim, utcnow
from zone_explorer.tasks.external import foreign_function_tasks, watch_database

__all__ = ["Worker", "WorkerSettings", "default_worker_name", "reap_lost_claims"]

log = logging.getLogger("zone_explorer.engine.worker")

#: what a database restart or network cut looks like, from SQLAlchemy directly and through Optuna's storage
DB_ERRORS = (OperationalError, InterfaceError, optuna.exceptions.StorageInternalError)
optuna.logging.set_verbosity(optuna.logging.WARNING)

#: jobs a worker keeps loaded (its most recent ones)
JOB_CACHE_SIZE = 8
#: claims the fair claim rule looks back over (rule 3): far more than the owners that share the workers at once
FAIR_WINDOW = 2000


@dataclass
class WorkerSettings:
    heartbeat_interval: float = 5.0
    grace_period: float = 30.0
    poll_interval: float = 1.0
    threads: int = 1
    #: where this worker's trials run, one at a time: ``cpu`` or ``cuda:N`` (see :mod:`zone_explorer.engine.devices`;
    #: a worker process per device runs several at once)
    device: str = "cpu"


def default_worker_name() -> str:
    """``host:pid``: what claims record of a worker unless it is given a name."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _LoadedJob:
    """What a worker keeps of a job between its trials: the Optuna study, whose trial cache then reads only the
    trials that changed since the last ask (a fresh ``load_study`` would read them all again for every trial),
    and the trial plan, built once from the job as stored (its space and the run length derived at submission)."""

    study: optuna.Study
    plan: TrialPlan


class Worker:
    def __init__(self, url: str, *, name: str | None = None, settings: WorkerSettings | None = None) -> None:
        self.url = url
        self.name = name or default_worker_name()
        self.settings = settings or WorkerSettings()
        self._stop = threading.Event()
        self._last_reap = 0.0
        self._jobs: OrderedDict[str, _LoadedJob] = OrderedDict()
        watch_database(url)  # a job may name a command task registered there after this process started

    def stop(self) -> None:
        self._stop.set()

    # ---- main loop ------------------------------------------------------------------------------------------
    def run(
        self,
        *,
        job_id: str | None = None,
        exit_when_idle: bool = False,
        max_trials: int | None = None,
        on_trial: Callable[[str, TrialOutcome], None] | None = None,
    ) -> int:
        """Work until stopped (or, with ``exit_when_idle``, until no job has work left). Returns trials run."""
        import torch

        torch.set_num_threads(self.settings.threads)
        if self.settings.device.startswith("cuda"):
            # the current device too, not only where tensors are put: kernels and libraries that allocate on the
            # current device (cuDNN workspaces, a task's own torch.cuda calls) then stay on this worker's GPU
            torch.cuda.set_device(torch.device(self.settings.device))
        done = 0
        while not self._stop.is_set() and (max_trials is None or done < max_trials):
            try:
                result = self.run_one(job_id=job_id)
            except DB_ERRORS as err:  # database restarting: wait and go on
                log.warning(
                    "database unavailable; retrying", extra={"event": "db_unavailable", "error": type(err).__name__}
                )
                self._stop.wait(self.settings.poll_interval)
                continue
            if result is None:
                if exit_when_idle and not self._work_in_flight(job_id):
                    break
                self._stop.wait(self.settings.poll_interval)
                continue
            done += 1
            job_id_done, outcome = result
            log.info(
                "trial finished",
                extra={
                    "event": "trial_finished",
                    "worker": self.name,
                    "job": job_id_done,
                    "outcome": outcome.state,
                    "value": outcome.value,
                    "reason": outcome.reason,
                },
            )
            if on_trial is not None:
                on_trial(*result)
        return done

    def _work_in_flight(self, job_id: str | None) -> bool:
        """Whether an active job still has running claims (one may be lost and come back to us)."""
        with session_scope(self.url) as s:
            q = (
                sa.select(sa.func.count())
                .select_from(TrialClaim)
                .join(Job)
                .where(TrialClaim.status == ClaimStatus.RUNNING, Job.status.in_(ACTIVE_JOB_STATUSES))
            )
            if job_id:
                q = q.where(Job.id == job_id)
            return bool(s.scalar(q))

    def run_one(self, *, job_id: str | None = None) -> tuple[str, TrialOutcome] | None:
        """Claim and run one trial; ``None`` when no job has a free slot."""
        now = time.monotonic()
        if now - self._last_reap >= self.settings.grace_period / 3:
            self._last_reap = now
            reap_lost_claims(self.url, self.settings.grace_period)
        claim = self._claim(job_id)
        if claim is None:
            return None
        job, claim_id, slot = claim
        return job.id, self._run_claim(job, claim_id, slot)

    # ---- claiming -------------------------------------------------------------------------------------------
    def _claim(self, job_id: str | None) -> tuple[Job, int, int] | None:
        for attempt in range(50):  # a lost race costs one retry
            try:
                with session_scope(self.url) as s:
                    claimed = self._try_claim(s, job_id)
            except (IntegrityError, OperationalError) as err:
                # IntegrityError: another worker took this slot. OperationalError on SQLite: our read snapshot
                # went stale under another writer ("database is locked"). Either way, look again.
                if isinstance(err, OperationalError) and not self.url.startswith("sqlite"):
                    raise
                time.sleep(0.01 * (attempt + 1))
                continue
            if claimed is not False:
                return claimed
        return None

    def _try_claim(self, s: Session, job_id: str | None) -> tuple[Job, int, int] | Literal[False] | None:
        """One claim attempt in one transaction: None (no work), False (lost a race) or (job, claim id, slot)."""
        counted = (
            sa.select(sa.func.count())
            .where(TrialClaim.job_id == Job.id, TrialClaim.status.in_(SLOT_TAKING_CLAIMS))
            .scalar_subquery()
        )
        owner = sa.func.coalesce(Job.owner, "")
        # rule 3: each owner's newest claim on its active jobs (a claim id grows with every claim, unlike a clock),
        # among the latest FAIR_WINDOW claims (a primary-key range: the cost stays bounded however long the
        # history); an owner not served within them ranks as never served
        newest = sa.select(sa.func.coalesce(sa.func.max(TrialClaim.id), 0)).scalar_subquery()
        served = (
            sa.select(owner.label("owner"), sa.func.max(TrialClaim.id).label("last_claim"))
            .join(TrialClaim, TrialClaim.job_id == Job.id)
            .where(Job.status.in_(ACTIVE_JOB_STATUSES), TrialClaim.id > newest - FAIR_WINDOW)
            .group_by(owner)
            .subquery()
        )
        q = (
            sa.select(Job)
            .outerjoin(served, served.c.owner == owner)
            .where(Job.status.in_(ACTIVE_JOB_STATUSES), counted < Job.n_trials)
            .order_by(sa.func.coalesce(served.c.last_claim, 0), Job.created_at, Job.id)
            .limit(1)
        )
        if job_id:
            q = q.where(Job.id == job_id)
        q = q.where(Job.task.not_in(foreign_function_tasks()))  # another process's ze.explore runs those
        job = s.scalars(q).first()
        if job is None:
            return None
        # Serialise claimers of this job on PostgreSQL (row lock until commit), then count again in a fresh
        # snapshot: the count and the next slot must come from the same view of the claims.
        s.execute(sa.select(Job.id).where(Job.id == job.id).with_for_update())
        active, slot = s.execute(
            sa.select(
                sa.func.count().filter(TrialClaim.status.in_(SLOT_TAKING_CLAIMS)),
                sa.func.coalesce(sa.func.max(TrialClaim.slot) + 1, 0),
            ).where(TrialClaim.job_id == job.id)
        ).one()
        if active >= job.n_trials:
            return False
        claim = TrialClaim(job_id=job.id, slot=slot, worker=self.name, status=ClaimStatus.RUNNING)
        s.add(claim)
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
        s.flush()
        return job, claim.id, slot

    # ---- running --------------------------------------------------------------------------------------------
    def _run_claim(self, job: Job, claim_id: int, slot: int) -> TrialOutcome:
        loaded = self._load(job)
        study, plan = loaded.study, loaded.plan
        # Seeded per slot: reproducible, yet two workers never draw the same random startup point.
        per_slot_seed = (
            job.sampler_seed if job.sampler in ("qmc", "grid") else ((job.sampler_seed or 0) * 1_000_003 + slot) % 2**32
        )
        study.sampler = make_sampler(job.sampler, plan.space, seed=per_slot_seed, n_trials=job.n_trials)
        trial = study.ask()
        with session_scope(self.url) as s:
            ours = s.execute(
                sa.update(TrialClaim)
                .where(TrialClaim.id == claim_id, TrialClaim.status == ClaimStatus.RUNNING)
                .values(optuna_trial_id=trial._trial_id, trial_number=trial.number)
            )
            if not rows_changed(ours):
                # Reaped before we asked (paused past the grace period): no claim covers the trial Optuna handed
                # us, which may be a waiting retry; hand it back in the same way, so its configuration still runs.
                reason = "claim was reaped before its trial started; trial retried"
                fail_and_requeue_trial(
                    s.connection(), trial._trial_id, Outcome.LOST, reason, requeue=_active(s, job.id)
                )
                return TrialOutcome(Outcome.CANCELLED, reason="claim was reaped before its trial started")
        beat = _Heartbeat(self.url, claim_id, job.id, self.settings.heartbeat_interval)
        beat.start()
        try:
            outcome = evaluate(trial, plan, device=self.settings.device, cancelled=beat.job_cancelled)
        except DB_ERRORS:
            # Not the trial's fault: give its slot back for a retry once the database answers again.
            beat.stop()
            self._give_back(claim_id, "database unavailable during the trial; trial retried")
            raise
        except Exception as err:  # a bug in a task's code fails its trial, never the worker
            log.exception("trial raised", extra={"event": "trial_raised", "job": job.id, "trial": trial.number})
            outcome = TrialOutcome(Outcome.ERROR, reason=f"{type(err).__name__}: {err}")
        finally:
            beat.stop()
        if not beat.still_ours or not self._record(study, trial, job, claim_id, outcome):
            # We were presumed dead (e.g. paused past the grace period): the slot was reaped and retried.
            return TrialOutcome(Outcome.CANCELLED, reason="claim was reaped while running")
        return outcome

    def _load(self, job: Job) -> _LoadedJob:
        """The job's study and trial plan, loaded once per worker (the most recent few jobs are kept)."""
        loaded = self._jobs.get(job.id)
        if loaded is None:
            study = optuna.load_study(
                study_name=job.study_name,
                storage=storage_for(self.url),
                pruner=make_pruner(job.pruner, epochs=job.epochs),
            )
            plan = TrialPlan(
                job.task,
                job.optimizer,
                Space.from_dict(job.space),
                job.epochs,
                tuple(job.seeds),
                job_run_length(job),
                job_id=job.id,
                url=self.url,
            )
            loaded = self._jobs[job.id] = _LoadedJob(study, plan)
            while len(self._jobs) > JOB_CACHE_SIZE:
                self._jobs.popitem(last=False)
        self._jobs.move_to_end(job.id)
        return loaded

    def _give_back(self, claim_id: int, reason: str, wait: float = 120.0) -> None:
        """Mark our claim lost and requeue its configuration, waiting up to ``wait`` s for the database.

        If the database stays away longer, the claim's heartbeat goes stale and any worker reaps it later.
        """
        deadline = time.monotonic() + wait
        while not self._stop.is_set():
            try:
                lose_claim(self.url, claim_id, reason)
                return
            except DB_ERRORS:
                if time.monotonic() > deadline:
                    return
                self._stop.wait(self.settings.poll_interval)

    def _record(self, study: optuna.Study, trial: optuna.Trial, job: Job, claim_id: int, outcome: TrialOutcome) -> bool:
        """Tell Optuna the result and close the claim; False if the trial was reaped (failed) meanwhile."""
        if not set_running_trial_user_attrs(self.url, trial._trial_id, _result_attrs(outcome)):
            return False
        if outcome.state == Outcome.COMPLETE:
            study.tell(trial, outcome.value)
        elif outcome.state == Outcome.PRUNED:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        status = ClaimStatus.DONE if outcome.state in RESULT_OUTCOMES else ClaimStatus.CANCELLED
        with session_scope(self.url) as s:
            _finish_claim(s, self.url, job.id, claim_id, status, outcome.state, outcome.reason)
        return True


def _result_attrs(outcome: TrialOutcome) -> dict[str, Any]:
    """The user attributes a finished trial carries: its outcome, the reason, and the per-seed values and spread."""
    attrs: dict[str, Any] = {}
    if outcome.seed_values:
        attrs["seed_values"] = outcome.seed_values
        if len(outcome.seed_values) > 1:
            attrs["value_std"] = statistics.stdev(outcome.seed_values)
    attrs["outcome"] = outcome.state
    if outcome.reason:
        attrs["fail_reason" if outcome.state not in (Outcome.COMPLETE, Outcome.PRUNED) else "note"] = outcome.reason
    return attrs


def _finish_claim(
    s: Session,
    url: str,
    job_id: str,
    claim_id: int,
    status: ClaimStatus,
    outcome: str | None,
    reason: str | None,
    *,
    stale_before: dt.datetime | None = None,
) -> bool:
    """Close a running claim and end its job when this was the last result. False if it was not running.

    The job ends ``completed``, or ``failed`` when every result is an error: then it measured nothing at all
    (its task cannot be built where the workers run, or its code raises for every configuration), and
    ``Job.error`` says so with the last trial's reason. Diverged and invalid trials are results: they mark where
    the zone ends.
    """
    q = sa.update(TrialClaim).where(TrialClaim.id == claim_id, TrialClaim.status == ClaimStatus.RUNNING)
    if stale_before is not None:
        q = q.where(TrialClaim.heartbeat_at < stale_before)
    closed = s.execute(q.values(status=status, outcome=outcome, reason=reason, finished_at=utcnow()))
    if not rows_changed(closed):
        return False
    if status == ClaimStatus.DONE:
        # Lock the job row before counting: two workers finishing together must not both count n - 1.
        s.execute(sa.select(Job.id).where(Job.id == job_id).with_for_update())
        done, errors = s.execute(
            sa.select(sa.func.count(), sa.func.count().filter(TrialClaim.outcome == Outcome.ERROR)).where(
                TrialClaim.job_id == job_id, TrialClaim.status == ClaimStatus.DONE
            )
        ).one()
        n_trials = s.execute(sa.select(Job.n_trials).where(Job.id == job_id)).scalar_one()
        if done >= n_trials:
            failed = errors == done
            s.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.status.in_(ACTIVE_JOB_STATUSES))
                .values(
                    status=JobStatus.FAILED if failed else JobStatus.COMPLETED,
                    error=f"all {done} trials raised an error; the last: {reason}" if failed else None,
                    updated_at=utcnow(),
                )
            )
            record_verdicts(s, url, job_id)  # a rerun's verdict commits with the end of its job
    return True


class _Heartbeat(threading.Thread):
    """Refreshes the claim's heartbeat and watches the job for cancellation."""

    def __init__(self, url: str, claim_id: int, job_id: str, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{claim_id}")
        self.url, self.claim_id, self.job_id = url, claim_id, job_id
        self.interval = interval
        self._halt = threading.Event()
        self._cancelled = threading.Event()
        self.still_ours = True

    def job_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self._beat()
            except DB_ERRORS:
                continue  # the database is restarting; the next beat will tell

    def _beat(self) -> None:
        with session_scope(self.url) as s:
            beat = s.execute(
                sa.update(TrialClaim)
                .where(TrialClaim.id == self.claim_id, TrialClaim.status == ClaimStatus.RUNNING)
                .values(heartbeat_at=utcnow())
            )
            updated = rows_changed(beat)
            status = s.scalar(sa.select(Job.status).where(Job.id == self.job_id))
        if not updated:
            self.still_ours = False
            self._cancelled.set()
        if status == JobStatus.CANCELLED:
            self._cancelled.set()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.interval + 5)
        try:
            self._beat()  # a final check: was the claim reaped while we ran?
        except DB_ERRORS:
            pass


def reap_lost_claims(url: str, grace_period: float) -> int:
    """Close running claims whose heartbeat is older than ``grace_period``; returns how many were closed.

    Each is closed by :func:`lose_claim`: as done, when its trial already holds its result, else as lost with its
    configuration queued again for a retry.
    """
    cutoff = utcnow() - dt.timedelta(seconds=grace_period)
    with session_scope(url) as s:
        stale = s.execute(
            sa.select(TrialClaim.id, TrialClaim.worker).where(
                TrialClaim.status == ClaimStatus.RUNNING, TrialClaim.heartbeat_at < cutoff
            )
        ).all()
    closed = 0
    for claim_id, worker in stale:
        if lose_claim(
            url,
            claim_id,
            f"worker {worker} lost: no heartbeat for {grace_period:g} s; trial retried",
            stale_before=cutoff,
        ):
            closed += 1
    return closed


def _active(s: Session, job_id: str) -> bool:
    """Whether the job still hands out trials: a lost configuration is queued again only for an active job (a
    cancelled one must not keep a waiting trial)."""
    return s.scalar(sa.select(Job.status).where(Job.id == job_id)) in ACTIVE_JOB_STATUSES


def _orphan_trials(s: Session, job_id: str, started_before: dt.datetime) -> list[int]:
    """The job's running Optuna trials that no claim names and that started before ``started_before``.

    A worker asks Optuna for its trial right after its claim commits and records the trial on the claim right
    after that; a trial still unnamed long after it started (older than the stale claim being reaped, so older than
    the grace period) belongs to a worker that died in between. A live worker's unnamed trial is milliseconds old.
    """
    trials, studies = optuna_tables.trials, optuna_tables.studies
    named = sa.select(TrialClaim.optuna_trial_id).where(
        TrialClaim.job_id == job_id, TrialClaim.optuna_trial_id.is_not(None)
    )
    # Optuna stamps datetime_start with the local time, without a zone
    local_cutoff = started_before.astimezone().replace(tzinfo=None)
    return list(
        s.scalars(
            sa.select(trials.c.trial_id)
            .join(studies, studies.c.study_id == trials.c.study_id)
            .join(Job, Job.study_name == studies.c.study_name)
            .where(
                Job.id == job_id,
                trials.c.state == optuna.trial.TrialState.RUNNING,
                trials.c.datetime_start < local_cutoff,
                trials.c.trial_id.not_in(named),
            )
        )
    )


def lose_claim(url: str, claim_id: int, reason: str, *, stale_before: dt.datetime | None = None) -> bool:
    """Close one running claim of a worker that cannot finish it, in one transaction; False if it was not running
    (another worker closed it first) or, with ``stale_before``, its heartbeat is no longer older than that.

    A claim whose Optuna trial already holds its result (the worker died between telling Optuna and closing the
    claim) is closed as done with that result. Any other is marked lost, its trial fails with ``reason`` and its
    configuration is queued again (:func:`fail_and_requeue_trial`); a reaped claim that names no trial (its worker
    died after asking Optuna for one, before recording it) has that trial found and handled so (:func:`_orphan_trials`),
    so no trial is left running without an owner. The slot is freed by the same commit that
    queues the retry, so whichever worker takes a slot of this job next asks Optuna for a trial only once the
    retry waits there, and runs it.
    """
    with session_scope(url) as s:
        # A write first: it takes the claim's row lock (PostgreSQL) or the write lock (SQLite) before we read, so
        # a second reaper, or the claim's own worker finishing late, waits for our commit and then finds it closed.
        take = sa.update(TrialClaim).where(TrialClaim.id == claim_id, TrialClaim.status == ClaimStatus.RUNNING)
        if stale_before is not None:
            take = take.where(TrialClaim.heartbeat_at < stale_before)
        if not rows_changed(s.execute(take.values(status=ClaimStatus.RUNNING))):
            return False
        job_id, trial_id, worker = s.execute(
            sa.select(TrialClaim.job_id, TrialClaim.optuna_trial_id, TrialClaim.worker).where(TrialClaim.id == claim_id)
        ).one()
        result = trial_result(s.connection(), trial_id) if trial_id is not None else None
        if result is not None and result[0] in RESULT_OUTCOMES:
            return _finish_claim(s, url, job_id, claim_id, ClaimStatus.DONE, *result)
        _finish_claim(s, url, job_id, claim_id, ClaimStatus.LOST, None, reason)
        if trial_id is not None:
            fail_and_requeue_trial(s.connection(), trial_id, Outcome.LOST, reason, requeue=_active(s, job_id))
        elif stale_before is not None:
            # The worker died between asking Optuna for its trial and recording the trial on the claim: that
            # trial runs in no one's name. Fail it and queue its configuration again, as for any lost trial.
            for orphan in _orphan_trials(s, job_id, stale_before):
                fail_and_requeue_trial(
                    s.connection(),
                    orphan,
                    Outcome.LOST,
                    f"{reason} (its worker died before it recorded this trial)",
                    requeue=_active(s, job_id),
                )
    log.warning("claim lost", extra={"event": "claim_lost", "job": job_id, "claim": claim_id, "lost_worker": worker})
    return True
