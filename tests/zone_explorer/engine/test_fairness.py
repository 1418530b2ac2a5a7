"""Fair scheduling across owners and per-owner quotas, on SQLite and PostgreSQL: the claim order is checked claim by
claim (no timing), and a refused submission stores nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.zone_explorer.engine.test_engine import QUICK, _counts
from zone_explorer.core.errors import QuotaExceeded
from zone_explorer.core.statuses import ClaimStatus
from zone_explorer.engine.jobs import JobSpec, cancel_job, create_job
from zone_explorer.engine.worker import Worker
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import TrialClaim


def _job(url: str, owner: str | None, n_trials: int, **extra) -> str:
    return create_job(url, JobSpec.parse({**QUICK, "n_trials": n_trials, **extra}), owner=owner)[0].id


def _claim_order(url: str, n: int) -> list[str]:
    """The jobs of the next ``n`` claims (left running: each takes its slot, as a busy worker's would)."""
    worker = Worker(url, name="fairness-test")
    order = []
    for _ in range(n):
        claim = worker._claim(None)
        assert claim is not None
        order.append(claim[0].id)
    return order


def test_owners_take_turns_so_a_huge_job_never_blocks_a_small_one(db_url: str) -> None:
    huge = _job(db_url, "alice", 50)
    other_huge = _job(db_url, "alice", 50)  # alice's second job waits behind her first: FIFO within an owner
    small = _job(db_url, "bob", 2)
    cli = _job(db_url, None, 1)  # jobs without an owner (the CLI's) take turns as one more owner
    order = _claim_order(db_url, 7)
    # never served first, in submission order; then the owner served longest ago, claim by claim
    assert order == [huge, small, cli, huge, small, huge, huge]
    assert other_huge not in order
    # a job submitted later by an owner served longer ago is next, however many trials wait before it
    late = _job(db_url, "bob", 1)
    assert _claim_order(db_url, 2) == [late, huge]


def test_quota_of_active_jobs_per_owner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS", "2")
    first = _job(db_url, "alice", 1)
    _job(db_url, "alice", 1)
    before = _counts(db_url)
    with pytest.raises(QuotaExceeded) as err:
        _job(db_url, "alice", 1)
    assert err.value.field == "Authorization"
    assert "at most 2 jobs queued or running and this one has 2 already" in err.value.message
    assert "ZONE_EXPLORER_MAX_OWNER_ACTIVE_JOBS" in err.value.message
    assert _counts(db_url) == before  # neither the job nor its study
    _job(db_url, "bob", 1)  # another owner's quota is its own
    _job(db_url, None, 1)  # the CLI submits without an owner: no quota
    cancel_job(db_url, first)  # a job that ended frees its place
    _job(db_url, "alice", 1)


def test_quota_of_queued_epochs_per_owner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZONE_EXPLORER_MAX_OWNER_QUEUED_EPOCHS", "20")
    _job(db_url, "alice", 4, seeds=[0, 1])  # 4 trials x 2 epochs x 2 seeds = 16 epochs waiting
    before = _counts(db_url)
    with pytest.raises(QuotaExceeded) as err:
        _job(db_url, "alice", 2, epochs=2)  # + 4 more would be 20: fits
        _job(db_url, "alice", 1)  # + 2 more: 22 > 20
    assert err.value.field == "n_trials"
    assert "at most 20 training epochs" in err.value.message and "this one has 20 and this job would add 2" in (
        err.value.message
    )
    assert _counts(db_url)[0] == before[0] + 1
    # a trial with a result no longer waits: one done claim of the first job frees 4 epochs
    claim = Worker(db_url, name="fairness-test")._claim(None)
    assert claim is not None
    with session_scope(db_url) as s:
        s.execute(sa.update(TrialClaim).where(TrialClaim.id == claim[1]).values(status=ClaimStatus.DONE))
    _job(db_url, "alice", 1)
