"""What every ``zone-explorer`` verb shares: the consoles, the database option, and how a command fails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from zone_explorer.core.errors import FieldError, NotFound

__all__ = ["DB_OPTION", "DEVICES_OPTION", "USAGE", "console", "err", "fail", "fail_job_id", "jobs_table"]

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
