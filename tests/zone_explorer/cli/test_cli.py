"""The command line as a user runs it: a real job end to end, its zone, its export, and helpful errors."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from tests import ROOT
from zone_explorer.analysis.landscapes import LANDSCAPES, truth
from zone_explorer.cli import app
from zone_explorer.cli.client import ZoneExplorerClient

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


def test_run_prints_the_zone_and_says_eight_trials_are_too_few_for_k(finished_job) -> None:
    _, _, run = finished_job
    summary = json.loads(run.stdout)
    a = summary["analysis"]
    assert a["n_trials"] == 8 and (summary["x"], summary["y"]) == ("c_scaling", "v_coefficient")
    assert a["k"]["status"] == "too_few_trials" and a["k"]["estimate"] is None
    assert a["k"]["lr"] is not None  # the job fixes lr: it is a constant of the table
    assert "too_few_trials" in [w["code"] for w in a["warnings"]]
    zone = a["zone"]
    assert zone["delta"] > 0 and zone["volume_fraction"]["estimate"] is None  # not with 8 trials
    assert zone["membership"]["probability"] and zone["model"]["kind"] == "gaussian_process"
    assert "8/8" in run.stderr  # the progress bar reached the end


def test_zones_command_renders_for_people(finished_job) -> None:
    url, job_id, _ = finished_job
    out = cli("zones", "--job", job_id, "--db", url, "--x", "K", "--y", "c_scaling")
    assert out.returncode == 0, out.stderr
    assert "FSGDM K = v(1 + 1/c)" in out.stdout and "not reported (too_few_trials)" in out.stdout
    assert "K = 30.992 at lr 0.1" in out.stdout and "warning too_few_trials" in out.stdout
    assert "Best configurations" in out.stdout and "its size is not reported with this few trials" in out.stdout
    assert "Budget: 3 epochs x 1 seed, the job's" in out.stdout  # which budget, and where the others are


@pytest.fixture(scope="module")
def optuna_study(tmp_path_factory) -> str:
    """Any Optuna study: FSGDM-like parameters under other names, accuracy peaked along v (1 + 1/c) = 31."""
    import optuna

    url = f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'study.db'}"
    study = optuna.create_study(study_name="mine", storage=url, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip

    def objective(trial):
        c = trial.suggest_float("c", 0.005, 2.0, log=True)
        v = trial.suggest_float("v", 0.05, 50.0, log=True)
        d = math.log10(v * (1 + 1 / c) / 31)
        if d > 0.6:
            raise optuna.TrialPruned() if trial.number % 2 else RuntimeError("diverged")
        return 0.98 - min(0.88, 0.01 * (d / 0.4) ** 2)

    study.optimize(objective, n_trials=40, catch=(RuntimeError,))
    return url


def test_zones_of_any_optuna_study(optuna_study) -> None:
    out = cli("zones", "--storage", optuna_study, "--study", "mine", "--c-param", "c", "--v-param", "v", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    a = summary["analysis"]
    assert summary["study"] == "mine" and (summary["x"], summary["y"]) == ("c_scaling", "v_coefficient")
    centre = 10 ** truth(LANDSCAPES["bump"], math.log10(31)).k_centre  # the same band, clipped by the same box
    assert a["k"]["status"] == "ok" and a["k"]["interval"][0] < centre < a["k"]["interval"][1]
    assert a["diagnostics"]["n_diverged"] > 0  # failed trials bound the zone
    assert set(a["diagnostics"]["level_set"]["explained"]) == {"K", "c_scaling", "v_coefficient"}
    m = a["zone"]["membership"]  # the box is the study's distributions
    assert m["x"][0] == pytest.approx(0.005) and m["y"][-1] == pytest.approx(50.0)
    plain = cli("zones", "--storage", optuna_study, "--study", "mine", "--ignore-failed", "--json")
    a = json.loads(plain.stdout)["analysis"]
    assert a["k"] is None and a["diagnostics"]["n_diverged"] == 0  # c and v under other names: no K


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage", "sqlite:///nowhere/x.db", "--study", "mine"], "storage"),
        (["--study", "mine"], "--storage and --study go together"),
        (["--job", "j", "--storage", "sqlite://"], "give --job, or --storage and --study"),
    ],
)
def test_zones_of_a_study_says_what_is_wrong(args, message) -> None:
    result = runner.invoke(app, ["zones", *args])
    assert result.exit_code == 2 and message in result.stderr


def test_zones_of_an_unknown_study(optuna_study) -> None:
    result = runner.invoke(app, ["zones", "--storage", optuna_study, "--study", "theirs"])
    assert result.exit_code == 2 and "no study named 'theirs'" in result.stderr


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


def test_demo_refuses_a_bad_device_list_before_serving(tmp_path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--devices", "tpu:0", "--db", f"sqlite:///{db}"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--devices: unknown device 'tpu:0'" in result.output, result.output
    assert not db.exists()  # nothing was created: no database, no server


@pytest.mark.slow
def test_demo_serves_runs_its_job_and_prints_the_pages(tmp_path) -> None:
    """The README's first command, kept small: `zone-explorer demo` serves, submits its FSGDM job on digits-cnn and
    prints the pages' URLs; the embedded worker runs the job to the end, and Ctrl-C stops the server too."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = subprocess.Popen(
        [sys.executable, "-m", "zone_explorer.cli", "demo", "--port", "0", "--trials", "2", "--workers", "1"]
        + ["--devices", "cpu", "--db", db],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = []
        for line in demo.stdout:  # until the last line it prints while serving (or its exit)
            printed.append(line)
            if "API docs:" in line:
                break
        text = "".join(printed)
        # --port 0: demo bound a free port itself and prints it
        base = text.split("zone page: ", 1)[1].split("/zones/", 1)[0]
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0"), text
        assert f"zone page: {base}/zones/digits-cnn/fsgdm" in text, text
        assert "2 FSGDM trials on digits-cnn, 1 worker(s) on cpu" in text, text
        job_id = text.split(f"live job:  {base}/jobs/", 1)[1].split()[0]
        with ZoneExplorerClient(base, None) as api:
            final = api.wait(job_id, timeout=240, poll=0.5)
            assert final["status"] == "completed" and final["progress"]["finished"] == 2
            assert api.zone("digits-cnn", "fsgdm")["counts"]["explored"] == 2
            for page in ("/zones/digits-cnn/fsgdm", f"/jobs/{job_id}"):
                assert httpx.get(base + page, timeout=60).status_code == 200, page
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        out = demo.communicate(timeout=60)[0]
    assert demo.returncode == 0, out
    with pytest.raises(httpx.ConnectError):  # the server went with it
        httpx.get(f"{base}/healthz", timeout=5)
