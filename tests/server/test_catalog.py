"""Catalog: tasks and optimizers with their domains and default spaces."""

from __future__ import annotations

from optimizers.registry import get_optimizer


def test_tasks(service) -> None:
    api = service.client()
    tasks = api.get("/api/v1/tasks").json()
    names = [t["name"] for t in tasks]
    assert {"digits-cnn", "noisy-quadratic", "charlm-pydoc", "tabular-mlp"} <= set(names)
    quad = api.get("/api/v1/tasks/noisy-quadratic").json()
    assert quad["kind"] == "builtin" and quad["verifiable"] and quad["direction"] == "minimize"
    r = api.get("/api/v1/tasks/digits-cn")
    assert r.status_code == 404 and r.json()["field"] == "task" and "digits-cnn" in r.json()["detail"]


def test_optimizers_with_domains_and_default_spaces(service) -> None:
    api = service.client()
    opts = {o["name"]: o for o in api.get("/api/v1/optimizers").json()}
    assert {"fsgdm", "autosgm", "gsgd", "lion", "sgd", "adam", "adamw"} <= set(opts)
    fsgdm = api.get("/api/v1/optimizers/fsgdm").json()
    assert fsgdm == opts["fsgdm"]
    lr = next(h for h in fsgdm["hyperparameters"] if h["name"] == "lr")
    registry = get_optimizer("fsgdm").hyperparameter("lr").to_dict()
    assert {k: lr[k] for k in registry} == registry  # the registry's own domains
    assert set(fsgdm["default_space"]["params"]) >= {"c_scaling", "v_coefficient"}
    assert fsgdm["contribution_required"] == ["c_scaling", "v_coefficient", "lr", "weight_decay"]
    assert opts["adam"]["contribution_required"] == ["lr", "beta1", "beta2"]  # tied-betas axis replaced
    r = api.get("/api/v1/optimizers/fsgd")
    assert r.status_code == 404 and "did you mean 'fsgdm'" in r.json()["detail"] and r.json()["field"] == "optimizer"


def test_odd_names_in_paths_are_clear_4xx(service) -> None:
    api = service.client()
    for path in (
        "/api/v1/tasks/%27%3B%20DROP%20TABLE%20ze_jobs%3B%20--",
        "/api/v1/tasks/%E6%95%B0%E5%AD%97",
        "/api/v1/optimizers/%27%20OR%201%3D1",
        "/api/v1/zones/%E2%98%83/fsgdm",
    ):
        r = api.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    r = api.get("/api/v1/tasks/a%00b")
    assert r.status_code == 422 and r.json()["field"] == "name"
