"""Request and response models (``...Create`` in, ``...Public`` out).

Request models check types and shapes (strict: ``"5"`` is not a number, NaN and inf are refused); the engine then
checks domains against the registry and names the field of any problem, so both layers report the same paths.
A job's rules (known task and optimizer, sampler and pruner names, caps, the space) are checked by the engine alone
(:meth:`~zone_explorer.engine.jobs.JobSpec.parse`); :class:`JobCreate` only describes them in the OpenAPI document,
from the limits the engine enforces.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, StrictInt, StringConstraints, Tag

from server import examples as ex
from zone_explorer.core.limits import (
    CONTRIBUTED_TASK_NAME,
    DEFAULT_SAMPLER,
    INT32_MAX,
    MAX_CONTRIBUTED_EPOCHS,
    MAX_CURVE,
    MAX_EPOCHS,
    MAX_LONG_TEXT,
    MAX_METRIC_NAME,
    MAX_NAME,
    MAX_NOTES,
    MAX_SEEDS,
    MAX_SHORT_TEXT,
    PRUNERS,
    SAMPLERS,
)
from zone_explorer.core.statuses import JobStatus
from zone_explorer.store.models import Job

# ---- field types -------------------------------------------------------------------------------------------------
#: a name (task, optimizer, filter value): printable, no control characters (PostgreSQL refuses NUL)
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: free text: any characters but NUL
Text = Annotated[str, StringConstraints(max_length=MAX_NOTES, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT_TEXT, pattern=r"^[^\x00]*$")]
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: union members are tagged so that an error names the field, not the member; the tags are dropped from paths
UNION_TAGS = frozenset({"task-name", "task-object"})


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they are UTC (the engine writes UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- health ------------------------------------------------------------------------------------------------------
class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class WorkersPublic(BaseModel):
    expected: int = Field(description="embedded worker processes this server runs (0: workers run elsewhere)")
    alive: int = Field(description="how many of them run now")


class ReadyPublic(BaseModel):
    status: Literal["ready"] = "ready"
    database: str = Field(description="the database backend: sqlite or postgresql")
    workers: WorkersPublic


# ---- catalog -------------------------------------------------------------------------------------------------------
class TaskPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.TASK]})

    name: str
    description: str
    metric: str
    direction: Literal["maximize", "minimize"]
    default_epochs: int | None
    steps_per_epoch: int | None
    dataset: str
    model: str
    source: str
    metric_range: list[float | None] = Field(
        [None, None], description="[low, high] of the metric's valid values (null: unbounded on that side)"
    )
    kind: Literal["builtin", "plugin", "command", "contributed"]
    verifiable: bool = Field(description="whether contributions on this task can be rerun by a verification job")


class HyperparameterPublic(BaseModel):
    name: str
    type: str
    default: Any
    description: str
    domain: str
    nullable: bool
    low: float | None = None
    high: float | None = None
    low_open: bool | None = None
    high_open: bool | None = None
    log: bool | None = None
    choices: list[Any] | None = None


class OptimizerPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.OPTIMIZER]}, populate_by_name=True)

    name: str
    class_: str = Field(alias="class")
    description: str
    family: str
    reference: str
    hyperparameters: list[HyperparameterPublic]
    default_space: dict[str, Any]
    contribution_required: list[str] = Field(description="hyperparameters a contribution must give")
    contribution_bounds: dict[str, list[float]] = Field(
        {}, description="[low, high]: the finite range a contributed numeric hyperparameter must lie in"
    )
    natural_axes: list[str] = Field(description="the pair a zone is drawn over by default")


# ---- jobs -------------------------------------------------------------------------------------------------------------
class JobCreate(_In):
    """A tuning job: task + optimizer + search space + sampler + pruner + trials + seeds + epochs.

    Types only: the bounds and choices in ``json_schema_extra`` document the engine's rules, which it checks.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ex.JOB_CREATE]})

    task: Name = Field(description="a registered task (GET /api/v1/tasks)")
    optimizer: Name = Field(description="a registry optimizer (GET /api/v1/optimizers)")
    space: dict[str, Any] | None = Field(None, description="search space (default: the optimizer's default space)")
    sampler: str = Field(DEFAULT_SAMPLER, json_schema_extra={"enum": list(SAMPLERS)})
    pruner: str = Field("none", json_schema_extra={"enum": list(PRUNERS)})
    n_trials: StrictInt = Field(
        40, json_schema_extra={"minimum": 1}, description="finished trials the job stops at (capped by the server)"
    )
    seeds: list[Annotated[StrictInt, Field(json_schema_extra={"minimum": 0, "maximum": INT32_MAX})]] = Field(
        [0],
        json_schema_extra={"minItems": 1, "maxItems": MAX_SEEDS, "uniqueItems": True},
        description="each config is trained on every seed",
    )
    epochs: StrictInt | None = Field(
        None, json_schema_extra={"minimum": 1, "maximum": MAX_EPOCHS}, description="default: the task's"
    )
    sampler_seed: StrictInt | None = Field(None, json_schema_extra={"minimum": 0, "maximum": INT32_MAX})

    def raw(self) -> dict[str, Any]:
        """What the engine's JobSpec.parse reads: the fields given, without nulls (null = default)."""
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class ProgressPublic(BaseModel):
    claims: dict[str, int] = Field(description="trial slots by state: running, done, lost, cancelled")
    outcomes: dict[str, int] = Field(description="finished trials by outcome: complete, pruned, diverged, ...")
    finished: int
    running: int
    best_value: float | None
    best_config: dict[str, Any] | None
    eta_seconds: float | None


_JobT = TypeVar("_JobT", bound="JobPublic")


#: the columns of a job that its public forms show (the REST answer; the pages leave ``owner`` out)
JOB_COLUMNS = (
    "id",
    "status",
    "task",
    "optimizer",
    "space",
    "sampler",
    "sampler_seed",
    "pruner",
    "n_trials",
    "seeds",
    "epochs",
    "study_name",
    "owner",
    "error",
    "created_at",
    "updated_at",
)


class JobPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.JOB]})

    id: str
    status: JobStatus
    task: str
    optimizer: str
    space: dict[str, Any]
    sampler: str
    sampler_seed: int | None
    pruner: str
    n_trials: int
    seeds: list[int]
    epochs: int
    study_name: str
    owner: str | None
    error: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    links: dict[str, str]

    @classmethod
    def of(cls: type[_JobT], job: Job, **extra: Any) -> _JobT:
        base = f"/api/v1/jobs/{job.id}"
        fields = {k: getattr(job, k) for k in JOB_COLUMNS}
        links = {"self": base, "trials": f"{base}/trials", "export": f"{base}/export", "cancel": f"{base}/cancel"}
        return cls(**fields, links=links, **extra)


class JobDetail(JobPublic):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.JOB_DETAIL]})

    progress: ProgressPublic


class JobPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.JOB_PAGE]})

    items: list[JobPublic]
    total: int
    limit: int = Field(description="the page size served (requests above the server's cap are capped)")
    offset: int


class TrialPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.TRIAL]})

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    config: dict[str, Any]
    outcome: str | None
    reason: str | None
    seed_values: list[float] | None
    value_std: float | None
    environment: dict[str, Any] | None = Field(
        None,
        description="Where the trial ran: device, device_name (the GPU's or the CPU's), torch, cuda (the version "
        "torch was built with), cudnn (on a GPU), host, python, platform; requested_device when the task could not "
        "use the worker's device. None for trials from before it was recorded.",
    )
    datetime_start: str | None
    datetime_complete: str | None


class TrialPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.TRIAL_PAGE]})

    items: list[TrialPublic]
    limit: int
    offset: int
    has_more: bool


# ---- zones ------------------------------------------------------------------------------------------------------------
#: the codes a zone's warnings carry (zone_explorer.analysis.WARNING_CODES)
WarningCode = Literal[
    "too_few_trials", "zone_on_search_boundary", "saturated_metric", "not_a_level_set", "mixed_budgets", "high_noise"
]
#: [low, high]
Interval = Annotated[list[float], Field(min_length=2, max_length=2)]
Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[x, y] in parameter units")]


class ZoneWarning(BaseModel):
    code: WarningCode = Field(
        description="too_few_trials (at most 8 finished trials: no K, a rough zone), zone_on_search_boundary (the "
        "modelled best lies on an edge of the searched space: widen it), saturated_metric (many trials reach the "
        "best value), not_a_level_set (the metric is not a function of K), mixed_budgets (trials ran with "
        "different budgets), high_noise (the metric's noise is more than a third of delta: the outline is a rough "
        "guess)"
    )
    message: str = Field(description="what it means and what to do, in words")


class EstimatePublic(BaseModel):
    estimate: float
    interval: Interval = Field(description="the central interval of the model's posterior draws")


class VolumeFraction(BaseModel):
    estimate: float | None = Field(description="the share of the searched space inside; null with 8 trials or fewer")
    interval: Interval | None = Field(description="the central interval of the model's posterior draws")
    confidence: float = Field(description="the interval's coverage (0.95)")


class HitChance(BaseModel):
    trials: int = Field(description="k, a number of random trials")
    probability: float = Field(description="1 - (1 - V)^k: the chance that k random trials land in the zone")


class ZonePolygon(BaseModel):
    exterior: list[Point]
    holes: list[list[Point]]


class ZoneMembership(BaseModel):
    x: list[float] = Field(description="the map's x nodes, in parameter units")
    y: list[float] = Field(description="the map's y nodes, in parameter units")
    probability: list[list[float | None]] = Field(
        description="P(in zone) at each node, rows along y, columns along x; null outside the searched box"
    )


class ZoneBest(BaseModel):
    params: dict[str, float] = Field(description="where the modelled metric peaks")
    value: float = Field(description="the modelled metric there")
    interval: Interval


class ZoneModelInfo(BaseModel):
    kind: str = Field(description="gaussian_process")
    kernel: str
    axes: list[str] = Field(description="the model's input features")
    n_fit: int = Field(description="points the model was fit to (after aggregation)")
    aggregated: bool
    warp: str = Field(description="the transform of the metric the model is fit on")
    noise_std: float


class ModelZonePublic(BaseModel):
    """The zone on a model of the metric (a Gaussian process): the configurations whose modelled metric is within
    ``delta`` of the modelled best."""

    delta: float = Field(description="the zone's tolerance, in metric units")
    delta_source: Literal["default", "given"] = Field(description="given: the request's delta; else the default")
    x: str
    y: str
    x_log: bool
    y_log: bool
    membership: ZoneMembership = Field(description="the membership probability P(in zone) over the map")
    outline: list[ZonePolygon] = Field(description="the zone: the P(in zone) = 0.5 contour, in parameter units")
    core: list[ZonePolygon] = Field(description="the confident core: the P(in zone) = 0.9 contour")
    volume_fraction: VolumeFraction = Field(
        description="the share of the searched space (log-scaled for log parameters) inside the zone"
    )
    hit_chance: list[HitChance] = Field(description="the chance that k random trials land in the zone")
    best: ZoneBest
    slice: dict[str, float] = Field(description="values of the other searched parameters held fixed on the map")
    model: ZoneModelInfo


class KRidge(BaseModel):
    c: list[float] = Field(description="c_scaling along the band")
    k: list[float] = Field(description="the band's K centre at each c (K*(c))")
    lower: list[float]
    upper: list[float]
    tilt: EstimatePublic | None = Field(description="the slope d log K / d log c over the zone")


class KReference(BaseModel):
    k: float = Field(description="the published zone constant (FSGDM's README: 30.992)")
    lr: float = Field(description="the learning rate it was stated at (0.1): K scales as 1/lr")
    lr_times_k: float
    source: str


class KPublic(BaseModel):
    """FSGDM's zone constant K = v (1 + 1/c) of the band (only when c_scaling and v_coefficient are searched)."""

    status: Literal["ok", "not_a_level_set", "too_few_trials", "on_search_boundary"]
    estimate: float | None = Field(description="the band's K centre; null with too few trials")
    interval: Interval | None
    confidence: float | None
    lr: float | None = Field(description="the run's learning rate when it is fixed")
    lr_times_k: EstimatePublic | None = Field(description="the effective gain lr K (comparable across lr)")
    reference: KReference | None = Field(description="the published zone, with the lr it was stated at")
    ridge: KRidge | None = Field(description="the ridge K*(c) along the band with its interval")


class LevelSetDiagnostic(BaseModel):
    explained: dict[str, float | None] = Field(
        description="how much of the modelled metric's variation over the searched box each axis explains alone "
        "(K, c_scaling, v_coefficient)"
    )
    method: str


class NoiseDiagnostic(BaseModel):
    median_seed_std: float | None = Field(description="the trials' seed spread (median std); null: one seed each")
    model_noise_std: float = Field(
        description="the model's fitted noise as a std in metric units at the zone's edge (delta below the best)"
    )


class ZoneDiagnostics(BaseModel):
    level_set: LevelSetDiagnostic | None = Field(description="FSGDM only: whether the zone is a K level set")
    noise: NoiseDiagnostic | None
    n_diverged: int = Field(description="diverged trials the model took as bounds of the zone")
    n_used: int = Field(description="finished trials with every searched parameter, less the far-worse ones")
    n_far_worse: int = Field(
        description="finite runs beyond Tukey's far fence on the worse side (3 IQR past the quartile; metrics other "
        "than fractions in [0, 1]), taken as diverged"
    )


class ZoneAnalysisPublic(BaseModel):
    """The trials' view (zone_map, best_configs, marginals, importance, over the tolerance) and the zone on the
    model (zone, k, diagnostics, warnings)."""

    zone_map: dict[str, Any] = Field(
        description="the trials' view: their smoothed metric, the trials within the tolerance and the points "
        "(each with its origin); colour_scale: the metric range the colours span (Tukey's far fences, with the "
        "count of values outside); diverged: where the diverged trials lie on the axes"
    )
    best_configs: list[dict[str, Any]]
    marginals: dict[str, dict[str, Any]] = Field(description="each parameter's distribution over the best trials")
    importance: dict[str, float] | None
    importance_evaluator: str | None
    zone: ModelZonePublic | None = Field(description="the zone on the model; null under 3 usable trials")
    k: KPublic | None = Field(description="FSGDM's K (null for other optimizers)")
    diagnostics: ZoneDiagnostics
    warnings: list[ZoneWarning]
    tolerance: dict[str, Any] = Field(
        description="top_q (a view of the trials) or delta (the trials within delta of the best, and the model "
        "zone's delta)"
    )
    q: float
    direction: Literal["maximize", "minimize"]
    n_trials: int


class ZoneBudget(BaseModel):
    """A zone's budget: epochs (or steps, where a result reported no epochs) and seeds; null where not reported."""

    key: str = Field(description="what the `budget` query parameter takes, e.g. `epochs=10;seeds=2`")
    label: str = Field(description="for people, e.g. `10 epochs x 2 seeds`")
    epochs: int | None
    steps: int | None
    seeds: int | None = Field(description="the number of seeds each result is the mean of")


class ZoneBudgetCount(ZoneBudget):
    count: int = Field(description="results of this budget under the other filters")


class ZoneFiltersPublic(BaseModel):
    job: str | None = Field(description="one job's explored trials only (null: every job's, and the contributions)")
    origin: list[Literal["explored", "contributed", "verified"]]
    include_disputed: bool = Field(description="whether contributions their verification disputed are in the zone")


class ZoneDisputed(BaseModel):
    """A contributed result of the zone's budget that its verification disputed: left out of the zone."""

    id: str
    value: float
    config: dict[str, Any]


class _ZoneSelection(BaseModel):
    """Which results a zone shows (one budget, the filters) and what it leaves out."""

    budget: ZoneBudget = Field(description="the budget shown (by default the one with the most results)")
    budgets: list[ZoneBudgetCount] = Field(description="every budget with results under the filters, most first")
    filters: ZoneFiltersPublic
    context: dict[str, float | list[float]] = Field(
        description="the run-length parameters the budget derives (FSGDM's sigma and n_stages): one value, or the "
        "sorted values seen; context, never axes"
    )
    disputed: list[ZoneDisputed] = Field(description="the budget's disputed contributions, when left out")


class ZonePublic(_ZoneSelection):
    """The zone of a task and optimizer over all explored trials and contributions."""

    model_config = ConfigDict(json_schema_extra={"examples": [ex.ZONE]})

    task: str
    optimizer: str
    metric: str
    direction: Literal["maximize", "minimize"]
    x: str
    y: str
    reference_K: float | None = Field(
        description="the published zone constant of the optimizer's profile (FSGDM's README: 30.992 at lr 0.1); "
        "null if none"
    )
    counts: dict[str, int] = Field(
        description="rows by origin: explored, contributed, verified; and disputed (the budget's disputed "
        "contributions, counted in contributed only when include_disputed)"
    )
    jobs: list[str]
    samplers: dict[str, int] = Field(description="the explored results per sampler that produced them")
    analysis: ZoneAnalysisPublic


class ZoneSummaryPublic(_ZoneSelection):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.ZONE_SUMMARY]})

    task: str
    optimizer: str
    metric: str
    direction: Literal["maximize", "minimize"]
    counts: dict[str, int]
    jobs: list[str]
    samplers: dict[str, int] = Field(description="the explored results per sampler that produced them")
    n_results: int
    tolerance: dict[str, Any]
    q: float
    best_configs: list[dict[str, Any]]
    importance: dict[str, float] | None
    importance_evaluator: str | None
    zone_ranges: dict[str, list[float] | None] = Field(description="each parameter's range among the best trials")
    zone: ModelZonePublic | None
    k: KPublic | None
    diagnostics: ZoneDiagnostics
    warnings: list[ZoneWarning]


# ---- contributions ---------------------------------------------------------------------------------------------------
class NewTask(_In):
    """A task that is not registered, described so that results on it stay comparable."""

    name: Annotated[str, StringConstraints(pattern=CONTRIBUTED_TASK_NAME)]
    dataset: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT, pattern=r"^[^\x00]+$")]
    model: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT, pattern=r"^[^\x00]+$")]
    metric: Annotated[str, StringConstraints(min_length=1, max_length=MAX_METRIC_NAME, pattern=r"^[^\x00]+$")]
    direction: Literal["maximize", "minimize"]
    description: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LONG_TEXT, pattern=r"^[^\x00]+$")]
    metric_low: FiniteFloat | None = Field(None, description="the lowest valid metric value (absent: unbounded)")
    metric_high: FiniteFloat | None = Field(None, description="the highest valid metric value (absent: unbounded)")


class Budget(_In):
    epochs: StrictInt | None = Field(None, ge=1, le=MAX_CONTRIBUTED_EPOCHS)
    steps: StrictInt | None = Field(None, ge=1, le=INT32_MAX)


class Source(_In):
    doi: Annotated[str, StringConstraints(max_length=MAX_NAME)] | None = Field(
        None, examples=["10.48550/arXiv.2411.19671"]
    )
    url: Annotated[str, StringConstraints(max_length=MAX_LONG_TEXT)] | None = Field(
        None, examples=["https://example.org/paper"]
    )
    notes: Text | None = None


TaskRef = Annotated[
    Annotated[Name, Tag("task-name")] | Annotated[NewTask, Tag("task-object")],
    Discriminator(lambda v: "task-object" if isinstance(v, (dict, NewTask)) else "task-name"),
]


class ContributionCreate(_In):
    """One result: task, optimizer and config, the metric value, and its context."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ex.CONTRIBUTION_CREATE]})

    task: TaskRef = Field(description="a registered or contributed task name, or a new task described")
    optimizer: Name
    config: dict[str, Any] = Field(
        description="hyperparameter -> value (number, bool, string or null), checked against "
        "the registry's domains; those of the optimizer's default space are "
        "required (GET /optimizers/{name}: contribution_required)"
    )
    value: FiniteFloat = Field(description="the task's metric, in its direction")
    curve: list[FiniteFloat] | None = Field(None, max_length=MAX_CURVE, description="the metric per epoch")
    budget: Budget | None = None
    seeds: list[Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]] | None = Field(
        None, min_length=1, max_length=MAX_SEEDS
    )
    hardware: ShortText | None = None
    software: ShortText | None = None
    source: Source

    def raw(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ContributionEdit(_In):
    """A correction: each field given replaces the stored one (``config``: the complete config you give); the result
    is checked like a new contribution and stays the same row."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"value": 0.9712}]})

    task: TaskRef | None = None
    optimizer: Name | None = None
    config: dict[str, Any] | None = None
    value: FiniteFloat | None = None
    curve: list[FiniteFloat] | None = Field(None, max_length=MAX_CURVE)
    budget: Budget | None = None
    seeds: list[Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]] | None = Field(
        None, min_length=1, max_length=MAX_SEEDS
    )
    hardware: ShortText | None = None
    software: ShortText | None = None
    source: Source | None = None

    def raw(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ContributionBatch(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"contributions": [ex.CONTRIBUTION_CREATE, ex.CONTRIBUTION_NEW_TASK]}]},
    )

    contributions: list[ContributionCreate] = Field(
        min_length=1, max_length=10_000, description="stored all or nothing (capped by the server)"
    )


class VerificationPublic(BaseModel):
    job_id: str | None
    verdict: Literal["pending", "verified", "disputed", "unverified"]
    measured_value: float | None
    detail: str | None


class BudgetPublic(BaseModel):
    epochs: int | None
    steps: int | None


class ContributionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.CONTRIBUTION]})

    id: str
    status: Literal["active", "withdrawn"]
    origin: Literal["contributed", "verified"]
    task: str
    optimizer: str
    metric: str | None
    direction: Literal["maximize", "minimize"] | None
    config: dict[str, Any] = Field(description="the full config: given values plus defaults")
    given: list[str] = Field(description="the hyperparameters the contributor gave")
    value: float
    curve: list[float] | None
    budget: BudgetPublic
    seeds: list[int] | None
    zone_budget: ZoneBudget = Field(description="the budget of the zone this result joins (its `budget` query key)")
    hardware: str | None
    software: str | None
    source: dict[str, str]
    owner: str | None
    verification: VerificationPublic | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class DuplicatePublic(BaseModel):
    index: int = Field(description="the item (or CSV row, from 0) that was already stored")
    id: str = Field(description="the contribution it is the same result as")


class ContributionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.CONTRIBUTION_LIST]})

    items: list[ContributionPublic] = Field(description="the contributions stored")
    count: int = Field(description="how many were stored")
    duplicates: list[DuplicatePublic] = Field(
        [],
        description="items already stored (same task, optimizer, config, budget, seeds, value and owner): merged "
        "into the stored one, not stored again",
    )


class ContributionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.CONTRIBUTION_PAGE]})

    items: list[ContributionPublic]
    total: int
    limit: int
    offset: int
