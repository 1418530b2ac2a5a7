"""`zone-explorer contributions list|show|edit|withdraw|verify` against a real uvicorn (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.server.test_contribution_moderation import QUAD, counts, stored
from zone_explorer.cli import app as cli
from zone_explorer.cli.client import ZoneExplorerClient

runner = CliRunner()


def test_contributions_commands(live) -> None:
    with ZoneExplorerClient(live.base_url, live.tokens["contribute"]) as api:
        c = api.contribute({**QUAD, "value": 0.33, "hardware": "laptop"})
    mine = ["--url", live.base_url, "--token", live.tokens["contribute"]]

    listed = runner.invoke(cli, ["contributions", "list", "--url", live.base_url, "--task", "noisy-quadratic"])
    assert listed.exit_code == 0 and c["id"] in listed.stdout, listed.output
    shown = runner.invoke(cli, ["contributions", "show", c["id"], "--url", live.base_url])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["hardware"] == "laptop"

    before = counts(live.url)
    edited = runner.invoke(
        cli, ["contributions", "edit", c["id"], "--value", "0.32", "--set", "lr=0.02", "--notes", "typo fixed", *mine]
    )
    assert edited.exit_code == 0 and f"{c['id']} active" in edited.stdout and "value=0.32" in edited.stdout
    row = stored(live.url, c["id"])
    assert (row.value, row.config["lr"], row.source["notes"], row.config["c_scaling"]) == (
        0.32,
        0.02,
        "typo fixed",
        0.05,
    )
    assert counts(live.url)["ze_contributions"] == before["ze_contributions"]  # one row, corrected

    # refused: another owner's row, a value beyond the metric's range, nothing to change; the row stays as it was
    other = ["--url", live.base_url, "--token", live.tokens["other"]]
    for args, code, text in (
        (["edit", c["id"], "--value", "0.1", *other], 1, "403 forbidden: Authorization"),
        (["edit", c["id"], "--value", "-1", *mine], 1, "422 validation_error: value: must be >= 0"),
        (["edit", c["id"], *mine], 2, "nothing to change"),
        (["withdraw", c["id"], *other], 1, "403 forbidden"),
        (["show", "nope", "--url", live.base_url], 1, "404"),
    ):
        done = runner.invoke(cli, ["contributions", *args])
        assert done.exit_code == code and text in done.output, done.output
    assert stored(live.url, c["id"]).value == 0.32 and stored(live.url, c["id"]).status == "active"

    verify = runner.invoke(
        cli, ["contributions", "verify", c["id"], "--url", live.base_url, "--token", live.tokens["admin"]]
    )
    assert verify.exit_code == 0 and "(pending)" in verify.stdout and "rerun: job" in verify.output, verify.output
    key = ["--idempotency-key", "cli-w-1"]
    for _ in range(2):  # a retry with the same key answers the same withdrawal
        gone = runner.invoke(cli, ["contributions", "withdraw", c["id"], *key, *mine])
        assert gone.exit_code == 0 and f"{c['id']} withdrawn" in gone.stdout, gone.output
    after = runner.invoke(cli, ["contributions", "list", "--status", "withdrawn", "--url", live.base_url])
    assert c["id"] in after.stdout


def test_optimizers_command_lists_the_contributed_bounds() -> None:
    """The bounds the refusal message points to (`zone-explorer optimizers NAME`) are printed there."""
    shown = runner.invoke(cli, ["optimizers", "fsgdm"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0 and "contributed" in shown.stdout
    lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
    assert "[1e-20, 1e+06]" in lines["c_scaling"] and "[1, 2147483647]" in lines["sigma"]
