"""The ``zone-explorer`` command line."""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from zone_explorer.cli.common import (
    DB_OPTION,
    DEVICES_OPTION,
    USAGE,
    checked_devices,
    console,
    err,
    fail,
    fail_job_id,
    jobs_table,
    local_workers,
)
from zone_explorer.cli.service import URL_OPTION, _call, _client
from zone_explorer.core.limits import DEFAULT_SAMPLER, PRUNERS, SAMPLERS
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES, JobStatus

if TYPE_CHECKING:
    from zone_explorer.store.models import Job


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own progress bar says what happens


app = typer.Typer(
    help="Zone Explorer: find, share and trust the optimal hyperparameter zones of momentum optimizers.",
    no_args_is_help=True,
    add_completion=False,
    callback=_quiet_optuna,
)


def _job_or_fail(url: str, job_id: str) -> Job:
    from zone_explorer.engine.jobs import get_job

    job = get_job(url, job_id)
    if job is None:
        fail(f"job {job_id!r} not found", USAGE)
    return job


def _typed_job(url: str, typed: str, field: str) -> Job:
    """The job a user typed on the command line as ``field``: its id or the first characters of one job's id."""
    from zone_explorer.core.errors import FieldError, NotFound
    from zone_explorer.engine.jobs import resolve_job_id

    try:
        return _job_or_fail(url, resolve_job_id(url, typed, field))
    except (FieldError, NotFound) as e:
        fail_job_id(e)


tasks_app = typer.Typer(help="List the training tasks; register command tasks (an admin's act).")
app.add_typer(tasks_app, name="tasks")


@tasks_app.callback(invoke_without_command=True)
def tasks(ctx: typer.Context) -> None:
    """List the training tasks (built-in and from installed plug-ins); `tasks commands` lists command tasks."""
    if ctx.invoked_subcommand is not None:
        return
    from zone_explorer.tasks import all_tasks, task_load_errors

    table = Table(title="Tasks")
    for col in ("name", "metric", "direction", "epochs", "steps/epoch", "description"):
        table.add_column(col)
    for task in all_tasks():
        d = task.describe()
        table.add_row(
            d["name"],
            d["metric"],
            d["direction"],
            str(d["default_epochs"]),
            str(d["steps_per_epoch"]),
            d["description"],
        )
    console.print(table)
    for name, problem in task_load_errors().items():
        err.print(f"[yellow]warning:[/] task plug-in {name} was skipped: {problem}")


@tasks_app.command("add-command")
def add_command(
    name: str = typer.Argument(..., help="The task's name (lower case, digits, . _ -), what a job names."),
    command: str = typer.Option(..., "--command", "-c", help='The command line, e.g. "python3 train.py".'),
    metric: str = typer.Option(..., "--metric", "-m", help="The metric the script reports, e.g. val_acc."),
    direction: str = typer.Option(..., "--direction", "-d", help="maximize or minimize."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds a trial may run before it is stopped."),
    cwd: Path | None = typer.Option(None, "--cwd", help="Directory the command runs in (default: the current one)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a command task of the same name."),
    db: str | None = DB_OPTION,
) -> None:
    """Register a command task: workers launch the command once per trial, with the trial in its environment.

    REST clients may then submit jobs that name it; they never send a command line themselves."""
    from zone_explorer.store.db import init_db
    from zone_explorer.tasks.external import ExternalTaskError, add_command_task

    url = init_db(db)
    try:
        add_command_task(
            url, name, command, metric, direction, timeout_s=timeout, cwd=str(cwd or Path.cwd()), replace=replace
        )
    except ExternalTaskError as e:
        fail(f"{e.field}: {e.message}", USAGE)
    console.print(f"command task [bold]{name}[/] registered: {command}")


@tasks_app.command("commands")
def list_commands(db: str | None = DB_OPTION) -> None:
    """List the registered command tasks."""
    from zone_explorer.store.db import init_db
    from zone_explorer.tasks.external import list_command_tasks

    table = Table(title="Command tasks")
    for col in ("name", "metric", "direction", "timeout", "command", "directory"):
        table.add_column(col)
    for t in list_command_tasks(init_db(db)):
        table.add_row(
            t.name, t.metric, t.direction, f"{t.timeout_s:g} s" if t.timeout_s else "", t.command, t.cwd or ""
        )
    console.print(table)


@app.command()
def optimizers(
    name: str | None = typer.Argument(None, help="Show one optimizer's hyperparameters and default space."),
) -> None:
    """List the optimizers, or one optimizer's hyperparameter domains and default search space."""
    from optimizers.registry import REGISTRY, get_optimizer
    from zone_explorer.core.spaces import default_space

    if name is None:
        table = Table(title="Optimizers")
        for col in ("name", "family", "hyperparameters", "description"):
            table.add_column(col)
        for spec in REGISTRY.values():
            table.add_row(spec.name, spec.family, str(len(spec.hyperparameters)), spec.description)
        console.print(table)
        return
    try:
        spec = get_optimizer(name)
    except ValueError as e:
        fail(str(e), USAGE)
    from zone_explorer.contrib.validation import bounds_text, contribution_bounds

    bounds = contribution_bounds(spec.name)
    table = Table(title=f"{spec.name}: {spec.description}")
    for col in ("hyperparameter", "type", "default", "domain", "contributed", "description"):
        table.add_column(col)
    for hp in spec.hyperparameters:
        # a contributed value must also lie in finite bounds (see zone_explorer.contrib.validation)
        within = bounds_text(*bounds[hp.name]) if hp.name in bounds else ""
        table.add_row(hp.name, hp.kind, repr(hp.default), hp.domain(), within, hp.description)
    console.print(table)
    console.print("Default search space:")
    console.print_json(default_space(name).to_json())


def _load_space(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except OSError as e:
        fail(f"--space: cannot read {path}: {e.strerror}", USAGE)
    except json.JSONDecodeError as e:
        fail(f"--space: {path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", USAGE)
    return None


def _worker_process(url: str, job_id: str, threads: int, device: str) -> None:
    from zone_explorer.engine.worker import Worker, WorkerSettings

    settings = WorkerSettings(threads=threads, poll_interval=0.2, device=device)
    Worker(url, settings=settings).run(job_id=job_id, exit_when_idle=True)


@app.command()
def run(
    task: str | None = typer.Option(None, "--task", "-t", help="Task name (see `zone-explorer tasks`)."),
    optimizer: str = typer.Option(..., "--optimizer", "-o", help="Optimizer name (see `zone-explorer optimizers`)."),
    trials: int = typer.Option(40, "--trials", "-n", help="Number of finished trials the job stops at."),
    sampler: str = typer.Option(
        DEFAULT_SAMPLER, help=f"{', '.join(SAMPLERS)}; zone maps the zone's whole band, the others are Optuna's."
    ),
    pruner: str = typer.Option("none", help=f"{', '.join(PRUNERS)}."),
    seeds: str = typer.Option("0", help="Comma-separated seeds; each configuration is trained on every seed."),
    epochs: int | None = typer.Option(None, help="Epochs per trial (default: the task's)."),
    space: Path | None = typer.Option(None, help="JSON file with a search space (default: the optimizer's)."),
    sampler_seed: int | None = typer.Option(0, help="Sampler seed, for reproducible studies."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=1,
        help="Worker processes on this machine (default: one per device of --devices; on the cpu one per core, "
        "at most 4). They take the devices in turn.",
    ),
    devices: str = DEVICES_OPTION,
    db: str | None = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the zone summary as JSON."),
    command: str | None = typer.Option(
        None,
        "--command",
        "-c",
        help='Your own training script instead of a task, e.g. "python3 train.py": launched once per trial with the '
        "trial in its environment (read it with ze.trial()); needs --metric and --direction.",
    ),
    metric: str | None = typer.Option(None, "--metric", "-m", help="With --command: the metric it reports."),
    direction: str | None = typer.Option(None, "--direction", "-d", help="With --command: maximize or minimize."),
    timeout: float | None = typer.Option(None, "--timeout", help="With --command: seconds a trial may run."),
) -> None:
    """Explore a task/optimizer pair in the foreground with a live progress bar, then print its zone.

    With --command, the task is your own script (see the README's "Your own training")."""
    from zone_explorer.engine.jobs import JobSpec, JobSpecError, cancel_job, create_job, job_progress
    from zone_explorer.store.db import init_db

    plan, workers = local_workers(devices, workers)
    url = init_db(db)
    if (task is None) == (command is None):
        fail('give either --task NAME or --command "python3 train.py"', USAGE)
    if command is not None:
        task = _command_task(url, command, metric, direction, timeout)
    elif metric is not None or direction is not None or timeout is not None:
        fail("--metric, --direction and --timeout go with --command (a task has its own metric)", USAGE)

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        fail(f"--seeds: expected comma-separated integers, got {seeds!r}", USAGE)
    raw: dict[str, object] = {
        "task": task,
        "optimizer": optimizer,
        "n_trials": trials,
        "sampler": sampler,
        "pruner": pruner,
        "seeds": seed_list,
        "sampler_seed": sampler_seed,
    }
    if epochs is not None:
        raw["epochs"] = epochs
    if space is not None:
        raw["space"] = _load_space(space)
    try:
        spec = JobSpec.parse(raw)
    except JobSpecError as e:
        fail(f"{e.field}: {e.message}", USAGE)
    job, _ = create_job(url, spec)
    err.print(
        f"job [bold]{job.id}[/] on {url}: {trials} trials of {optimizer} on {task}, {spec.epochs} epochs x {len(seed_list)} seed(s)"
    )
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_process, args=(url, job.id, 1, plan.devices[i % len(plan.devices)]), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            bar_id = bar.add_task("starting workers", total=trials)
            while True:
                prog = job_progress(url, _job_or_fail(url, job.id))
                best = f"best {prog.best_value:.4g}" if prog.best_value is not None else "no result yet"
                bar.update(bar_id, completed=prog.finished, description=f"{prog.running} running, {best}")
                if prog.status not in ACTIVE_JOB_STATUSES or not any(p.is_alive() for p in procs):
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        cancel_job(url, job.id)
        err.print("cancelled; workers stop within one epoch")
        for p in procs:
            p.join(timeout=30)
        raise typer.Exit(130) from None
    for p in procs:
        p.join()
    final = _job_or_fail(url, job.id)
    if final.status != JobStatus.COMPLETED:
        why = f" ({final.error})" if final.error else ""
        fail(f"job ended {final.status}{why}; see `zone-explorer jobs {job.id}`", code=1)
    _print_zone(url, job.id, None, None, 0.1, None, json_out)


def _command_task(url: str, command: str, metric: str | None, direction: str | None, timeout: float | None) -> str:
    """Register ``command`` as this directory's command task (named by a hash of what defines it) and name it."""
    import hashlib

    from zone_explorer.tasks.external import ExternalTaskError, add_command_task

    if metric is None or direction is None:
        fail("--command needs --metric (what the script reports) and --direction (maximize or minimize)", USAGE)
    cwd = str(Path.cwd())
    digest = hashlib.sha1("\0".join((command, metric, direction, str(timeout), cwd)).encode()).hexdigest()[:12]
    name = f"cmd-{digest}"
    try:
        add_command_task(url, name, command, metric, direction, timeout_s=timeout, cwd=cwd, replace=True)
    except ExternalTaskError as e:
        fail(f"--{e.field}: {e.message}", USAGE)
    return name


def _print_zone(
    url: str, job_id: str, x: str | None, y: str | None, top_q: float, delta: float | None, json_out: bool
) -> None:
    from zone_explorer.engine.job_zones import ZoneRequestError, job_zone_summary

    try:
        summary = job_zone_summary(url, job_id, x=x, y=y, top_q=top_q, delta=delta)
    except ZoneRequestError as e:
        fail(str(e), USAGE)
    if json_out:
        console.print_json(json.dumps(summary))
        return
    from zone_explorer.engine.job_zones import render_summary

    render_summary(summary, console)
    console.print(
        f"[bold]Budget[/]: {summary['budget']['label']}, the job's (`zones --task {summary['task']} "
        f"--optimizer {summary['optimizer']}` shows every job and contribution of a budget)"
    )


@app.command()
def worker(
    db: str | None = DB_OPTION,
    job: str | None = typer.Option(None, help="Work on this job only (its id or the id's first characters)."),
    exit_when_idle: bool = typer.Option(
        False, help="Exit when no job has work left (default: wait for new jobs); for batch schedulers such as SLURM."
    ),
    devices: str = DEVICES_OPTION,
    threads: int = typer.Option(
        1, min=1, help="torch threads per worker process (1 is best with one worker per core)."
    ),
    heartbeat: float = typer.Option(5.0, min=0.1, help="Seconds between heartbeats."),
    grace: float = typer.Option(
        30.0, min=1.0, help="Seconds without a heartbeat after which a trial is presumed lost."
    ),
    name: str | None = typer.Option(
        None, help="Worker name in the database (default host:pid; with several devices, NAME/DEVICE each)."
    ),
    nice: int = typer.Option(
        10,
        min=0,
        max=19,
        envvar="ZONE_EXPLORER_WORKER_NICE",
        show_envvar=True,
        help="Lower this worker's CPU priority by this much, so that an API or other work on the "
        "same machine stays responsive (0: normal priority).",
    ),
    log_format: str = typer.Option(
        "text", envvar="ZONE_EXPLORER_LOG_FORMAT", show_envvar=True, help="text, or json for one JSON object per line."
    ),
) -> None:
    """Run trials of queued jobs; start any number, on any machine that reaches the database.

    With several devices (--devices cuda:0,cuda:1, or auto on a machine with GPUs) it runs one worker process per
    device, each running one trial at a time on its device."""
    import signal

    from zone_explorer.engine.priority import lower_priority

    lower_priority(nice)  # before the imports and schema check below: a starting worker is batch work too
    from zone_explorer.core.logs import configure_logging
    from zone_explorer.engine.worker import Worker, WorkerSettings, default_worker_name
    from zone_explorer.engine.worker_pool import run_logged, run_worker_pool
    from zone_explorer.store.db import init_db

    try:
        configure_logging(log_format)
    except ValueError as e:
        fail(f"--log-format: {e}", USAGE)
    plan = checked_devices(devices)
    log = logging.getLogger("zone_explorer.engine.worker")
    if plan.note:
        log.warning(plan.note, extra={"event": "devices_fallback"})
    url = init_db(db)
    if job is not None:
        job = _typed_job(url, job, "--job").id
    settings = WorkerSettings(heartbeat_interval=heartbeat, grace_period=grace, threads=threads)
    if len(plan.devices) > 1:
        code = run_worker_pool(
            url,
            plan.devices,
            base_name=name or default_worker_name(),
            settings=settings,
            log_format=log_format,
            job_id=job,
            exit_when_idle=exit_when_idle,
        )
        raise typer.Exit(code)
    settings.device = plan.devices[0]
    w = Worker(url, name=name, settings=settings)
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    run_logged(w, job_id=job, exit_when_idle=exit_when_idle)


@app.command()
def jobs(
    job_id: str | None = typer.Argument(None, help="Show one job in detail (its id or the id's first characters)."),
    status: JobStatus | None = typer.Option(None, help="Filter by status."),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel JOB_ID."),
    limit: int = typer.Option(20, min=1, max=1000),
    db: str | None = DB_OPTION,
) -> None:
    """List jobs, show one, or cancel one."""
    from zone_explorer.engine.jobs import cancel_job, get_job, job_progress, list_jobs
    from zone_explorer.store.db import init_db

    url = init_db(db)
    if job_id is None:
        rows, total = list_jobs(url, status=status, limit=limit)
        listed = [
            (
                j.id,
                j.status,
                j.task,
                j.optimizer,
                f"{job_progress(url, j).finished}/{j.n_trials}",
                j.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for j in rows
        ]
        console.print(jobs_table(f"Jobs ({len(rows)} of {total})", listed))
        return
    job = _typed_job(url, job_id, "JOB_ID")
    shown = cancel_job(url, job.id) if cancel else get_job(url, job.id)
    if shown is None:
        fail(f"job {job.id!r} not found", USAGE)
    console.print_json(
        json.dumps(
            {
                "job": shown.id,
                "task": shown.task,
                "optimizer": shown.optimizer,
                "error": shown.error,
                **job_progress(url, shown).to_dict(),
            },
            default=str,
        )
    )


@app.command()
def zones(
    job: str | None = typer.Option(
        None,
        "--job",
        help="Job id or its first characters (or give --storage and --study); with --task and --optimizer: that job's results.",
    ),
    task: str | None = typer.Option(
        None, "--task", help="With --optimizer: the zone of every job and contribution, from the server (--url)."
    ),
    optimizer: str | None = typer.Option(None, "--optimizer", help="With --task."),
    budget: str | None = typer.Option(
        None, "--budget", help="With --task: the budget key, e.g. epochs=10;seeds=1 (default: the most results)."
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="With --task: comma-separated explored, contributed, verified (default: all)."
    ),
    include_disputed: bool = typer.Option(
        False, "--include-disputed", help="With --task: count the contributions their verification disputed."
    ),
    url: str | None = URL_OPTION,
    storage: str | None = typer.Option(
        None, help="An Optuna storage URL (sqlite:///file.db, postgresql://...): analyse any study in it."
    ),
    study: str | None = typer.Option(None, help="The Optuna study's name (with --storage)."),
    x: str | None = typer.Option(None, help="First axis (default: the optimizer's natural pair, or c and v)."),
    y: str | None = typer.Option(None, help="Second axis."),
    top_q: float = typer.Option(0.1, help="The trials' view: the best fraction q of trials (0 < q <= 1)."),
    delta: float | None = typer.Option(
        None, help="The zone: configurations within delta of the best, in metric units (default 0.01 for accuracy)."
    ),
    c_param: str | None = typer.Option(None, help="The study's parameter that is FSGDM's c_scaling (for K)."),
    v_param: str | None = typer.Option(None, help="The study's parameter that is FSGDM's v_coefficient (for K)."),
    ignore_failed: bool = typer.Option(
        False, help="Leave a study's failed trials out (by default they count as diverged: they bound the zone)."
    ),
    db: str | None = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON (its fields are documented in the README)."),
) -> None:
    """Print a zone: the modelled zone with its volume, FSGDM's K with its interval, warnings, and the best trials.

    Give --job for a Zone Explorer job, --storage and --study for any Optuna study, or --task and --optimizer for
    the server's zone of every job and contribution (one budget at a time; --job, --budget, --origin and
    --include-disputed narrow it).
    """
    if task is not None or optimizer is not None:
        if task is None or optimizer is None:
            fail("--task and --optimizer go together", USAGE)
        if storage is not None or study is not None:
            fail("give --task and --optimizer, or --storage and --study", USAGE)
        _print_merged_zone(
            url,
            task,
            optimizer,
            {"x": x, "y": y, "delta": delta, "top_q": None if delta is not None else top_q},
            {"budget": budget, "job": job, "origin": origin, "include_disputed": include_disputed},
            json_out,
        )
        return
    if budget is not None or origin is not None or include_disputed:
        fail("--budget, --origin and --include-disputed filter the zone of --task and --optimizer", USAGE)
    if (job is None) == (storage is None and study is None):
        fail("give --job, or --storage and --study", USAGE)
    if job is not None:
        from zone_explorer.store.db import init_db

        url = init_db(db)
        _print_zone(url, _typed_job(url, job, "--job").id, x, y, top_q, delta, json_out)
        return
    if storage is None or study is None:
        fail("--storage and --study go together", USAGE)
    from zone_explorer.engine.job_zones import ZoneRequestError, render_summary, study_zone_summary

    _quiet_optuna()
    try:
        summary = study_zone_summary(
            storage,
            study,
            x=x,
            y=y,
            top_q=top_q,
            delta=delta,
            c_param=c_param,
            v_param=v_param,
            failed_as_diverged=not ignore_failed,
        )
    except ZoneRequestError as e:
        fail(str(e), USAGE)
    if json_out:
        console.print_json(json.dumps(summary))
    else:
        render_summary(summary, console)


def _print_merged_zone(url: str | None, task: str, optimizer: str, view: dict, filters: dict, json_out: bool) -> None:
    """The server's zone of ``task`` x ``optimizer`` with ``filters``, and which budget it shows of which."""
    from zone_explorer.engine.job_zones import render_summary

    with _client(url, None) as client:
        if filters.get("job"):
            filters = {**filters, "job": _call(client.resolve_job_id, filters["job"], "--job")}
        zone = _call(client.zone, task, optimizer, grid_size=20, **view, **filters)
    if json_out:
        console.print_json(json.dumps(zone))
        return
    render_summary(zone, console)
    print_budgets(zone, console)


def print_budgets(zone: dict, out: Console) -> None:
    """Which budget a zone shows, the others there are, its filters and the disputed results it left out."""
    others = [
        f"{b['label']} ({b['count']}, --budget '{b['key']}')"
        for b in zone["budgets"]
        if b["key"] != zone["budget"]["key"]
    ]
    out.print(f"[bold]Budget[/]: {zone['budget']['label']} (--budget '{zone['budget']['key']}')")
    out.print(f"  other budgets: {', '.join(others) if others else 'none'}")
    f = zone["filters"]
    out.print(
        f"  job {f['job'] or 'every job'}; origin {','.join(f['origin'])}; "
        f"disputed results {'included' if f['include_disputed'] else 'left out'}"
    )
    if zone["context"]:
        out.print("  run length (context): " + ", ".join(f"{k} = {v}" for k, v in zone["context"].items()))
    for d in zone["disputed"]:
        out.print(f"  [yellow]disputed, left out:[/] {d['id']} ({d['value']:.5g})")


@app.command()
def export(
    job: str | None = typer.Option(None, "--job", help="Job id or its first characters: write its trials."),
    all_: bool = typer.Option(
        False, "--all", help="Write the whole database (every study and table) as JSON, for `import`."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or json (trials of one job)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    db: str | None = DB_OPTION,
) -> None:
    """Write a job's trials as CSV or JSON, or with --all the whole database (to move it, e.g. to PostgreSQL)."""
    from zone_explorer.store.db import init_db

    if all_ == (job is not None):
        fail("give either --job ID or --all", USAGE)
    if fmt not in ("csv", "json"):
        fail(f"--format must be csv or json, got {fmt!r}", USAGE)
    url = init_db(db)
    if job is None:  # --all (exactly one of the two was given)
        from zone_explorer.io.transfer import dumps, export_database

        text = dumps(export_database(url))
    else:
        from zone_explorer.io.export import export_trials

        text = export_trials(url, _typed_job(url, job, "--job"), fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")


@app.command("import")
def import_(
    dump: Path = typer.Argument(..., help="A file written by `zone-explorer export --all`."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the dump and rehearse the import against the database; write no rows."
    ),
    with_tokens: bool = typer.Option(
        False,
        "--with-tokens",
        help="Import the dump's API tokens too (left out by default: whoever wrote the dump knows their secrets).",
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Load a whole-database dump into an empty (or disjoint) database, e.g. a SQLite dump into PostgreSQL.

    The whole dump is checked before anything is written, then written in one transaction: on any error nothing
    is written, and the error names the place in the dump (e.g. tables.ze_jobs[3].n_trials)."""
    from rich.markup import escape

    from zone_explorer.io.transfer import TransferError, import_database
    from zone_explorer.store.db import database_url

    try:
        data = json.loads(dump.read_text())
    except OSError as e:
        fail(f"cannot read {dump}: {e.strerror}", USAGE)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        fail(escape(f"{dump} is not valid JSON: {e}"), USAGE)
    try:
        report = import_database(data, database_url(db), with_tokens=with_tokens, dry_run=dry_run)
    except TransferError as e:
        fail(escape(f"nothing imported: {e}"), USAGE)
    written = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    err.print(f"dry run, nothing written; would import {written}" if report.dry_run else f"imported {written}")
    for table, n in report.skipped.items():
        if n:
            err.print(
                f"[yellow]skipped {n} rows of {table}[/]: the dump's author knows their secrets; create new tokens "
                "with `zone-explorer token create`, or import them with --with-tokens"
            )
    if report.admin_tokens:
        err.print(
            f"[yellow]imported {len(report.admin_tokens)} admin token(s)[/] whose secrets the dump's author knows: "
            f"{', '.join(report.admin_tokens)}; revoke any you do not trust with `zone-explorer token revoke ID`"
        )


def _register_service_commands() -> None:
    """Commands of the REST service (serve, demo, token, submit, status, contribute) live beside the service."""
    from zone_explorer.cli.service import register

    register(app)


_register_service_commands()

if __name__ == "__main__":
    app()
