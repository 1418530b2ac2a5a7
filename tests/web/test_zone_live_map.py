"""The zone page in Chromium: a colour scale that one diverged-but-finite run cannot flatten (and says its clip),
diverged trials as their own marker, the page following a running job, and the copy-call calculator.

These tests run their own server without a worker: a job stays queued until the test marks it done, and its
results arrive only when the test writes them (as a worker would), so the test controls when the page must
update and waits for exactly that.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from tests.web.conftest import Site, open_page, screenshot
from tests.web.live_server import serve, stop_server
from zone_explorer.core.profiles import get_profile
from zone_explorer.engine.jobs import JobSpec, create_job
from zone_explorer.store.db import get_engine, init_db, normalize_url, session_scope
from zone_explorer.store.models import Job
from zone_explorer.tasks import get_task

#: SGD's searched axes: (low, high, log)
AXES = {"lr": (1e-3, 1.0, True), "momentum": (0.0, 0.99, False)}
FSGDM_AXES = {"c_scaling": (0.005, 2.0, True), "v_coefficient": (0.05, 50.0, True)}


def add_trials(
    url: str, job_id: str, values: list[float | None], seed: int, axes: dict[str, tuple[float, float, bool]] = AXES
) -> None:
    """Finished trials of a job as a worker leaves them in Optuna's tables: COMPLETE with a value, or FAIL with
    the ``diverged`` outcome for a None; configurations drawn at random over ``axes``."""
    with session_scope(url) as s:
        study_name = s.get(Job, job_id).study_name
    rng = np.random.default_rng(seed)
    engine = get_engine(normalize_url(url))
    dists = {
        name: json.dumps({"name": "FloatDistribution", "attributes": {"log": log, "step": None, "low": lo, "high": hi}})
        for name, (lo, hi, log) in axes.items()
    }
    with engine.begin() as conn:
        study_id = conn.scalar(sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": study_name})
        first = conn.scalar(sa.text("SELECT count(*) FROM trials WHERE study_id = :s"), {"s": study_id})
        base = conn.scalar(sa.text("SELECT coalesce(max(trial_id), 0) FROM trials"))
        start = dt.datetime(2025, 1, 1)
        for i, value in enumerate(values):
            tid, number = base + i + 1, first + i
            params = {
                name: float(np.exp(rng.uniform(np.log(lo), np.log(hi))) if log else rng.uniform(lo, hi))
                for name, (lo, hi, log) in axes.items()
            }
            state = "COMPLETE" if value is not None else "FAIL"
            conn.execute(
                sa.text(
                    "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
                    "VALUES (:t, :n, :s, :state, :a, :b)"
                ),
                {
                    "t": tid,
                    "n": number,
                    "s": study_id,
                    "state": state,
                    "a": start,
                    "b": start + dt.timedelta(seconds=1),
                },
            )
            if value is not None:
                conn.execute(
                    sa.text(
                        "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (:t, 0, :v, 'FINITE')"
                    ),
                    {"t": tid, "v": value},
                )
            for name, val in params.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
                        "VALUES (:t, :p, :v, :d)"
                    ),
                    {"t": tid, "p": name, "v": val, "d": dists[name]},
                )
            attrs = {
                "config": {**params, "weight_decay": 0.0},
                "outcome": "complete" if value is not None else "diverged",
            }
            if value is not None:
                attrs["seed_values"] = [value]
            for key, val in attrs.items():
                conn.execute(
                    sa.text("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (:t, :k, :v)"),
                    {"t": tid, "k": key, "v": json.dumps(val)},
                )


def new_job(url: str, task: str, optimizer: str, n_trials: int) -> str:
    job, _ = create_job(
        url, JobSpec.parse({"task": task, "optimizer": optimizer, "n_trials": n_trials, "sampler": "random"})
    )
    return job.id


def set_status(url: str, job_id: str, status: str) -> None:
    with session_scope(url) as s:
        s.get(Job, job_id).status = status


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory) -> Iterator[Site]:
    """The app with no worker: jobs stay queued, and results arrive only when a test writes them."""
    folder = tmp_path_factory.mktemp("zone-live")
    url = init_db(f"sqlite:///{folder / 'zone-live.db'}")
    proc, base = serve(url, folder / "server.log", workers=0)
    yield Site(base, url, {})
    stop_server(proc)


def losses(n: int, seed: int) -> list[float | None]:
    return [float(v) for v in np.random.default_rng(seed).uniform(0.1, 2.0, n)]


def map_trace(page, uid: str) -> dict | None:
    return page.evaluate(
        """(uid) => {
            const t = document.getElementById("zone-map").data.find((d) => d.uid === uid);
            return t ? { name: t.name, x: t.x, y: t.y, z: t.z, zmin: t.zmin, zmax: t.zmax } : null;
        }""",
        uid,
    )


def test_one_outlier_is_said_and_diverged_runs_have_their_own_marker(quiet_site, page) -> None:
    job = new_job(quiet_site.db_url, "tabular-mlp", "sgd", 45)
    # 40 log-losses near 0.1-2, one diverged-but-finite run (6.5e6), three diverged ones (no value)
    add_trials(quiet_site.db_url, job, [*losses(40, seed=1), 6.5e6, None, None, None], seed=2)
    set_status(quiet_site.db_url, job, "completed")
    open_page(page, quiet_site, "/zones/tabular-mlp/sgd")
    page.wait_for_selector("#zone-map .main-svg")
    page.wait_for_selector("#colour-note:not([hidden])")
    note = page.locator("#colour-note").inner_text()
    scale = quiet_site.get("/pages-api/zones/tabular-mlp/sgd").json()["zone"]["analysis"]["zone_map"]["colour_scale"]
    assert scale["n_above"] == 1 and scale["high"] < 2.0
    assert note.startswith(f"1 result far outside the others' range [{scale['low']:.4g}, "), note
    assert "diverged but finite" in note
    # the three diverged runs: their own trace, never a colour
    diverged = map_trace(page, "diverged")
    assert diverged is not None and diverged["name"] == "diverged" and len(diverged["x"]) == 3
    assert page.locator("#zone-map .legendtext", has_text="diverged").count() == 1
    screenshot(page, "zone-outlier-diverged")


def test_the_surface_colour_scale_is_clipped_to_the_fences(quiet_site, page) -> None:
    # the smoothed-metric view (drawn when there is no model zone over the axes) spans the clipped range
    open_page(page, quiet_site, "/zones/tabular-mlp/sgd")
    page.wait_for_selector("#zone-map .main-svg")
    page.evaluate(
        """async () => {
            const { drawMap } = await import("/static/js/zone/map.js");
            const zone = await (await fetch("/pages-api/zones/tabular-mlp/sgd")).json();
            zone.zone.analysis.zone = null;  // as without a model zone
            const node = document.createElement("div");
            node.id = "surface-check";
            document.body.append(node);
            await drawMap(node, zone.zone);
        }"""
    )
    scale = quiet_site.get("/pages-api/zones/tabular-mlp/sgd").json()["zone"]["analysis"]["zone_map"]["colour_scale"]
    surface = page.evaluate("() => document.getElementById('surface-check').data.find((d) => d.uid === 'surface')")
    assert (surface["zmin"], surface["zmax"]) == (scale["low"], scale["high"])


class ZoneRequests:
    """The page's zone requests: how many, and the most ever in flight at once."""

    def __init__(self, page, path: str) -> None:
        self.path, self.count, self.open, self.most = path, 0, 0, 0
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _mine(self, request) -> bool:
        return request.url.split("?")[0].endswith(self.path)

    def _start(self, request) -> None:
        if self._mine(request):
            self.count += 1
            self.open += 1
            self.most = max(self.most, self.open)

    def _end(self, request) -> None:
        if self._mine(request):
            self.open -= 1


def test_the_zone_page_fills_in_while_a_job_runs(quiet_site, page) -> None:
    url = quiet_site.db_url
    job = new_job(url, "charlm-pydoc", "sgd", 30)  # queued: no worker here, the test writes its results
    requests = ZoneRequests(page, "/pages-api/zones/charlm-pydoc/sgd")
    open_page(page, quiet_site, "/zones/charlm-pydoc/sgd")
    # no results yet: the empty state, and the page follows the queued job
    page.wait_for_selector("body[data-empty=true][data-live=on]")
    assert "1 job runs" in page.locator("#live-state").inner_text()

    set_status(url, job, "running")
    add_trials(url, job, losses(5, seed=3), seed=4)
    page.wait_for_selector("body[data-result-count='5']", timeout=30_000)
    page.wait_for_selector("#zone-map .main-svg")
    assert page.locator("#result-count").inner_text() == "5 results"
    assert page.locator("#zone-empty").is_hidden() and page.locator("#zone-body").is_visible()
    drawn = int(page.evaluate("() => document.body.dataset.zoneVersion"))

    add_trials(url, job, [*losses(6, seed=5), None], seed=6)  # and one diverged
    page.wait_for_selector("body[data-result-count='11']", timeout=30_000)
    page.wait_for_function(f"() => Number(document.body.dataset.zoneVersion) > {drawn}")
    assert page.locator("#result-count").inner_text() == "11 results"
    assert (
        page.evaluate("() => document.getElementById('zone-map').data.find((d) => d.uid === 'diverged').x.length") == 1
    )
    screenshot(page, "zone-live")

    set_status(url, job, "completed")
    page.wait_for_selector("body[data-live=off][data-poll=stopped]", timeout=30_000)
    assert page.locator("#live-state").inner_text() == ""
    assert requests.most == 1  # one request at a time
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # never reloaded


def test_copy_call_computes_the_run_length_by_the_engines_rule(quiet_site, page, console) -> None:
    url = quiet_site.db_url
    job = new_job(url, "tabular-mlp", "fsgdm", 12)
    add_trials(url, job, losses(12, seed=9), seed=10, axes=FSGDM_AXES)
    set_status(url, job, "completed")
    profile, task = get_profile("fsgdm"), get_task("tabular-mlp")
    open_page(page, quiet_site, "/zones/tabular-mlp/fsgdm")
    form = page.locator("#call-calculator")
    form.wait_for(state="visible")

    def computed() -> dict:
        return json.loads(form.get_attribute("data-computed") or "{}")

    # prefilled from the task: its steps per epoch and default epochs
    assert page.locator("#call-steps").input_value() == str(task.steps_per_epoch())
    assert page.locator("#call-epochs").input_value() == str(task.default_epochs)
    expected = profile.derive_run_length(task.steps_per_epoch(), task.default_epochs)
    page.wait_for_function(
        "(want) => document.getElementById('call-calculator').dataset.computed === want",
        arg=json.dumps(expected, separators=(",", ":")),
    )
    assert computed() == expected

    # the user's run: 123 steps per epoch, 7 epochs
    page.locator("#call-steps").fill("123")
    page.locator("#call-epochs").fill("7")
    expected = profile.derive_run_length(123, 7)
    assert expected == {"sigma": 861, "n_stages": 7}
    page.wait_for_selector("#call-run-length dd[data-param=sigma]:text-is('861')")
    assert computed() == expected
    assert page.locator("#call-run-length dd[data-param=n_stages]").inner_text() == "7"
    code = page.locator("#snippet-code").inner_text()
    assert "sigma=861" in code and "n_stages=7" in code
    # another row's call uses the same run length
    page.locator("#best-table tbody tr[data-rank='2']").click()
    page.wait_for_function("() => document.getElementById('snippet-title').textContent.startsWith('Rank 2')")
    page.wait_for_function("() => document.getElementById('snippet-code').textContent.includes('sigma=861')")
    screenshot(page, "zone-copy-call")

    # invalid input: a message naming the field, and the call stays the last valid one
    console.allow(422)
    for field, selector, text in (
        ("epochs", "#call-epochs", "0"),
        ("epochs", "#call-epochs", "-3"),
        ("epochs", "#call-epochs", "2.5"),
        ("epochs", "#call-epochs", "99999999999"),
        ("steps_per_epoch", "#call-steps", "lots"),
    ):
        page.locator(selector).fill(text)
        error = page.locator(f".field[data-field={field}] .field-error")
        error.wait_for(state="visible")
        assert error.inner_text().startswith(f"{field}:") and "whole number" in error.inner_text(), error.inner_text()
        assert form.get_attribute("data-invalid") == field
        page.locator("#call-steps").fill("123")
        page.locator("#call-epochs").fill("7")
        error.wait_for(state="hidden")
    # a run longer than a 32-bit step counter: the product is refused, naming epochs
    page.locator("#call-steps").fill("100000")
    page.locator("#call-epochs").fill("100000")
    page.locator(".field[data-field=epochs] .field-error").wait_for(state="visible")
    assert "steps" in page.locator(".field[data-field=epochs] .field-error").inner_text()
    assert "sigma=861" in page.locator("#snippet-code").inner_text()
