"""Storing and reading contributions: a batch (or a CSV upload) is stored atomically; reads only read.

Contributions appear in the zone views (:mod:`server.services.zone_answers`) beside the explored trials.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zone_explorer.contrib.csv_rows import rows_from_csv
from zone_explorer.contrib.requests import RequestKey, record_request, replayed_request
from zone_explorer.contrib.validation import (
    ContributionError,
    TaskBook,
    TaskContext,
    is_lookup_name,
    parse_contribution,
    task_contexts,
)
from zone_explorer.core.errors import Conflict, Forbidden, NotFound
from zone_explorer.core.statuses import ContributionStatus, Verdict
from zone_explorer.engine.budgets import Budget
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution, utcnow

__all__ = [
    "Stored",
    "add_contributions",
    "add_csv",
    "contribution_dicts",
    "contribution_to_dict",
    "edit_contribution",
    "get_contribution",
    "list_contributions",
    "owned_contribution",
    "store_contributions",
    "withdraw_contribution",
]

#: what a PATCH may change; each field given replaces the stored one (``config``: the complete given config)
EDITABLE = ("task", "optimizer", "config", "value", "curve", "budget", "seeds", "hardware", "software", "source")
_DUPLICATE_RULE = "same task, optimizer, config, budget, seeds, value and owner"


@dataclass
class Stored:
    """What a write stored: ``items`` (the contributions, as they are now), ``duplicates`` (``{"index", "id"}``: the
    items that were already stored, as that contribution, and so were not stored again) and ``replayed`` (the answer
    of an earlier request with the same Idempotency-Key; nothing was written)."""

    items: list[dict[str, Any]]
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False


def _active_by_fingerprint(s: Session, fingerprints: list[str]) -> dict[str, str]:
    q = sa.select(Contribution.fingerprint, Contribution.id).where(
        Contribution.fingerprint.in_(fingerprints), Contribution.status == ContributionStatus.ACTIVE
    )
    return {fp: cid for fp, cid in s.execute(q) if fp is not None}


def _rows(s: Session, ids: list[str]) -> list[Contribution]:
    by_id = {c.id: c for c in s.scalars(sa.select(Contribution).where(Contribution.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def store_contributions(
    url: str,
    items: list[Any],
    owner: str | None = None,
    *,
    max_items: int = 1000,
    prefix: str | None = "contributions",
    request: RequestKey | None = None,
) -> Stored:
    """Validate and store contributions atomically: one bad item stores nothing, and the error names its path
    (``contributions[3].config.lr``; without a ``prefix``, for a single contribution: ``config.lr``).

    A result already stored (:data:`_DUPLICATE_RULE`, an active row or an earlier item of the same request) is
    merged: not stored again, and listed in ``duplicates``; a single contribution (no ``prefix``) that is one is
    refused instead (:class:`~zone_explorer.core.errors.Conflict`). With a ``request`` key, a replay answers the
    first request's rows and stores nothing.
    """
    where = prefix or "contribution"
    if not isinstance(items, list) or not items:
        raise ContributionError(where, "must be a non-empty list of contributions")
    if len(items) > max_items:
        raise ContributionError(where, f"at most {max_items} contributions per request, got {len(items)}")
    for attempt in range(2):
        try:
            with session_scope(url) as s:
                done = replayed_request(s, request)
                if done is not None:
                    return Stored(contribution_dicts(url, _rows(s, done.contribution_ids)), done.duplicates, True)
                book = TaskBook(s)
                rows = [
                    parse_contribution(item, "" if prefix is None else f"{prefix}[{i}]", book, owner)
                    for i, item in enumerate(items)
                ]
                first = _active_by_fingerprint(s, [r.fingerprint for r in rows if r.fingerprint])
                fresh: list[Contribution] = []
                duplicates: list[dict[str, Any]] = []
                for i, row in enumerate(rows):
                    assert row.fingerprint is not None  # parse_contribution sets it
                    if row.fingerprint in first:
                        duplicates.append({"index": i, "id": first[row.fingerprint]})
                        continue
                    first[row.fingerprint] = row.id
                    fresh.append(row)
                if prefix is None and duplicates:
                    raise Conflict(
                        "contribution",
                        f"already stored as contribution {duplicates[0]['id']} ({_DUPLICATE_RULE}); nothing stored. "
                        "Edit that one (PATCH) to change it",
                    )
                s.add_all(book.new.values())
                s.flush()  # the new tasks first: a concurrent batch describing the same task fails here
                s.add_all(fresh)
                record_request(s, request, [r.id for r in fresh], duplicates)
            return Stored(contribution_dicts(url, fresh), duplicates)
        except IntegrityError:
            if attempt:
                raise
            # a concurrent request described the same new task, stored the same result or used the same key:
            # validate once more against what it stored
    raise AssertionError("unreachable")


def add_contributions(
    url: str, items: list[Any], owner: str | None = None, *, max_items: int = 1000, prefix: str | None = "contributions"
) -> list[dict[str, Any]]:
    """:func:`store_contributions` without a key: the contributions stored (duplicates are left out)."""
    return store_contributions(url, items, owner, max_items=max_items, prefix=prefix).items


def add_csv(
    url: str, data: bytes | str, owner: str | None = None, *, max_rows: int = 1000, request: RequestKey | None = None
) -> Stored:
    """Contributions from a CSV upload (see :func:`rows_from_csv`), stored atomically like a batch: uploading the
    same file twice stores nothing the second time (every row is a duplicate)."""
    rows = rows_from_csv(data, max_rows=max_rows)
    try:
        return store_contributions(url, [r for _, r in rows], owner, max_items=max_rows, prefix="rows", request=request)
    except ContributionError as err:
        m = re.match(r"^rows\[(\d+)\]", err.field)
        if m is None:
            raise
        raise type(err)(err.field, f"(CSV line {rows[int(m.group(1))][0]}) {err.message}") from None


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
        "zone_budget": Budget.of(c.epochs, c.steps, c.seeds).to_dict(),  # the zone this result joins
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


def owned_contribution(
    s: Session, contribution_id: str, may_act_for: Callable[[str | None], bool], verb: str
) -> Contribution:
    """The contribution, if ``may_act_for(its owner)``; else :class:`Forbidden` (403) saying who may ``verb`` it."""
    c = s.get(Contribution, contribution_id) if is_lookup_name(contribution_id, 32) else None
    if c is None:
        raise NotFound("id", f"contribution {contribution_id!r} not found")
    if not may_act_for(c.owner):
        raise Forbidden(
            "Authorization",
            f"contribution {contribution_id} belongs to another token; its owner or an admin may {verb} it",
        )
    return c


def withdraw_contribution(
    url: str,
    contribution_id: str,
    *,
    may_act_for: Callable[[str | None], bool],
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Mark a contribution withdrawn (it leaves the zone views). ``may_act_for(owner)`` decides who may."""
    with session_scope(url) as s:
        done = replayed_request(s, request)
        c = owned_contribution(s, contribution_id, may_act_for, "withdraw")
        if done is None:
            if c.status != ContributionStatus.WITHDRAWN:
                c.status = ContributionStatus.WITHDRAWN
                c.updated_at = utcnow()
            record_request(s, request, [c.id])
        s.flush()
        s.refresh(c)
    return contribution_dicts(url, [c])[0]


def _as_given(c: Contribution) -> dict[str, Any]:
    """A stored contribution as its contributor would send it (the given config only; run lengths re-derived)."""
    raw: dict[str, Any] = {
        "task": c.task,
        "optimizer": c.optimizer,
        "config": {k: c.config[k] for k in c.given},
        "value": c.value,
        "budget": {k: v for k, v in (("epochs", c.epochs), ("steps", c.steps)) if v is not None},
        "source": c.source,
    }
    for k in ("curve", "seeds", "hardware", "software"):
        if getattr(c, k) is not None:
            raw[k] = getattr(c, k)
    return raw


def edit_contribution(
    url: str,
    contribution_id: str,
    changes: Mapping[str, Any],
    *,
    may_act_for: Callable[[str | None], bool],
    request: RequestKey | None = None,
) -> dict[str, Any]:
    """Correct a contribution in place (a typo stays one row): each field in ``changes`` (:data:`EDITABLE`) replaces
    the stored one, and the result is validated like a new contribution. When the claim changes (anything but
    hardware, software and source), an earlier verification no longer applies and is cleared. Editing it into a
    result that is already stored is a :class:`~zone_explorer.core.errors.Conflict`."""
    if not isinstance(changes, Mapping) or not changes:
        raise ContributionError("contribution", f"give at least one field to change ({', '.join(EDITABLE)})")
    for key in changes:
        if key not in EDITABLE:
            raise ContributionError(str(key), f"unknown field (editable: {', '.join(EDITABLE)})")
    with session_scope(url) as s:
        done = replayed_request(s, request)
        c = owned_contribution(s, contribution_id, may_act_for, "edit")
        if done is None:
            if c.status != ContributionStatus.ACTIVE:
                raise ContributionError("id", f"contribution {c.id} is withdrawn; contribute the result again instead")
            book = TaskBook(s)
            new = parse_contribution({**_as_given(c), **changes}, "", book, c.owner)
            if new.fingerprint != c.fingerprint:
                clash = s.scalars(
                    sa.select(Contribution.id).where(
                        Contribution.fingerprint == new.fingerprint,
                        Contribution.status == ContributionStatus.ACTIVE,
                        Contribution.id != c.id,
                    )
                ).first()
                if clash is not None:
                    raise Conflict(
                        "contribution",
                        f"the edited result is already stored as contribution {clash} ({_DUPLICATE_RULE}); "
                        "withdraw this one instead",
                    )
                c.verify_job_id = c.verdict = c.measured_value = c.verdict_detail = None
            for attr in (
                "task", "optimizer", "config", "given", "value", "curve", "epochs", "steps", "seeds",
                "hardware", "software", "source", "fingerprint",
            ):  # fmt: skip
                setattr(c, attr, getattr(new, attr))
            c.updated_at = utcnow()
            s.add_all(book.new.values())
            record_request(s, request, [c.id])
        s.flush()
        s.refresh(c)
    return contribution_dicts(url, [c])[0]
