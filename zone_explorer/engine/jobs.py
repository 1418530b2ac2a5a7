"""Job lifecycle: validate a job spec, create its row and Optuna study, report progress, cancel."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import optuna
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from optimizers.registry import get_optimizer
from zone_explorer.core.errors import FieldError, QuotaExceeded
from zone_explorer.core.job_ids import CANDIDATES_SHOWN, check_id_prefix, pick_job_id
from zone_explorer.core.limits import (
    DEFAULT_SAMPLER,
    INT32_MAX,
    MAX_EPOCHS,
    MAX_SEEDS,
    PRUNERS,
    SAMPLERS,
    max_job_epochs,
    max_owner_active_jobs,
    max_owner_queued_epochs,
    max_trials,
)
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import FixedDim, Space, SpaceError, default_space
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, ClaimStatus, JobStatus, Outcome
from zone_explorer.engine.studies import fail_waiting_trials, storage_for
from zone_explorer.engine.verdicts import record_verdicts
from zone_explorer.store import optuna_tables
from zone_explorer.store.db import read_scope, session_scope, write_scope
from zone_explorer.store.models import Job, TrialClaim, utcnow
from zone_explorer.store.trials import best_trial
from zone_explorer.tasks import Task, UnknownTaskError, get_task

__all__ = [
    "JobSpec",
    "JobSpecError",
    "Progress",
    "cancel_job",
    "check_owner_quota",
    "create_job",
    "get_job",
    "job_detail",
    "job_progress",
    "job_run_length",
    "list_jobs",
    "resolve_job_id",
    "run_length",
]


class JobSpecError(FieldError):
    """An invalid job; ``field`` names the offending field (``space.params.lr.low``, ``n_trials``, ...)."""


def run_length(task: Task, optimizer: str, epochs: int) -> dict[str, int]:
    """What the user would otherwise compute by hand (FSGDM's sigma and stages, AutoSGM's window): the
    optimizer profile's run-length hyperparameters for ``epochs`` epochs of ``task``."""
    return get_profile(optimizer).derive_run_length(task.steps_per_epoch(), epochs)


def job_run_length(job: Job) -> dict[str, int]:
    """The run length derived when the job was submitted and stored with it.

    A job submitted before the run length was stored (``run_length`` is NULL) derives it here as submission
    would have; if this process does not know the job's task, its trials fail at setup and say why.
    """
    if job.run_length is not None:
        return job.run_length
    try:
        task = get_task(job.task)
    except UnknownTaskError:
        return {}
    return run_length(task, job.optimizer, job.epochs)


@dataclass(frozen=True)
class JobSpec:
    """A validated job. Build it with :meth:`parse`, which names the field of every problem."""

    task: str
    optimizer: str
    space: Space
    sampler: str = DEFAULT_SAMPLER
    pruner: str = "none"
    n_trials: int = 40
    seeds: tuple[int, ...] = (0,)
    epochs: int = 0
    sampler_seed: int | None = None
    derived: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobSpec:
        if not isinstance(data, Mapping):
            raise JobSpecError("job", "must be an object")
        known = {"task", "optimizer", "space", "sampler", "pruner", "n_trials", "seeds", "epochs", "sampler_seed"}
        for key in data:
            if key not in known:
                raise JobSpecError(str(key), f"unknown field (valid: {', '.join(sorted(known))})")
        # the raw fields are whatever the caller sent: each is checked as it is read
        task_name: Any = data.get("task")
        try:
            task = get_task(task_name)
        except UnknownTaskError as err:
            raise JobSpecError("task", err.message) from None
        optimizer: Any = data.get("optimizer")
        try:
            get_optimizer(optimizer)
        except ValueError as err:
            raise JobSpecError("optimizer", str(err).split(": ", 1)[-1]) from None
        raw_space = data.get("space")
        try:
            if raw_space is None:
                space = default_space(optimizer)
            elif isinstance(raw_space, str):
                space = Space.from_json(raw_space)
            else:
                space = Space.from_dict(
                    {"optimizer": optimizer, **raw_space}
                    if isinstance(raw_space, Mapping) and "optimizer" not in raw_space
                    else raw_space
                )
        except SpaceError as err:
            raise JobSpecError(
                f"space.{err.field}" if not err.field.startswith("space") else err.field, err.message
            ) from None
        if space.optimizer != optimizer:
            raise JobSpecError("space.optimizer", f"is {space.optimizer!r} but the job's optimizer is {optimizer!r}")
        sampler = data.get("sampler", DEFAULT_SAMPLER)
        if sampler not in SAMPLERS:
            raise JobSpecError("sampler", f"must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
        pruner = data.get("pruner", "none")
        if pruner not in PRUNERS:
            raise JobSpecError("pruner", f"must be one of {', '.join(PRUNERS)}; got {pruner!r}")
        n_trials = _int(data.get("n_trials", 40), "n_trials", 1, max_trials())
        epochs = _int(data.get("epochs", task.default_epochs), "epochs", 1, MAX_EPOCHS)
        seeds_raw = data.get("seeds", [0])
        if not isinstance(seeds_raw, (list, tuple)) or not seeds_raw:
            raise JobSpecError("seeds", f"must be a non-empty list of up to {MAX_SEEDS} distinct integers >= 0")
        seeds = tuple(_int(s, f"seeds[{i}]", 0, INT32_MAX) for i, s in enumerate(seeds_raw))
        if len(set(seeds)) != len(seeds) or len(seeds) > MAX_SEEDS:
            raise JobSpecError("seeds", f"must be up to {MAX_SEEDS} distinct integers, got {list(seeds_raw)}")
        sampler_seed = data.get("sampler_seed")
        if sampler_seed is not None:
            sampler_seed = _int(sampler_seed, "sampler_seed", 0, INT32_MAX)
        work, cap = n_trials * epochs * len(seeds), max_job_epochs()
        if work > cap:
            raise JobSpecError(
                "n_trials",
                f"n_trials x epochs x seeds = {n_trials} x {epochs} x {len(seeds)} = {work} training epochs; a job may "
                f"have at most {cap}: ask for fewer trials, epochs or seeds, or split the job",
            )
        if sampler == "grid":
            _check_grid(space, n_trials)
        derived = run_length(task, optimizer, epochs)
        # The default point of the space must be a valid config: catches e.g. a fixed n_stages above sigma.
        probe = {k: (d.value if isinstance(d, FixedDim) else d.grid(1)[0]) for k, d in space.params.items()}
        try:
            space.config(probe, derived)
        except (TypeError, ValueError) as err:
            raise JobSpecError("space", f"gives an invalid {optimizer} config for this task: {err}") from None
        return cls(task.name, optimizer, space, sampler, pruner, n_trials, seeds, epochs, sampler_seed, derived)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "optimizer": self.optimizer,
            "space": self.space.to_dict(),
            "sampler": self.sampler,
            "pruner": self.pruner,
            "n_trials": self.n_trials,
            "seeds": list(self.seeds),
            "epochs": self.epochs,
            "sampler_seed": self.sampler_seed,
        }


def _check_grid(space: Space, n_trials: int) -> None:
    """A grid job runs each point once: refuse ``n_trials`` beyond the points the space holds (counted, not listed),
    and a grid beyond the cap (each axis's values are listed, their product of points never is)."""
    most = space.grid_size()
    if most is not None and n_trials > most:
        raise JobSpecError(
            "n_trials",
            f"the grid sampler runs each point once and this space holds {most} points; ask for at most {most} "
            "trials, or widen the space",
        )
    try:
        space.job_grid(n_trials)
    except SpaceError as err:
        raise JobSpecError(f"space.{err.field}", err.message) from None


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobSpecError(name, f"must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise JobSpecError(name, f"must be an integer in [{low}, {high}], got {value}")
    return value


def _same_spec(job: Job, spec: JobSpec) -> bool:
    mine = spec.to_dict()
    return all(
        getattr(job, k) == (list(v) if isinstance(v, tuple) else v) for k, v in mine.items() if k != "sampler_seed"
    )


_JOB_INSERT = sa.insert(cast(sa.Table, Job.__table__))  # a mapped class's table is a Table


def create_job(
    url: str, spec: JobSpec, *, idempotency_key: str | None = None, owner: str | None = None
) -> tuple[Job, bool]:
    """Store a job and create its Optuna study. Returns ``(job, created)``.

    With an ``idempotency_key``, a retry of the same request returns the first job (``created=False``), even
    when both requests race; reusing a key for a different job raises :class:`JobSpecError`. With an ``owner``
    (the API's submitting token), the owner's quotas hold (:func:`check_owner_quota`), or nothing is stored.
    """
    task = get_task(spec.task)
    job_id = secrets.token_hex(8)
    study_name = f"ze-{job_id}"
    seed = spec.sampler_seed if spec.sampler_seed is not None else secrets.randbelow(INT32_MAX + 1)
    attrs = {
        "zone_explorer_job": job_id,
        "task": spec.task,
        "optimizer": spec.optimizer,
        "space": spec.space.to_dict(),
        "metric": task.metric,
        "epochs": spec.epochs,
        "seeds": list(spec.seeds),
        "run_length": spec.derived,
    }
    now = utcnow()
    row = dict(
        id=job_id,
        created_at=now,
        updated_at=now,
        status=JobStatus.QUEUED,
        task=spec.task,
        optimizer=spec.optimizer,
        space=spec.space.to_dict(),
        sampler=spec.sampler,
        sampler_seed=seed,
        pruner=spec.pruner,
        n_trials=spec.n_trials,
        seeds=list(spec.seeds),
        epochs=spec.epochs,
        run_length=spec.derived,
        study_name=study_name,
        idempotency_key=idempotency_key,
        owner=owner,
        error=None,
    )
    storage_for(url)  # Optuna's tables exist (and are current) before we write rows into them
    try:
        # The study and the job in one transaction: either both exist or neither (a replayed or racing key
        # leaves no orphan study), in 4 statements where Optuna's API needs about 10 transactions. A replay is
        # told apart by the key's unique constraint, so a new job costs no lookup first.
        with write_scope(url) as conn:
            if owner is not None and conn.dialect.name == "postgresql":
                # one submission per owner at a time, so two racing ones cannot both fit under the quota (SQLite
                # has one writer at a time anyway, and our first statement is a write)
                conn.execute(_OWNER_LOCK, {"key": _lock_key(owner)})
            _insert_study(conn, study_name, task.direction, attrs)
            conn.execute(_JOB_INSERT, row)
            if owner is not None:
                check_owner_quota(conn, owner, job_id)  # raising rolls both inserts back
    except IntegrityError:
        existing = _job_by_key(url, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return _check_replay(existing, spec), False
    return Job(**row), True


_OWNER_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def _lock_key(owner: str) -> int:
    """A stable signed 64-bit advisory-lock key for an owner (Python's ``hash`` differs between processes)."""
    return int.from_bytes(hashlib.sha256(f"ze-owner:{owner}".encode()).digest()[:8], "big", signed=True)


def check_owner_quota(conn: sa.Connection, owner: str, new_job_id: str) -> None:
    """Raise :class:`~zone_explorer.core.errors.QuotaExceeded` when ``owner``'s queued and running jobs, as stored on
    ``conn`` (the just-inserted ``new_job_id`` included), exceed the per-token quotas of :mod:`zone_explorer.core.limits`:

    * at most ``max_owner_active_jobs()`` jobs queued or running at once;
    * at most ``max_owner_queued_epochs()`` training epochs waiting, ``(n_trials - finished) x epochs x seeds``
      summed over those jobs.

    Together with the fair claim rule (:mod:`zone_explorer.engine.worker`) they keep one token from filling the
    queue: the first bounds what it may hold, the second how long it can delay others once it holds it.
    """
    jobs = conn.execute(
        sa.select(Job.id, Job.n_trials, Job.epochs, Job.seeds).where(
            Job.owner == owner, Job.status.in_(ACTIVE_JOB_STATUSES)
        )
    ).all()
    most_jobs = max_owner_active_jobs()
    if len(jobs) > most_jobs:
        raise QuotaExceeded(
            "Authorization",
            f"quota exceeded: a token may have at most {most_jobs} jobs queued or running and this one has "
            f"{len(jobs) - 1} already; wait for one to finish or cancel one "
            "(the operator sets the quota with ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS)",
        )
    done = dict(
        conn.execute(
            sa.select(TrialClaim.job_id, sa.func.count())
            .where(TrialClaim.job_id.in_([j.id for j in jobs]), TrialClaim.status == ClaimStatus.DONE)
            .group_by(TrialClaim.job_id)
        ).all()
    )
    waiting = {j.id: max(j.n_trials - done.get(j.id, 0), 0) * j.epochs * len(j.seeds) for j in jobs}
    queued, this_job = sum(waiting.values()), waiting.get(new_job_id, 0)
    most_epochs = max_owner_queued_epochs()
    if queued > most_epochs:
        raise QuotaExceeded(
            "n_trials",
            f"quota exceeded: a token may have at most {most_epochs} training epochs (trials x epochs x seeds) "
            f"waiting over its queued and running jobs; this one has {queued - this_job} and this job would add "
            f"{this_job}. Ask for fewer trials, "
            "epochs or seeds, or wait for its jobs to progress "
            "(the operator sets the quota with ZONE_EXPLORER_MAX_OWNER_QUEUED_EPOCHS)",
        )


def _insert_study(conn: sa.Connection, study_name: str, direction: str, user_attrs: dict[str, Any]) -> None:
    """Write a new Optuna study as Optuna's own ``create_study`` + ``set_user_attr`` would (its RDB schema)."""
    study, direction_row, attrs = _study_inserts(len(user_attrs))
    study_id = conn.execute(study, {"study_name": study_name}).scalar_one()
    conn.execute(
        direction_row,
        {"study_id": study_id, "objective": 0, "direction": optuna.study.StudyDirection[direction.upper()]},
    )
    params = {"study_id": study_id}
    for i, (k, v) in enumerate(user_attrs.items()):
        params[f"key{i}"], params[f"value{i}"] = k, json.dumps(v)
    conn.execute(attrs, params)


@functools.lru_cache(maxsize=4)
def _study_inserts(n_attrs: int) -> tuple[sa.Insert, sa.Insert, sa.TextClause]:
    """The statements of a new study, built once: values come as parameters, so SQLAlchemy reuses one compiled
    form per statement. The ``n_attrs`` user attributes go in one INSERT (an executemany costs a round trip, or a
    pipeline, per row), written as text because SQLAlchemy does not cache multi-row VALUES."""
    studies = optuna_tables.studies
    rows = ", ".join(f"(:study_id, :key{i}, :value{i})" for i in range(n_attrs))
    return (
        sa.insert(studies).returning(studies.c.study_id),
        sa.insert(optuna_tables.study_directions),
        sa.text(f'INSERT INTO {optuna_tables.study_user_attributes.name} (study_id, "key", value_json) VALUES {rows}'),
    )


def _job_by_key(url: str, key: str) -> Job | None:
    with session_scope(url) as s:
        return s.scalars(sa.select(Job).where(Job.idempotency_key == key)).first()


def _check_replay(job: Job, spec: JobSpec) -> Job:
    if not _same_spec(job, spec):
        raise JobSpecError("Idempotency-Key", f"was already used for a different job ({job.id}); use a new key")
    return job


def get_job(url: str, job_id: str) -> Job | None:
    with session_scope(url) as s:
        return s.get(Job, job_id)


def list_jobs(
    url: str,
    *,
    status: str | None = None,
    task: str | None = None,
    optimizer: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """Jobs, newest first, with the total count for pagination; ``id_prefix`` keeps the ids that start with it
    (the job whose id it is whole comes first)."""
    query = sa.select(Job)
    order: list[sa.ColumnElement[Any]] = []
    if id_prefix:
        # autoescape: "_" is a LIKE wildcard but a plain character of an id
        query = query.where(Job.id.startswith(id_prefix, autoescape=True))
        order.append(sa.case((Job.id == id_prefix, 0), else_=1))
    if status:
        query = query.where(Job.status == status)
    if task:
        query = query.where(Job.task == task)
    if optimizer:
        query = query.where(Job.optimizer == optimizer)
    with session_scope(url) as s:
        total = s.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        jobs = list(s.scalars(query.order_by(*order, Job.created_at.desc(), Job.id).limit(limit).offset(offset)))
    return jobs, int(total or 0)


def resolve_job_id(url: str, typed: str, field: str = "job_id") -> str:
    """The full id of the job ``typed`` names: its id, or a prefix of exactly one job's id.

    A :class:`~zone_explorer.core.errors.FieldError` (naming ``field``) for a malformed or ambiguous prefix (it
    lists the candidates), :class:`~zone_explorer.core.errors.NotFound` when no id starts with it.
    """
    check_id_prefix(typed, field)
    jobs, total = list_jobs(url, id_prefix=typed, limit=CANDIDATES_SHOWN + 1)
    return pick_job_id(typed, [j.id for j in jobs], total, field)


def cancel_job(url: str, job_id: str) -> Job | None:
    """Mark an active job cancelled; running trials stop within one epoch. Finished jobs are left as they are."""
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        if job.status in ACTIVE_JOB_STATUSES:
            job.status = JobStatus.CANCELLED
            job.updated_at = utcnow()
            record_verdicts(s, url, job.id)  # a cancelled rerun's verdict commits with the cancellation
            # a retry queued for a lost trial will never run now: it ends with the job rather than wait for ever
            fail_waiting_trials(s.connection(), job.study_name, Outcome.CANCELLED, "job cancelled before the retry ran")
        return job


@dataclass
class Progress:
    job_id: str
    status: str
    n_trials: int
    claims: dict[str, int]
    outcomes: dict[str, int]
    finished: int
    running: int
    best_value: float | None
    best_config: dict[str, Any] | None
    eta_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


#: the ETA is the mean duration of this many most recent trials, over the trials running in parallel
ETA_WINDOW = 50


_claims = TrialClaim.__table__
_JOB_BY_ID = sa.select(Job.__table__).where(Job.__table__.c.id == sa.bindparam("id"))
# built once (a job page polls them): claims by status and outcome, and the durations of the latest results
_CLAIM_COUNTS = (
    sa.select(_claims.c.status, _claims.c.outcome, sa.func.count())
    .where(_claims.c.job_id == sa.bindparam("job_id"))
    .group_by(_claims.c.status, _claims.c.outcome)
)
_RECENT_DURATIONS = (
    sa.select(_claims.c.started_at, _claims.c.finished_at)
    .where(
        _claims.c.job_id == sa.bindparam("job_id"),
        _claims.c.status == ClaimStatus.DONE,
        _claims.c.finished_at.is_not(None),
    )
    .order_by(_claims.c.id.desc())
    .limit(ETA_WINDOW)
)


def job_progress(url: str, job: Job) -> Progress:
    """Counts by state, the best value and config so far, and an ETA from the recent mean trial time."""
    with read_scope(url) as conn:
        return _progress(conn, job)


def job_detail(url: str, job_id: str) -> tuple[Job, Progress] | None:
    """A job and its progress, read on one connection (what a status poll needs), or None."""
    with read_scope(url) as conn:
        row = conn.execute(_JOB_BY_ID, {"id": job_id}).mappings().first()
        if row is None:
            return None
        job = Job(**row)
        return job, _progress(conn, job)


def _progress(conn: sa.Connection, job: Job) -> Progress:
    """Three aggregate or bounded queries, whatever the job's size."""
    counts = conn.execute(_CLAIM_COUNTS, {"job_id": job.id}).all()
    recent = conn.execute(_RECENT_DURATIONS, {"job_id": job.id}).all()
    best_value, best_config = best_trial(conn, job.study_name)
    claims: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for status, outcome, n in counts:
        claims[status] = claims.get(status, 0) + n
        if status == ClaimStatus.DONE:
            outcomes[outcome or Outcome.COMPLETE] = outcomes.get(outcome or Outcome.COMPLETE, 0) + n
    finished_n = claims.get(ClaimStatus.DONE, 0)
    running = claims.get(ClaimStatus.RUNNING, 0)
    eta = None
    if job.status in ACTIVE_JOB_STATUSES and recent:
        mean = sum((_aware(f) - _aware(s)).total_seconds() for s, f in recent) / len(recent)
        eta = (job.n_trials - finished_n) * mean / max(running, 1)
    return Progress(
        job.id, job.status, job.n_trials, claims, outcomes, finished_n, running, best_value, best_config, eta
    )


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
