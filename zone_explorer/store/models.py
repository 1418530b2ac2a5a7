"""Our own tables, beside Optuna's in the same database (prefixed ``ze_`` so the two never collide)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zone_explorer.core.statuses import ClaimStatus, ContributionStatus, JobStatus


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Job(Base):
    """A tuning job: task + optimizer + space + sampler + pruner + trials + seeds + budget."""

    __tablename__ = "ze_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    #: a :class:`~zone_explorer.core.statuses.JobStatus` value
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    task: Mapped[str] = mapped_column(String(200))
    optimizer: Mapped[str] = mapped_column(String(50))
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    sampler: Mapped[str] = mapped_column(String(16))
    sampler_seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pruner: Mapped[str] = mapped_column(String(16))
    n_trials: Mapped[int] = mapped_column(Integer)
    seeds: Mapped[list[int]] = mapped_column(JSON)
    epochs: Mapped[int] = mapped_column(Integer)
    #: what the task and epochs give the run-length hyperparameters (FSGDM's sigma and n_stages, AutoSGM's tau and
    #: spe), derived once at submission; NULL for jobs submitted before it was stored (see ``job_run_length``)
    run_length: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    study_name: Mapped[str] = mapped_column(String(200), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: why the job failed (set with status ``failed``)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TrialClaim(Base):
    """One slot of a job's trial budget, claimed by one worker. The unique (job_id, slot) pair is what makes
    claiming safe across processes and machines: two workers racing for the last slot cannot both insert it."""

    __tablename__ = "ze_trial_claims"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", name="uq_ze_claim_slot"),
        Index("ix_ze_claims_job_status", "job_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ze_jobs.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(200))
    #: a :class:`~zone_explorer.core.statuses.ClaimStatus` value
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.RUNNING)
    optuna_trial_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: an :class:`~zone_explorer.core.statuses.Outcome` value, once the claim is closed
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# ---- the REST service: contributed results, their tasks, API tokens ------------------------------------------


class ContributedTask(Base):
    """A task that is not built in, described by its contributor so that results on it stay comparable."""

    __tablename__ = "ze_contributed_tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dataset: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(500))
    metric: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: the metric's valid range as its contributor declared it; NULL: unbounded on that side (tasks described
    #: before ranges were asked for)
    metric_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    metric_high: Mapped[float | None] = mapped_column(Float, nullable=True)


#: only active rows are unique: a withdrawn result may be contributed again
_ACTIVE = "status = 'active'"


class Contribution(Base):
    """One result reported from outside: a full optimizer config on a task, its metric value and its context.

    ``verdict`` is None (never verified), ``pending`` (a verification job is queued or running), ``verified``,
    ``disputed`` or ``unverified`` (the verification job was cancelled or failed; it may be requested again).
    """

    __tablename__ = "ze_contributions"
    __table_args__ = (
        Index("ix_ze_contributions_task_optimizer", "task", "optimizer", "status"),
        Index(
            "uq_ze_contributions_active_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    #: active | withdrawn
    status: Mapped[str] = mapped_column(String(16), default=ContributionStatus.ACTIVE)
    task: Mapped[str] = mapped_column(String(200))
    optimizer: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    given: Mapped[list[str]] = mapped_column(JSON)
    value: Mapped[float] = mapped_column(Float)
    curve: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    epochs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seeds: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    hardware: Mapped[str | None] = mapped_column(String(500), nullable=True)
    software: Mapped[str | None] = mapped_column(String(500), nullable=True)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    verify_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    measured_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    verdict_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: SHA-256 of what makes two results the same (task, optimizer, config, budget, seeds, value, owner); unique
    #: among active rows, so a result is never stored twice (NULL for rows stored before it was kept)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ContributionRequest(Base):
    """A contribution write made with an ``Idempotency-Key``: a replay (same token, key and body) answers the rows it
    wrote instead of writing again; the same key with another body is refused."""

    __tablename__ = "ze_contribution_requests"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: which route (``create``, ``batch``, ``csv``, ``edit``, ``withdraw``, ``verify``) and SHA-256 of what it was sent
    route: Mapped[str] = mapped_column(String(16))
    body_hash: Mapped[str] = mapped_column(String(64))
    #: the contributions the request stored or acted on, and how many rows it found already stored
    contribution_ids: Mapped[list[str]] = mapped_column(JSON)
    duplicates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """An API token: only the SHA-256 of the secret is stored; the secret is shown once, at creation."""

    __tablename__ = "ze_api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# ---- external tasks: a user's command or Python function run as one trial --------------------------------------


class ExternalTaskRow(Base):
    """A task whose trial is a user's code: ``kind`` ``command`` (``command`` is the command line a worker launches,
    registered by an admin or by ``zone-explorer run --command``) or ``function`` (``command`` is the ``module:name``
    of a function that ``ze.explore`` runs; stored so that the zone pages know its metric and direction)."""

    __tablename__ = "ze_external_tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(8))
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    cwd: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrialLog(Base):
    """The output of one command trial (stdout and stderr), its last ``MAX_TRIAL_LOG`` characters."""

    __tablename__ = "ze_trial_logs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trial_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
