"""Zone views of a task and optimizer: every job's explored trials merged with the active contributions.

Each point carries its origin (``explored``, ``contributed``, or ``verified`` for contributions whose rerun
agreed). Three caches keep repeated reads cheap, all keyed by the **data version** (two aggregate queries: the
complete trials of the task's jobs, and its contributions):

* the merged **table** (one per database, task and optimizer) with its parameter **importance**, which depends
  on the data only: moving the tolerance slider or changing axes reuses both and reruns only the map;
* the **answers** (per axes, tolerance and grid), as ready-made JSON bytes.

While a job runs, every finished trial changes the version. An answer whose data differs from the current data
only by newer explored trials is served for up to ``refresh_s`` seconds (default 2); after that the first
request starts a refresh in the background and is still served the previous answer, so no reader waits for a
recomputation (each answer's ``X-Data-Version`` says which data it shows). A change to the contributions is
always seen by the next read (read your own writes), and an answer more than ``10 * refresh_s`` old is
recomputed before it is served. ``refresh_s=0`` recomputes on every change.

Many clients poll the same zone: an answer whose version was checked less than ``recheck_s`` ago (default 0.5,
never more than ``refresh_s``) is served without asking for the version again, unless a contribution was
changed through this app since (its :class:`ContributionsVersion`, which every contribution route bumps).

The caches belong to a :class:`ZoneAnswers`, one per app (``create_app`` keeps it on ``app.state``): apps built
in one process share nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa

from optimizers.registry import get_optimizer
from zone_explorer.analysis import (
    ORIGINS,
    ModelZone,
    Tolerance,
    TrialTable,
    ZoneAnalysis,
    analyze,
    importance,
    model_zone,
)
from zone_explorer.contrib import TaskContext, is_lookup_name, task_contexts
from zone_explorer.core.errors import NotFound
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import Space, default_space
from zone_explorer.core.statuses import ContributionStatus, Verdict
from zone_explorer.engine.budgets import Budget
from zone_explorer.engine.job_zones import (
    ZoneRequestError,
    default_axes,
    records_table,
    reference_k,
    space_bounds,
    zone_tolerance,
)
from zone_explorer.store import optuna_tables
from zone_explorer.store.db import read_scope, session_scope
from zone_explorer.store.models import Contribution, Job
from zone_explorer.store.trials import TrialRecord, load_results
from zone_explorer.tasks import task_names

__all__ = [
    "ContributionsVersion",
    "DataVersion",
    "ZoneAnswers",
    "ZoneFilters",
    "ZoneResult",
    "data_version",
    "warm_up",
]

log = logging.getLogger("server.services.zone_answers")

#: an answer is never served more than this many refresh intervals after it was computed
MAX_STALENESS_FACTOR = 10


class DataVersion(NamedTuple):
    """What a zone shows: the finished explored trials (complete or failed: count and newest id) and the
    contributions."""

    trials: str
    contributions: str

    def __str__(self) -> str:
        return f"{self.trials}.{self.contributions}"


@dataclass
class ZoneResult:
    """A zone view or summary: the JSON-ready ``data`` and its serialised form, computed once per cached result."""

    data: dict[str, Any]
    version: str
    _derived: dict[str, ZoneResult] = field(default_factory=dict, repr=False)

    @cached_property
    def json_bytes(self) -> bytes:
        return json.dumps(self.data, allow_nan=False, separators=(",", ":"), default=str).encode()

    def derived(self, name: str, make: Callable[[dict[str, Any]], dict[str, Any]]) -> ZoneResult:
        """A result made from this one's data (e.g. the summary of a view), made once and kept with it."""
        if name not in self._derived:
            self._derived[name] = ZoneResult(make(self.data), self.version)
        return self._derived[name]


@dataclass
class _Entry:
    version: DataVersion
    value: Any
    computed_at: float
    refreshing: bool = False
    #: when a read last found this entry fit to serve, and the contributions generation it saw then
    checked_at: float = -math.inf
    generation: int = -1


class _VersionedCache:
    """A thread-safe LRU of values that belong to a data version.

    ``get`` returns the value for ``version``, computing it once however many threads ask at once (the others
    wait for it), except where the stale policy above lets a previous version's value answer.
    """

    def __init__(
        self, size: int, refresh_s: float, recheck_s: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size, self.refresh_s, self.clock = size, refresh_s, clock
        self.recheck_s = min(recheck_s, refresh_s)
        self._entries: OrderedDict[Any, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}

    def recent(self, key: Any, generation: int) -> Any | None:
        """The value for ``key`` if a read found it fit to serve less than ``recheck_s`` ago and the
        contributions ``generation`` is still the one that read saw; else None (ask for the version)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation or self.clock() - entry.checked_at >= self.recheck_s:
                return None
            self._entries.move_to_end(key)
            return entry.value

    def get(
        self,
        key: Any,
        version: DataVersion,
        compute: Callable[[], Any],
        *,
        may_serve_stale: bool = False,
        generation: int = -1,
    ) -> tuple[Any, DataVersion]:
        """``(value, the version it belongs to)``; the entry served is marked checked (see ``recent``)."""
        if self.size <= 0:
            return compute(), version
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                if entry.version == version or (may_serve_stale and self._may_serve(entry, version)):
                    entry.checked_at, entry.generation = self.clock(), generation
                    return entry.value, entry.version
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one computation per key; the others wait for it and take its value
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.version == version:
                    return entry.value, entry.version
            value = compute()
            self._store(key, version, value, generation)
        return value, version

    def _may_serve(self, entry: _Entry, version: DataVersion) -> bool:
        """Under ``self._lock``: whether a stale entry answers now (it may start a background refresh)."""
        if self.refresh_s <= 0 or entry.version.contributions != version.contributions:
            return False
        age = self.clock() - entry.computed_at
        if age < self.refresh_s or entry.refreshing:
            return True
        return age < MAX_STALENESS_FACTOR * self.refresh_s

    def refresh_in_background(self, key: Any, version: DataVersion, compute: Callable[[], Any]) -> None:
        """Recompute a stale entry in a daemon thread, unless one is already doing so or it is still young."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version == version or entry.refreshing:
                return
            if self.clock() - entry.computed_at < self.refresh_s:
                return
            entry.refreshing = True

        def run() -> None:
            try:
                self.get(key, version, compute)
            except Exception:  # the next synchronous read reports it; a refresh must not kill the server
                log.exception("zone refresh failed", extra={"event": "zone_refresh_failed"})
            finally:
                with self._lock:
                    stale = self._entries.get(key)
                    if stale is not None:
                        stale.refreshing = False

        threading.Thread(target=run, name="zone-refresh", daemon=True).start()

    def _store(self, key: Any, version: DataVersion, value: Any, generation: int) -> None:
        with self._lock:
            now = self.clock()
            self._entries[key] = _Entry(version, value, now, checked_at=now, generation=generation)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            self._key_locks.pop(key, None)


class ContributionsVersion:
    """Counts the contribution writes an app has committed: a cached zone answer checked since the last one is
    still what the database holds, as far as this app's writes go (others' show within ``recheck_s``)."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def bump(self) -> None:
        """Call after every committed change to contributions (a new one, a withdrawal, a verification request)."""
        with self._lock:
            self._value += 1


def warm_up() -> None:
    """Run a tiny analysis with importance: the first one imports Optuna's evaluators and SciPy's pieces (about a
    second), which a serving process pays at start rather than its first reader."""
    rng = np.random.default_rng(0)
    table = TrialTable(
        params={"a": rng.random(8), "b": rng.random(8)},
        values=rng.random(8),
        origin=np.full(8, "explored"),
        ids=np.arange(8),
        direction="maximize",
    )
    analyze(table, "a", "b", Tolerance.top(0.5), grid_size=10)  # the model zone too: scikit-learn's GP
    importance(table)


# ---- reading the data ------------------------------------------------------------------------------------------------
_trials_t = optuna_tables.trials
_studies_t = optuna_tables.studies


def _version_queries() -> tuple[sa.Select, sa.Select]:
    jobs, c = Job.__table__, Contribution.__table__
    task: sa.BindParameter[str] = sa.bindparam("task")
    optimizer: sa.BindParameter[str] = sa.bindparam("optimizer")
    trials = (
        sa.select(sa.func.count(), sa.func.max(_trials_t.c.trial_id))
        .select_from(
            _trials_t.join(_studies_t, _studies_t.c.study_id == _trials_t.c.study_id).join(
                jobs, jobs.c.study_name == _studies_t.c.study_name
            )
        )
        .where(
            jobs.c.task == task,
            jobs.c.optimizer == optimizer,
            # a diverged trial (FAIL) bounds the zone: it changes the answer as a finished one does
            sa.cast(_trials_t.c.state, sa.String(16)).in_(("COMPLETE", "FAIL")),
        )
    )
    contributions = sa.select(
        sa.func.count(), sa.func.count().filter(c.c.status == ContributionStatus.ACTIVE), sa.func.max(c.c.updated_at)
    ).where(c.c.task == task, c.c.optimizer == optimizer)
    return trials, contributions


#: built once: every zone read runs them
_TRIALS_VERSION, _CONTRIBUTIONS_VERSION = _version_queries()


def data_version(url: str, task: str, optimizer: str) -> DataVersion:
    """Changes whenever a trial of the task+optimizer completes or fails (a diverged trial bounds the zone) or a
    contribution to it changes (a verdict too:
    it is recorded with the end of its rerun, and moves the contribution's ``updated_at``)."""
    where = {"task": task, "optimizer": optimizer}
    with read_scope(url) as conn:
        n, top = conn.execute(_TRIALS_VERSION, where).one()
        cn, active, cmax = conn.execute(_CONTRIBUTIONS_VERSION, where).one()
    return DataVersion(f"{n}.{top}", f"{cn}.{active}.{cmax.isoformat() if cmax is not None else ''}")


#: every origin a zone point can have (the analysis' ORIGINS)
ALL_ORIGINS = frozenset(ORIGINS)


@dataclass(frozen=True)
class ZoneFilters:
    """Which results a zone shows: one ``budget`` (a :attr:`Budget.key`; None: the most common), one ``job``'s
    explored trials (None: every job's, and the contributions), the ``origin`` kinds, and whether contributions
    whose verification disputed them count (by default they are left out and listed apart)."""

    budget: str | None = None
    job: str | None = None
    origin: frozenset[str] = ALL_ORIGINS
    include_disputed: bool = False

    @classmethod
    def parse(
        cls,
        budget: str | None = None,
        job: str | None = None,
        origin: str | Iterable[str] | None = None,
        include_disputed: bool = False,
    ) -> ZoneFilters:
        """Filters from a request; a bad one is a :class:`ZoneRequestError` naming its field."""
        if budget is not None and not (isinstance(budget, str) and 0 < len(budget) <= MAX_BUDGET_KEY):
            raise ZoneRequestError("budget", f"must be a budget key of up to {MAX_BUDGET_KEY} characters")
        if job is not None and not is_lookup_name(job, 32):
            raise ZoneRequestError("job", "must be a job id")
        if origin is None:
            origins = ALL_ORIGINS
        else:
            given = [o.strip() for o in (origin.split(",") if isinstance(origin, str) else origin)]
            unknown = [o for o in given if o not in ORIGINS]
            if unknown or not given:
                raise ZoneRequestError(
                    "origin",
                    f"must be a comma-separated subset of {', '.join(sorted(ORIGINS))}; got {', '.join(unknown) or 'none'}",
                )
            origins = frozenset(given)
        if not isinstance(include_disputed, bool):
            raise ZoneRequestError("include_disputed", "must be true or false")
        return cls(budget, job, origins, include_disputed)

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "origin": sorted(self.origin), "include_disputed": self.include_disputed}


#: the longest budget key a request may give (the longest real one is about 40 characters)
MAX_BUDGET_KEY = 100
#: a metric or hyperparameter value beyond this magnitude (or nonzero below its inverse) is left out of the
#: analysis: valid in the database, but its squares and sums overflow a float64 and no zone can be measured with it
EXTREME_MAGNITUDE = 1e100


@dataclass
class _Row:
    """One stored result of a task+optimizer with what the filters ask of it. ``origin`` is None for an explored
    trial that makes no row of the table (a diverged or pruned one): it still bounds the zone."""

    origin: str | None
    id: str
    record: TrialRecord
    budget: Budget
    job: str | None
    sampler: str | None = None
    disputed: bool = False
    extreme: bool = False


@dataclass
class _ZoneRows:
    """Every result of a task+optimizer, unfiltered (one per data version), and the filtered zone data made from
    them (a few kept per filters: each with its own importance and model zones)."""

    rows: list[_Row]
    job_ids: list[str]
    spaces: dict[str, dict[str, Any]]
    optimizer: str
    direction: str
    _selections: OrderedDict[ZoneFilters, _ZoneData] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def select(self, filters: ZoneFilters) -> _ZoneData:
        with self._lock:
            found = self._selections.get(filters)
            if found is not None:
                self._selections.move_to_end(filters)
                return found
        made = self._make(filters)  # cheap next to an analysis; two racing threads make equal data
        with self._lock:
            found = self._selections.setdefault(filters, made)
            while len(self._selections) > MAX_SELECTIONS:
                self._selections.popitem(last=False)
        return found

    def _make(self, f: ZoneFilters) -> _ZoneData:
        if f.job is not None and f.job not in self.job_ids:
            raise ZoneRequestError(
                "job",
                f"job {f.job!r} explored no results of {self.optimizer} on this task (or verifies a contribution)",
            )

        def wanted(r: _Row) -> bool:
            if f.job is not None and r.job != f.job:
                return False
            return r.origin is None or r.origin in f.origin

        candidates = [r for r in self.rows if wanted(r)]
        counted = [
            r for r in candidates if r.origin is not None and not r.extreme and (f.include_disputed or not r.disputed)
        ]
        tally: dict[Budget, int] = {}
        for r in counted:
            tally[r.budget] = tally.get(r.budget, 0) + 1
        # most common first; a tie goes to the longer budget, then the key (deterministic)
        ordered = sorted(tally, key=lambda b: (-tally[b], -(b.epochs or 0), -(b.steps or 0), -(b.seeds or 0), b.key))
        budgets = [{**b.to_dict(), "count": tally[b]} for b in ordered]
        if f.budget is None:
            budget = ordered[0] if ordered else Budget()
        else:
            matching = [b for b in ordered if b.key == f.budget]
            if not matching:
                available = ", ".join(b.key for b in ordered) or "none"
                raise ZoneRequestError(
                    "budget", f"no results with budget {f.budget!r}; the budgets here are: {available}"
                )
            budget = matching[0]
        mine = [r for r in candidates if r.budget == budget]
        disputed = [r for r in mine if r.disputed and r.origin is not None and not r.extreme]
        kept = [r for r in mine if not r.extreme and (f.include_disputed or not r.disputed)]
        context_names = get_profile(self.optimizer).run_length_params
        table_rows = [r for r in kept if r.origin is not None]
        base = records_table([r.record for r in kept], self.optimizer, self.direction, context=context_names)
        assert len(base) == len(table_rows), "records_table keeps the complete trials with a finite value"
        ids = [r.id for r in table_rows]
        table = TrialTable(
            params=base.params,
            values=base.values,
            origin=np.asarray([r.origin for r in table_rows], dtype=str),
            ids=np.asarray(ids),
            log_params=base.log_params,
            direction=self.direction,
            noise_var=base.noise_var,
            diverged=base.diverged,
            constants=base.constants,
        )
        samplers: dict[str, int] = {}
        for r in table_rows:
            if r.sampler is not None:
                samplers[r.sampler] = samplers.get(r.sampler, 0) + 1
        jobs = list(dict.fromkeys(r.job for r in table_rows if r.job is not None))
        job_ids = [j for j in self.job_ids if j in jobs]
        return _ZoneData(
            table,
            {r.id: r.record.config for r in table_rows},
            job_ids,
            _bounds([self.spaces[j] for j in job_ids], self.optimizer),
            samplers,
            budget=budget,
            budgets=budgets,
            filters=f,
            context=_context([r.record.config for r in table_rows], context_names),
            disputed=[
                {"id": r.id, "value": r.record.value, "config": r.record.config}
                for r in disputed
                if not f.include_disputed
            ],
            n_disputed=len(disputed),
            disputed_ids=frozenset(r.id for r in disputed),
            n_extreme=sum(r.extreme and r.origin is not None for r in mine),
        )


#: filtered views kept per data version
MAX_SELECTIONS = 16


def _context(configs: list[dict[str, Any]], names: Iterable[str]) -> dict[str, Any]:
    """Each run-length parameter's value among ``configs``: one value, or the sorted distinct values."""
    out: dict[str, Any] = {}
    for name in names:
        seen = sorted({v for c in configs if isinstance((v := c.get(name)), (int, float)) and math.isfinite(v)})
        if seen:
            out[name] = seen[0] if len(seen) == 1 else seen
    return out


def _is_extreme(value: float | None, config: dict[str, Any]) -> bool:
    """Whether a result holds a value no zone can be measured with (see ``EXTREME_MAGNITUDE``)."""
    numbers = [value] + [v for v in config.values() if type(v) is float or type(v) is int]
    return any(
        v is not None and math.isfinite(v) and (abs(v) > EXTREME_MAGNITUDE or 0 < abs(v) < 1 / EXTREME_MAGNITUDE)
        for v in numbers
    )


@dataclass
class _ZoneData:
    """The merged table of a task+optimizer, the full config of each row id, the job ids, the searched ranges (the
    box the model zone's volume is measured in), and the importance."""

    table: TrialTable
    configs: dict[str, dict[str, Any]]
    job_ids: list[str]
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    samplers: dict[str, int] = field(default_factory=dict)  # explored results per sampler that produced them
    budget: Budget = field(default_factory=Budget)
    budgets: list[dict[str, Any]] = field(default_factory=list)  # every budget with its count, most common first
    filters: ZoneFilters = field(default_factory=lambda: ZoneFilters())
    context: dict[str, Any] = field(default_factory=dict)  # the run-length parameters the budget derives
    disputed: list[dict[str, Any]] = field(default_factory=list)  # this budget's disputed results, when left out
    n_disputed: int = 0
    n_extreme: int = 0  # results left out for values the analysis cannot measure
    disputed_ids: frozenset[str] = frozenset()
    _importance: dict[str, float] | None = None
    _importance_done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: the model zone per (x, y, delta): a top-q change moves only the trials' view, never the model
    _models: dict[tuple[str, str, float | None], ModelZone] = field(default_factory=dict, repr=False)
    _model_locks: dict[tuple[str, str, float | None], threading.Lock] = field(default_factory=dict, repr=False)

    def importance(self) -> dict[str, float] | None:
        """PED-ANOVA importance of the parameters (computed once per data version; None under 4 results)."""
        with self._lock:
            if not self._importance_done:
                self._importance = importance(self.table) if len(self.table) >= 4 else None
                self._importance_done = True
        return self._importance

    def model_zone(self, x: str, y: str, delta: float | None, optimizer: str) -> ModelZone:
        """The zone on the model over (x, y) with ``delta`` (None: the default), fit once per data version (a fit
        takes seconds on a large table; the answers for other tolerances of the trials' view reuse it)."""
        key = (x, y, delta)
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                return found
            key_lock = self._model_locks.setdefault(key, threading.Lock())
        with key_lock:  # one fit per key; the others wait for it
            with self._lock:
                found = self._models.get(key)
            if found is None:
                profile = get_profile(optimizer)
                found = model_zone(
                    self.table,
                    x,
                    y,
                    delta=delta,
                    bounds=self.bounds,
                    budget_params=profile.run_length_params,
                    reference=profile.reference,
                )
                with self._lock:
                    while len(self._models) >= MAX_MODELS:  # oldest first
                        self._models.pop(next(iter(self._models)))
                    self._models[key] = found
                    # the waiters hold the lock itself; keeping one per delta ever asked would grow without bound
                    self._model_locks.pop(key, None)
        return found


#: model zones kept per data version (axes x delta)
MAX_MODELS = 16


def _analysis(data: _ZoneData, optimizer: str, x: str, y: str, tol: Tolerance, grid_size: int) -> ZoneAnalysis:
    """:func:`analyze` without importance, with the model zone from ``data``'s cache."""
    model = data.model_zone(x, y, tol.value if tol.mode == "delta" else None, optimizer)
    return analyze(data.table, x, y, tol, grid_size=grid_size, with_importance=False, model=model)


def _bounds(spaces: list[dict[str, Any]], optimizer: str) -> dict[str, tuple[float, float]]:
    """The searched ranges of the jobs' spaces, widened to cover them all; the optimizer's default space when no
    job searched (contributions only). A space that no longer parses is left out."""
    out: dict[str, tuple[float, float]] = {}
    parsed = []
    for raw in spaces:
        try:
            parsed.append(Space.from_dict(raw))
        except ValueError:
            continue
    for space in parsed or [default_space(optimizer)]:
        for name, (lo, hi) in space_bounds(space).items():
            old = out.get(name)
            out[name] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    return out


def _read_zone_data(url: str, task: str, optimizer: str, direction: str) -> _ZoneRows:
    """Every result of ``task`` x ``optimizer``: each job's trials (the diverged ones and seed values too) but not
    the reruns that verify a contribution (they measure its config again, they do not explore), and the active
    contributions, each with its budget."""
    c = Contribution.__table__
    verifying = sa.or_(
        sa.func.coalesce(Job.idempotency_key, "").like("verify:%"),  # NULL would make the NOT below NULL
        Job.id.in_(sa.select(c.c.verify_job_id).where(c.c.verify_job_id.is_not(None))),
    )
    with session_scope(url) as s:
        jobs = list(
            s.execute(
                sa.select(Job.id, Job.study_name, Job.space, Job.sampler, Job.epochs, Job.seeds)
                .where(Job.task == task, Job.optimizer == optimizer, sa.not_(verifying))
                .order_by(Job.created_at, Job.id)
            ).all()
        )
        contributed = list(
            s.scalars(
                sa.select(Contribution)
                .where(
                    Contribution.task == task,
                    Contribution.optimizer == optimizer,
                    Contribution.status == ContributionStatus.ACTIVE,
                )
                .order_by(Contribution.created_at, Contribution.id)
            )
        )
    rows: list[_Row] = []
    for job_id, study_name, _, sampler, epochs, seeds in jobs:
        budget = Budget.of(epochs, None, seeds)
        for r in load_results(url, study_name):
            row = _is_row(r)
            rows.append(
                _Row(
                    "explored" if row else None,
                    f"{job_id}/{r.number}",
                    r,
                    budget,
                    job_id,
                    sampler if row else None,
                    extreme=_is_extreme(r.value if row else None, r.config),
                )
            )
    for con in contributed:
        r = TrialRecord(0, 0, "COMPLETE", con.value, attrs={"config": con.config})
        if not _is_row(r):
            continue
        rows.append(
            _Row(
                "verified" if con.verdict == Verdict.VERIFIED else "contributed",
                f"contribution/{con.id}",
                r,
                Budget.of(con.epochs, con.steps, con.seeds),
                None,
                disputed=con.verdict == Verdict.DISPUTED,
                extreme=_is_extreme(con.value, con.config),
            )
        )
    return _ZoneRows(rows, [j for j, *_ in jobs], {j: space for j, _, space, *_ in jobs}, optimizer, direction)


def _is_row(r: TrialRecord) -> bool:
    """Whether records_table makes a row of ``r`` (a complete trial with a finite value)."""
    return r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)


# ---- the answers -----------------------------------------------------------------------------------------------------
def _task_of(url: str, task: str, optimizer: str) -> TaskContext:
    try:
        get_optimizer(optimizer)
    except ValueError as err:
        raise NotFound("optimizer", str(err).split(": ", 1)[-1]) from None
    meta = task_contexts(url, [task]).get(task) if is_lookup_name(task) else None
    if meta is None:
        raise NotFound("task", f"unknown task {task!r} (registered: {', '.join(task_names())})")
    return meta


def _answer_key(
    task: str, optimizer: str, x: str | None, y: str | None, tol: Tolerance, grid_size: int, filters: ZoneFilters
) -> tuple:
    return ("zone", task, optimizer, x, y, tol.mode, tol.value, grid_size, filters)


class ZoneAnswers:
    """The zone answers of one database, cached for one app (see the module's staleness policy).

    ``size`` answers are kept in memory (0: compute every time); an answer may lag new explored trials by
    ``refresh_s`` seconds and is served without a version check for ``recheck_s`` seconds, unless
    ``contributions`` was bumped meanwhile.
    """

    def __init__(
        self,
        url: str,
        size: int = 32,
        refresh_s: float = 2.0,
        recheck_s: float = 0.5,
        *,
        contributions: ContributionsVersion | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("refresh_s", refresh_s), ("recheck_s", recheck_s)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")  # a server setting, not a request field
        self.url = url
        self.contributions = contributions or ContributionsVersion()
        self._answers = _VersionedCache(size, refresh_s, recheck_s, clock)
        self._tables = _VersionedCache(min(size, 8), refresh_s, clock=clock)  # read only on an answer's miss

    def view(
        self,
        task: str,
        optimizer: str,
        *,
        x: str | None = None,
        y: str | None = None,
        top_q: float | None = None,
        delta: float | None = None,
        grid_size: int = 60,
        filters: ZoneFilters = ZoneFilters(),
    ) -> ZoneResult:
        """The zone of a task+optimizer over the explored trials and contributions that ``filters`` selects (one
        budget: the most common unless asked; disputed contributions apart), cached per data version."""
        meta = _task_of(self.url, task, optimizer)
        tol = zone_tolerance(top_q, delta)
        if not isinstance(grid_size, int) or not 10 <= grid_size <= 200:
            raise ZoneRequestError("grid_size", f"must be an integer in [10, 200], got {grid_size!r}")
        for fld, name in (("x", x), ("y", y)):
            if name is not None and not is_lookup_name(name, 100):
                raise ZoneRequestError(fld, "must be a parameter name")
        key = _answer_key(task, optimizer, x, y, tol, grid_size, filters)
        generation = self.contributions.value  # read before the version: a write in between forces a recheck
        recent = self._answers.recent(key, generation)
        if recent is not None:
            return recent
        version = data_version(self.url, task, optimizer)

        def compute() -> ZoneResult:
            rows, data_version_ = self._zone_data(task, optimizer, meta.direction, version)
            data = rows.select(filters)
            return ZoneResult(_compute_zone(data, task, optimizer, meta, x, y, tol, grid_size), str(data_version_))

        result, served = self._answers.get(key, version, compute, may_serve_stale=True, generation=generation)
        if served != version:
            self._answers.refresh_in_background(key, version, compute)
        return result

    def summary(
        self,
        task: str,
        optimizer: str,
        *,
        top_q: float | None = None,
        delta: float | None = None,
        filters: ZoneFilters = ZoneFilters(),
    ) -> ZoneResult:
        """Best configurations (full configs), importance, each parameter's range among the best trials, the zone on
        the model (volume, outline, membership), for FSGDM K, the diagnostics and the warnings."""
        return self.view(task, optimizer, top_q=top_q, delta=delta, filters=filters).derived("summary", _summarise)

    def recent_view(
        self,
        task: str,
        optimizer: str,
        *,
        x: str | None = None,
        y: str | None = None,
        top_q: float | None = None,
        delta: float | None = None,
        grid_size: int = 60,
        filters: ZoneFilters = ZoneFilters(),
    ) -> ZoneResult | None:
        """What ``view`` would answer, when memory alone can answer it (see ``recheck_s``); else None.

        Touches neither the database nor a computation, so an event loop may call it before handing a miss to a
        thread. Only answers that ``view`` stored are found, so its validation needs no repeating here."""
        try:
            tol = zone_tolerance(top_q, delta)
        except ZoneRequestError:
            return None
        key = _answer_key(task, optimizer, x, y, tol, grid_size, filters)
        return self._answers.recent(key, self.contributions.value)

    def recent_summary(
        self,
        task: str,
        optimizer: str,
        *,
        top_q: float | None = None,
        delta: float | None = None,
        filters: ZoneFilters = ZoneFilters(),
    ) -> ZoneResult | None:
        """What ``summary`` would answer, when memory alone can answer it; else None."""
        view = self.recent_view(task, optimizer, top_q=top_q, delta=delta, filters=filters)
        return view.derived("summary", _summarise) if view is not None else None

    def _zone_data(
        self, task: str, optimizer: str, direction: str, version: DataVersion
    ) -> tuple[_ZoneRows, DataVersion]:
        """Every result for ``version`` (an answer being computed is never older than what it was asked
        for)."""
        return self._tables.get(
            ("table", task, optimizer), version, lambda: _read_zone_data(self.url, task, optimizer, direction)
        )


def _compute_zone(
    data: _ZoneData,
    task: str,
    optimizer: str,
    meta: TaskContext,
    x: str | None,
    y: str | None,
    tol: Tolerance,
    grid_size: int,
) -> dict[str, Any]:
    table = data.table
    if len(table) < 2:
        raise ZoneRequestError(
            "task",
            f"{task} x {optimizer} has {len(table)} finished result(s)"
            f"{_filtered_note(data)}; a zone needs at least 2 (submit a job or contribute results)",
        )
    if x is None or y is None:
        dx, dy = default_axes(optimizer, table, default_space(optimizer))
        x, y = x or (dx if dx != y else dy), y or (dy if dy != x else dx)
    for fld, name in (("x", x), ("y", y)):
        if name not in table.axis_names():
            raise ZoneRequestError(fld, f"unknown axis {name!r}; the axes here are {', '.join(table.axis_names())}")
    if x == y:
        raise ZoneRequestError("y", f"must differ from x (both are {x!r})")
    try:
        # importance depends on the data alone: computed once per table, not per tolerance or axes
        result = _analysis(data, optimizer, x, y, tol, grid_size)
        imp = data.importance()
    except ValueError as err:
        raise ZoneRequestError("axes", str(err)) from None
    analysis = result.to_dict()
    analysis["importance"], analysis["importance_evaluator"] = imp, ("ped-anova" if imp is not None else None)
    for row in analysis["best_configs"]:
        row["config"] = data.configs.get(row["id"])
        if data.filters.include_disputed:
            row["disputed"] = row["id"] in data.disputed_ids
    if data.n_extreme:
        analysis["warnings"].append(
            {
                "code": "extreme_values_dropped",
                "message": f"{data.n_extreme} result(s) left out: a metric or parameter value beyond "
                f"{EXTREME_MAGNITUDE:.0e} in magnitude (or nonzero below {1 / EXTREME_MAGNITUDE:.0e}) cannot be "
                "measured with the others",
            }
        )
    counts = {o: int((table.origin == o).sum()) for o in ORIGINS}
    counts["disputed"] = data.n_disputed
    return {
        "task": task,
        "optimizer": optimizer,
        "metric": meta.metric,
        "direction": meta.direction,
        "x": x,
        "y": y,
        "reference_K": reference_k(optimizer),
        "counts": counts,
        "jobs": data.job_ids,
        "samplers": data.samplers,
        "budget": data.budget.to_dict(),
        "budgets": data.budgets,
        "filters": data.filters.to_dict(),
        "context": data.context,
        "disputed": data.disputed,
        "analysis": analysis,
    }


def _filtered_note(data: _ZoneData) -> str:
    """What a too-few message says of the filters that left so few (empty when none narrowed the data)."""
    f = data.filters
    said = [f"budget {data.budget.label}"] if data.budgets else []
    if f.job is not None:
        said.append(f"job {f.job}")
    if f.origin != ALL_ORIGINS:
        said.append(f"origin {','.join(sorted(f.origin))}")
    return f" with {', '.join(said)}" if said else ""


def _summarise(view: dict[str, Any]) -> dict[str, Any]:
    a = view["analysis"]
    ranges = {}
    for name, m in a["marginals"].items():
        filled = [i for i, n in enumerate(m["top_counts"]) if n]
        ranges[name] = [m["edges"][filled[0]], m["edges"][filled[-1] + 1]] if filled else None
    names = ("task", "optimizer", "metric", "direction", "counts", "jobs", "samplers", "budget", "budgets", "filters")
    data = {k: view[k] for k in (*names, "context", "disputed")}
    data.update(
        n_results=a["n_trials"],
        tolerance=a["tolerance"],
        q=a["q"],
        best_configs=a["best_configs"],
        importance=a["importance"],
        importance_evaluator=a["importance_evaluator"],
        zone_ranges=ranges,
        # the zone on the model, FSGDM's K, the diagnostics and the warnings, as in the view
        zone=a["zone"],
        k=a["k"],
        diagnostics=a["diagnostics"],
        warnings=a["warnings"],
    )
    return data
