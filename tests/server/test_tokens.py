"""Tokens: stored hashed, shown once, revocable; scopes; per-token rate limits; the `token` commands."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from server.app import create_app
from server.services.auth import RateLimiter
from tests.server.conftest import QUICK_JOB, SyncASGITransport, app_settings
from zone_explorer.cli import app as cli
from zone_explorer.store.db import get_engine
from zone_explorer.store.tokens import TokenError, authenticate, create_token, list_tokens, parse_scopes, revoke_token


def test_tokens_are_stored_hashed_and_checked(sqlite_url) -> None:
    from zone_explorer.store.db import init_db

    url = init_db(sqlite_url)
    info, token = create_token(url, "ci bot", "submit, contribute")
    assert re.fullmatch(r"ze_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token) and info.scopes == {"submit", "contribute"}
    with get_engine(url).connect() as conn:
        stored = conn.execute(sa.text("SELECT * FROM ze_api_tokens")).mappings().one()
    assert token.split("_", 2)[2] not in str(dict(stored)) and len(stored["secret_hash"]) == 64
    assert authenticate(url, token) == info
    assert authenticate(url, token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # wrong secret
    assert authenticate(url, "ze_000000000000_" + token[-43:]) is None  # unknown id
    assert authenticate(url, "Bearer nonsense") is None
    assert revoke_token(url, info.id) and not revoke_token(url, info.id)
    assert authenticate(url, token) is None and list_tokens(url)[0].revoked_at is not None


def test_scope_and_name_validation() -> None:
    assert parse_scopes("admin,submit") == ["submit", "admin"]
    with pytest.raises(TokenError, match="unknown scope 'write'"):
        parse_scopes("submit,write")
    with pytest.raises(TokenError, match="at least one"):
        parse_scopes(" , ")
    with pytest.raises(TokenError) as err:
        create_token("sqlite://", "bad\u0000name", "submit")
    assert err.value.field == "name"


def test_sliding_window() -> None:
    limiter = RateLimiter(limit=3, window=10.0)
    assert [limiter.hit("a", now=t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert limiter.hit("a", now=3.0) == pytest.approx(7.0)  # the hit at 0 leaves the window at 10
    assert limiter.hit("b", now=3.0) is None  # per token
    assert limiter.hit("a", now=10.5) is None  # 0 has left the window
    assert RateLimiter(limit=0).hit("a") is None  # 0 turns limiting off


def test_rate_limit_answers_429(db_url) -> None:
    app = create_app(app_settings(db_url, migrate=False, rate_limit=2, rate_window_s=60))
    _, token = create_token(db_url, "eager", "submit")
    _, other = create_token(db_url, "calm", "submit")
    with httpx.Client(
        transport=SyncASGITransport(app), base_url="http://t", headers={"Authorization": f"Bearer {token}"}
    ) as api:
        assert [api.post("/api/v1/jobs", json=QUICK_JOB).status_code for _ in range(2)] == [202, 202]
        r = api.post("/api/v1/jobs", json=QUICK_JOB)
        assert r.status_code == 429 and r.json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        assert "'eager'" in r.json()["detail"]
        assert api.get("/api/v1/jobs").status_code == 200  # reads are not limited
        r = api.post("/api/v1/jobs", json=QUICK_JOB, headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 202


def test_a_revocation_refuses_the_very_next_request_in_every_api_process(db_url) -> None:
    """Two apps on one database stand for two API processes: each has just accepted the token (so a memory of it,
    if there were one, would be warm in both); after `token revoke` both refuse its next request."""
    info, token = create_token(db_url, "soon-revoked", "submit")
    transports = [SyncASGITransport(create_app(app_settings(db_url, migrate=False))) for _ in range(2)]
    auth = {"Authorization": f"Bearer {token}"}
    clients = [httpx.Client(transport=t, base_url="http://t", headers=auth) for t in transports]
    try:
        # cancelling a job that does not exist: 404 once the token is accepted, 401 when it is not (writes nothing)
        assert [c.post("/api/v1/jobs/0000000000000000/cancel").status_code for c in clients] == [404, 404]
        revoked = CliRunner().invoke(cli, ["token", "revoke", info.id, "--db", db_url])
        assert revoked.exit_code == 0 and "refused from its next request on" in revoked.output
        for c in clients:
            r = c.post("/api/v1/jobs/0000000000000000/cancel")
            assert r.status_code == 401 and r.json()["field"] == "Authorization", r.text
    finally:
        for c in clients:
            c.close()
        for t in transports:
            t.close()


def test_token_commands(sqlite_url) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", "--name", "alice", "--scopes", "submit,admin", "--db", sqlite_url])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert authenticate(sqlite_url, token).scopes == {"submit", "admin"}
    listed = runner.invoke(cli, ["token", "list", "--db", sqlite_url])
    assert "alice" in listed.stdout and token not in listed.stdout
    token_id = token.split("_")[1]
    assert runner.invoke(cli, ["token", "revoke", token_id, "--db", sqlite_url]).exit_code == 0
    assert authenticate(sqlite_url, token) is None
    bad = runner.invoke(cli, ["token", "create", "--name", "x", "--scopes", "root", "--db", sqlite_url])
    assert bad.exit_code == 2 and "unknown scope 'root'" in bad.output
