"""`zone-explorer import` checks the whole dump first and writes it in one transaction: a malformed dump (each kind)
is refused naming its place and leaves every table as it was, and the corrected file then imports; `--dry-run`
writes nothing; tokens are left out unless `--with-tokens`."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from zone_explorer.cli import app
from zone_explorer.contrib import add_contributions
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.engine.worker import Worker
from zone_explorer.io.transfer import dumps, export_database
from zone_explorer.store.db import get_engine, init_db
from zone_explorer.store.models import Base
from zone_explorer.store.tokens import authenticate, create_token

runner = CliRunner()

#: Optuna's tables an import writes, beside ours
OPTUNA_TABLES = (
    "studies",
    "study_directions",
    "study_user_attributes",
    "study_system_attributes",
    "trials",
    "trial_params",
    "trial_values",
    "trial_intermediate_values",
    "trial_user_attributes",
    "trial_system_attributes",
)
CONTRIBUTION = {
    "task": "noisy-quadratic",
    "optimizer": "fsgdm",
    "config": {"c_scaling": 0.05, "v_coefficient": 1.5, "lr": 0.01, "weight_decay": 5e-4},
    "value": 0.12,
    "budget": {"epochs": 2},
    "seeds": [0],
    "source": {"notes": "my runs"},
}


def row_counts(url: str) -> dict[str, int]:
    names = [*OPTUNA_TABLES, *(t.name for t in Base.metadata.sorted_tables)]
    with get_engine(url).connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in names}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[dict[str, Any], str]:
    """A dump of a small database: a finished job (2 trials, claims), a queued one, a contribution and an admin
    token; and that token."""
    url = init_db(f"sqlite:///{tmp_path_factory.mktemp('source') / 'src.db'}")
    quick = {"task": "noisy-quadratic", "optimizer": "fsgdm", "epochs": 2, "n_trials": 2, "sampler": "random"}
    create_job(url, JobSpec.parse({**quick, "sampler_seed": 3}))
    Worker(url).run(exit_when_idle=True)
    create_job(url, JobSpec.parse({**quick, "n_trials": 3}))
    add_contributions(url, [CONTRIBUTION], "someone")
    _, token = create_token(url, "source-admin", "admin")
    return json.loads(json.dumps(export_database(url))), token


def _write(tmp_path: Path, name: str, dump: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(dump))
    return path


def _import(path: Path, url: str, *flags: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", str(path), "--db", url, *flags])
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def _finished_job(dump: dict[str, Any]) -> dict[str, Any]:
    return next(j for j in dump["tables"]["ze_jobs"] if j["status"] == "completed")


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(dump: dict[str, Any]) -> None:
        path(dump)[key] = value

    return change


def _jobs(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["tables"]["ze_jobs"][i]


# each kind of malformed dump: what is changed, and the place the refusal names
MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("absurd n_trials", _set(_jobs(1), "n_trials", 10**9), "tables.ze_jobs[1].n_trials"),
    ("n_trials beyond 32 bits", _set(_jobs(1), "n_trials", 10**12), "tables.ze_jobs[1].n_trials"),
    ("text in an integer column", _set(_jobs(1), "epochs", "ten"), "tables.ze_jobs[1].epochs: must be an integer"),
    ("too many epochs", _set(_jobs(1), "epochs", 10**6), "tables.ze_jobs[1].epochs"),
    ("a seed out of range", _set(_jobs(1), "seeds", [-1]), "tables.ze_jobs[1].seeds[0]"),
    ("an unknown job status", _set(_jobs(1), "status", "paused"), "tables.ze_jobs[1].status"),
    ("an overlong name", _set(_jobs(1), "task", "x" * 300), "tables.ze_jobs[1].task: must be at most 200"),
    ("a null where one is required", _set(_jobs(1), "space", None), "tables.ze_jobs[1].space: must not be null"),
    (
        "an unknown claim status",
        _set(lambda d: d["tables"]["ze_trial_claims"][0], "status", "??"),
        "tables.ze_trial_claims[0].status",
    ),
    (
        "a claim of a job the dump lacks",
        _set(lambda d: d["tables"]["ze_trial_claims"][1], "job_id", "0000000000000000"),
        "tables.ze_trial_claims[1].job_id",
    ),
    (
        "a claim of a trial the study lacks",
        _set(lambda d: d["tables"]["ze_trial_claims"][1], "trial_number", 7),
        "tables.ze_trial_claims[1].trial_number",
    ),
    (
        "a job whose study is missing",
        _set(_jobs(1), "study_name", "ze-nowhere"),
        "tables.ze_jobs[1].study_name",
    ),
    (
        "an unknown trial state",
        _set(lambda d: d["studies"][0]["trials"][1], "state", "DONE"),
        "studies[0].trials[1].state",
    ),
    (
        "a trial value that is text",
        _set(lambda d: d["studies"][0]["trials"][0], "values", ["0.5"]),
        "studies[0].trials[0].values[0]",
    ),
    (
        "a contribution value that is not finite",
        _set(lambda d: d["tables"]["ze_contributions"][0], "value", float("nan")),
        "tables.ze_contributions[0].value: must be finite",
    ),
    (
        "an unknown column",
        _set(lambda d: d["tables"]["ze_contributions"][0], "karma", 1),
        "tables.ze_contributions[0].karma: unknown column",
    ),
    (
        "a contributed config value that is a list",
        _set(lambda d: d["tables"]["ze_contributions"][0]["config"], "lr", [0.1]),
        "tables.ze_contributions[0].config.lr",
    ),
    (
        "absurd contributed epochs",
        _set(lambda d: d["tables"]["ze_contributions"][0], "epochs", 10**9),
        "tables.ze_contributions[0].epochs",
    ),
    ("tables that are not an object", _set(lambda d: d, "tables", []), "tables: must be a JSON object"),
]


def _order_jobs(dump: dict[str, Any]) -> dict[str, Any]:
    """The dump with its finished job first (the paths above count on it)."""
    dump = copy.deepcopy(dump)
    dump["tables"]["ze_jobs"].sort(key=lambda j: j["status"] != "completed")
    finished = _finished_job(dump)
    dump["studies"].sort(key=lambda s: s["name"] != finished["study_name"])
    dump["tables"]["ze_trial_claims"].sort(key=lambda c: (c["job_id"] != finished["id"], c["slot"]))
    return dump


def test_each_malformed_dump_is_refused_whole_and_the_corrected_one_imports(source, db_url, tmp_path) -> None:
    good = _order_jobs(source[0])
    # a contribution already in the target with the same fingerprint: only the database's unique index finds it,
    # after the studies and jobs are written; the transaction must undo them
    add_contributions(db_url, [CONTRIBUTION], "someone")
    before = row_counts(db_url)
    for kind, change, place in MALFORMED:
        bad = copy.deepcopy(good)
        change(bad)
        code, output = _import(_write(tmp_path, "bad.json", bad), db_url)
        assert code == 2 and f"nothing imported: {place}" in output, (kind, output)
        assert row_counts(db_url) == before, kind

    code, output = _import(_write(tmp_path, "clash.json", good), db_url)
    assert code == 2 and "target refused a row" in output, output
    assert row_counts(db_url) == before

    corrected = copy.deepcopy(good)
    corrected["tables"]["ze_contributions"] = []
    code, output = _import(_write(tmp_path, "good.json", corrected), db_url)
    assert code == 0 and "imported 2 studies, 2 trials" in output, output
    after = row_counts(db_url)
    assert after["studies"] == before["studies"] + 2 and after["ze_jobs"] == before["ze_jobs"] + 2
    assert after["trial_values"] == before["trial_values"] + 2

    # the same dump again clashes with what it wrote: refused, naming the study, nothing written
    code, output = _import(_write(tmp_path, "good.json", corrected), db_url)
    assert code == 2 and re.search(r"studies\[[01]\]\.name: the target already holds study", output), output
    assert row_counts(db_url) == after


def test_dry_run_writes_nothing_and_tokens_need_asking_for(source, db_url, tmp_path) -> None:
    dump, token = source
    path = _write(tmp_path, "all.json", dump)
    before = row_counts(db_url)
    code, output = _import(path, db_url, "--dry-run")
    assert code == 0 and "dry run, nothing written; would import 2 studies, 2 trials" in output, output
    assert row_counts(db_url) == before
    bad = copy.deepcopy(dump)
    bad["tables"]["ze_jobs"][0]["n_trials"] = "many"
    code, output = _import(_write(tmp_path, "bad.json", bad), db_url, "--dry-run")
    assert code == 2 and "tables.ze_jobs[0].n_trials" in output and row_counts(db_url) == before

    code, output = _import(path, db_url)
    assert code == 0 and "skipped 1 rows of ze_api_tokens" in output, output
    assert row_counts(db_url)["ze_api_tokens"] == before["ze_api_tokens"]
    assert authenticate(db_url, token) is None  # the dump's author cannot act on the target


def test_tokens_imported_when_asked_are_named(source, sqlite_url, tmp_path) -> None:
    dump, token = source
    url = init_db(sqlite_url)
    code, output = _import(_write(tmp_path, "all.json", dump), url, "--with-tokens")
    assert code == 0 and "imported 1 admin token(s)" in output and "(source-admin)" in output, output
    info = authenticate(url, token)
    assert info is not None and info.is_admin


def test_a_token_row_is_checked_too(source, sqlite_url, tmp_path) -> None:
    bad = copy.deepcopy(source[0])
    bad["tables"]["ze_api_tokens"][0]["scopes"] = ["root"]
    url = init_db(sqlite_url)
    before = row_counts(url)
    code, output = _import(_write(tmp_path, "bad.json", bad), url, "--with-tokens")
    assert code == 2 and "tables.ze_api_tokens[0].scopes[0]" in output, output
    assert row_counts(url) == before


def test_every_trial_state_and_value_kind_imports_as_optuna_stored_it(tmp_path) -> None:
    """The import writes Optuna's tables itself (in its one transaction): what Optuna reads back is what it wrote."""
    src = init_db(f"sqlite:///{tmp_path / 'src.db'}")
    study = optuna.create_study(study_name="states", storage=src, directions=["minimize", "maximize"])
    study.set_user_attr("note", {"nested": [1, 2]})
    dist = {"x": optuna.distributions.FloatDistribution(0, 1), "k": optuna.distributions.CategoricalDistribution("ab")}
    for state, values in (
        (optuna.trial.TrialState.COMPLETE, [float("inf"), -float("inf")]),
        (optuna.trial.TrialState.COMPLETE, [0.25, 3.0]),
        (optuna.trial.TrialState.PRUNED, None),
        (optuna.trial.TrialState.FAIL, None),
        (optuna.trial.TrialState.RUNNING, None),
        (optuna.trial.TrialState.WAITING, None),
    ):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                values=values,
                params={"x": 0.5, "k": "b"},
                distributions=dist,
                user_attrs={"u": "v"},
                system_attrs={"s": 1},
                intermediate_values={0: 1.0, 1: float("nan"), 2: float("inf")},
            )
        )
    dst = init_db(f"sqlite:///{tmp_path / 'dst.db'}")
    code, output = _import(_write(tmp_path, "all.json", json.loads(dumps(export_database(src)))), dst)
    assert code == 0, output

    def seen(url: str) -> list[tuple[Any, ...]]:
        loaded = optuna.load_study(study_name="states", storage=url)
        assert loaded.user_attrs == {"note": {"nested": [1, 2]}}
        return [
            (
                t.number,
                t.state,
                t.values,
                t.params,
                t.distributions,
                t.user_attrs,
                t.system_attrs,
                str(t.intermediate_values),  # nan != nan: compared as text
                t.datetime_start,
                t.datetime_complete,
            )
            for t in loaded.get_trials(deepcopy=False)
        ]

    assert seen(dst) == seen(src)


def test_a_study_with_more_trials_than_the_cap_refuses_the_whole_dump(
    source, sqlite_url, tmp_path, monkeypatch
) -> None:
    dump = _order_jobs(source[0])  # its finished job's study first, with 2 trials
    url = init_db(sqlite_url)
    before = row_counts(url)
    monkeypatch.setenv("ZONE_EXPLORER_MAX_IMPORTED_TRIALS", "1")
    code, output = _import(_write(tmp_path, "all.json", dump), url)
    study = dump["studies"][0]["name"]
    assert code == 2, output
    assert f"nothing imported: studies[0].trials: study '{study}' has 2 trials; a study may bring at most 1" in output
    assert row_counts(url) == before
    monkeypatch.setenv("ZONE_EXPLORER_MAX_IMPORTED_TRIALS", "2")  # at the cap: imported
    code, output = _import(_write(tmp_path, "all.json", dump), url)
    assert code == 0 and "imported 2 studies, 2 trials" in output, output
