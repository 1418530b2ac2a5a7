"""The CLI's job verbs against a real uvicorn (SQLite and PostgreSQL): `cancel` through the REST client, job ids by
their first characters (unique, ambiguous, none), a readable `status`, and the export's job, budget and K columns."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.server.conftest import QUICK_JOB, Service
from zone_explorer.cli import app as cli
from zone_explorer.cli.client import ZoneExplorerClient
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Job

runner = CliRunner()
NARROW = {"COLUMNS": "60"}  # narrower than a jobs table wants: ids must still be printed whole

#: FSGDM with c fixed at 0.5: K = v (1 + 1/c) = 3 v on every row
FIXED_C_SPACE = {
    "params": {
        "c_scaling": {"type": "fixed", "value": 0.5},
        "v_coefficient": {"type": "float", "low": 0.5, "high": 5.0, "log": True},
        "lr": {"type": "fixed", "value": 0.01},
        "weight_decay": {"type": "fixed", "value": 0.0},
    }
}


def submitted(live: Service, job: dict, who: str = "submit") -> str:
    with ZoneExplorerClient(live.base_url, live.tokens[who]) as api:
        return api.submit(job)["id"]


def renamed(live: Service, job_id: str, new_id: str) -> str:
    """Give a queued job (no claims yet) an id of the test's choosing, so that prefixes are deterministic."""
    with session_scope(live.url) as s:
        s.execute(sa.update(Job).where(Job.id == job_id).values(id=new_id))
    return new_id


def said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def named_jobs(live: Service) -> dict[str, str]:
    """Jobs whose ids share prefixes: two under "c0ffee", one that "c0ffee00000000a1" is a prefix of, one with a
    "_" (a LIKE wildcard) where the others have a letter, and twelve under "b0b"."""
    ids = {
        "a": "c0ffee00000000a1",
        "b": "c0ffee00000000b2",
        "longer": "c0ffee00000000a1ff",
        "underscore": "c0_fee0000000000",
        **{f"bulk{i}": f"b0b{i:013d}" for i in range(12)},
    }
    for new_id in ids.values():
        renamed(live, submitted(live, QUICK_JOB), new_id)
    return ids


def test_the_server_filters_jobs_by_the_start_of_their_id(live: Service, named_jobs: dict[str, str]) -> None:
    with live.client() as http:
        page = http.get("/api/v1/jobs", params={"id_prefix": "c0ffee00000000a1"}).json()
        # the job with exactly this id comes first, though the longer one is newer
        assert [j["id"] for j in page["items"]] == [named_jobs["a"], named_jobs["longer"]] and page["total"] == 2
        page = http.get("/api/v1/jobs", params={"id_prefix": "c0_"}).json()
        assert [j["id"] for j in page["items"]] == [named_jobs["underscore"]]  # "_" is not a wildcard
        capped = http.get("/api/v1/jobs", params={"id_prefix": "b0b", "limit": 3}).json()
        assert len(capped["items"]) == 3 and capped["total"] == 12
        bad = http.get("/api/v1/jobs", params={"id_prefix": "c0%"})
        assert bad.status_code == 422 and bad.json()["field"] == "id_prefix"


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("c0ffee00000000b", "b"),  # unique prefix
        ("c0ffee00000000a1ff", "longer"),  # full id
        ("c0ffee00000000a1", "a"),  # a full id that is also the start of a longer one
        ("c0_", "underscore"),
    ],
)
def test_status_takes_a_unique_prefix(live: Service, named_jobs: dict[str, str], typed: str, expected: str) -> None:
    shown = runner.invoke(cli, ["status", typed, "--json", "--url", live.base_url])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == named_jobs[expected]


def test_an_ambiguous_prefix_lists_the_jobs_it_could_mean(live: Service, named_jobs: dict[str, str]) -> None:
    shown = runner.invoke(cli, ["status", "c0ffee", "--url", live.base_url], env=NARROW)
    assert shown.exit_code == 2 and shown.stdout == ""
    message = said(shown)
    assert "JOB_ID: 'c0ffee' is the start of 3 job ids" in message and "type more of it" in message
    assert all(named_jobs[k] in message for k in ("a", "b", "longer"))
    bulk = said(runner.invoke(cli, ["status", "b0b", "--url", live.base_url]))
    assert "is the start of 12 job ids" in bulk and "and 2 more" in bulk  # ten shown, however many match
    assert sum(named_jobs[f"bulk{i}"] in bulk for i in range(12)) == 10


@pytest.mark.parametrize(
    "typed,message",
    [
        ("dead", "JOB_ID: no job id starts with 'dead'"),
        ("c0;drop", "JOB_ID: a job id or its first characters (1 to 64 of A-Z a-z 0-9 _ -), got 'c0;drop'"),
    ],
)
def test_a_prefix_of_no_job_is_a_clear_error(live: Service, named_jobs: dict[str, str], typed, message) -> None:
    for verb in (["status", typed], ["cancel", typed, "--token", live.tokens["admin"]]):
        shown = runner.invoke(cli, [*verb, "--url", live.base_url])
        assert shown.exit_code == 2 and message in said(shown), shown.output


def test_the_local_commands_take_prefixes_too(live: Service, named_jobs: dict[str, str]) -> None:
    shown = runner.invoke(cli, ["jobs", "c0ffee00000000b", "--db", live.url])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["job"] == named_jobs["b"]
    ambiguous = runner.invoke(cli, ["export", "--job", "c0ffee", "--db", live.url])
    assert ambiguous.exit_code == 2 and "--job: 'c0ffee' is the start of 3 job ids" in said(ambiguous)
    missing = runner.invoke(cli, ["zones", "--job", "dead", "--db", live.url])
    assert missing.exit_code == 2 and "--job: no job id starts with 'dead'" in said(missing)


def test_job_lists_show_whole_ids(live: Service, named_jobs: dict[str, str]) -> None:
    listed = runner.invoke(cli, ["status", "--limit", "500", "--url", live.base_url], env=NARROW)
    local = runner.invoke(cli, ["jobs", "--limit", "500", "--db", live.url], env=NARROW)
    for result in (listed, local):
        assert result.exit_code == 0, result.output
        assert all(job_id in result.stdout for job_id in named_jobs.values()), result.stdout


def test_cancel_through_the_rest_client(live: Service) -> None:
    job_id = submitted(live, QUICK_JOB)
    prefix = job_id[:10]
    refused = runner.invoke(cli, ["cancel", prefix, "--url", live.base_url, "--token", live.tokens["other"]])
    assert refused.exit_code == 1 and "403 forbidden" in said(refused) and "belongs to another token" in said(refused)
    anonymous = runner.invoke(cli, ["cancel", prefix, "--url", live.base_url, "--token", ""])
    assert anonymous.exit_code == 1 and "401" in said(anonymous)
    with ZoneExplorerClient(live.base_url) as api:
        assert api.job(job_id)["status"] == "queued"  # refused: nothing changed
    done = runner.invoke(cli, ["cancel", prefix, "--url", live.base_url, "--token", live.tokens["submit"]], env=NARROW)
    assert done.exit_code == 0, done.output
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert f"job {job_id}" in lines and "status cancelled" in lines
    with ZoneExplorerClient(live.base_url) as api:
        assert api.job(job_id)["status"] == "cancelled"
    again = runner.invoke(cli, ["cancel", job_id, "--json", "--url", live.base_url, "--token", live.tokens["admin"]])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "cancelled"  # an ended job stays as it is


@pytest.fixture(scope="module")
def finished_fsgdm_job(live: Service) -> str:
    """An FSGDM job with c fixed, run to the end by a worker in this process on the server's database."""
    from zone_explorer.engine.worker import Worker, WorkerSettings

    job_id = submitted(live, {**QUICK_JOB, "space": FIXED_C_SPACE, "seeds": [3, 4]})
    Worker(live.url, settings=WorkerSettings(poll_interval=0.1)).run(job_id=job_id, exit_when_idle=True)
    return job_id


def test_status_reads_like_a_summary(live: Service, finished_fsgdm_job: str) -> None:
    with ZoneExplorerClient(live.base_url) as api:
        detail = api.job(finished_fsgdm_job)
    assert detail["status"] == "completed"
    shown = runner.invoke(cli, ["status", finished_fsgdm_job[:8], "--url", live.base_url], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert lines[:5] == [
        f"job {finished_fsgdm_job}",
        "status completed",
        "task noisy-quadratic",
        "optimizer fsgdm",
        "budget 2 epoch(s) x 2 seed(s) (3, 4)",
    ]
    assert "trials 3/3 finished, 0 running (3 complete)" in lines
    assert f"best value {detail['progress']['best_value']:.6g}" in lines
    assert any(line.startswith("best config ") and "c_scaling=0.5" in line for line in lines)
    assert f"zone {live.base_url}/zones/noisy-quadratic/fsgdm" in lines
    assert f"job page {live.base_url}/jobs/{finished_fsgdm_job}" in lines
    raw = runner.invoke(cli, ["status", finished_fsgdm_job, "--json", "--url", live.base_url])
    assert raw.exit_code == 0 and json.loads(raw.stdout) == detail


def test_export_has_job_budget_and_k_columns(live: Service, finished_fsgdm_job: str) -> None:
    with ZoneExplorerClient(live.base_url) as api:
        served = api.export(finished_fsgdm_job, "csv")
    written = runner.invoke(cli, ["export", "--job", finished_fsgdm_job[:9], "--db", live.url])
    assert written.exit_code == 0 and written.stdout == served  # the CLI and the REST route write the same file
    rows = list(csv.DictReader(io.StringIO(served)))
    assert len(rows) == 3
    assert list(rows[0])[:5] == ["job_id", "task", "optimizer", "epochs", "seeds"]
    for row in rows:
        assert (row["job_id"], row["task"], row["optimizer"]) == (finished_fsgdm_job, "noisy-quadratic", "fsgdm")
        assert (row["epochs"], row["seeds"]) == ("2", "3;4")
        assert float(row["c_scaling"]) == 0.5
        assert float(row["K"]) == pytest.approx(3 * float(row["v_coefficient"]), rel=1e-12)  # v (1 + 1/0.5)
    with ZoneExplorerClient(live.base_url) as api:
        exported = json.loads(api.export(finished_fsgdm_job, "json"))
    assert (exported["epochs"], exported["seeds"]) == (2, [3, 4])


def test_export_of_an_optimizer_without_k(live: Service) -> None:
    job_id = submitted(live, {**QUICK_JOB, "optimizer": "lion"})
    with ZoneExplorerClient(live.base_url) as api:
        header = api.export(job_id, "csv").splitlines()[0].split(",")
    assert header[:5] == ["job_id", "task", "optimizer", "epochs", "seeds"] and "K" not in header
