"""`zone-explorer contributions list|show|edit|withdraw|verify`: moderate contributions on a running server through
the REST client (:mod:`zone_explorer.cli.client`). Every write sends an Idempotency-Key, so retries are safe."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from zone_explorer.cli.common import USAGE, console, err, fail
from zone_explorer.cli.service import TOKEN_OPTION, URL_OPTION, _call, _client

__all__ = ["contributions_app"]

contributions_app = typer.Typer(
    help="Contributions on a running server: list, show, edit (in place), withdraw, verify by rerun.",
    no_args_is_help=True,
)

KEY_OPTION = typer.Option(None, "--idempotency-key", help="Retry-safe key (default: a fresh one).")


def _value(text: str) -> Any:
    """A command-line value as JSON would have it (``0.01``, ``true``, ``null``), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _summary(c: dict[str, Any]) -> str:
    verdict = (c.get("verification") or {}).get("verdict")
    return f"{c['id']} {c['status']} {c['task']} {c['optimizer']} value={c['value']:g}" + (
        f" ({verdict})" if verdict else ""
    )


@contributions_app.command("list")
def list_(
    task: str | None = typer.Option(None, help="Only this task."),
    optimizer: str | None = typer.Option(None, help="Only this optimizer."),
    status: str = typer.Option("active", help="active, withdrawn or all."),
    owner: str | None = typer.Option(None, help="Only this token id's."),
    limit: int = typer.Option(20, min=1, max=500),
    url: str | None = URL_OPTION,
) -> None:
    """The latest contributions, newest first."""
    with _client(url, None) as api:
        page = _call(api.contributions, task=task, optimizer=optimizer, status=status, owner=owner, limit=limit)
    table = Table(title=f"Contributions ({len(page['items'])} of {page['total']})")
    for col in ("id", "status", "task", "optimizer", "value", "metric", "verdict", "owner", "created"):
        table.add_column(col, no_wrap=col == "id")
    for c in page["items"]:
        verdict = (c.get("verification") or {}).get("verdict") or ""
        table.add_row(
            c["id"], c["status"], c["task"], c["optimizer"], f"{c['value']:.6g}", c["metric"] or "", verdict,
            c["owner"] or "", str(c["created_at"])[:16],
        )  # fmt: skip
    console.print(table)


@contributions_app.command()
def show(
    contribution_id: str = typer.Argument(..., help="The contribution's id."), url: str | None = URL_OPTION
) -> None:
    """One contribution as JSON, with its verification."""
    with _client(url, None) as api:
        console.print_json(json.dumps(_call(api.contribution, contribution_id)))


@contributions_app.command()
def edit(
    contribution_id: str = typer.Argument(..., help="The contribution's id."),
    value: float | None = typer.Option(None, help="The corrected metric value."),
    set_: list[str] = typer.Option([], "--set", help="NAME=VALUE: change one hyperparameter (repeatable)."),
    epochs: int | None = typer.Option(None, help="The corrected epoch budget."),
    hardware: str | None = typer.Option(None),
    software: str | None = typer.Option(None),
    notes: str | None = typer.Option(None, help="The source's notes."),
    idempotency_key: str | None = KEY_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Correct a contribution in place (it stays one row). A changed claim clears an earlier verification."""
    changes: dict[str, Any] = {}
    with _client(url, token) as api:
        if set_ or notes is not None or epochs is not None:
            current = _call(api.contribution, contribution_id)
        if set_:
            config = {k: current["config"][k] for k in current["given"]}
            for item in set_:
                name, sep, text = item.partition("=")
                if not sep or not name:
                    fail(f"--set: expected NAME=VALUE, got {item!r}", USAGE)
                config[name] = _value(text)
            changes["config"] = config
        if value is not None:
            changes["value"] = value
        if epochs is not None:
            changes["budget"] = {**{k: v for k, v in current["budget"].items() if v is not None}, "epochs": epochs}
        if notes is not None:
            changes["source"] = {**current["source"], "notes": notes}
        for key, given in (("hardware", hardware), ("software", software)):
            if given is not None:
                changes[key] = given
        if not changes:
            fail(
                "nothing to change: give --value, --set NAME=VALUE, --epochs, --hardware, --software or --notes", USAGE
            )
        edited = _call(api.edit_contribution, contribution_id, changes, idempotency_key=idempotency_key)
    typer.echo(_summary(edited))


@contributions_app.command()
def withdraw(
    contribution_id: str = typer.Argument(..., help="The contribution's id."),
    idempotency_key: str | None = KEY_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Withdraw a contribution (its owner or an admin): it stays readable and leaves the zone views."""
    with _client(url, token) as api:
        typer.echo(_summary(_call(api.withdraw, contribution_id, idempotency_key=idempotency_key)))


@contributions_app.command()
def verify(
    contribution_id: str = typer.Argument(..., help="The contribution's id."),
    idempotency_key: str | None = KEY_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Queue a rerun of a contribution on a registered task (needs scope submit); prints the rerun's job id."""
    with _client(url, token) as api:
        c = _call(api.verify, contribution_id, idempotency_key=idempotency_key)
    typer.echo(_summary(c))
    err.print(f"rerun: job {(c.get('verification') or {}).get('job_id')}")
