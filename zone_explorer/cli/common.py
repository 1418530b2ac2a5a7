"""What every ``zone-explorer`` verb shares: the consoles, the database option, and how a command fails."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from zone_explorer.core.errors import FieldError, NotFound

if TYPE_CHECKING:
    from zone_explorer.engine.devices import DevicePlan

__all__ = [
    "DB_OPTION",
    "DEVICES_OPTION",
    "USAGE",
    "checked_devices",
    "console",
    "err",
    "fail",
    "fail_job_id",
    "jobs_table",
    "local_workers",
]

console = Console()
err = Console(stderr=True)

#: the exit code of a command called wrongly (bad flags or input files); 1 is a command that could not do its work
USAGE = 2

DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="ZONE_EXPLORER_DATABASE_URL",
    show_envvar=True,
    help="Database URL: sqlite:///file.db (default: sqlite:///zone-explorer.db) or postgresql://user@host/db.",
)


DEVICES_OPTION = typer.Option(
    "cpu",
    "--devices",
    envvar="ZONE_EXPLORER_DEVICES",
    show_envvar=True,
    help="Where trials run, one at a time on each device: cpu, cuda:N, a comma-separated list (cuda:0,cuda:1 runs "
    "two trials at once, one per GPU; a device listed twice runs two on it), or auto (every GPU torch sees, else "
    "the cpu).",
)


def checked_devices(devices: str) -> DevicePlan:
    """``--devices`` parsed; a bad list exits 2 with the rule it broke."""
    from zone_explorer.engine.devices import parse_devices

    try:
        return parse_devices(devices)
    except FieldError as e:
        fail(str(e), USAGE)


def local_workers(devices: str, workers: int | None) -> tuple[DevicePlan, int]:
    """``--devices`` checked (:func:`checked_devices`; a fallback's note is printed) and the number of worker
    processes a verb that runs its own workers starts: ``workers`` if given, else one per device, or on the cpu
    one per core, at most 4."""
    plan = checked_devices(devices)
    if plan.note:
        err.print(f"note: {plan.note}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if plan.devices == ("cpu",) else len(plan.devices)
    return plan, workers


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def fail_job_id(error: FieldError | NotFound) -> NoReturn:
    """A job id that names no job, or several (the message lists them): the caller typed it wrongly."""
    fail(f"{error.field}: {error.message}", USAGE)


def jobs_table(title: str, rows: Sequence[tuple[str, str, str, str, str, str]]) -> Table:
    """The job listing of `jobs` and `status`: id, status, task, optimizer, trials, created.

    The id column never shrinks on a narrow terminal (the other columns wrap instead): a cut id cannot be typed
    back into another command."""
    table = Table(title=title)
    table.add_column("id", no_wrap=True, min_width=max((len(row[0]) for row in rows), default=2))
    for col in ("status", "task", "optimizer", "trials", "created"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table
