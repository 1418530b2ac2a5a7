"""What every ``zone-explorer`` verb shares: the consoles, the database option, and how a command fails."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["DB_OPTION", "USAGE", "console", "err", "fail"]

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


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
