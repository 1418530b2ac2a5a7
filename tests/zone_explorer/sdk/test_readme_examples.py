"""The README's "Your own training" examples, extracted by their ``<!-- sdk-example: NAME -->`` markers and run as
a user would (smaller: fewer trials), each in a fresh directory with the embedded SQLite file."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zone_explorer.cli import app

ROOT = Path(__file__).resolve().parents[3]
MARKED = re.compile(r"<!-- sdk-example: (\S+) -->\n```\w*\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    return dict(MARKED.findall((ROOT / "README.md").read_text()))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ZONE_EXPLORER_DATABASE_URL"}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=280)


def _outcomes(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, outcome FROM ze_trial_claims ORDER BY slot").fetchall()


def test_the_readme_marks_its_examples() -> None:
    assert set(examples()) == {"explore.py", "train.py", "run.sh"}


@pytest.mark.slow
def test_the_explore_example_runs(tmp_path, monkeypatch, capsys) -> None:
    code = examples()["explore.py"]
    assert "n_trials=20" in code
    (tmp_path / "explore.py").write_text(code.replace("n_trials=20", "n_trials=3"))
    monkeypatch.chdir(tmp_path)  # storage=None: the embedded SQLite file, here
    monkeypatch.delenv("ZONE_EXPLORER_DATABASE_URL", raising=False)
    runpy.run_path(str(tmp_path / "explore.py"), run_name="__main__")  # as `python explore.py`, in this process
    assert re.search(r"job [0-9a-f]{16}: best", capsys.readouterr().out)
    assert _outcomes(tmp_path / "zone-explorer.db") == [("done", "complete")] * 3


@pytest.mark.slow
def test_the_training_script_runs_alone_and_as_command_trials(tmp_path, monkeypatch) -> None:
    (tmp_path / "train.py").write_text(examples()["train.py"])
    lines = [line for line in examples()["run.sh"].replace("\\\n", "").splitlines() if line.strip()]
    alone, explore = (shlex.split(line.split("#")[0]) for line in lines)
    assert alone == ["python3", "train.py"]
    done = _run([sys.executable, "train.py"], tmp_path)  # outside any worker: the optimizer's defaults
    assert done.returncode == 0 and "epoch 3: val_acc" in done.stdout, done.stderr[-3000:]
    assert explore[:2] == ["zone-explorer", "run"] and explore[explore.index("-n") + 1] == "20"
    explore[explore.index("-n") + 1] = "2"
    explore[explore.index("--workers") + 1] = "1"
    explore[explore.index("--command") + 1] = f"{sys.executable} train.py"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZONE_EXPLORER_DATABASE_URL", raising=False)
    # an absolute URL: this process already holds an engine for the relative default, opened in another directory
    db = f"sqlite:///{tmp_path / 'zone-explorer.db'}"
    done = CliRunner().invoke(app, [*explore[1:], "--db", db], env={"COLUMNS": "200"})  # workers: own processes
    assert done.exit_code == 0, done.output[-3000:]
    assert _outcomes(tmp_path / "zone-explorer.db") == [("done", "complete")] * 2
