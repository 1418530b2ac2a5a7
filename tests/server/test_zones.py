"""Zones through HTTP: explored trials of every job merged with contributions, origins, parameters, the cache."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import server.services.zone_answers as answers
from server.schemas import ZonePublic, ZoneSummaryPublic
from tests.server.conftest import QUICK_JOB
from tests.server.test_contributions import GOOD, NEW_TASK
from zone_explorer.core.statuses import Verdict
from zone_explorer.engine.worker import Worker, WorkerSettings
from zone_explorer.store.db import get_engine, session_scope
from zone_explorer.store.models import Contribution

ZONE = "/api/v1/zones/noisy-quadratic/fsgdm"


def _explore(service, n: int = 6, jobs: int = 2) -> list[str]:
    ids = [
        service.client("submit")
        .post("/api/v1/jobs", json={**QUICK_JOB, "n_trials": n // jobs, "sampler_seed": i})
        .json()["id"]
        for i in range(jobs)
    ]
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == n
    return ids


def _contribute(service, values: list[float], **fields) -> list[str]:
    """Contributions of the explored jobs' budget (2 epochs, 1 seed) unless ``fields`` say otherwise."""
    items = [
        {
            **GOOD,
            "seeds": [0],
            **fields,
            "value": v,
            "config": {**GOOD["config"], "c_scaling": 0.01 * (i + 1), "v_coefficient": 0.5 + i},
        }
        for i, v in enumerate(values)
    ]
    r = service.client("contribute").post("/api/v1/contributions/batch", json={"contributions": items})
    assert r.status_code == 201, r.text
    return [c["id"] for c in r.json()["items"]]


def test_zone_merges_jobs_and_contributions(service, monkeypatch) -> None:
    job_ids = _explore(service)
    api = service.client()
    explored = api.get(ZONE)
    assert explored.status_code == 200, explored.text
    z = explored.json()
    assert z["counts"] == {"explored": 6, "contributed": 0, "verified": 0, "disputed": 0} and sorted(
        z["jobs"]
    ) == sorted(job_ids)
    assert z["samplers"] == {QUICK_JOB.get("sampler", "zone"): 6}  # which sampler produced the trials
    assert (z["x"], z["y"]) == ("c_scaling", "v_coefficient") and z["metric"] == "final_loss"
    contributed = _contribute(service, [1e-4, 0.5, 0.7])  # the first is the best result of all (minimize)
    merged = api.get(ZONE).json()
    assert merged["counts"] == {"explored": 6, "contributed": 3, "verified": 0, "disputed": 0}
    points = merged["analysis"]["zone_map"]["points"]
    assert sorted(set(points["origin"])) == ["contributed", "explored"] and len(points["origin"]) == 9
    best = merged["analysis"]["best_configs"][0]
    assert best["origin"] == "contributed" and best["id"] == f"contribution/{contributed[0]}"
    assert best["config"]["sigma"] == 200  # the full stored config, not just the axes
    # the zone on the model, typed as documented
    assert ZonePublic.model_validate(merged).analysis.zone is not None
    assert_model_zone(merged["analysis"])
    # 6 results are too few: no K, and a warning that says so
    assert z["analysis"]["k"]["status"] == "too_few_trials" and z["analysis"]["k"]["estimate"] is None
    assert "too_few_trials" in {w["code"] for w in z["analysis"]["warnings"]}

    # withdrawn contributions leave the view
    service.client("contribute").delete(f"/api/v1/contributions/{contributed[0]}")
    assert api.get(ZONE).json()["counts"]["contributed"] == 2


def test_parameters_and_the_cache(service, monkeypatch) -> None:
    _explore(service, n=4, jobs=1)
    _contribute(service, [0.3, 0.4])
    calls = []
    real = answers._compute_zone
    monkeypatch.setattr(answers, "_compute_zone", lambda *a, **k: calls.append(a) or real(*a, **k))
    api = service.client()
    first = api.get(ZONE, params={"x": "K", "y": "c_scaling", "delta": 0.05, "grid_size": 20})
    assert first.status_code == 200, first.text
    zmap = first.json()["analysis"]["zone_map"]
    assert (zmap["x"], zmap["y"], zmap["tolerance"]) == ("K", "c_scaling", {"mode": "delta", "value": 0.05})
    assert len(zmap["x_grid"]) == 20
    again = api.get(ZONE, params={"x": "K", "y": "c_scaling", "delta": 0.05, "grid_size": 20})
    assert again.content == first.content and again.headers["X-Data-Version"] == first.headers["X-Data-Version"]
    assert len(calls) == 1  # served from the cache
    _contribute(service, [0.35])  # new data: a new version, a fresh analysis
    third = api.get(ZONE, params={"x": "K", "y": "c_scaling", "delta": 0.05, "grid_size": 20})
    assert third.headers["X-Data-Version"] != first.headers["X-Data-Version"] and len(calls) == 2
    summary = api.get(f"{ZONE}/summary", params={"top_q": 0.5}).json()
    assert summary["n_results"] == 7 and summary["tolerance"] == {"mode": "top_q", "value": 0.5}
    assert set(summary["importance"]) >= {"c_scaling", "v_coefficient"}
    assert set(summary["zone_ranges"]) >= {"c_scaling", "K"}
    assert all("config" in row for row in summary["best_configs"])
    ZoneSummaryPublic.model_validate(summary)
    assert_model_zone(summary)
    # delta is also the model zone's delta
    assert first.json()["analysis"]["zone"]["delta"] == 0.05
    assert first.json()["analysis"]["zone"]["delta_source"] == "given"
    assert summary["zone"]["delta_source"] == "default"


def assert_model_zone(a: dict) -> None:
    """The fields the REST zone answers carry (issue 14), with sane values."""
    zone, k = a["zone"], a["k"]
    assert zone["delta"] > 0
    vol = zone["volume_fraction"]
    if vol["estimate"] is None:  # at most 8 trials: the zone is a sketch, its size is not reported
        assert "too_few_trials" in [w["code"] for w in a["warnings"]] and zone["hit_chance"] == []
    else:
        assert 0 <= vol["interval"][0] <= vol["estimate"] <= vol["interval"][1] <= 1
    m = zone["membership"]
    assert len(m["probability"]) == len(m["y"]) and all(len(row) == len(m["x"]) for row in m["probability"])
    assert all(p is None or 0 <= p <= 1 for row in m["probability"] for p in row)
    for poly in zone["outline"] + zone["core"]:
        assert all(len(pt) == 2 for pt in poly["exterior"])
    chances = [h["probability"] for h in zone["hit_chance"]]
    assert chances == sorted(chances) and all(0 <= p <= 1 for p in chances)
    assert k["status"] in {"ok", "not_a_level_set", "too_few_trials", "on_search_boundary"}
    assert set(k) >= {"estimate", "interval", "status", "lr_times_k", "ridge"}
    assert k["reference"] == {
        "k": 30.992,
        "lr": 0.1,
        "lr_times_k": pytest.approx(3.0992),
        "source": k["reference"]["source"],
    }
    if k["estimate"] is not None:
        lo, hi = k["interval"]
        assert lo <= k["estimate"] <= hi
    assert set(a["diagnostics"]["level_set"]["explained"]) == {"K", "c_scaling", "v_coefficient"}
    assert all(set(w) == {"code", "message"} and w["message"] for w in a["warnings"])


BAD_QUERIES = [
    ({"x": "colour"}, 422, "x", "unknown axis 'colour'"),
    ({"x": "c_scaling", "y": "c_scaling"}, 422, "y", "must differ"),
    ({"top_q": 0.1, "delta": 0.1}, 422, "delta", "not both"),
    ({"top_q": 0}, 422, "top_q", "greater than 0"),
    ({"top_q": "nan"}, 422, "top_q", "finite"),
    ({"delta": -1}, 422, "delta", "greater than or equal to 0"),
    ({"grid_size": 5}, 422, "grid_size", "greater than or equal to 10"),
    ({"x": "'; DROP TABLE trials; --"}, 422, "x", "unknown axis"),
]


@pytest.mark.parametrize(
    "params,status,field,fragment", BAD_QUERIES, ids=[b[2] + str(i) for i, b in enumerate(BAD_QUERIES)]
)
def test_bad_zone_queries(shared, params, status, field, fragment) -> None:
    if not shared.client().get("/api/v1/contributions", params={"task": "noisy-quadratic"}).json()["total"]:
        _contribute(shared, [0.3, 0.4, 0.5])
    r = shared.client().get(ZONE, params=params)
    assert r.status_code == status and r.json()["field"] == field and fragment in r.json()["detail"], r.text


def test_unknown_or_empty_zones(service) -> None:
    api = service.client()
    r = api.get("/api/v1/zones/digits-cn/fsgdm")
    assert r.status_code == 404 and r.json()["field"] == "task" and "digits-cnn" in r.json()["detail"]
    r = api.get("/api/v1/zones/noisy-quadratic/fsgd")
    assert r.status_code == 404 and r.json()["field"] == "optimizer"
    r = api.get(ZONE)
    assert r.status_code == 422 and "0 finished result" in r.json()["detail"]
    # a contributed task has a zone from its contributions alone
    items = [
        {
            **GOOD,
            "task": NEW_TASK,
            "value": 0.9 + 0.01 * i,
            "config": {**GOOD["config"], "c_scaling": 0.02 * (i + 1), "v_coefficient": 1.0 + i},
        }
        for i in range(4)
    ]
    assert (
        service.client("contribute").post("/api/v1/contributions/batch", json={"contributions": items}).status_code
        == 201
    )
    z = api.get("/api/v1/zones/cifar10-resnet18/fsgdm").json()
    assert z["direction"] == "maximize" and z["counts"] == {
        "explored": 0,
        "contributed": 4,
        "verified": 0,
        "disputed": 0,
    }
    assert z["analysis"]["best_configs"][0]["value"] == pytest.approx(0.93)


# ---- one budget per zone, filters, disputed results, extreme values (issue 16) ------------------------------------
def _submit(service, n: int, **fields) -> str:
    job = {**QUICK_JOB, "n_trials": n, **fields}
    r = service.client("submit").post("/api/v1/jobs", json=job)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _dispute(url: str, contribution_id: str) -> None:
    """Record the verdict a rerun that did not reproduce the value records (the rule is tested with the reruns)."""
    with get_engine(url).begin() as conn:
        conn.execute(
            sa.update(Contribution)
            .where(Contribution.id == contribution_id)
            .values(verdict=Verdict.DISPUTED, measured_value=0.9, verdict_detail="the rerun measured 0.9")
        )


@pytest.fixture
def budgets(service):
    """Two jobs of 2 epochs x 1 seed, one of 1 epoch; contributions of 2 epochs x 1 seed (the best one disputed)
    and of 2 epochs x 2 seeds."""
    two = [_submit(service, 2, sampler_seed=i) for i in range(2)]
    one = _submit(service, 3, epochs=1, sampler_seed=5)
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 7
    best, *_ = _contribute(service, [1e-6, 0.5, 0.7])  # the best of all (minimize), then disputed
    _dispute(service.url, best)
    _contribute(service, [0.2, 0.3], seeds=[0, 1])
    return {"two": two, "one": one, "disputed": f"contribution/{best}"}


def test_one_budget_per_zone_the_most_common_by_default(service, budgets) -> None:
    api = service.client()
    z = api.get(ZONE).json()
    assert z["budget"] == {
        "key": "epochs=2;seeds=1",
        "label": "2 epochs x 1 seed",
        "epochs": 2,
        "steps": None,
        "seeds": 1,
    }
    assert [(b["key"], b["count"]) for b in z["budgets"]] == [
        ("epochs=2;seeds=1", 6),
        ("epochs=1;seeds=1", 3),
        ("epochs=2;seeds=2", 2),
    ]
    assert z["counts"] == {"explored": 4, "contributed": 2, "verified": 0, "disputed": 1}
    assert sorted(z["jobs"]) == sorted(budgets["two"])
    assert z["filters"] == {"job": None, "origin": ["contributed", "explored", "verified"], "include_disputed": False}
    ZonePublic.model_validate(z)
    other = api.get(ZONE, params={"budget": "epochs=1;seeds=1"}).json()
    assert other["budget"]["label"] == "1 epoch x 1 seed" and other["jobs"] == [budgets["one"]]
    assert other["counts"] == {"explored": 3, "contributed": 0, "verified": 0, "disputed": 0}
    summary = api.get(f"{ZONE}/summary", params={"budget": "epochs=2;seeds=2"}).json()
    assert summary["budget"]["key"] == "epochs=2;seeds=2" and summary["n_results"] == 2
    ZoneSummaryPublic.model_validate(summary)
    for route in (ZONE, f"{ZONE}/summary"):
        r = api.get(route, params={"budget": "epochs=3;seeds=1"})
        assert r.status_code == 422 and r.json()["field"] == "budget", r.text
        assert "epochs=2;seeds=1, epochs=1;seeds=1, epochs=2;seeds=2" in r.json()["detail"]


def test_run_length_parameters_are_context_not_axes(service, budgets) -> None:
    z = service.client().get(ZONE).json()
    assert set(z["context"]) == {"sigma", "n_stages"}
    a = z["analysis"]
    for name in ("sigma", "n_stages"):
        assert name not in a["marginals"] and name not in (a["importance"] or {})
    assert {"c_scaling", "v_coefficient"} <= set(a["marginals"])
    # the jobs of 2 epochs derive one sigma; the contributions' configs carry their own: every value is listed
    sigma = z["context"]["sigma"]
    assert sigma == sorted(sigma) if isinstance(sigma, list) else sigma > 0


def test_disputed_results_are_apart_unless_asked(service, budgets) -> None:
    api = service.client()
    z = api.get(ZONE).json()
    a = z["analysis"]
    assert [d["id"] for d in z["disputed"]] == [budgets["disputed"]] and z["disputed"][0]["value"] == 1e-6
    assert budgets["disputed"] not in a["zone_map"]["points"]["id"]
    assert budgets["disputed"] not in [row["id"] for row in a["best_configs"]]
    assert a["best_configs"][0]["value"] > 1e-6
    included = api.get(ZONE, params={"include_disputed": "true"}).json()
    assert included["disputed"] == [] and included["counts"]["contributed"] == 3
    best = included["analysis"]["best_configs"][0]
    assert best["id"] == budgets["disputed"] and best["disputed"] is True
    assert included["filters"]["include_disputed"] is True
    summary = api.get(f"{ZONE}/summary").json()
    assert budgets["disputed"] not in [row["id"] for row in summary["best_configs"]]
    assert [d["id"] for d in summary["disputed"]] == [budgets["disputed"]]


def test_filters_by_job_and_origin(service, budgets) -> None:
    api = service.client()
    first = api.get(ZONE, params={"job": budgets["two"][0]}).json()
    assert first["counts"] == {"explored": 2, "contributed": 0, "verified": 0, "disputed": 0}
    assert first["jobs"] == [budgets["two"][0]] and first["disputed"] == []
    # one job's budget is the default when a job is asked for
    assert api.get(ZONE, params={"job": budgets["one"]}).json()["budget"]["key"] == "epochs=1;seeds=1"
    # (two contributions of each budget: the tie goes to the longer budget, 2 seeds)
    assert api.get(ZONE, params={"origin": "contributed"}).json()["budget"]["key"] == "epochs=2;seeds=2"
    contributed = api.get(ZONE, params={"origin": "contributed", "budget": "epochs=2;seeds=1"}).json()
    assert contributed["counts"] == {"explored": 0, "contributed": 2, "verified": 0, "disputed": 1}
    assert set(contributed["analysis"]["zone_map"]["points"]["origin"]) == {"contributed"}
    assert contributed["filters"]["origin"] == ["contributed"]
    both = api.get(ZONE, params={"origin": "explored,verified"}).json()
    assert both["counts"]["explored"] == 4 and both["counts"]["contributed"] == 0
    for params, field, fragment in (
        ({"origin": "verified"}, "task", "0 finished result(s) with origin verified"),
        ({"origin": "explored,bogus"}, "origin", "bogus"),
        ({"job": "nojob"}, "job", "nojob"),
        ({"job": "x" * 33}, "job", "32"),
        ({"include_disputed": "maybe"}, "include_disputed", "bool"),
    ):
        for route in (ZONE, f"{ZONE}/summary"):
            r = api.get(route, params=params)
            assert r.status_code == 422 and r.json()["field"] == field and fragment in r.json()["detail"], r.text


def test_verification_reruns_stay_out_of_the_explored_zone(service, budgets) -> None:
    contributed = service.client().get("/api/v1/contributions", params={"task": "noisy-quadratic"}).json()["items"]
    claim = next(c for c in contributed if c["seeds"] == [0] and c["value"] == 0.5)
    r = service.client("admin").post(f"/api/v1/contributions/{claim['id']}/verify")
    assert r.status_code == 202, r.text
    rerun = r.headers["Location"].rsplit("/", 1)[-1]
    assert Worker(service.url, settings=WorkerSettings(poll_interval=0.05)).run(exit_when_idle=True) == 1
    z = service.client().get(ZONE).json()
    assert rerun not in z["jobs"] and z["counts"]["explored"] == 4
    assert not any(i.startswith(f"{rerun}/") for i in z["analysis"]["zone_map"]["points"]["id"])
    r = service.client().get(ZONE, params={"job": rerun})
    assert r.status_code == 422 and r.json()["field"] == "job"


#: finite values the database holds (stored before the metric domains existed) that overflow any sum or square
EXTREME = [
    {"value": 1.7e308},
    {"value": -1.7e308},
    {"value": 0.3, "config": {"c_scaling": 1e-300}},
    {"value": 0.4, "config": {"v_coefficient": 1.7e308}},
]


def _store_extreme_rows(url: str) -> list[str]:
    """Insert the rows with SQLAlchemy, as they are in a database of an older release (no validation)."""
    ids = []
    with session_scope(url) as s:
        for i, row in enumerate(EXTREME):
            cid = f"extreme{i}"
            s.add(
                Contribution(
                    id=cid,
                    task="noisy-quadratic",
                    optimizer="fsgdm",
                    config={**GOOD["config"], "c_scaling": 0.02 * (i + 1), **row.get("config", {})},
                    given=sorted(GOOD["config"]),
                    value=row["value"],
                    epochs=2,
                    seeds=[0],
                    source={"notes": "extreme"},
                )
            )
            ids.append(f"contribution/{cid}")
    return ids


ZONE_ROUTES = [
    (ZONE, {}),
    (ZONE, {"x": "K", "y": "c_scaling", "delta": 0.05}),
    (ZONE, {"include_disputed": "true", "origin": "contributed,explored"}),
    (f"{ZONE}/summary", {}),
    ("/pages-api/zones/noisy-quadratic/fsgdm", {}),
    ("/pages-api/zones/noisy-quadratic/fsgdm/summary", {}),
]


def test_extreme_values_never_break_a_zone(service) -> None:
    _explore(service, n=4, jobs=1)
    extreme = _store_extreme_rows(service.url)
    api = service.client()
    for route, params in ZONE_ROUTES:
        r = api.get(route, params=params)
        assert r.status_code == 200, (route, params, r.text)
        body = r.json()["zone"] if "snippets" in r.json() else r.json()  # the pages' bundle, or the API's answer
        a = body.get("analysis", body)  # a view, or a summary
        warning = next(w for w in a["warnings"] if w["code"] == "extreme_values_dropped")
        assert warning["message"].startswith("4 result(s) left out")
        assert not set(extreme) & {row["id"] for row in a["best_configs"]}
    for page in ("/zones/noisy-quadratic/fsgdm", "/", "/compare/noisy-quadratic"):
        assert api.get(page).status_code == 200, page


def test_a_zone_of_extreme_values_alone_is_too_few(service) -> None:
    _store_extreme_rows(service.url)
    for route in (ZONE, f"{ZONE}/summary"):
        r = service.client().get(route)
        assert r.status_code == 422 and r.json()["field"] == "task" and "0 finished result" in r.json()["detail"]
    assert service.client().get("/pages-api/zones/noisy-quadratic/fsgdm").json()["empty"] is True
