"""Hostile requests cost what their answer returns and never answer 5xx; a crash is a logged 500 that closes the
connection; every answer, the API's included, says ``nosniff``.

The fuzz runs in process (on SQLite and PostgreSQL) over the page-data routes with huge numbers, deep nesting and
long strings, and measures each request's peak memory growth with tracemalloc (not its wall time).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from server.app import create_app
from server.query_json import json_object
from tests.server.conftest import QUICK_JOB, Service, app_settings
from tests.server.test_errors import Records
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import INT32_MAX, MAX_FILTER_CURVES, MAX_QUERY_JSON, MAX_QUERY_JSON_DEPTH
from zone_explorer.store.db import init_db

#: the peak memory one request may add while it is answered (a filter answer holds 24 x 256 x 2 floats)
MEMORY_BOUND = 32 * 1024 * 1024

# ---- hostile values ---------------------------------------------------------------------------------------------------
HUGE_INTS = st.sampled_from([2**31, 2**31 - 1, 2**63, -(2**63) - 1, 10**30, 10**400, -1, 0]) | st.integers()
EXTREME_FLOATS = st.sampled_from(
    [5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 1e-300, -0.0, 0.5, 1.0, 1 - 1e-16]
) | st.floats(allow_nan=False, allow_infinity=False)
#: number literals as they appear in a query or a JSON text, valid JSON or not
NUMBER_TEXT = st.one_of(
    HUGE_INTS.map(str),
    EXTREME_FLOATS.map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 3999, "0x10", "1_000", "", " 7 "]),
)
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
LONG_TEXT = st.one_of(
    SAFE_TEXT,
    st.integers(100, 5000).map(lambda n: "a" * n),
    st.sampled_from(["../../etc/passwd", "%00", "\u202e", "\U0001f642" * 200, "<script>", "'; DROP TABLE x; --"]),
)
NESTED = st.one_of(
    st.integers(1, 2 * MAX_QUERY_JSON).map(lambda n: "[" * n + "]" * n),
    st.integers(1, MAX_QUERY_JSON // 5).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(1, 200).map(lambda n: '{"sigma": ' + "[" * n + "1" + "]" * n + "}"),
)
CONFIG_KEYS = (
    st.sampled_from(
        ["sigma", "n_stages", "c_scaling", "v_coefficient", "lr", "momentum", "beta1", "beta2", "beta_i", "gamma_i"]
    )
    | SAFE_TEXT
)
CONFIG_VALUES = st.one_of(
    HUGE_INTS, EXTREME_FLOATS, st.booleans(), st.none(), SAFE_TEXT, st.lists(EXTREME_FLOATS, max_size=3)
)
CONFIG_TEXT = st.one_of(
    st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=6).map(json.dumps),
    st.tuples(st.sampled_from(["sigma", "n_stages", "c_scaling", "v_coefficient"]), NUMBER_TEXT).map(
        lambda kv: f'{{"{kv[0]}": {kv[1]}}}'
    ),
    NESTED,
    LONG_TEXT,
)
OPTIMIZERS = st.sampled_from(["fsgdm", "sgd", "adam", "autosgm", "gsgd", "lion"]) | LONG_TEXT
TASKS = st.sampled_from(["noisy-quadratic", "digits-cnn"]) | LONG_TEXT
QUERY_VALUE = st.one_of(NUMBER_TEXT, LONG_TEXT)


def _segment(text: str) -> str:
    return quote(text, safe="") or "x"


@pytest.fixture(scope="module")
def app_with_job(shared: Service) -> tuple[Service, str]:
    """The shared app with one queued job of fsgdm on noisy-quadratic (its id reaches the point and live routes)."""
    r = shared.client("submit").post("/api/v1/jobs", json=QUICK_JOB)
    assert r.status_code == 202, r.text
    return shared, r.json()["id"]


@pytest.fixture(scope="module")
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _answer_within_bounds(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> httpx.Response:
    """GET ``url``: never a 5xx, a JSON error naming its cause for a 4xx, nosniff, and peak memory growth under
    MEMORY_BOUND while it is answered."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    r = client.get(url, params=params)
    growth = tracemalloc.get_traced_memory()[1] - before
    assert r.status_code < 500, (url, params, r.status_code, r.text[:500])
    assert growth < MEMORY_BOUND, (url, params, growth)
    assert r.headers["x-content-type-options"] == "nosniff"
    if r.status_code >= 400:
        body = r.json()
        assert body["error"] and body["detail"], body
    return r


FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@FUZZ
@given(optimizer=OPTIMIZERS, config=CONFIG_TEXT, task=st.none() | TASKS, epochs=st.none() | QUERY_VALUE)
def test_the_filter_route_survives_hostile_input(app_with_job, traced, optimizer, config, task, epochs) -> None:
    svc, _ = app_with_job
    params = {"config": config, **({"task": task} if task is not None else {})}
    params |= {"epochs": epochs} if epochs is not None else {}
    r = _answer_within_bounds(svc.client(), f"/pages-api/filters/{_segment(optimizer)}", params)
    if r.status_code == 200:
        body = r.json()
        assert len(body["curves"]) <= MAX_FILTER_CURVES
        for curve in body["curves"]:  # JSON has no inf or nan: they travel as null
            assert all(m is None or math.isfinite(m) for m in curve["magnitude"])


@FUZZ
@given(optimizer=OPTIMIZERS, config=CONFIG_TEXT, steps=QUERY_VALUE, epochs=QUERY_VALUE)
def test_the_call_route_survives_hostile_input(app_with_job, traced, optimizer, config, steps, epochs) -> None:
    svc, _ = app_with_job
    params = {"config": config, "steps_per_epoch": steps, "epochs": epochs}
    _answer_within_bounds(svc.client(), f"/pages-api/calls/{_segment(optimizer)}", params)


@FUZZ
@given(
    task=TASKS,
    optimizer=OPTIMIZERS,
    name=st.sampled_from(["x", "y", "top_q", "delta", "budget", "job", "origin", "include_disputed"]),
    value=QUERY_VALUE,
)
def test_the_zone_routes_survive_hostile_input(app_with_job, traced, task, optimizer, name, value) -> None:
    svc, _ = app_with_job
    base = f"/pages-api/zones/{_segment(task)}/{_segment(optimizer)}"
    _answer_within_bounds(svc.client(), base, {name: value})
    _answer_within_bounds(svc.client(), f"{base}/summary", {name: value})
    _answer_within_bounds(svc.client(), f"/pages-api/compare/{_segment(task)}")


@FUZZ
@given(number=NUMBER_TEXT, point=LONG_TEXT, zone_for=QUERY_VALUE)
def test_the_point_and_live_routes_survive_hostile_input(app_with_job, traced, number, point, zone_for) -> None:
    svc, job_id = app_with_job
    client = svc.client()
    base = "/pages-api/zones/noisy-quadratic/fsgdm/points"
    _answer_within_bounds(client, f"{base}/{job_id}/{_segment(number)}")
    _answer_within_bounds(client, f"{base}/{_segment(point)}")
    _answer_within_bounds(client, f"{base}/contribution/{_segment(point)}")
    _answer_within_bounds(client, f"/pages-api/jobs/{job_id}/live", {"zone_for": zone_for})
    _answer_within_bounds(client, f"/pages-api/jobs/{_segment(point)}/live")


# ---- the cases the fuzz stands for, by name ---------------------------------------------------------------------------
def test_a_long_fsgdm_run_costs_only_the_stages_drawn(app_with_job, traced) -> None:
    """200,000 stages used to be built (a dict and a filter each) before 24 were kept; now only the 24 are."""
    svc, _ = app_with_job
    for n_stages in (200_000, INT32_MAX):
        config = json.dumps({"n_stages": n_stages, "sigma": INT32_MAX})
        r = _answer_within_bounds(svc.client(), "/pages-api/filters/fsgdm", {"config": config})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stages"] == n_stages and body["shown"] == MAX_FILTER_CURVES
        stages = [c["stage"] for c in body["curves"]]
        assert stages[0] == 0 and stages[-1] == n_stages - 1 and stages == sorted(set(stages))


def test_the_stages_drawn_are_the_ones_a_full_build_gives(app_with_job) -> None:
    """Building only the stages drawn changes nothing in the answer: 30 stages, every one built, then 24 picked."""
    from optimizers.filters import fsgdm_stage_filters
    from optimizers.registry import get_optimizer

    svc, _ = app_with_job
    r = svc.client().get("/pages-api/filters/fsgdm", params={"config": json.dumps({"n_stages": 30, "sigma": 3000})})
    assert r.status_code == 200, r.text
    every = fsgdm_stage_filters(get_optimizer("fsgdm").validate({"n_stages": 30, "sigma": 3000}))
    for curve in r.json()["curves"]:
        built = every[curve["stage"]]
        assert (curve["step"], curve["pole"]) == (built["first_step"], built["filter"].pole)


@pytest.mark.parametrize(
    "config,field",
    [
        ({"sigma": INT32_MAX + 1}, "config.sigma"),
        ({"n_stages": 2**40, "sigma": 2**41}, "config.n_stages"),
    ],
)
def test_run_lengths_beyond_32_bits_are_a_422_naming_the_value(app_with_job, config, field) -> None:
    svc, _ = app_with_job
    r = svc.client().get("/pages-api/filters/fsgdm", params={"config": json.dumps(config)})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and f"{INT32_MAX:,}" in r.json()["detail"]


@pytest.mark.parametrize("route", ["/pages-api/filters/fsgdm", "/pages-api/calls/fsgdm"])
@pytest.mark.parametrize(
    "config,why",
    [
        ("[" * 1999 + "]" * 1999, f"at most {MAX_QUERY_JSON_DEPTH} levels"),
        ('{"a":' * 600 + "1" + "}" * 600, f"at most {MAX_QUERY_JSON_DEPTH} levels"),
        ('{"sigma": ' + "9" * 3000 + "}", "does not fit 64 bits"),
        ('{"c_scaling": 1e999}', "not a finite float"),
        ('{"c_scaling": NaN}', "NaN is not JSON"),
        ('{"c_scaling": 0.5', "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_json_in_a_query_is_bounded_before_it_is_parsed(app_with_job, route, config, why) -> None:
    svc, _ = app_with_job
    r = svc.client().get(route, params={"config": config})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "config" and why in r.json()["detail"]


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"note": '[[[[[[[[[[[[{{{{{{{{\\"]]', "deep": [[[[[[[1]]]]]]]})
    assert json_object(text, "config") == json.loads(text)
    with pytest.raises(FieldError, match="nested 9 levels deep"):
        json_object(json.dumps({"deeper": [[[[[[[[1]]]]]]]]}), "config")


def test_a_trial_number_beyond_32_bits_is_a_422_on_both_databases(app_with_job) -> None:
    svc, job_id = app_with_job
    base = "/pages-api/zones/noisy-quadratic/fsgdm/points"
    for number in ("99999999999999999999999", str(2**63), "1" * 100):
        r = svc.client().get(f"{base}/{job_id}/{number}")
        assert r.status_code == 422 and r.json()["field"] == "point_id", r.text
    assert svc.client().get(f"{base}/{job_id}/999999999").status_code == 404
    r = svc.client().get(f"/pages-api/jobs/{job_id}/live", params={"zone_for": str(2**64)})
    assert r.status_code == 422 and r.json()["field"] == "zone_for", r.text


def test_a_body_nested_too_deeply_is_a_422(app_with_job) -> None:
    svc, _ = app_with_job
    r = svc.client("submit").post(
        "/api/v1/jobs", content="[" * 100_000 + "]" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["field"] == "body", r.text
    assert "nested too deeply" in r.json()["detail"]


# ---- nosniff on the API -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,status",
    [
        ("/api/v1/tasks", 200),
        ("/api/v1/jobs/no-such-job", 404),
        ("/api/v1/jobs?limit=0", 422),
        ("/api/v1/openapi.json", 200),
        ("/api/v1/docs", 200),
        ("/healthz", 200),
        ("/api/v2/nothing", 404),
    ],
)
def test_every_api_answer_says_nosniff(app_with_job, path, status) -> None:
    svc, _ = app_with_job
    r = svc.client().get(path)
    assert r.status_code == status
    assert r.headers["x-content-type-options"] == "nosniff"
    if path.startswith("/api/"):
        assert "content-security-policy" not in r.headers  # Swagger UI's page has an inline script


# ---- a crash: a logged 500 that closes the connection -----------------------------------------------------------------
@pytest.fixture
def crashing_server(sqlite_url: str) -> Iterator[tuple[str, int, list[logging.LogRecord]]]:
    """The app on a real uvicorn (in a thread, on a port the kernel picks) with a test-only route whose response
    fails to serialise (NaN is not JSON): a ValueError that is the server's fault, not the client's."""
    app = create_app(app_settings(init_db(sqlite_url), migrate=False))

    @app.get("/test-only/unserialisable")
    def unserialisable() -> JSONResponse:
        return JSONResponse({"value": float("nan")})

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # set once its socket listens
        assert thread.is_alive(), "uvicorn exited before it listened"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    handler, server_log = Records(), logging.getLogger("zone_explorer.server")
    server_log.addHandler(handler)
    try:
        yield "127.0.0.1", port, handler.records
    finally:
        server_log.removeHandler(handler)
        server.should_exit = True
        thread.join(10)


def test_a_serialisation_failure_is_a_logged_500_that_closes_the_connection(crashing_server) -> None:
    host, port, logged = crashing_server
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", "/test-only/unserialisable")
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 500 and body["error"] == "internal_error" and "ValueError" in body["detail"]
        assert r.getheader("connection") == "close"
        assert r.getheader("x-content-type-options") == "nosniff"
        # the same client object goes on: told to, it reconnects instead of writing into the closed socket
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    [record] = logged
    assert record.levelno == logging.ERROR and "GET /test-only/unserialisable" in record.getMessage()
    assert isinstance(record.exc_info[1], ValueError)
