"""The API docs page works offline: Swagger UI's assets come from the installed package, served by the app itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from server.docs import DOCS_ASSETS, DOCS_URL
from tests.web.live_server import serve, stop_server
from zone_explorer.store.db import init_db


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory) -> Iterator[str]:
    """The API alone on an empty database: the docs page needs nothing else."""
    folder = tmp_path_factory.mktemp("docs")
    proc, base = serve(init_db(f"sqlite:///{folder / 'docs.db'}"), folder / "server.log")
    yield base
    stop_server(proc)


def test_docs_page_loads_only_its_own_assets(docs_server: str) -> None:
    page = httpx.get(docs_server + DOCS_URL, timeout=30)
    assert page.status_code == 200
    assert "https://" not in page.text and "cdn" not in page.text.lower()
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(url.rsplit("/", 1)[1] for url in loaded) == ["favicon.png", "swagger-ui-bundle.js", "swagger-ui.css"]
    types = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    for url in loaded:
        assert url.startswith(DOCS_ASSETS + "/"), url
        asset = httpx.get(docs_server + url, timeout=30)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(types[url.rsplit(".", 1)[1]]), url
        assert len(asset.content) > 1000, url  # the real file, not an error body


def test_docs_render_with_the_network_cut_off(docs_server: str, page) -> None:
    blocked: list[str] = []

    def only_the_server(route) -> None:
        if route.request.url.startswith(docs_server + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_the_server)
    response = page.goto(docs_server + DOCS_URL)
    assert response is not None and response.status == 200
    # Swagger UI has fetched the schema and drawn one block per operation
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/jobs/{job_id}/cancel']", timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    assert page.locator(".info .title").inner_text().startswith("Zone Explorer")
    assert blocked == []
