"""`export --all` / `import`: a whole SQLite database moved into PostgreSQL, nothing lost or changed."""

from __future__ import annotations

import json

import optuna
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from zone_explorer.cli import app
from zone_explorer.engine.jobs import JobSpec, create_job, get_job
from zone_explorer.engine.worker import Worker
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import TrialClaim
from zone_explorer.store.trials import load_trials

runner = CliRunner()


@pytest.mark.postgres
def test_sqlite_database_moves_to_postgres(sqlite_url: str, pg_url: str, tmp_path) -> None:
    src = init_db(sqlite_url)
    job, _ = create_job(
        src,
        JobSpec.parse(
            {
                "task": "noisy-quadratic",
                "optimizer": "fsgdm",
                "epochs": 2,
                "n_trials": 4,
                "sampler": "random",
                "seeds": [0, 1],
            }
        ),
    )
    Worker(src).run(exit_when_idle=True)
    pending, _ = create_job(src, JobSpec.parse({"task": "tabular-mlp", "optimizer": "lion", "n_trials": 3}))

    dump = tmp_path / "all.json"
    result = runner.invoke(app, ["export", "--all", "--output", str(dump), "--db", src])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["import", str(dump), "--db", pg_url])
    assert result.exit_code == 0, result.output
    dst = init_db(pg_url)

    before, after = load_trials(src, job.study_name), load_trials(dst, job.study_name)
    assert [t.to_dict() for t in before] == [t.to_dict() for t in after]
    assert get_job(dst, job.id).status == "completed" and get_job(dst, pending.id).status == "queued"
    assert optuna.load_study(study_name=job.study_name, storage=dst).user_attrs["zone_explorer_job"] == job.id
    # claims now point at the target's trial ids
    with session_scope(dst) as s:
        claims = s.scalars(sa.select(TrialClaim).where(TrialClaim.job_id == job.id)).all()
    storage = optuna.storages.RDBStorage(dst)
    assert len(claims) == 4
    for c in claims:
        assert storage.get_trial(c.optuna_trial_id).number == c.trial_number

    # the moved database keeps working: the queued job runs there, and new claims get fresh ids
    assert Worker(dst).run(exit_when_idle=True, max_trials=1) == 1

    # importing again would duplicate studies: refused with the reason, nothing written
    result = runner.invoke(app, ["import", str(dump), "--db", pg_url])
    assert result.exit_code == 2 and "already holds" in result.output


def test_import_refuses_a_foreign_document(tmp_path, sqlite_url: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    result = runner.invoke(app, ["import", str(bad), "--db", sqlite_url])
    assert result.exit_code == 2 and "format" in result.output
    result = runner.invoke(app, ["export", "--db", sqlite_url])
    assert result.exit_code == 2 and "either --job ID or --all" in result.output
