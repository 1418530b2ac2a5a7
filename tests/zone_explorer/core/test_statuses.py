"""Statuses are enums whose members are their string values: stored, compared and serialised as before."""

from __future__ import annotations

import json

import pytest

from zone_explorer.core.statuses import (
    ACTIVE_JOB_STATUSES,
    RESULT_OUTCOMES,
    SLOT_TAKING_CLAIMS,
    ClaimStatus,
    JobStatus,
    Outcome,
)


@pytest.mark.parametrize(
    "enum,values",
    [
        (JobStatus, ["queued", "running", "completed", "failed", "cancelled"]),
        (ClaimStatus, ["running", "done", "cancelled", "lost"]),
        (Outcome, ["complete", "pruned", "diverged", "invalid", "error", "cancelled", "lost"]),
    ],
)
def test_members_are_the_values_stored_and_served(enum, values: list[str]) -> None:
    assert [m.value for m in enum] == values
    for member, value in zip(enum, values):
        assert member == value and hash(member) == hash(value) and enum(value) is member
        assert str(member) == f"{member}" == value  # as enum.StrEnum does, on Python 3.10 too
        assert json.dumps({member: member}) == json.dumps({value: value})


def test_the_groups_a_worker_counts_by() -> None:
    assert ACTIVE_JOB_STATUSES == ("queued", "running")
    assert SLOT_TAKING_CLAIMS == ("running", "done")
    assert "lost" not in RESULT_OUTCOMES and "cancelled" not in RESULT_OUTCOMES
    assert RESULT_OUTCOMES == {"complete", "pruned", "diverged", "invalid", "error"}
