"""From stored trials to zones: build the analysis table of a job and summarise its zone."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from optimizers.registry import get_optimizer
from zone_explorer.analysis import (
    C_SCALING,
    SEED_VALUES_ATTR,
    V_COEFFICIENT,
    Tolerance,
    TrialTable,
    analyze,
    seed_noise_var,
)
from zone_explorer.core.errors import FieldError
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import Space
from zone_explorer.core.zone_constant import REFERENCE_ZONE
from zone_explorer.engine.budgets import Budget
from zone_explorer.engine.jobs import get_job
from zone_explorer.store.models import Job
from zone_explorer.store.trials import TrialRecord, load_results
from zone_explorer.tasks import get_task

__all__ = [
    "ZoneRequestError",
    "default_axes",
    "job_table",
    "job_zone_summary",
    "records_table",
    "render_summary",
    "space_bounds",
    "study_zone_summary",
]


class ZoneRequestError(FieldError):
    """A zone cannot be computed as asked; ``field`` names the argument."""


def _numeric(config: dict[str, Any]) -> dict[str, float]:
    # exact types: bools and strings are not axes
    return {k: float(v) for k, v in config.items() if (type(v) is float or type(v) is int) and math.isfinite(v)}


def _without(config: dict[str, float], names: Collection[str]) -> dict[str, float]:
    return {k: v for k, v in config.items() if k not in names} if names else config


def records_table(
    records: Iterable[TrialRecord],
    optimizer: str,
    direction: str,
    origin: str = "explored",
    *,
    context: Collection[str] = (),
) -> TrialTable:
    """A :class:`TrialTable` of the complete trials: every numeric config value that varies becomes a column, each
    trial's seed variance over its seed count its known noise, and the diverged trials (state FAIL, outcome
    ``diverged``) the table's ``diverged`` rows. Numeric values that every trial shares become ``constants``
    (the lr of a search that fixes it). The parameters named in ``context`` (the run length a budget derives:
    FSGDM's sigma and n_stages) are left out: they describe the budget, not a point of the zone."""
    records = list(records)
    rows = [r for r in records if r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)]
    failed = [r for r in records if r.state == "FAIL" and r.attrs.get("outcome") == "diverged" and r.config]
    configs = [_without(_numeric(r.config), context) for r in rows]
    names = list(dict.fromkeys(k for cfg in configs for k in cfg))
    columns = {k: np.array([cfg.get(k, math.nan) for cfg in configs]) for k in names}
    # constant columns (fixed values, derived run lengths) carry no zone information
    constants = {}
    for k, col in list(columns.items()):
        seen = np.unique(col[np.isfinite(col)])
        if seen.size <= 1:
            del columns[k]
            if seen.size == 1 and np.isfinite(col).all():
                constants[k] = float(seen[0])
    noise = np.array([seed_noise_var(r.attrs.get(SEED_VALUES_ATTR)) for r in rows], dtype=float)
    failed_cfgs = [_without(_numeric(r.config), context) for r in failed]
    diverged = {k: np.array([cfg.get(k, math.nan) for cfg in failed_cfgs]) for k in columns}
    spec = get_optimizer(optimizer)
    log = frozenset(
        hp.name
        for hp in spec.hyperparameters
        if hp.log and hp.name in columns and (columns[hp.name][np.isfinite(columns[hp.name])] > 0).all()
    )
    return TrialTable(
        params=columns,
        values=np.array([r.value for r in rows], dtype=float),
        origin=np.full(len(rows), origin),
        ids=np.array([r.number for r in rows]),
        log_params=log,
        direction=direction,
        noise_var=noise,
        diverged=diverged,
        constants=constants,
    )


def job_table(url: str, job: Job) -> TrialTable:
    return records_table(load_results(url, job.study_name), job.optimizer, get_task(job.task).direction)


def default_axes(optimizer: str, table: TrialTable, space: Space | None = None) -> tuple[str, str]:
    """The map's axes when none are asked for: the optimizer profile's natural pair where the table has them,
    then the space's searched axes, then any varying column."""
    names = table.axis_names()
    preferred = [n for n in get_profile(optimizer).natural_axes if n in names]
    searched = [n for n in (space.searched() if space else {}) if n in names]
    ordered = list(dict.fromkeys(preferred + searched + names))
    if len(ordered) < 2:
        raise ZoneRequestError(
            "x", f"a zone map needs two varying numeric parameters; this job has {ordered or 'none'}"
        )
    return ordered[0], ordered[1]


def job_zone_summary(
    url: str,
    job_id: str,
    *,
    x: str | None = None,
    y: str | None = None,
    top_q: float = 0.1,
    delta: float | None = None,
    grid_size: int = 60,
    with_importance: bool = True,
) -> dict[str, Any]:
    job = get_job(url, job_id)
    if job is None:
        raise ZoneRequestError("job", f"job {job_id!r} not found")
    table = job_table(url, job)
    if len(table) < 2:
        raise ZoneRequestError("job", f"job {job_id} has {len(table)} complete trial(s); a zone needs at least 2")
    if x is None or y is None:
        dx, dy = default_axes(job.optimizer, table, Space.from_dict(job.space))
        x, y = x or (dx if dx != y else dy), y or (dy if dy != x else dx)
    for field, name in (("x", x), ("y", y)):
        if name not in table.axis_names():
            raise ZoneRequestError(field, f"unknown axis {name!r}; this job's axes are {', '.join(table.axis_names())}")
    tol = zone_tolerance(None if delta is not None else top_q, delta)  # delta overrides top_q here
    profile = get_profile(job.optimizer)
    try:
        result = analyze(
            table,
            x,
            y,
            tol,
            grid_size=grid_size,
            with_importance=with_importance and len(table) >= 4,
            bounds=space_bounds(Space.from_dict(job.space)),
            budget_params=profile.run_length_params,
            reference=profile.reference,
        )
    except ValueError as err:
        raise ZoneRequestError("axes", str(err)) from None
    task = get_task(job.task)
    return {
        "job": job.id,
        "task": job.task,
        "optimizer": job.optimizer,
        "budget": Budget.of(job.epochs, None, job.seeds).to_dict(),
        "metric": task.metric,
        "direction": task.direction,
        "x": x,
        "y": y,
        "reference_K": reference_k(job.optimizer),
        "analysis": result.to_dict(),
    }


def study_zone_summary(
    storage: str,
    study_name: str,
    *,
    x: str | None = None,
    y: str | None = None,
    top_q: float = 0.1,
    delta: float | None = None,
    c_param: str | None = None,
    v_param: str | None = None,
    failed_as_diverged: bool = True,
    grid_size: int = 60,
) -> dict[str, Any]:
    """The zone of any single-objective Optuna study (the same analysis as a job's).

    FSGDM's K is derived when the study has ``c_scaling`` and ``v_coefficient``, or the parameters named by
    ``c_param`` and ``v_param``. Failed trials count as diverged (they bound the zone) unless
    ``failed_as_diverged`` is False. The searched box is the study's distributions.
    """
    import optuna

    from zone_explorer.analysis import study_distributions

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ZoneRequestError("study", f"no study named {study_name!r} in this storage") from None
    except Exception as err:  # Optuna raises many kinds for an unusable URL; name the argument
        raise ZoneRequestError("storage", f"cannot open the Optuna storage: {type(err).__name__}: {err}") from None
    if len(study.directions) != 1:
        raise ZoneRequestError(
            "study", f"study {study_name!r} has {len(study.directions)} objectives; a zone needs one"
        )
    rename = {given: ours for given, ours in ((c_param, C_SCALING), (v_param, V_COEFFICIENT)) if given is not None}
    table = TrialTable.from_study(study, failed_as_diverged=failed_as_diverged, rename=rename)
    for given, field in ((c_param, "c_param"), (v_param, "v_param")):
        if given is not None and rename[given] not in table.params:
            raise ZoneRequestError(field, f"the study has no varying numeric parameter {given!r}")
    if len(table) < 2:
        raise ZoneRequestError(
            "study", f"study {study_name!r} has {len(table)} complete trial(s); a zone needs at least 2"
        )
    names = table.axis_names()
    if x is None or y is None:
        ordered = [n for n in (C_SCALING, V_COEFFICIENT) if n in names] + names
        ordered = list(dict.fromkeys(a for a in ordered if a not in (x, y)))
        if len(ordered) < 2 - (x is not None) - (y is not None):
            raise ZoneRequestError("x", f"a zone map needs two varying numeric parameters; the study has {names}")
        x = x or ordered.pop(0)
        y = y or ordered.pop(0)
    for field, name in (("x", x), ("y", y)):
        if name not in names:
            raise ZoneRequestError(field, f"unknown axis {name!r}; this study's axes are {', '.join(names)}")
    bounds = {rename.get(k, k): (float(d.low), float(d.high)) for k, d in study_distributions(study).items()}
    tol = zone_tolerance(None if delta is not None else top_q, delta)
    try:
        result = analyze(table, x, y, tol, grid_size=grid_size, bounds=bounds)
    except ValueError as err:
        raise ZoneRequestError("axes", str(err)) from None
    return {
        "study": study_name,
        "metric": "value",
        "direction": table.direction,
        "x": x,
        "y": y,
        "reference_K": REFERENCE_ZONE.k if table.has_k else None,
        "analysis": result.to_dict(),
    }


def space_bounds(space: Space) -> dict[str, tuple[float, float]]:
    """The searched range of every numeric dimension of a space (the box the zone's volume is measured in)."""
    out = {}
    for name, dim in space.searched().items():
        low, high = getattr(dim, "low", None), getattr(dim, "high", None)
        if low is not None and high is not None:
            out[name] = (float(low), float(high))
    return out


def reference_k(optimizer: str) -> float | None:
    """The published zone constant of ``optimizer``'s profile (FSGDM's README: 30.992), or None if it has none."""
    reference = get_profile(optimizer).reference
    return reference.k if reference else None


def zone_tolerance(top_q: float | None, delta: float | None) -> Tolerance:
    """The zone's tolerance from a request: the best ``top_q`` of trials (default 0.1), or within ``delta`` of the
    best value; the field at fault names the argument."""
    if top_q is not None and delta is not None:
        raise ZoneRequestError("delta", "give top_q or delta, not both")
    try:
        return Tolerance.within(delta) if delta is not None else Tolerance.top(0.1 if top_q is None else top_q)
    except ValueError as err:
        raise ZoneRequestError("delta" if delta is not None else "top_q", str(err)) from None


def render_summary(summary: dict[str, Any], console: Any) -> None:
    """Print a zone summary for people (the CLI's `run` and `zones`)."""
    from rich.table import Table

    a = summary["analysis"]
    title = f"{summary['optimizer']} on {summary['task']}" if "optimizer" in summary else f"study {summary['study']}"
    console.print(
        f"\n[bold]Zone of {title}[/] ({a['n_trials']} complete trials, {summary['metric']} {summary['direction']}d)"
    )
    best = Table(title="Best configurations")
    keys = [k for k in (a["best_configs"][0]["params"] if a["best_configs"] else {})]
    for col in ("#", summary["metric"], *keys):
        best.add_column(col)
    for row in a["best_configs"][:5]:
        best.add_row(
            str(row["id"]),
            f"{row['value']:.5g}",
            *(f"{row['params'].get(k):.4g}" if row["params"].get(k) is not None else "-" for k in keys),
        )
    console.print(best)
    ranges = Table(title=f"Where the top {a['q']:.0%} of trials lie")
    for col in ("parameter", "range of the top trials", "importance"):
        ranges.add_column(col)
    imp = a.get("importance") or {}
    for name, m in a["marginals"].items():
        filled = [i for i, n in enumerate(m["top_counts"]) if n]
        lo, hi = (m["edges"][filled[0]], m["edges"][filled[-1] + 1]) if filled else (None, None)
        ranges.add_row(
            name, "-" if lo is None else f"{lo:.4g} .. {hi:.4g}", "-" if name not in imp else f"{imp[name]:.2f}"
        )
    console.print(ranges)
    zone = a.get("zone")
    if zone:
        vol = zone["volume_fraction"]
        what = (
            f"[bold]Zone[/] (modelled {summary['metric']} within {zone['delta']:g} of the best"
            f"{', the default for this metric' if zone['delta_source'] == 'default' else ''})"
        )
        if vol["estimate"] is None:
            console.print(f"{what}: its size is not reported with this few trials")
        else:
            lo, hi = vol["interval"]
            hits = ", ".join(f"{h['trials']} trials {h['probability']:.0%}" for h in zone["hit_chance"])
            console.print(
                f"{what}: [bold]{vol['estimate']:.1%}[/] of the searched space, 95% interval [{lo:.1%}, {hi:.1%}]\n"
                f"  chance that random trials land in it: {hits}"
            )
    k = a.get("k")
    if k:
        if k["estimate"] is None:
            console.print(f"[bold]FSGDM K = v(1 + 1/c)[/]: not reported ({k['status']})")
        else:
            lo, hi = k["interval"]
            line = f"[bold]FSGDM K = v(1 + 1/c)[/] = [bold]{k['estimate']:.3g}[/], 95% interval [{lo:.3g}, {hi:.3g}]"
            if k["lr_times_k"]:
                g = k["lr_times_k"]
                line += f"; lr K = {g['estimate']:.3g} [{g['interval'][0]:.3g}, {g['interval'][1]:.3g}]"
            status = "" if k["status"] == "ok" else f" [yellow]({k['status'].replace('_', ' ')})[/]"
            console.print(line + status)
            tilt = (k.get("ridge") or {}).get("tilt")
            if tilt:
                console.print(
                    f"  ridge K*(c) tilt d log K / d log c = {tilt['estimate']:+.2f} "
                    f"[{tilt['interval'][0]:+.2f}, {tilt['interval'][1]:+.2f}]"
                )
        ref = k["reference"]
        if ref:
            console.print(
                f"  the FSGDM README's rule: K = {ref['k']:g} at lr {ref['lr']:g} (lr K = {ref['lr_times_k']:.3g}); "
                "K scales as 1/lr, so compare lr K"
            )
    level = (a.get("diagnostics") or {}).get("level_set")
    if level:
        shares = ", ".join(f"{n} {e:.2f}" for n, e in level["explained"].items() if e is not None)
        console.print(f"  variation explained by one axis alone (leave-one-out R^2): {shares}")
    for w in a.get("warnings") or []:
        console.print(f"[yellow]warning {w['code']}:[/] {w['message']}")
