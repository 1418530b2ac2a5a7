"""Commands of the REST service: `serve`, `token create|list|revoke`, and the client verbs `submit`, `status`,
`cancel`, `contribute` (these talk to a running server through :mod:`zone_explorer.cli.client`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

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

__all__ = ["register"]


URL_OPTION = typer.Option(
    None, "--url", envvar="ZONE_EXPLORER_URL", show_envvar=True, help="The server (default http://127.0.0.1:8000)."
)
TOKEN_OPTION = typer.Option(
    None,
    "--token",
    envvar="ZONE_EXPLORER_TOKEN",
    show_envvar=True,
    help="API token (see `zone-explorer token create`).",
)


def _client(url: str | None, token: str | None):
    from zone_explorer.cli.client import ZoneExplorerClient

    return ZoneExplorerClient(url, token)


def _call(fn, *args: Any, **kwargs: Any) -> Any:
    """Run a client call; API errors and an unreachable server become one clear line."""
    import httpx

    from zone_explorer.cli.client import ApiError
    from zone_explorer.core.errors import FieldError, NotFound

    try:
        return fn(*args, **kwargs)
    except (FieldError, NotFound) as e:  # a job id typed wrongly (checked before any request, or none matched)
        fail_job_id(e)
    except ApiError as e:
        fail(f"{e.status} {e.error}: {e.field + ': ' if e.field else ''}{e.detail}", 1)
    except httpx.TransportError as e:
        fail(
            f"cannot reach the server ({type(e).__name__}); is `zone-explorer serve` running? (--url / ZONE_EXPLORER_URL)",
            1,
        )


# ---- serve --------------------------------------------------------------------------------------------------------
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=0,
        help="Worker processes run inside the server (default: one per device of --devices, so 1 on the cpu); "
        "0 serves the API alone (scale-out layout).",
    ),
    devices: str = DEVICES_OPTION,
    worker_threads: int = typer.Option(1, min=1, help="torch threads per embedded worker."),
    db: str | None = DB_OPTION,
    log_level: str = typer.Option("info", help="uvicorn log level."),
    log_format: str = typer.Option(
        "text",
        envvar="ZONE_EXPLORER_LOG_FORMAT",
        show_envvar=True,
        help="The service's log lines: text, or json for one JSON object per line.",
    ),
    fd: int | None = typer.Option(
        None,
        min=0,
        help="Serve on this inherited, already bound socket (a file descriptor) instead of HOST:PORT, as "
        "supervisors and `demo` hand one over; PORT is then only what the logs say.",
    ),
) -> None:
    """Serve the REST API (FastAPI under uvicorn) with embedded workers: one command, a working system.

    Embedded workers take the devices of --devices in turn (--workers 4 --devices cuda:0,cuda:1: two per GPU)."""
    import uvicorn

    from zone_explorer.store.db import database_url, init_db

    if log_format not in ("text", "json"):
        fail(f"--log-format must be text or json, got {log_format!r}", code=USAGE)
    plan = checked_devices(devices)
    if plan.note and workers != 0:
        err.print(f"note: {plan.note}")
    workers = len(plan.devices) if workers is None else workers
    url = database_url(db)
    try:
        init_db(url)  # fail here, with a clear message, rather than inside the app factory
    except Exception as e:  # any driver error means the same to the user
        fail(f"cannot open the database {url}: {type(e).__name__}: {e}", 1)
    # The app is built by uvicorn from an import string (zone_explorer never imports server); the settings travel
    # as environment variables, which pydantic-settings reads in the factory.
    os.environ.update(
        {
            "ZONE_EXPLORER_DATABASE_URL": url,
            "ZONE_EXPLORER_WORKERS": str(workers),
            "ZONE_EXPLORER_DEVICES": plan.as_option(),  # auto resolved once, here
            "ZONE_EXPLORER_WORKER_THREADS": str(worker_threads),
            "ZONE_EXPLORER_HOST": host,
            "ZONE_EXPLORER_PORT": str(port),
            "ZONE_EXPLORER_LOG_FORMAT": log_format,
        }
    )
    on = f" on {', '.join(plan.devices)}" if workers else ""
    err.print(f"serving http://{host}:{port}/api/v1 (docs /api/v1/docs) on {url} with {workers} worker(s){on}")
    uvicorn.run("server.app:create_app", factory=True, host=host, port=port, fd=fd, log_level=log_level)


def demo(
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port on 127.0.0.1 (0: any free port)."),
    trials: int = typer.Option(20, min=1, help="Trials of the FSGDM job on digits-cnn."),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Worker processes inside the server; they take the devices in turn (default: one per device, or on the "
        "cpu one per core, at most 4).",
    ),
    devices: str = DEVICES_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Serve (API, pages, workers), submit a small FSGDM job on digits-cnn, and print the zone page's URL."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from zone_explorer.cli.client import ZoneExplorerClient
    from zone_explorer.store.db import init_db
    from zone_explorer.store.tokens import create_token

    # checked here, so that a typo fails at once rather than as a server that does not start
    plan, workers = local_workers(devices, workers)
    url = init_db(db)
    # Bind here and hand the socket to the server: the URLs printed below are right the moment the server
    # starts, and --port 0 takes any free port with no window in which another program could take it.
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart within TIME_WAIT
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as e:
        listener.close()
        fail(f"cannot listen on port {port}: {e.strerror} (is the port in use? try --port, or --port 0)", 1)
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with listener:
        server = subprocess.Popen(
            [sys.executable, "-m", "zone_explorer.cli", "serve", "--fd", str(listener.fileno()), "--port", str(port)]
            + ["--workers", str(workers), "--devices", plan.as_option(), "--db", url, "--log-level", "warning"],
            pass_fds=(listener.fileno(),),
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                fail(f"the server did not start on port {port}", 1)
            time.sleep(0.3)
        _, token = create_token(url, "demo", "submit")
        with ZoneExplorerClient(base, token) as client:
            job = _call(
                client.submit, {"task": "digits-cnn", "optimizer": "fsgdm", "n_trials": trials, "sampler_seed": 0}
            )
        on = ", ".join(plan.devices)
        console.print(f"submitted job {job['id']}: {trials} FSGDM trials on digits-cnn, {workers} worker(s) on {on}")
        console.print(f"  zone page: {base}/zones/digits-cnn/fsgdm")
        console.print(f"  live job:  {base}/jobs/{job['id']}")
        console.print(f"  API docs:  {base}/api/v1/docs        (Ctrl-C stops the server)")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


# ---- tokens --------------------------------------------------------------------------------------------------------
token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
    scopes: str = typer.Option("submit,contribute", "--scopes", help="Comma-separated: submit, contribute, admin."),
    db: str | None = DB_OPTION,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from zone_explorer.store.db import init_db
    from zone_explorer.store.tokens import TokenError, create_token

    try:
        info, token = create_token(init_db(db), name, scopes)
    except TokenError as e:
        fail(f"--{e.field}: {e.message}", code=USAGE)
    err.print(
        f"token {info.id} ({info.name}) with scopes {', '.join(sorted(info.scopes))}; "
        "store it now, it is not shown again:"
    )
    typer.echo(token)


@token_app.command("list")
def token_list(db: str | None = DB_OPTION) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from zone_explorer.store.db import init_db
    from zone_explorer.store.tokens import list_tokens

    table = Table(title="API tokens")
    for col in ("id", "name", "scopes", "created", "revoked"):
        table.add_column(col)
    for t in list_tokens(init_db(db)):
        table.add_row(t.id, t.name, ",".join(sorted(t.scopes)), str(t.created_at)[:19], str(t.revoked_at or "")[:19])
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The token's id (see `token list`)."), db: str | None = DB_OPTION
) -> None:
    """Revoke a token: its next request gets 401, in every API process (each request reads its token)."""
    from zone_explorer.store.db import init_db
    from zone_explorer.store.tokens import revoke_token

    if not revoke_token(init_db(db), token_id):
        fail(f"no active token {token_id!r}", 1)
    err.print(f"revoked {token_id}: refused from its next request on, by every API process on this database")


# ---- client verbs ----------------------------------------------------------------------------------------------------
def submit(
    task: str | None = typer.Option(None, "--task", "-t", help="Task name."),
    optimizer: str | None = typer.Option(None, "--optimizer", "-o", help="Optimizer name."),
    trials: int | None = typer.Option(None, "--trials", "-n", help="Number of finished trials."),
    sampler: str | None = typer.Option(None, help="tpe, gp, cmaes, qmc, random or grid."),
    pruner: str | None = typer.Option(None, help="median, hyperband or none."),
    seeds: str | None = typer.Option(None, help="Comma-separated seeds."),
    epochs: int | None = typer.Option(None, help="Epochs per trial."),
    sampler_seed: int | None = typer.Option(None, help="Sampler seed."),
    space: Path | None = typer.Option(None, help="JSON file with a search space."),
    spec: Path | None = typer.Option(None, help="JSON file with a whole job (flags override its fields)."),
    idempotency_key: str | None = typer.Option(None, help="Retry-safe key (default: a fresh one)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job to finish, showing progress."),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Submit a job to a running server; prints the job as JSON."""
    job: dict[str, Any] = _read_json(spec, "--spec") if spec else {}
    if space is not None:
        job["space"] = _read_json(space, "--space")
    if seeds is not None:
        try:
            job["seeds"] = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            fail(f"--seeds: expected comma-separated integers, got {seeds!r}", code=USAGE)
    for key, value in (
        ("task", task),
        ("optimizer", optimizer),
        ("n_trials", trials),
        ("sampler", sampler),
        ("pruner", pruner),
        ("epochs", epochs),
        ("sampler_seed", sampler_seed),
    ):
        if value is not None:
            job[key] = value
    with _client(url, token) as api:
        created = _call(api.submit, job, idempotency_key=idempotency_key)
        err.print(f"job [bold]{created['id']}[/] {created['status']}")
        if wait:
            created = _call(
                api.wait,
                created["id"],
                on_progress=lambda j: err.print(
                    f"  {j['status']}: {j['progress']['finished']}/{j['n_trials']} finished, best {j['progress']['best_value']}"
                ),
            )
    console.print_json(json.dumps(created))


JSON_OPTION = typer.Option(False, "--json", help="Print the server's JSON answer as it is.")


def status(
    job_id: str | None = typer.Argument(None, help="A job id or its first characters; without one, the latest jobs."),
    limit: int = typer.Option(20, min=1, max=500),
    json_out: bool = JSON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Show a job's status and progress, or list the latest jobs, from a running server."""
    with _client(url, None) as api:
        if job_id is not None:
            detail = _call(api.job, _call(api.resolve_job_id, job_id, "JOB_ID"))
            _print_job(detail, api.base_url, json_out)
            return
        page = _call(api.jobs, limit=limit)
    if json_out:
        console.print_json(json.dumps(page))
        return
    rows = [
        (j["id"], j["status"], j["task"], j["optimizer"], str(j["n_trials"]), j["created_at"][:16])
        for j in page["items"]
    ]
    console.print(jobs_table(f"Jobs ({len(rows)} of {page['total']})", rows))


def cancel(
    job_id: str = typer.Argument(..., help="A job id or its first characters."),
    json_out: bool = JSON_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Cancel a job on a running server (its owner's token or an admin's); running trials stop within one epoch."""
    with _client(url, token) as api:
        detail = _call(api.cancel, _call(api.resolve_job_id, job_id, "JOB_ID"))
        _print_job(detail, api.base_url, json_out)


def _print_job(detail: dict[str, Any], base_url: str, json_out: bool) -> None:
    """A job's detail (``GET /api/v1/jobs/{id}``) for people, one ``key  value`` line each, or as its JSON."""
    if json_out:
        console.print_json(json.dumps(detail))
        return
    from urllib.parse import quote

    from rich.table import Table
    from rich.text import Text

    p = detail["progress"]
    seeds = detail["seeds"]
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(p["outcomes"].items()) if n)
    lines = {
        "job": detail["id"],
        "status": detail["status"] + (f": {detail['error']}" if detail["error"] else ""),
        "task": detail["task"],
        "optimizer": detail["optimizer"],
        "budget": f"{detail['epochs']} epoch(s) x {len(seeds)} seed(s) ({', '.join(map(str, seeds))})",
        "trials": f"{p['finished']}/{detail['n_trials']} finished, {p['running']} running"
        + (f" ({outcomes})" if outcomes else ""),
        "best value": "none yet" if p["best_value"] is None else f"{p['best_value']:.6g}",
    }
    if p["best_config"]:
        lines["best config"] = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in p["best_config"].items()
        )
    if p["eta_seconds"] is not None:
        lines["eta"] = f"{p['eta_seconds']:.0f} s"
    lines["zone"] = f"{base_url}/zones/{quote(detail['task'], safe='')}/{quote(detail['optimizer'], safe='')}"
    lines["job page"] = f"{base_url}/jobs/{detail['id']}"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # ids and links wrap whole rather than end in an ellipsis
    for key, value in lines.items():
        grid.add_row(key, Text(value))  # Text: a value's brackets are not rich markup
    console.print(grid)


def contribute(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A .csv file, or JSON: one contribution or a list."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
) -> None:
    """Contribute results from a CSV or JSON file to a running server; prints the stored ids."""
    with _client(url, token) as api:
        if file.suffix.lower() == ".csv":
            stored = _call(api.contribute_csv, file)
        else:
            data = _read_json(file, "FILE")
            if isinstance(data, dict) and "contributions" in data:
                data = data["contributions"]
            stored = _call(api.contribute_batch, data) if isinstance(data, list) else [_call(api.contribute, data)]
    for c in stored:
        typer.echo(c["id"])
    err.print(f"stored {len(stored)} contribution(s)")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as e:
        fail(f"{what}: cannot read {path}: {e.strerror}", code=USAGE)
    except json.JSONDecodeError as e:
        fail(f"{what}: {path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", code=USAGE)


def register(app: typer.Typer) -> None:
    """Add the service commands to the `zone-explorer` CLI (called at the bottom of zone_explorer/cli/app.py)."""
    app.command()(serve)
    app.command()(demo)
    app.add_typer(token_app, name="token")
    app.command()(submit)
    app.command()(status)
    app.command()(cancel)
    app.command()(contribute)
    from zone_explorer.cli.contributions import contributions_app

    app.add_typer(contributions_app, name="contributions")
