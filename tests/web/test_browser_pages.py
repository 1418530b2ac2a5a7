"""Every page in headless Chromium: it loads with no console error (a screenshot of each goes to
test-artifacts/screenshots/), and the zone explorer's controls work."""

from __future__ import annotations

import pytest

from tests.web.conftest import SCREENSHOTS, open_page, screenshot

PAGES = {
    "home": "/",
    "zone-fsgdm": "/zones/digits-cnn/fsgdm",
    "zone-sgd": "/zones/digits-cnn/sgd",
    "zone-empty": "/zones/tabular-mlp/lion",
    "jobs": "/jobs",
    "contributions": "/contributions",
    "compare": "/compare/digits-cnn",
    "compare-empty": "/compare/charlm-pydoc",
    "filters-fsgdm": "/filters?optimizer=fsgdm&task=digits-cnn",
    "filters-autosgm": "/filters?optimizer=autosgm",
    "filters-signum": "/filters?optimizer=signum&task=digits-cnn",
    "submit": "/submit",
    "contribute": "/contribute",
}


#: elements carrying an inline event handler attribute (onerror, onload, onmouseover...): none on any page
HANDLER_ATTRIBUTES = """() => [...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => a.name.startsWith('on')))
    .map(e => e.outerHTML.slice(0, 120))"""


def outline(page, uid: str = "outline") -> list:
    return page.evaluate(
        """(uid) => { const t = document.getElementById('zone-map').data.find(d => d.uid === uid);
                      return [t.x, t.y]; }""",
        uid,
    )


def zone_version(page) -> int:
    return int(page.evaluate("() => document.body.dataset.zoneVersion || '0'"))


def wait_zone_version(page, version: int) -> None:
    page.wait_for_selector(f'body[data-zone-version="{version}"]', timeout=30_000)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_without_console_errors(site, page, name: str) -> None:
    open_page(page, site, PAGES[name])
    assert page.locator("h1").first.is_visible()
    if name.startswith("zone-") and name != "zone-empty":
        assert page.evaluate("() => document.getElementById('zone-map').data.length") > 3
        page.wait_for_selector("#best-table tbody tr")
        page.wait_for_selector("#marginals .plot .main-svg")
    if name == "zone-empty":
        assert page.locator("#zone-empty").is_visible() and page.locator("#zone-body").is_hidden()
        assert page.get_by_role("link", name="Submit a job").first.is_visible()
    if name.startswith("filters"):
        page.wait_for_selector("#magnitude-plot .main-svg")
    if name == "filters-signum":  # the note says what the drawn filter is
        assert "inside the sign" in page.locator("#filter-note").inner_text()
    if name == "compare":
        page.wait_for_selector("#bsf-plot .main-svg")
    if name == "home":
        page.wait_for_selector(".cell.has-data .cell-best:not(:empty)")
        assert "K ≈" in page.locator(".cell.has-data .cell-k").first.inner_text()
    page.wait_for_timeout(300)  # let late charts settle before the screenshot
    assert screenshot(page, name).stat().st_size > 10_000


def test_job_page_of_a_finished_job(site, page) -> None:
    open_page(page, site, f"/jobs/{site.jobs['fsgdm']}")
    page.wait_for_selector("#history-plot .main-svg")
    page.wait_for_selector("#job-zone .main-svg")
    assert page.locator("#stat-finished").inner_text() == "600 / 600"
    assert page.locator("#job-status .pill").inner_text() == "completed"
    assert page.locator("#cancel-card").is_hidden()
    screenshot(page, "job")


def test_not_found_page(site, page, console) -> None:
    console.allow(404)  # the document itself is a 404
    response = page.goto(site.base_url + "/zones/nope/fsgdm")
    assert response.status == 404
    page.wait_for_selector("body[data-ready=true]")
    assert "unknown task 'nope'" in page.locator("main").inner_text()
    screenshot(page, "not-found")


def test_slider_changes_the_outline(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm?top_q=0.05")
    version = zone_version(page)
    before = outline(page, "trials-outline")  # top q is a view of the trials: the model zone stays
    model = outline(page)
    n_zone = page.locator("#zone-facts").inner_text()
    assert page.locator("#tolerance-value").inner_text() == "top 5%"
    # record every map drawn from now on: the preview lasts only until the exact zone comes back, so a look at the
    # map after fill() could come too early (not drawn yet) or too late (replaced already)
    page.evaluate("""() => { const gd = document.getElementById('zone-map'); window.__drawn = [];
        gd.on('plotly_afterplot', () => window.__drawn.push(gd.data.some(d => d.uid === 'zone-preview'))); }""")
    page.locator("#tolerance").fill("40")
    wait_zone_version(page, version + 1)
    # a dotted preview on the smoothed surface was drawn while the server computed the exact zone
    assert True in page.evaluate("() => window.__drawn")
    after = outline(page, "trials-outline")
    assert after != before and outline(page) == model
    assert page.locator("#tolerance-value").inner_text() == "top 40%"
    assert page.locator("#zone-facts").inner_text() != n_zone
    assert "top_q=0.4" in page.url
    assert not page.evaluate("() => document.getElementById('zone-map').data.some(d => d.uid === 'zone-preview')")
    screenshot(page, "zone-slider-40")


def test_delta_mode(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm")
    version = zone_version(page)
    page.locator(".segmented label", has_text="within").click()
    wait_zone_version(page, version + 1)
    assert page.locator("#tolerance-value").inner_text().startswith("within ")
    assert "delta=" in page.url
    first = outline(page)  # delta is also the model zone's: its outline moves
    delta = page.locator("#zone-delta").inner_text()
    assert "as asked" in delta
    page.locator("#tolerance").fill("60")
    wait_zone_version(page, version + 2)
    assert outline(page) != first and page.locator("#zone-delta").inner_text() != delta


def test_axis_pickers_change_the_axes(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm")
    title = "() => [document.getElementById('zone-map').layout.xaxis.title.text, document.getElementById('zone-map').layout.yaxis.title.text]"
    assert page.evaluate(title) == ["c_scaling (log)", "v_coefficient (log)"]
    options = page.locator("#axis-x option").all_inner_texts()
    assert "K (derived)" in options
    version = zone_version(page)
    page.locator("#axis-x").select_option("K")
    wait_zone_version(page, version + 1)
    assert page.evaluate(title) == ["K (log)", "v_coefficient (log)"]
    xs = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'membership').x")
    assert xs[-1] > 100  # the K axis spans K = v (1 + 1/c), not c (at most 2)
    assert "x=K" in page.url
    page.locator("#axis-y").select_option("K")  # the same axis twice: x takes the other one back
    wait_zone_version(page, version + 2)
    assert page.evaluate(title) == ["v_coefficient (log)", "K (log)"]
    # the K ridge is drawn over (K, c) and (c, v) only; never a line at the README's K (it was stated at lr 0.1)
    uids = page.evaluate("() => document.getElementById('zone-map').data.map(d => d.uid)")
    assert "k-ridge" not in uids and "k-ref" not in uids
    screenshot(page, "zone-axes-v-K")


def test_k_ridge_over_k_and_c(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm?x=K&y=c_scaling")
    ridge = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'k-ridge')")
    assert all(20 < k < 45 for k in ridge["x"]) and all(0.005 <= c <= 2.0 for c in ridge["y"])  # K along c
    band = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'k-band')")
    assert band["fill"] == "toself" and len(band["x"]) == 2 * len(ridge["x"]) + 1


def test_zone_map_k_card_and_volume(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm")
    uids = page.evaluate("() => document.getElementById('zone-map').data.map(d => d.uid)")
    assert {
        "membership",
        "outline",
        "core",
        "trials-outline",
        "k-ridge",
        "k-band",
        "points-explored",
        "points-contributed",
        "points-verified",
    } <= set(uids)
    # the points lie on top of the heatmap, the zone's lines and the ridge
    assert uids.index("membership") < uids.index("outline") < uids.index("k-ridge") < uids.index("points-explored")
    heat = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'membership')")
    assert (heat["zmin"], heat["zmax"]) == (0, 1) and len(heat["z"]) == len(heat["y"])
    # on a (c, v) map the ridge is K*(c) converted to v = K c / (1 + c)
    ridge = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'k-ridge')")
    assert all(20 < v * (1 + 1 / c) < 45 for c, v in zip(ridge["x"], ridge["y"]))
    k = float(page.locator("#k-estimate").inner_text())
    assert 20 < k < 45  # the synthetic zone lies along K = 31
    assert "interval" in page.locator("#k-interval").inner_text()
    assert page.locator("#k-status [data-status]").get_attribute("data-status") == "ok"
    assert "lr × K" in page.locator("#k-lr").inner_text() and "at lr 0.01" in page.locator("#k-lr").inner_text()
    reference = page.locator("#k-reference").inner_text()
    assert "30.992 at lr 0.1" in reference and "inside" not in reference and "outside" not in reference
    assert "of the searched space" in page.locator("#zone-volume-interval").inner_text()
    assert "random trials land in the zone" in page.locator("#zone-hit").inner_text()
    assert "P(in zone)" in page.locator("#map-legend").inner_text() and page.locator("#map-legend").is_visible()


def test_a_zone_of_few_trials_warns(site, page) -> None:
    """Six trials: the model zone is drawn as a sketch (P(in zone), its outline) with a visible too_few_trials note,
    and neither its volume nor K is reported."""
    open_page(page, site, "/zones/tabular-mlp/fsgdm")  # the seeded study of six trials
    heat = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'membership')")
    assert heat is not None and any(p is not None for row in heat["z"] for p in row)
    assert page.evaluate("() => document.getElementById('zone-map').data.some(d => d.uid === 'outline')")
    note = page.locator('#zone-warnings .zone-warning[data-code="too_few_trials"]')
    assert note.is_visible() and "finished trials" in note.inner_text()
    assert "too few trials to size the zone" in page.locator("#zone-volume-interval").inner_text()
    assert page.locator("#zone-volume").inner_text() == "–"
    assert page.locator("#k-estimate").inner_text() == "–"
    assert page.locator("#k-status [data-status]").get_attribute("data-status") == "too_few_trials"
    screenshot(page, "zone-few-trials")


def test_hover_shows_the_point_details(site, page) -> None:
    open_page(page, site, "/zones/digits-cnn/fsgdm")
    pos = page.evaluate("""() => {
        const gd = document.getElementById('zone-map');
        const t = gd.data.find(d => d.uid === 'points-verified');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.c2p(t.x[0]), box.top + ya._offset + ya.c2p(t.y[0])]; }""")
    page.mouse.move(pos[0] + 40, pos[1] + 40)
    page.mouse.move(*pos)
    details = page.locator("#point-details")
    details.locator(".config-list").wait_for(timeout=10_000)
    text = details.inner_text()
    assert "verified" in text and "v_coefficient" in text and "seeds" in text and "doi" in text


def test_best_configurations_copy_a_constructor_call(site, browser_context, page) -> None:
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url)
    pg = page
    open_page(pg, site, "/zones/digits-cnn/fsgdm")
    pg.wait_for_selector("#best-table tbody tr")
    pg.locator("#best-table tbody tr").nth(1).get_by_role("button", name="Copy call").click()
    pg.wait_for_selector("text=Copied ✓")
    copied = pg.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("from optimizers.fsgdm import FSGDM") and "optimizer = FSGDM(" in copied
    assert pg.locator("#snippet-code").inner_text() == copied
    assert pg.locator("#snippet-title").inner_text().startswith("Rank 2")


def test_user_strings_are_escaped_everywhere(site, page) -> None:
    """Script in every free-text field of a contribution (and a task named <script>…, which the API refuses):
    the pages show it as text and nothing runs."""
    payloads = {
        "description": "<script>window.__xss = 'description'</script>",
        "dataset": "<img src=x onerror=\"window.__xss='dataset'\">",
        "model": "<svg onload=\"window.__xss='model'\">",
        "metric": "<b onmouseover=alert(1)>acc</b>",
        "hardware": "<iframe src=javascript:window.__xss='hw'>",
        "notes": "</script><script>window.__xss='notes'</script>",
    }
    new_task = {
        "name": "xss-test",
        "dataset": payloads["dataset"],
        "model": payloads["model"],
        "metric": payloads["metric"],
        "direction": "maximize",
        "description": payloads["description"],
    }
    items = [
        {
            "task": new_task if i == 0 else "xss-test",
            "optimizer": "lion",
            "value": 0.5 + 0.1 * i,
            "config": {"lr": 10 ** -(3 + i), "beta1": 0.9 - 0.05 * i, "beta2": 0.99},
            "hardware": payloads["hardware"],
            "source": {"notes": payloads["notes"], "url": "https://example.org/?q=<script>window.__xss='url'</script>"},
        }
        for i in range(3)
    ]
    r = site.api("POST", "/api/v1/contributions/batch", json={"contributions": items})
    assert r.status_code == 201, r.text
    refused = site.api(
        "POST", "/api/v1/contributions", json={**items[1], "task": {**new_task, "name": "<script>alert(1)</script>"}}
    )
    assert refused.status_code == 422 and refused.json()["field"] == "task.name"

    for path in ("/", "/zones/xss-test/lion", "/contributions", "/compare/xss-test", "/contribute", "/submit"):
        open_page(page, site, path)
        if path.startswith("/zones"):
            page.wait_for_selector("#best-table tbody tr")
        # rendered (data-ready, tables filled) and loaded (the load event comes after every image's load or error
        # event): a payload that became markup would have run by now, and left its element and handler behind
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, path
        assert page.locator("script:not([src]):not([type='application/json'])").count() == 0, path
        assert page.evaluate(HANDLER_ATTRIBUTES) == [], path
    open_page(page, site, "/zones/xss-test/lion")
    assert payloads["description"] in page.locator("main").inner_text()  # shown as text
    assert "<b onmouseover=alert(1)>acc</b>" in page.locator("#map-title").inner_text()
    hover = page.evaluate(
        "() => document.getElementById('zone-map').data.find(d => d.type === 'heatmap').hovertemplate"
    )
    assert "&lt;b onmouseover" in hover and "<b onmouseover" not in hover  # Plotly gets entities, never markup
    # the metric in the words beside the map is text too
    assert "<b onmouseover=alert(1)>acc</b>" in page.locator("#zone-delta").inner_text()
    open_page(page, site, "/contributions")
    assert payloads["notes"] in page.locator("main").inner_text()
    assert page.locator("a[href^='javascript']").count() == 0
    screenshot(page, "contributions-escaped")
    assert SCREENSHOTS.exists()
