"""Storing and reading contributions: a batch (or a CSV upload) is stored atomically; reads only read.

Contributions appear in the zone views (:mod:`server.services.zone_answers`) beside the explored trials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from zone_explorer.contrib.csv_rows import rows_from_csv
from zone_explorer.contrib.validation import (
    ContributionError,
    TaskBook,
    TaskContext,
    is_lookup_name,
    parse_contribution,
    task_contexts,
)
from zone_explorer.core.errors import Forbidden, NotFound
from zone_explorer.core.statuses import ContributionStatus, Verdict
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution, utcnow

__all__ = [
    "add_contributions",
    "add_csv",
    "contribution_dicts",
    "contribution_to_dict",
    "get_contribution",
    "list_contributions",
    "withdraw_contribution",
]


def add_contributions(
    url: str, items: list[Any], owner: str | None = None, *, max_items: int = 1000, prefix: str | None = "contributions"
) -> list[dict[str, Any]]:
    """Validate and store contributions atomically: one bad item stores nothing, and the error names its path
    (``contributions[3].config.lr``; without a ``prefix``, for a single contribution: ``config.lr``)."""
    where = prefix or "contribution"
    if not isinstance(items, list) or not items:
        raise ContributionError(where, "must be a non-empty list of contributions")
    if len(items) > max_items:
        raise ContributionError(where, f"at most {max_items} contributions per request, got {len(items)}")
    for attempt in range(2):
        try:
            with session_scope(url) as s:
                book = TaskBook(s)
                rows = [
                    parse_contribution(item, "" if prefix is None else f"{prefix}[{i}]", book, owner)
                    for i, item in enumerate(items)
                ]
                s.add_all(book.new.values())
                s.flush()  # the new tasks first: a concurrent batch describing the same task fails here
                s.add_all(rows)
            return contribution_dicts(url, rows)
        except IntegrityError:
            if attempt:
                raise
            # a concurrent batch described the same new task: validate once more against the stored one
    raise AssertionError("unreachable")


def add_csv(url: str, data: bytes | str, owner: str | None = None, *, max_rows: int = 1000) -> list[dict[str, Any]]:
    """Contributions from a CSV upload (see :func:`rows_from_csv`), stored atomically like a batch."""
    rows = rows_from_csv(data, max_rows=max_rows)
    try:
        return add_contributions(url, [r for _, r in rows], owner, max_items=max_rows, prefix="rows")
    except ContributionError as err:
        m = re.match(r"^rows\[(\d+)\]", err.field)
        if m is None:
            raise
        raise ContributionError(err.field, f"(CSV line {rows[int(m.group(1))][0]}) {err.message}") from None


def contribution_to_dict(c: Contribution, meta: TaskContext | None = None) -> dict[str, Any]:
    """The API's form of a contribution; ``meta`` gives its task's metric and direction."""
    verification = None
    if c.verdict is not None:
        verification = {
            "job_id": c.verify_job_id,
            "verdict": c.verdict,
            "measured_value": c.measured_value,
            "detail": c.verdict_detail,
        }
    return {
        "id": c.id,
        "status": c.status,
        "origin": "verified" if c.verdict == Verdict.VERIFIED else "contributed",
        "task": c.task,
        "optimizer": c.optimizer,
        "metric": meta.metric if meta else None,
        "direction": meta.direction if meta else None,
        "config": c.config,
        "given": c.given,
        "value": c.value,
        "curve": c.curve,
        "budget": {"epochs": c.epochs, "steps": c.steps},
        "seeds": c.seeds,
        "hardware": c.hardware,
        "software": c.software,
        "source": c.source,
        "owner": c.owner,
        "verification": verification,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def contribution_dicts(url: str, rows: list[Contribution]) -> list[dict[str, Any]]:
    """The JSON-ready form of ``rows``, with the metric and direction of their tasks."""
    meta = task_contexts(url, (c.task for c in rows))
    return [contribution_to_dict(c, meta.get(c.task)) for c in rows]


def get_contribution(url: str, contribution_id: str) -> dict[str, Any]:
    """One contribution with its verification, as stored (a rerun's verdict is recorded when its job ends)."""
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
    if c is None:
        raise NotFound("id", f"contribution {contribution_id!r} not found")
    return contribution_dicts(url, [c])[0]


def list_contributions(
    url: str,
    *,
    task: str | None = None,
    optimizer: str | None = None,
    status: str | None = ContributionStatus.ACTIVE,
    verdict: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Contributions, newest first, with the total for pagination."""
    for name, val in (
        ("task", task),
        ("optimizer", optimizer),
        ("status", status),
        ("verdict", verdict),
        ("owner", owner),
    ):
        if val is not None and not is_lookup_name(val):
            raise ContributionError(name, "must be plain text of at most 200 characters")
    q = sa.select(Contribution)
    for col, val in (
        (Contribution.task, task),
        (Contribution.optimizer, optimizer),
        (Contribution.status, status),
        (Contribution.owner, owner),
    ):
        if val is not None:
            q = q.where(col == val)
    if verdict == "none":
        q = q.where(Contribution.verdict.is_(None))
    elif verdict is not None:
        q = q.where(Contribution.verdict == verdict)
    with session_scope(url) as s:
        total = s.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
        rows = list(s.scalars(q.order_by(Contribution.created_at.desc(), Contribution.id).limit(limit).offset(offset)))
    return contribution_dicts(url, rows), int(total or 0)


def withdraw_contribution(
    url: str, contribution_id: str, *, may_act_for: Callable[[str | None], bool]
) -> dict[str, Any]:
    """Mark a contribution withdrawn (it leaves the zone views). ``may_act_for(owner)`` decides who may."""
    with session_scope(url) as s:
        c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
        if c is None:
            raise NotFound("id", f"contribution {contribution_id!r} not found")
        if not may_act_for(c.owner):
            raise Forbidden(
                "Authorization",
                f"contribution {contribution_id} belongs to another token; its owner or an admin may withdraw it",
            )
        if c.status != ContributionStatus.WITHDRAWN:
            c.status = ContributionStatus.WITHDRAWN
            c.updated_at = utcnow()
        s.flush()
        s.refresh(c)
    return contribution_dicts(url, [c])[0]
