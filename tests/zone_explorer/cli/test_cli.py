"""The command line as a user runs it: a real job end to end, its zone, its export, and helpful errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests import ROOT
from zone_explorer.cli import app

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "zone_explorer.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory) -> tuple[str, str, subprocess.CompletedProcess]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    run = cli(
        "run",
        "--task",
        "noisy-quadratic",
        "--optimizer",
        "fsgdm",
        "--trials",
        "8",
        "--epochs",
        "3",
        "--workers",
        "2",
        "--sampler",
        "qmc",
        "--db",
        url,
        "--json",
    )
    assert run.returncode == 0, run.stderr
    job_id = run.stderr.split("job ", 1)[1].split()[0]
    return url, job_id, run


def test_run_prints_the_zone_with_k_and_its_interval(finished_job) -> None:
    _, _, run = finished_job
    summary = json.loads(run.stdout)
    a = summary["analysis"]
    assert a["n_trials"] == 8 and (summary["x"], summary["y"]) == ("c_scaling", "v_coefficient")
    zc = a["zone_constant"]
    assert zc["estimate"] > 0 and zc["interval"][0] <= zc["estimate"] <= zc["interval"][1]
    assert zc["reference"] == 30.992
    assert "8/8" in run.stderr  # the progress bar reached the end


def test_zones_command_renders_for_people(finished_job) -> None:
    url, job_id, _ = finished_job
    out = cli("zones", "--job", job_id, "--db", url, "--x", "K", "--y", "c_scaling")
    assert out.returncode == 0, out.stderr
    assert "FSGDM zone constant K = v(1 + 1/c)" in out.stdout and "30.992" in out.stdout
    assert "Best configurations" in out.stdout


def test_export_csv_and_json_hold_every_trial(finished_job, tmp_path) -> None:
    url, job_id, _ = finished_job
    target = tmp_path / "trials.csv"
    result = runner.invoke(app, ["export", "--job", job_id, "--format", "csv", "--output", str(target), "--db", url])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 8 and {"number", "value", "c_scaling", "v_coefficient", "sigma"} <= set(rows[0])
    assert all(float(r["sigma"]) == 300 for r in rows)  # 100 steps/epoch x 3 epochs, derived by the engine
    result = runner.invoke(app, ["export", "--job", job_id, "--format", "json", "--db", url])
    assert len(json.loads(result.stdout)["trials"]) == 8


def test_jobs_lists_and_shows(finished_job) -> None:
    url, job_id, _ = finished_job
    result = runner.invoke(app, ["jobs", job_id, "--db", url])
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["status"] == "completed" and shown["finished"] == 8


def test_catalog_commands() -> None:
    result = runner.invoke(app, ["tasks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "digits-cnn" in result.stdout and "charlm-pydoc" in result.stdout
    result = runner.invoke(app, ["optimizers", "fsgdm"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "c_scaling" in result.stdout and '"optimizer": "fsgdm"' in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--task", "digits-cn", "--optimizer", "fsgdm"], "task: unknown task 'digits-cn'"),
        (
            ["run", "--task", "digits-cnn", "--optimizer", "fsgdm", "--trials", "0"],
            "n_trials: must be an integer in [1,",
        ),
        (
            ["run", "--task", "digits-cnn", "--optimizer", "fsgdm", "--seeds", "a,b"],
            "--seeds: expected comma-separated integers",
        ),
        (["optimizers", "fsgd"], "did you mean 'fsgdm'"),
        (["export", "--job", "nope", "--format", "xml"], "--format must be csv or json"),
    ],
)
def test_bad_input_exits_2_with_the_field_named(args: list[str], message: str, tmp_path) -> None:
    result = runner.invoke(
        app,
        [*args, *(["--db", f"sqlite:///{tmp_path / 'x.db'}"] if args[0] in ("run", "export") else [])],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_space_file_errors_name_the_file(tmp_path) -> None:
    space = tmp_path / "space.json"
    space.write_text('{"params": {"lr": {"type": "float", "low": 1, "high": 0.1}}}')
    result = runner.invoke(
        app,
        ["run", "-t", "digits-cnn", "-o", "fsgdm", "--space", str(space), "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2 and "space.params.lr.low" in result.output


def test_help_everywhere() -> None:
    for command in ([], ["run"], ["worker"], ["zones"], ["export"], ["jobs"], ["tasks"], ["optimizers"]):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Usage" in result.output
