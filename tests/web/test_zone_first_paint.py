"""The zone page before plotly.js: a canvas sketch of the map with live controls, replaced by the Plotly map when
plotly.js arrives, and kept (with a note) when it never does."""

from __future__ import annotations

from tests.web.conftest import screenshot

PATH = "/zones/digits-cnn/fsgdm"
PLOTLY = "**/vendor/plotly.min.js*"
# how much of the sketch is painted (not transparent): the heatmap alone covers most of the canvas
PAINTED = """() => { const c = document.getElementById('zone-sketch'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (c.width * c.height); }"""


def _held(page) -> list:
    """Hold back every request for plotly.js (routing also bypasses the browser cache); returns the held routes."""
    held: list = []
    page.route(PLOTLY, lambda route: held.append(route))
    return held


def test_the_map_is_sketched_first_then_replaced_by_plotly(site, page) -> None:
    held = _held(page)
    page.goto(site.base_url + PATH)
    page.wait_for_selector("body[data-interactive=true]")
    assert page.locator("#zone-sketch").is_visible() and page.get_attribute("body", "data-ready") is None
    assert page.evaluate(PAINTED) > 0.5
    assert page.get_attribute("#zone-sketch", "data-axes") == "c_scaling|v_coefficient"
    assert page.locator("#tolerance").is_enabled() and page.locator("#axis-x").is_enabled()
    screenshot(page, "zone-sketch")
    assert held, "the page asked for plotly.js"
    for route in held:
        route.continue_()
    page.unroute(PLOTLY)
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#zone-sketch").is_hidden()
    assert page.evaluate("() => document.getElementById('zone-map').data.some(d => d.uid === 'membership')")
    marks = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark').map(e => [e.name, e.startTime]))"
    )
    assert marks["zone:interactive"] < marks["zone:ready"]


def test_without_plotly_the_sketch_stays_and_follows_the_controls(site, browser_context) -> None:
    page = browser_context.new_page()  # its failed plotly.js request is the point: not the console-checked fixture
    try:
        page.route(PLOTLY, lambda route: route.abort())
        page.goto(site.base_url + PATH)
        page.wait_for_selector("body[data-plotly-failed=true]")
        assert "could not be loaded" in page.locator("#map-note").inner_text()
        painted = page.evaluate(PAINTED)
        page.locator("#axis-x").select_option("K")
        page.wait_for_selector('#zone-sketch[data-axes="K|v_coefficient"]')
        assert page.evaluate(PAINTED) > 0.5 and painted > 0.5
        assert "x=K" in page.url
        page.locator("#tolerance").fill("40")
        page.wait_for_function("() => document.getElementById('tolerance-value').textContent === 'top 40%'")
    finally:
        page.close()
