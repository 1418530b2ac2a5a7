"""`zone-explorer zones --task --optimizer` against a real uvicorn: one budget at a time, the others named, the
filters, the disputed results left out (issue 16)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from zone_explorer.cli import app as cli
from zone_explorer.cli.client import ZoneExplorerClient
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution

TASK = {
    "name": "cli-budget-task",
    "dataset": "synthetic",
    "model": "none",
    "metric": "accuracy",
    "direction": "maximize",
    "description": "results of two budgets, one disputed",
}


def _contribute(live) -> str:
    """Six results of 3 epochs x 1 seed (the best one then disputed) and three of 8 epochs x 2 seeds."""
    items = [
        {
            "task": TASK,
            "optimizer": "fsgdm",
            "value": base + 0.01 * i,
            "config": {"c_scaling": 0.01 * (i + 1), "v_coefficient": 0.5 + i, "lr": 0.01, "weight_decay": 0.0},
            "budget": {"epochs": epochs},
            "seeds": seeds,
            "source": {"notes": "cli zones"},
        }
        for base, epochs, seeds, n in ((0.8, 3, [0], 6), (0.9, 8, [0, 1], 3))
        for i in range(n)
    ]
    with ZoneExplorerClient(live.base_url, live.tokens["contribute"]) as api:
        stored = api.contribute_batch(items)
    disputed = stored[5]["id"]
    with session_scope(live.url) as s:  # as a rerun that did not reproduce it leaves it
        s.execute(sa.update(Contribution).where(Contribution.id == disputed).values(verdict="disputed"))
    return disputed


def test_cli_zones_of_a_budget(live) -> None:
    disputed = _contribute(live)
    runner = CliRunner()
    where = ["--task", TASK["name"], "--optimizer", "fsgdm", "--url", live.base_url]
    out = runner.invoke(cli, ["zones", *where])
    assert out.exit_code == 0, out.output
    printed = _unwrapped(out.stdout)
    assert "Budget: 3 epochs x 1 seed (--budget 'epochs=3;seeds=1')" in printed
    assert "other budgets: 8 epochs x 2 seeds (3, --budget 'epochs=8;seeds=2')" in printed
    assert f"disputed, left out: contribution/{disputed}" in printed
    other = runner.invoke(cli, ["zones", *where, "--budget", "epochs=8;seeds=2", "--json"])
    assert other.exit_code == 0, other.output
    zone = json.loads(other.stdout)
    assert zone["budget"]["key"] == "epochs=8;seeds=2" and zone["analysis"]["n_trials"] == 3
    included = json.loads(runner.invoke(cli, ["zones", *where, "--include-disputed", "--json"]).stdout)
    assert included["counts"]["contributed"] == 6 and included["disputed"] == []
    assert included["analysis"]["best_configs"][0]["id"] == f"contribution/{disputed}"
    bad = runner.invoke(cli, ["zones", *where, "--budget", "epochs=4"])
    assert bad.exit_code == 1 and "epochs=3;seeds=1, epochs=8;seeds=2" in _unwrapped(bad.output)
    few = runner.invoke(cli, ["zones", *where, "--origin", "verified"])
    assert few.exit_code == 1 and "0 finished result(s) with origin verified" in _unwrapped(few.output)
    misused = runner.invoke(cli, ["zones", "--job", "abc", "--budget", "epochs=3"])
    assert misused.exit_code == 2 and "--task and --optimizer" in _unwrapped(misused.output)


def _unwrapped(text: str) -> str:
    """The CLI's message on one line (rich wraps it at the terminal's width)."""
    return " ".join(text.split())
