"""Search spaces: JSON round trips, registry validation with the offending field named, reparametrised axes."""

from __future__ import annotations

import json
import math

import optuna
import pytest

from optimizers.registry import optimizer_names
from zone_explorer.core.profiles import get_profile
from zone_explorer.core.spaces import REPARAMETRIZATIONS, Space, SpaceError, default_space

FSGDM_K_C = {
    "optimizer": "fsgdm",
    "params": {
        "K": {"type": "float", "low": 5.0, "high": 200.0, "log": True},
        "c_scaling": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "lr": {"type": "fixed", "value": 0.01},
    },
    "reparametrization": "fsgdm-K-c",
}


@pytest.mark.parametrize("name", optimizer_names())
def test_default_space_round_trips_and_samples_valid_configs(name: str) -> None:
    space = default_space(name)
    again = Space.from_json(space.to_json())
    assert again == space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    run_length = get_profile(name).derive_run_length(20, 10)
    for _ in range(20):
        trial = study.ask()
        cfg = space.config(space.suggest(trial), run_length)
        assert set(cfg) == {hp.name for hp in space.spec.hyperparameters}
        study.tell(trial, 0.0)


def test_fsgdm_k_c_axis_derives_v_on_the_curve() -> None:
    space = Space.from_dict(FSGDM_K_C)
    cfg = space.config({"K": 30.992, "c_scaling": 0.033, "lr": 0.01}, {"sigma": 100, "n_stages": 10})
    assert cfg["v_coefficient"] * (1 + 1 / cfg["c_scaling"]) == pytest.approx(30.992)
    assert cfg["v_coefficient"] == pytest.approx(30.992 / (1 + 1 / 0.033))


def test_fsgdm_k_v_axis_derives_c() -> None:
    space = Space.from_dict(
        {
            "optimizer": "fsgdm",
            "reparametrization": "fsgdm-K-v",
            "params": {
                "K": {"type": "float", "low": 20.0, "high": 60.0, "log": True},
                "v_coefficient": {"type": "float", "low": 0.5, "high": 2.0, "log": True},
            },
        }
    )
    cfg = space.config({"K": 31.0, "v_coefficient": 1.0}, {"sigma": 100, "n_stages": 10})
    assert cfg["v_coefficient"] * (1 + 1 / cfg["c_scaling"]) == pytest.approx(31.0)


def test_tied_betas() -> None:
    space = default_space("adam")
    assert space.reparametrization == "tied-betas"
    cfg = space.config({"lr": 1e-3, "beta": 0.95})
    assert cfg["beta1"] == cfg["beta2"] == 0.95


def test_grid_is_geometric_on_log_axes() -> None:
    grid = Space.from_dict(FSGDM_K_C).grid(5)
    ks = grid["K"]
    assert len(ks) == 5 and ks[0] == pytest.approx(5.0) and ks[-1] == pytest.approx(200.0)
    ratios = [b / a for a, b in zip(ks, ks[1:])]
    assert max(ratios) == pytest.approx(min(ratios))
    assert "lr" not in grid


BAD = [
    ({"optimizer": "fsgd", "params": {}}, "optimizer", "did you mean 'fsgdm'"),
    (
        {"optimizer": "fsgdm", "params": {"v_coeffcicent": {"type": "float", "low": 1, "high": 2}}},
        "params.v_coeffcicent",
        "did you mean 'v_coefficient'",
    ),
    ({"optimizer": "fsgdm", "params": {"lr": {"type": "float", "low": -1, "high": 2}}}, "params.lr.low", r"\[0, inf\)"),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "float", "low": 0.5, "high": 0.1}}},
        "params.lr.low",
        "must be < high",
    ),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}},
        "params.lr.low",
        "> 0 on a log axis",
    ),
    (
        {"optimizer": "sgd", "params": {"nesterov": {"type": "categorical", "choices": []}}},
        "params.nesterov.choices",
        "non-empty",
    ),
    (
        {"optimizer": "sgd", "params": {"momentum": {"type": "float", "low": 0.5, "high": 1.0}}},
        "params.momentum.high",
        r"\[0, 1\)",
    ),
    (
        {"optimizer": "fsgdm", "params": {"n_stages": {"type": "float", "low": 1, "high": 5}}},
        "params.n_stages.type",
        "int",
    ),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "uniform", "low": 1, "high": 2}}},
        "params.lr.type",
        "float, int, categorical, fixed",
    ),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "float", "low": 1e-3, "high": float("nan")}}},
        "params.lr.high",
        "finite",
    ),
    ({"optimizer": "fsgdm", "params": {"lr": {"type": "fixed"}}}, "params.lr.value", "required"),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "float", "low": 0.1, "high": 1, "lo": 3}}},
        "params.lr.lo",
        "not a field",
    ),
    (
        {
            "optimizer": "fsgdm",
            "params": [],
        },
        "params",
        "object",
    ),
    ({"optimizer": "fsgdm", "params": {}, "reparametrization": "tied-betas"}, "reparametrization", "applies to adam"),
    (
        {**FSGDM_K_C, "params": {**FSGDM_K_C["params"], "v_coefficient": {"type": "fixed", "value": 1.0}}},
        "params.v_coefficient",
        "derived",
    ),
    ({**FSGDM_K_C, "params": {"c_scaling": {"type": "float", "low": 0.1, "high": 1}}}, "params.K", "required"),
    (
        {
            "optimizer": "fsgdm",
            "reparametrization": "fsgdm-K-v",
            "params": {
                "K": {"type": "float", "low": 1.5, "high": 60.0},
                "v_coefficient": {"type": "float", "low": 0.5, "high": 2.0},
            },
        },
        "params.K",
        "K > v_coefficient",
    ),
]


@pytest.mark.parametrize("data,field,message", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_invalid_space_names_the_field(data, field: str, message: str) -> None:
    with pytest.raises(SpaceError) as err:
        Space.from_dict(data)
    assert err.value.field == field
    assert pytest.raises(SpaceError, Space.from_dict, data).match(message)


def test_malformed_json_is_a_space_error() -> None:
    with pytest.raises(SpaceError, match="malformed JSON.*line 1"):
        Space.from_json('{"optimizer": "fsgdm", ')


def test_every_reparametrization_documents_itself() -> None:
    for rp in REPARAMETRIZATIONS.values():
        assert rp.description and rp.axes and rp.replaces
        assert all(not math.isnan(hp.default) for hp in rp.axes.values())
    assert json.loads(Space.from_dict(FSGDM_K_C).to_json())["reparametrization"] == "fsgdm-K-c"
