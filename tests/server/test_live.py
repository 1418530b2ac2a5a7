"""Against a real uvicorn on loopback (SQLite and PostgreSQL): the Python client, the CLI verbs, concurrency, limits;
and `zone-explorer serve` with its embedded worker running a job end to end."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.conftest import QUICK_JOB, row_counts
from tests.server.test_contributions import CSV, GOOD
from tests.web.live_server import start_server, stop_server
from zone_explorer.cli import app as cli
from zone_explorer.cli.client import ApiError, ZoneExplorerClient


def test_client_round_trip(live) -> None:
    with ZoneExplorerClient(live.base_url, live.tokens["admin"]) as api:
        assert api.ready()
        assert "noisy-quadratic" in [t["name"] for t in api.tasks()]
        assert api.optimizer("lion")["contribution_required"] == ["lr", "beta1", "beta2"]
        job = api.submit(QUICK_JOB, idempotency_key="live-1")
        assert api.submit(QUICK_JOB, idempotency_key="live-1")["id"] == job["id"]
        assert api.job(job["id"])["progress"]["finished"] == 0
        assert job["id"] in [j["id"] for j in api.jobs(task="noisy-quadratic")["items"]]
        assert list(api.iter_trials(job["id"])) == []
        assert api.cancel(job["id"])["status"] == "cancelled"
        assert api.wait(job["id"], timeout=5)["status"] == "cancelled"
        other = {**GOOD, "value": 0.4, "config": {**GOOD["config"], "c_scaling": 0.1, "v_coefficient": 2.0}}
        stored = api.contribute_csv(CSV) + api.contribute_batch([GOOD]) + [api.contribute(other)]
        assert len(stored) == 4 and api.contribution(stored[0]["id"])["value"] == 0.11
        summary = api.zone_summary("noisy-quadratic", "fsgdm")
        assert summary["counts"]["contributed"] >= 3  # the most common budget's (2 epochs x 2 seeds)
        assert api.zone("noisy-quadratic", "fsgdm", top_q=0.5)["analysis"]["tolerance"]["value"] == 0.5
        assert api.withdraw(stored[-1]["id"])["status"] == "withdrawn"
        with pytest.raises(ApiError) as err:
            api.submit({**QUICK_JOB, "n_trials": 0})
        assert err.value.status == 422 and err.value.field == "n_trials"
    with ZoneExplorerClient(live.base_url, token="") as anonymous, pytest.raises(ApiError) as err:
        anonymous.contribute(GOOD)
    assert err.value.status == 401 and err.value.error == "unauthorized"


def test_concurrent_identical_submissions_over_http(live) -> None:
    before = row_counts(live.url)["ze_jobs"]
    barrier = threading.Barrier(6)
    answers: list = [None] * 6

    def go(i: int) -> None:
        with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.tokens['submit']}"}) as c:
            barrier.wait()
            answers[i] = c.post("/api/v1/jobs", json=QUICK_JOB, headers={"Idempotency-Key": "live-race"})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert row_counts(live.url)["ze_jobs"] == before + 1


def test_oversized_and_malformed_over_http(live) -> None:
    before = row_counts(live.url)
    headers = {"Authorization": f"Bearer {live.tokens['contribute']}", "Content-Type": "text/csv"}
    r = httpx.post(f"{live.base_url}/api/v1/contributions/csv", content=b"z" * (5 * 1024 * 1024), headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = httpx.post(f"{live.base_url}/api/v1/contributions/csv", content=b'task,optimizer\n"unclosed', headers=headers)
    assert r.status_code == 422 and r.json()["field"] == "csv"
    r = httpx.post(
        f"{live.base_url}/api/v1/jobs",
        content=b'{"task": NaN}',
        headers={**headers, "Content-Type": "application/json", "Authorization": f"Bearer {live.tokens['submit']}"},
    )
    assert r.status_code == 422
    assert row_counts(live.url) == before


def test_cli_verbs(live, tmp_path) -> None:
    runner = CliRunner()
    auth = ["--url", live.base_url, "--token", live.tokens["admin"]]
    made = runner.invoke(cli, ["submit", "-t", "noisy-quadratic", "-o", "lion", "-n", "2", "--epochs", "1", *auth])
    assert made.exit_code == 0, made.output
    job = json.loads(made.stdout)
    assert job["optimizer"] == "lion" and job["n_trials"] == 2
    shown = runner.invoke(cli, ["status", job["id"], "--json", "--url", live.base_url])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["progress"]["finished"] == 0
    listed = runner.invoke(cli, ["status", "--url", live.base_url])
    assert listed.exit_code == 0 and job["id"][:8] in listed.stdout
    # other values than test_client_round_trip's: the same result from the same token is never stored twice
    (tmp_path / "one.json").write_text(json.dumps({**GOOD, "value": 0.31}))
    (tmp_path / "many.csv").write_text(CSV.replace("0.11,2,", "0.21,2,").replace("0.13,2,", "0.23,2,"))
    for name, count in (("one.json", 1), ("many.csv", 2)):
        done = runner.invoke(cli, ["contribute", str(tmp_path / name), *auth])
        assert done.exit_code == 0 and len(done.stdout.split()) == count, done.output
    bad = runner.invoke(cli, ["submit", "-t", "digits-cn", "-o", "fsgdm", *auth])
    assert bad.exit_code == 1 and "task" in bad.output and "digits-cnn" in bad.output
    with socket.socket() as bound:  # bound, never listening: a connection to its port is refused, and it stays ours
        bound.bind(("127.0.0.1", 0))
        gone = runner.invoke(cli, ["status", "--url", f"http://127.0.0.1:{bound.getsockname()[1]}"])
    assert gone.exit_code == 1 and "cannot reach the server" in gone.output


@pytest.mark.slow
def test_serve_with_embedded_worker_runs_a_job(tmp_path) -> None:
    """The one-command system: `zone-explorer serve` on a SQLite file with one in-process worker."""
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    runner = CliRunner()
    token = runner.invoke(cli, ["token", "create", "--name", "me", "--scopes", "submit", "--db", db]).stdout.split()[-1]
    cmd = [sys.executable, "-m", "zone_explorer.cli", "serve", "--port", "0", "--workers", "1", "--db", db]
    proc, base = start_server(cmd, {}, tmp_path / "server.log")  # INFO (the default): uvicorn names the port
    try:
        with ZoneExplorerClient(base, token) as api:
            job = api.submit({**QUICK_JOB, "n_trials": 4})
            final = api.wait(job["id"], timeout=120, poll=0.3)
            assert final["status"] == "completed" and final["progress"]["finished"] == 4
            assert api.zone("noisy-quadratic", "fsgdm")["counts"]["explored"] == 4
    finally:
        stop_server(proc)
    # uvicorn shuts down gracefully on SIGTERM (stopping the worker), then re-raises the signal as its exit status
    assert proc.returncode in (0, -signal.SIGTERM), (tmp_path / "server.log").read_text()[-4000:]
