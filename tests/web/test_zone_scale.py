"""The zone page of a 100,000-trial study: the server aggregates and downsamples (it never ships every trial), and
the page becomes interactive in headless Chromium. How fast is measured by benchmarks/pages_zone.py, not here:
a test that asserts a wall-clock time fails on a busy machine and passes a slow change on a quiet one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web.conftest import screenshot
from tests.web.live_server import serve, stop_server
from tests.web.synthetic import build_study
from zone_explorer.store.db import init_db

N = 100_000
PATH = "/zones/digits-cnn/fsgdm"


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("big")
    url = init_db(f"sqlite:///{folder / 'big.db'}")
    build_study(url, N, optimizer="fsgdm", seed=3)
    proc, base = serve(url, folder / "server.log")
    try:
        r = httpx.get(base + "/pages-api" + PATH, timeout=600)  # the first read analyses every trial; then cached
        assert r.status_code == 200, r.text[:300]
        yield base
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_the_server_ships_a_bounded_summary(big) -> None:
    r = httpx.get(big + "/pages-api" + PATH, timeout=60)
    zone = r.json()["zone"]
    assert zone["counts"]["explored"] == N and zone["analysis"]["n_trials"] == N
    assert len(zone["analysis"]["zone_map"]["points"]["x"]) <= 2000
    assert len(r.content) < 1_000_000


@pytest.mark.slow
def test_the_zone_page_becomes_interactive(big, browser_context, console) -> None:
    page = browser_context.new_page()
    console.attach(page)
    page.goto(big + PATH)
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert page.evaluate("() => performance.getEntriesByName('zone:ready').length") == 1  # what the benchmark times
    page.wait_for_selector("#best-table tbody tr")
    assert "100,000" in page.locator("#counts").inner_text()
    screenshot(page, "zone-100k")
    page.close()
    assert not console.errors, console.errors
