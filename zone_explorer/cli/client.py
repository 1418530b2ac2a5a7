"""A Python client of the Zone Explorer REST API (httpx).

    from zone_explorer.cli.client import ZoneExplorerClient

    with ZoneExplorerClient("http://127.0.0.1:8000", token="ze_...") as api:
        job = api.submit({"task": "digits-cnn", "optimizer": "fsgdm", "n_trials": 40})
        api.wait(job["id"])
        zone = api.zone("digits-cnn", "fsgdm", top_q=0.1)

Every error answer raises :class:`ApiError` with the server's ``error``, ``detail`` and ``field``. The URL and token
default to ``$ZONE_EXPLORER_URL`` (else http://127.0.0.1:8000) and ``$ZONE_EXPLORER_TOKEN``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from zone_explorer.core.job_ids import CANDIDATES_SHOWN, check_id_prefix, pick_job_id
from zone_explorer.core.statuses import ACTIVE_JOB_STATUSES

__all__ = ["ApiError", "DEFAULT_URL", "ZoneExplorerClient"]

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """An error answer of the API."""

    def __init__(self, status: int, error: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{status} {error}: {f'{field}: ' if field else ''}{detail}")
        self.status, self.error, self.detail, self.field = status, error, detail, field


class ZoneExplorerClient:
    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
    ) -> None:
        self.base_url = (base_url or os.environ.get("ZONE_EXPLORER_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("ZONE_EXPLORER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    # ---- plumbing ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ZoneExplorerClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _send(self, method: str, path: str, *, retry: bool = False, **kwargs: Any) -> httpx.Response:
        """One request; ``retry`` repeats it on connection errors and 5xx/429 (only for safe or idempotent ones)."""
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                if attempt + 1 < attempts:
                    time.sleep(float(response.headers.get("Retry-After", 0.2 * 2**attempt)))
                    continue
            break
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            raise ApiError(
                response.status_code,
                str(body.get("error", "error")),
                str(body.get("detail", response.text[:500])),
                body.get("field"),
            )
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def _get(self, path: str, **params: Any) -> Any:
        return self._json("GET", path, retry=True, params={k: v for k, v in params.items() if v is not None})

    # ---- health and catalog ------------------------------------------------------------------------------------------
    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def tasks(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/tasks")

    def task(self, name: str) -> dict[str, Any]:
        return self._get(f"/api/v1/tasks/{name}")

    def optimizers(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/optimizers")

    def optimizer(self, name: str) -> dict[str, Any]:
        return self._get(f"/api/v1/optimizers/{name}")

    # ---- jobs ------------------------------------------------------------------------------------------------------
    def submit(self, job: Mapping[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Queue a job. A key (one is made up when not given) lets the client retry safely after a lost answer."""
        key = idempotency_key or uuid.uuid4().hex
        return self._json("POST", "/api/v1/jobs", json=dict(job), headers={"Idempotency-Key": key}, retry=True)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._get(f"/api/v1/jobs/{job_id}")

    def jobs(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        optimizer: str | None = None,
        id_prefix: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        return self._get(
            "/api/v1/jobs",
            status=status,
            task=task,
            optimizer=optimizer,
            id_prefix=id_prefix,
            limit=limit,
            offset=offset,
        )

    def resolve_job_id(self, typed: str, field: str = "job_id") -> str:
        """The full id of the job ``typed`` names (its id, or the first characters of exactly one job's id), asked
        of the server in one bounded request. Raises the errors of :func:`zone_explorer.core.job_ids.pick_job_id`
        (``NotFound``; ``FieldError`` listing the candidates of an ambiguous prefix)."""
        check_id_prefix(typed, field)
        page = self.jobs(id_prefix=typed, limit=CANDIDATES_SHOWN + 1)
        return pick_job_id(typed, [j["id"] for j in page["items"]], page["total"], field)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/api/v1/jobs/{job_id}/cancel", retry=True)

    def trials(self, job_id: str, *, state: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        return self._get(f"/api/v1/jobs/{job_id}/trials", state=state, limit=limit, offset=offset)

    def iter_trials(self, job_id: str, *, state: str | None = None, page: int = 500) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            answer = self.trials(job_id, state=state, limit=page, offset=offset)
            yield from answer["items"]
            if not answer["has_more"]:
                return
            offset += answer["limit"]

    def export(self, job_id: str, fmt: str = "csv") -> str:
        return self._send("GET", f"/api/v1/jobs/{job_id}/export", params={"format": fmt}, retry=True).text

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job is no longer queued or running; returns its final detail."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["status"] not in ACTIVE_JOB_STATUSES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)

    # ---- zones -----------------------------------------------------------------------------------------------------
    def zone(
        self,
        task: str,
        optimizer: str,
        *,
        x: str | None = None,
        y: str | None = None,
        top_q: float | None = None,
        delta: float | None = None,
        grid_size: int | None = None,
        **filters: Any,
    ) -> dict[str, Any]:
        """The zone view; ``filters``: ``budget``, ``job``, ``origin`` (comma-separated), ``include_disputed``."""
        return self._get(
            f"/api/v1/zones/{task}/{optimizer}",
            x=x,
            y=y,
            top_q=top_q,
            delta=delta,
            grid_size=grid_size,
            **_zone_filters(**filters),
        )

    def zone_summary(
        self, task: str, optimizer: str, *, top_q: float | None = None, delta: float | None = None, **filters: Any
    ) -> dict[str, Any]:
        return self._get(
            f"/api/v1/zones/{task}/{optimizer}/summary", top_q=top_q, delta=delta, **_zone_filters(**filters)
        )

    # ---- contributions ---------------------------------------------------------------------------------------------
    # every write sends an Idempotency-Key (a fresh one unless given), so a retry after a lost answer writes nothing new
    def _write(self, method: str, path: str, key: str | None, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), "Idempotency-Key": key or uuid.uuid4().hex}
        return self._json(method, path, headers=headers, retry=True, **kwargs)

    def contribute(self, contribution: Mapping[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._write("POST", "/api/v1/contributions", idempotency_key, json=dict(contribution))

    def contribute_batch(
        self, contributions: list[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> list[dict[str, Any]]:
        body = {"contributions": list(contributions)}
        return self._write("POST", "/api/v1/contributions/batch", idempotency_key, json=body)["items"]

    def contribute_csv(self, data: str | bytes | Path, *, idempotency_key: str | None = None) -> list[dict[str, Any]]:
        if isinstance(data, Path):
            data = data.read_bytes()
        content = data.encode() if isinstance(data, str) else data
        return self._write(
            "POST",
            "/api/v1/contributions/csv",
            idempotency_key,
            content=content,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )["items"]

    def contributions(
        self,
        *,
        task: str | None = None,
        optimizer: str | None = None,
        status: str | None = None,
        verdict: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        return self._get(
            "/api/v1/contributions",
            task=task,
            optimizer=optimizer,
            status=status,
            verdict=verdict,
            owner=owner,
            limit=limit,
            offset=offset,
        )

    def contribution(self, contribution_id: str) -> dict[str, Any]:
        return self._get(f"/api/v1/contributions/{contribution_id}")

    def edit_contribution(
        self, contribution_id: str, changes: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Correct a contribution in place: each field given replaces the stored one (``config``: the whole config)."""
        return self._write("PATCH", f"/api/v1/contributions/{contribution_id}", idempotency_key, json=dict(changes))

    def withdraw(self, contribution_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._write("DELETE", f"/api/v1/contributions/{contribution_id}", idempotency_key)

    def verify(self, contribution_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._write("POST", f"/api/v1/contributions/{contribution_id}/verify", idempotency_key)


def _zone_filters(
    budget: str | None = None, job: str | None = None, origin: str | None = None, include_disputed: bool = False
) -> dict[str, Any]:
    """The zone routes' filter parameters (a misspelt filter is a TypeError here, not a filter silently dropped)."""
    return {"budget": budget, "job": job, "origin": origin, "include_disputed": "true" if include_disputed else None}
