"""Fixtures for the web pages: a seeded SQLite database served by a real uvicorn (with an embedded worker) on
loopback, tokens, and Debian's Chromium driven by Playwright, failing any test whose page logs a console error.

Browser tests are skipped when /usr/bin/chromium is missing, unless CI is set (then they fail).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests import ROOT
from tests.web.live_server import serve, stop_server
from tests.web.synthetic import build_study
from zone_explorer.contrib import add_contributions
from zone_explorer.store.db import init_db, session_scope
from zone_explorer.store.models import Contribution
from zone_explorer.store.tokens import create_token

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: screenshots of every page, for people to review (gitignored)
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}

CONTRIBUTION = {
    "task": "digits-cnn",
    "optimizer": "fsgdm",
    "value": 0.9755,
    "config": {"c_scaling": 0.033, "v_coefficient": 0.95, "lr": 0.01, "weight_decay": 0.0005},
    "budget": {"epochs": 10},
    "seeds": [0],  # the synthetic jobs' budget (10 epochs x 1 seed): one zone
    "hardware": "1x CPU",
    "software": "torch 2.13",
    "source": {"doi": "10.48550/arXiv.2411.19671", "notes": "Table 3"},
}


@dataclass
class Site:
    """A running server on a seeded database."""

    base_url: str
    db_url: str
    tokens: dict[str, str]
    jobs: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=60, **kwargs)

    def api(self, method: str, path: str, who: str = "admin", **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)


def seed(url: str) -> dict[str, str]:
    """Two synthetic studies on digits-cnn (FSGDM and SGD), two contributions (one marked verified), and a study of
    six trials (FSGDM on tabular-mlp: too few for K)."""
    jobs = {
        "fsgdm": build_study(url, 600, optimizer="fsgdm", seed=1),
        "sgd": build_study(url, 300, optimizer="sgd", seed=2),
        "few": build_study(url, 6, optimizer="fsgdm", task="tabular-mlp", seed=5),
    }
    stored = add_contributions(
        url,
        [
            CONTRIBUTION,
            {
                **CONTRIBUTION,
                "value": 0.9712,
                "config": {**CONTRIBUTION["config"], "c_scaling": 0.1, "v_coefficient": 2.8},
            },
        ],
        None,
    )
    with session_scope(url) as s:  # as a finished verification would leave it
        s.execute(
            sa.update(Contribution)
            .where(Contribution.id == stored[1]["id"])
            .values(verdict="verified", measured_value=0.9701, verdict_detail="rerun agreed")
        )
    return jobs


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    """The app with one embedded worker on a seeded SQLite file, shared by the web tests (tests that write use
    their own task or optimizer, so they do not disturb each other)."""
    folder = tmp_path_factory.mktemp("web")
    url = init_db(f"sqlite:///{folder / 'web.db'}")
    jobs = seed(url)
    tokens = {
        name: create_token(url, name, scopes)[1]
        for name, scopes in (("admin", "admin"), ("submit", "submit"), ("contribute", "contribute"))
    }
    proc, base = serve(url, folder / "server.log", workers=1)
    yield Site(base, url, tokens, jobs)
    stop_server(proc)


# ---- the browser --------------------------------------------------------------------------------------------------
def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; the CI image must provide Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="session")
def playwright_session():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser_context(playwright_session, tmp_path_factory):
    """One persistent Chromium profile for the session: like a returning visitor, pages after the first reuse the
    cached (and compiled) plotly.js. Each test still gets its own tab."""
    context = playwright_session.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=VIEWPORT,
    )
    yield context
    context.close()


class ConsoleLog:
    """Console errors, uncaught exceptions and failed requests of a page. ``allow(status)`` accepts the browser's
    "Failed to load resource ... status of <status>" message (a form test that expects the API to refuse)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, status: int) -> None:
        self.allowed.append(f"the server responded with a status of {status}")

    def _console(self, message) -> None:
        if message.type in ("error", "assert") and not any(a in message.text for a in self.allowed):
            self.errors.append(f"console.{message.type}: {message.text}")

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.errors.append(f"request failed: {r.url} {r.failure}") if "/favicon" not in r.url else None,
        )


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser_context, console):
    """A new tab; the test fails if the page logged a console error or threw."""
    pg = browser_context.new_page()
    console.attach(pg)
    yield pg
    pg.close()
    assert not console.errors, "the page logged errors:\n" + "\n".join(console.errors)


def open_page(page, site: Site, path: str, *, timeout: float = 120_000):
    """Go to ``path`` and wait until its script says it is interactive (``<body data-ready>``). The wait is long:
    the first page of a session fills its zone summaries cold (one model zone each) while the embedded worker
    starts and the other test process runs, and on 2 loaded cores that once took more than 30 s in CI (the page's
    speed is measured by benchmarks/pages_zone.py, not here)."""
    response = page.goto(site.base_url + path)
    assert response is not None and response.status < 400, f"{path}: {response.status if response else 'no response'}"
    page.wait_for_selector("body[data-ready=true]", timeout=timeout)
    return response


def screenshot(page, name: str) -> Path:
    """A full-page screenshot into test-artifacts/screenshots/ (scrolled to the top: the sticky bar stays put)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
