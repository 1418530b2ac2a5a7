"""The pages over HTTP, without a browser: every page answers with a CSP and no inline script, user strings are
escaped, plotly.js comes from the installed package, and the JSON helpers under /pages-api have the right shape."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from tests.web.synthetic import build_study
from web import COMPILE_HINT, plotly_js_path

PAGES = [
    "/",
    "/jobs",
    "/contributions",
    "/compare/digits-cnn",
    "/compare/digits-cnn?optimizers=signum,adam-tied,adam",
    "/filters",
    "/submit",
    "/contribute",
    "/zones/digits-cnn/fsgdm",
    "/zones/digits-cnn/sgd",
    "/zones/tabular-mlp/lion",
]


class ScriptAudit(HTMLParser):
    """Collects every <script> and every inline event-handler attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self._in_script = False
        self.inline_code: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.handlers += [f"<{tag} {k}>" for k in a if k.lower().startswith("on")]
        if tag == "script":
            self.scripts.append(a)
            self._in_script = a.get("type") != "application/json"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_code.append(data.strip()[:80])


def audit(html: str) -> ScriptAudit:
    parser = ScriptAudit()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_csp_and_no_inline_script(site, path: str) -> None:
    r = site.get(path)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-eval" not in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    found = audit(r.text)
    assert not found.inline_code and not found.handlers, (found.inline_code, found.handlers)
    for script in found.scripts:
        assert script.get("src") or script.get("type") == "application/json", script
    assert 'id="page-data"' in r.text


def test_api_docs_keep_their_own_headers(site) -> None:
    """Swagger UI loads from a CDN with an inline script: the pages' CSP is not put on the API."""
    r = site.get("/api/v1/docs")
    assert r.status_code == 200 and "content-security-policy" not in r.headers


def test_plotly_comes_from_the_installed_package(site) -> None:
    page = site.get("/zones/digits-cnn/fsgdm").text
    # preloaded at once, run by the page's script after its first paint (lib/plot.js loadPlotly)
    src = re.search(r'<body[^>]* data-plotly-src="(/vendor/plotly[^"]+)"', page).group(1)
    assert f'<link rel="preload" href="{src}" as="script">' in page
    r = site.get(src)
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    # the package's file byte for byte, after V8's compile hint (a comment line)
    assert r.content == COMPILE_HINT + plotly_js_path().read_bytes()
    assert "immutable" in r.headers["cache-control"]
    assert "cdn" not in page.lower()


def test_unknown_task_is_a_404_page_that_escapes_the_name(site) -> None:
    name = "<img src=x onerror=alert(1)><script>alert(1)<\\script>"
    r = site.get(f"/zones/{quote(name, safe='')}/fsgdm")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in r.text and "<script>alert" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in r.text
    assert site.get("/jobs/doesnotexist").status_code == 404


def test_page_data_cannot_break_out_of_its_script_block(site) -> None:
    """A contributed task whose description closes the JSON block is escaped inside it (as \\u003c)."""
    evil = "</script><script>window.__xss=1</script>"
    r = site.api(
        "POST",
        "/api/v1/contributions",
        json={
            "task": {
                "name": "http-escape-task",
                "dataset": evil,
                "model": "m",
                "metric": "acc",
                "direction": "maximize",
                "description": evil,
            },
            "optimizer": "lion",
            "value": 0.5,
            "config": {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99},
            "source": {"notes": evil},
        },
    )
    assert r.status_code == 201, r.text
    for path in ("/zones/http-escape-task/lion", "/contribute", "/submit", "/", "/contributions"):
        html = site.get(path).text
        assert "<script>window.__xss" not in html, path
        found = audit(html)
        assert not found.inline_code, (path, found.inline_code)
        data = html.split('id="page-data">', 1)[1].split("</script>", 1)[0]
        json.loads(data)  # the whole block parses: nothing closed it early


def test_contributions_page_offers_verify_only_where_a_rerun_can_run(site) -> None:
    """A contributed task has no training code here: its rows get no Verify button; a registered task's do. Each
    row links to the zone of its own budget."""
    own = site.api(
        "POST",
        "/api/v1/contributions",
        json={
            "task": {
                "name": "http-verify-task",
                "dataset": "d",
                "model": "m",
                "metric": "acc",
                "direction": "maximize",
                "description": "no code here",
            },
            "optimizer": "lion",
            "value": 0.6,
            "config": {"lr": 2e-4, "beta1": 0.9, "beta2": 0.99},
            "source": {"notes": "test"},
        },
    )
    assert own.status_code == 201, own.text
    html = site.get("/contributions").text
    rows = {row.split('"', 1)[0]: row for row in html.split('<tr id="c-')[1:]}
    mine = rows[own.json()["id"]].split("</tr>", 1)[0]
    assert 'data-action="withdraw"' in mine and 'data-action="verify"' not in mine
    assert '?budget=unspecified"' in mine  # it reported no epochs, steps or seeds
    registered = [r for r in rows.values() if "/zones/digits-cnn/" in r.split("</tr>", 1)[0] and "withdraw" in r]
    assert registered and all('data-action="verify"' in r.split("</tr>", 1)[0] for r in registered)


def test_zone_bundle_has_a_snippet_per_best_config(site) -> None:
    r = site.get("/pages-api/zones/digits-cnn/fsgdm", params={"top_q": 0.2})
    assert r.status_code == 200
    body = r.json()
    zone = body["zone"]
    best = zone["analysis"]["best_configs"]
    assert len(body["snippets"]) == len(best) >= 3
    assert body["snippets"][0].startswith("from optimizers.fsgdm import FSGDM")
    assert "FSGDM(" in body["snippets"][0] and "c_scaling=" in body["snippets"][0]
    assert zone["analysis"]["tolerance"] == {"mode": "top_q", "value": 0.2}
    assert zone["counts"]["explored"] == 600 and zone["counts"]["contributed"] >= 1 and zone["counts"]["verified"] == 1
    assert len(zone["analysis"]["zone_map"]["points"]["x"]) <= 2000


def test_zone_bundle_errors_name_the_field(site) -> None:
    r = site.get("/pages-api/zones/digits-cnn/fsgdm", params={"x": "nope"})
    assert r.status_code == 422 and r.json()["field"] == "x"
    r = site.get("/pages-api/zones/charlm-pydoc/adam")  # no results yet: an empty state, not a failed request
    assert r.status_code == 200 and r.json()["empty"] is True and "needs at least 2" in r.json()["detail"]
    assert site.get("/pages-api/zones/charlm-pydoc/adam/summary").json()["empty"] is True
    assert site.get("/pages-api/zones/digits-cnn/fsgdm/summary").json()["counts"]["explored"] == 600
    assert site.get("/pages-api/zones/nope/fsgdm").status_code == 404


def test_point_details_of_a_trial_and_of_a_contribution(site) -> None:
    zone = site.get("/pages-api/zones/digits-cnn/fsgdm").json()["zone"]
    pts = zone["analysis"]["zone_map"]["points"]
    explored = next(i for i, o in zip(pts["id"], pts["origin"]) if o == "explored")
    contributed = next(i for i, o in zip(pts["id"], pts["origin"]) if o != "explored")
    d = site.get(f"/pages-api/zones/digits-cnn/fsgdm/points/{explored}").json()
    assert d["origin"] == "explored" and d["source"]["kind"] == "job" and d["seeds"] == [0]
    assert set(d["config"]) >= {"c_scaling", "v_coefficient", "lr", "sigma"} and d["seed_values"]
    d = site.get(f"/pages-api/zones/digits-cnn/fsgdm/points/{contributed}").json()
    assert d["source"]["kind"] == "contribution" and d["source"]["doi"] and d["seeds"] == [0]
    assert site.get("/pages-api/zones/digits-cnn/sgd/points/" + contributed).status_code == 404
    assert site.get("/pages-api/zones/digits-cnn/fsgdm/points/nojob/3").status_code == 404


@pytest.mark.parametrize(
    "optimizer",
    [
        "fsgdm",
        "sgd",
        "adam",
        "adamw",
        "lion",
        "gsgd",
        "autosgm",
        "lowrank-hb",
        "lowrank-adam",
        "signum",
        "adam-tied",
        "sgd-schedulefree",
        "adamw-schedulefree",
    ],
)
def test_filter_response_of_every_optimizer(site, optimizer: str) -> None:
    r = site.get(f"/pages-api/filters/{optimizer}", params={"task": "digits-cnn", "epochs": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    curves = body["curves"]
    assert curves and all(len(c["omega"]) == len(c["magnitude"]) == 256 for c in curves)
    if optimizer == "fsgdm":
        assert len(curves) == 10 and body["stages"] == 10  # one per epoch-long stage
        c, v = body["config"]["c_scaling"], body["config"]["v_coefficient"]
        assert body["terminal_dc_gain"] == pytest.approx(v * (1 + 1 / c))
        assert curves[0]["pole"] == 0 and curves[-1]["pole"] > curves[1]["pole"]
    elif optimizer.endswith("schedulefree"):
        # the y-step filter at several steps: the averaging pole 1 - c climbs toward 1, the DC gain stays 1
        poles = [c["pole"] for c in curves]
        assert len(curves) == body["stages"] == 7 and poles == sorted(poles) and poles[-1] > 0.999
        assert all(c["dc_gain"] == pytest.approx(1.0) for c in curves)
    else:
        assert len(curves) == 1
    if optimizer in ("signum", "adam-tied"):  # an EMA at the searched pole, and a sentence saying what it filters
        pole = body["config"]["momentum" if optimizer == "signum" else "beta"]
        assert curves[0]["pole"] == pole and curves[0]["dc_gain"] == pytest.approx(1.0)
        assert ("inside the sign" if optimizer == "signum" else "first-moment filter") in body["note"]


def test_filter_response_errors_name_the_field(site) -> None:
    r = site.get("/pages-api/filters/fsgdm", params={"config": json.dumps({"c_scaling": -1})})
    assert r.status_code == 422 and r.json()["field"] == "config.c_scaling"
    r = site.get("/pages-api/filters/fsgdm", params={"config": "{"})
    assert r.status_code == 422 and r.json()["field"] == "config"
    assert site.get("/pages-api/filters/nadam").json()["field"] == "optimizer"


def test_compare_bundle(site) -> None:
    body = site.get("/pages-api/compare/digits-cnn").json()
    by = {o["optimizer"]: o for o in body["optimizers"]}
    assert set(by) >= {"fsgdm", "sgd"}
    assert by["fsgdm"]["n"] == 600 and len(by["fsgdm"]["values"]) == 600
    curve = by["sgd"]["curve"]["y"]
    assert curve == sorted(curve)  # best so far never gets worse (maximize)
    assert by["fsgdm"]["best_configs"][0]["snippet"].startswith("from optimizers.fsgdm import FSGDM")
    assert site.get("/pages-api/compare/nope").status_code == 404


def test_compare_a_selection_adams_secret_sauce_and_jobs_side_by_side(site) -> None:
    """The preset link selects signum, adam-tied and adam (those without a job show as empty series to submit);
    ``jobs=`` makes each job its own series. noisy-quadratic is this test's own task in the shared site."""
    html = site.get("/compare/noisy-quadratic").text
    assert (
        'href="/compare/noisy-quadratic?optimizers=signum,adam-tied,adam"' in html and "Adam&#39;s secret sauce" in html
    )
    ids = {
        name: build_study(site.db_url, 30, optimizer=name, task="noisy-quadratic", seed=i)
        for i, name in enumerate(("signum", "adam-tied"))
    }
    body = site.get("/pages-api/compare/noisy-quadratic", params={"optimizers": "signum,adam-tied,adam"}).json()
    assert [o["optimizer"] for o in body["optimizers"]] == ["signum", "adam-tied", "adam"]
    signum, tied, adam = body["optimizers"]
    assert signum["n"] == tied["n"] == 30 and adam["n"] == 0 and adam["jobs"] == 0 and "submit" in adam["best_note"]
    assert tied["best_configs"][0]["snippet"].count("betas=(") == 1
    b = tied["best_configs"][0]["params"]["beta"]
    assert f"betas=({b:.6g}, {b:.6g})" in tied["best_configs"][0]["snippet"]

    body = site.get(
        "/pages-api/compare/noisy-quadratic", params={"jobs": f"{ids['adam-tied']},{ids['signum'][:10]}"}
    ).json()
    assert [(o["job"], o["n"]) for o in body["optimizers"]] == [(ids["adam-tied"], 30), (ids["signum"], 30)]
    assert (
        body["optimizers"][1]["label"].startswith("signum ") and body["optimizers"][1]["best_configs"][0]["rank"] == 1
    )
    best = body["optimizers"][1]["best_configs"][0]["value"]
    pick = max if body["task"]["direction"] == "maximize" else min
    assert best == pick(body["optimizers"][1]["values"])

    for params, field in (
        ({"optimizers": "signum,adamm"}, "optimizers"),
        ({"jobs": "nosuchjob"}, "jobs"),
        ({"jobs": ids["signum"], "optimizers": "adam"}, "jobs"),
        ({"jobs": site.jobs["fsgdm"]}, "jobs"),  # a digits-cnn job
    ):
        r = site.get("/pages-api/compare/noisy-quadratic", params=params)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)


def test_job_live_bundle(site) -> None:
    job = site.jobs["sgd"]
    body = site.get(f"/pages-api/jobs/{job}/live").json()
    assert body["job"]["id"] == job and body["active"] is False
    assert body["history"]["n_complete"] == 300 and len(body["history"]["best"]) == 300
    assert body["zone"]["zone_map"]["x"] in ("lr", "momentum")
    # the model zone rides along: SGD has no K
    assert body["zone"]["zone"]["membership"]["probability"] and body["zone"]["k"] is None
    assert isinstance(body["zone"]["warnings"], list)
    again = site.get(f"/pages-api/jobs/{job}/live", params={"zone_for": 300}).json()
    assert again["zone_unchanged"] is True and again["zone"] is None
    assert site.get("/pages-api/jobs/nope/live").status_code == 404


@pytest.mark.parametrize(
    ("offset", "total", "links"),
    [
        (0, 50, []),  # one page
        (0, 120, ["/jobs?offset=50"]),
        (50, 120, ["/jobs?offset=0", "/jobs?offset=100"]),
        (30, 120, ["/jobs?offset=0", "/jobs?offset=80"]),  # never a negative offset
        (100, 120, ["/jobs?offset=50"]),
    ],
)
def test_pager_links_newer_and_older_pages(offset: int, total: int, links: list[str]) -> None:
    """The one pagination block of the list pages (jobs, contributions): 50 rows a page, newest first."""
    from server.pages import templates

    pager = templates.env.get_template("partials/macros.html").module.pager
    assert re.findall(r'href="([^"]+)"', str(pager("/jobs", offset, 50, total))) == links
