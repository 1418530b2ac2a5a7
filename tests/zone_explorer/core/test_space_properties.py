"""Search spaces under generated and extreme input: every space is accepted or refused with the field named (never
another exception), and an accepted space's distributions, grids and samples hold whatever its bounds and steps."""

from __future__ import annotations

import json
import math
import warnings

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies import spaces
from zone_explorer.core.limits import MAX_AXIS_STEPS, MAX_DIMENSION_BOUND, MAX_GRID_POINTS
from zone_explorer.core.spaces import CategoricalDim, FloatDim, IntDim, Space, SpaceError

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FIELD_ROOTS = ("params", "optimizer", "reparametrization", "space")


def _names_a_given_field(err: SpaceError, data: dict) -> bool:
    if not err.field.startswith("params."):
        return err.field.split(".")[0] in FIELD_ROOTS
    return any(err.field == f"params.{k}" or err.field.startswith(f"params.{k}.") for k in data.get("params", {}))


def _check_accepted(space: Space) -> None:
    """What the engine does with an accepted space: store it, build Optuna distributions, list grids, sample."""
    assert Space.from_dict(json.loads(space.to_json())) == space
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "range not divisible by step" (it moves high down)
        dists = space.distributions()
        for name, dim in space.searched().items():
            dist = dists[name]
            size = dim.size()
            if isinstance(dim, CategoricalDim):
                assert size == len(dim.choices)
                continue
            assert size is None or size >= 2, (dim, size)
            for n in (1, 2, 5):
                values = dim.grid(n)
                assert values == sorted(set(values)) and 1 <= len(values) <= n, (dim, n, values)
                if size is not None:
                    assert len(values) == min(n, size), (dim, n, values)
                if n >= 2 and (size is None or size >= 2):
                    assert values[0] == dim.low
                assert all(dist._contains(dist.to_internal_repr(v)) for v in values), (dim, values)
        for n_trials in (1, 7):
            try:
                grid = space.job_grid(n_trials)
            except SpaceError as err:
                assert err.field == "params"
                continue
            assert n_trials <= math.prod(len(v) for v in grid.values()) <= MAX_GRID_POINTS
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        sampled = space.suggest(trial)
        assert all(dists[k]._contains(dists[k].to_internal_repr(sampled[k])) for k in dists)


@PROPERTY
@given(st.one_of(spaces("fsgdm"), spaces("autosgm"), spaces("adam")))
def test_any_space_is_accepted_or_refused_naming_the_field(data: dict) -> None:
    try:
        space = Space.from_dict(data)
    except SpaceError as err:  # a ValueError; any other exception fails the test
        assert err.message and _names_a_given_field(err, data), (err.field, data)
        return
    _check_accepted(space)


# ---- the extremes, one by one -----------------------------------------------------------------------------------
def _lr(**dim) -> dict:
    return {"optimizer": "fsgdm", "params": {"lr": {"type": "float", **dim}}}


BAD_DIMENSIONS = [
    (_lr(low=0.0, high=1.0, step=5e-324), "params.lr.step", "steps"),
    (_lr(low=0.0, high=1.0, step=1e-300), "params.lr.step", "steps"),
    (_lr(low=0.0, high=1.0, step=1 / (MAX_AXIS_STEPS * 2)), "params.lr.step", "steps"),
    (_lr(low=0.0, high=1.0, step=1e308), "params.lr.step", "magnitude"),
    (_lr(low=0.0, high=1.0, step=2.0), "params.lr.step", "(0, high - low]"),
    (_lr(low=0.0, high=1.0, step=math.nan), "params.lr.step", "finite"),
    (_lr(low=0.0, high=1.0, step=math.inf), "params.lr.step", "finite"),
    (_lr(low=0.0, high=1.0, step=0.0), "params.lr.step", "(0, high - low]"),
    (_lr(low=0.0, high=1e308), "params.lr.high", "magnitude"),
    (_lr(low=0.0, high=10**400), "params.lr.high", "401 digits"),
    (_lr(low=0.0, high=math.inf), "params.lr.high", "finite"),
    (_lr(low=math.nan, high=1.0), "params.lr.low", "finite"),
    (
        {"optimizer": "fsgdm", "params": {"sigma": {"type": "int", "low": 1, "high": 2**63}}},
        "params.sigma.high",
        "magnitude",
    ),
    (
        {"optimizer": "fsgdm", "params": {"sigma": {"type": "int", "low": 1, "high": 10**15, "step": 10**16}}},
        "params.sigma.step",
        "magnitude",
    ),
    ({"optimizer": "fsgdm", "params": {"lr": {"type": "fixed", "value": 10**400}}}, "params.lr.value", "401 digits"),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "categorical", "choices": [10**400]}}},
        "params.lr.choices[0]",
        "digits",
    ),
    (
        {"optimizer": "fsgdm", "params": {"lr": {"type": "categorical", "choices": [i / 1000 for i in range(1, 102)]}}},
        "params.lr.choices",
        "at most 100",
    ),
]


@pytest.mark.parametrize(
    "data,field,fragment", BAD_DIMENSIONS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_DIMENSIONS)]
)
def test_extreme_bounds_and_steps_are_refused_naming_the_field(data: dict, field: str, fragment: str) -> None:
    with pytest.raises(SpaceError) as err:
        Space.from_dict(data)
    assert err.value.field == field and fragment in err.value.message, (err.value.field, err.value.message)


def test_the_extremes_that_are_valid_are_accepted() -> None:
    for data in (
        _lr(low=0.0, high=float(MAX_DIMENSION_BOUND)),
        _lr(low=5e-324, high=1.0, log=True),
        _lr(low=0.0, high=5e-324),
        _lr(low=0.0, high=1.0, step=1e-8),
        {"optimizer": "fsgdm", "params": {"sigma": {"type": "int", "low": 1, "high": MAX_DIMENSION_BOUND}}},
        {
            "optimizer": "fsgdm",
            "params": {"sigma": {"type": "int", "low": 1, "high": MAX_DIMENSION_BOUND, "log": True}},
        },
    ):
        _check_accepted(Space.from_dict(data))


def test_an_int_grid_is_computed_not_listed() -> None:
    """A range of 10**15 integers: its size and an even grid by arithmetic (a list of it would need petabytes)."""
    dim = IntDim(1, 10**15, step=3)
    assert dim.size() == (10**15 - 1) // 3 + 1
    values = dim.grid(5)
    assert values[0] == 1 and values[-1] == 1 + (dim.size() - 1) * 3
    assert all((v - 1) % 3 == 0 for v in values) and values == sorted(set(values))
    assert IntDim(1, 10**15, log=True).grid(16) == sorted(set(IntDim(1, 10**15, log=True).grid(16)))
    assert IntDim(3, 9).grid(1) == [6] and IntDim(1, 100, log=True).grid(1) == [10]


def test_a_log_int_grid_has_as_many_distinct_values_as_asked() -> None:
    """Rounding a geometric grid packs its low end onto the same integers; each still appears once, and the grid
    keeps both ends."""
    for high, n in ((20, 10), (12, 11), (1000, 40)):
        values = IntDim(1, high, log=True).grid(n)
        assert len(values) == n and values == sorted(set(values)) and values[0] == 1 and values[-1] == high


def test_a_stepped_float_axis_counts_as_optuna_does() -> None:
    """Optuna moves ``high`` down to the last whole step: 0.3 steps from 0 to 1 are 0, 0.3, 0.6, 0.9."""
    dim = FloatDim(0.0, 1.0, step=0.3)
    assert dim.size() == 4
    assert dim.grid(10) == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert FloatDim(0.0, 1.0, step=0.4).grid(10) == pytest.approx([0.0, 0.4, 0.8])


def test_a_job_grid_reaches_n_trials_where_an_axis_is_short() -> None:
    """An int axis of 4 values and a continuous one: 40 trials need 10 values on the other axis, not an even 7 x 7
    grid that would hold only 4 x 7 = 28 points."""
    space = Space.from_dict(
        {
            "optimizer": "fsgdm",
            "params": {
                "n_stages": {"type": "int", "low": 1, "high": 4},
                "c_scaling": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            },
        }
    )
    assert space.grid_size() is None
    grid = space.job_grid(40)
    assert grid["n_stages"] == [1, 2, 3, 4] and len(grid["c_scaling"]) == 10
    # an even grid where no axis is short, as before: 9 trials over two axes are 3 x 3
    square = Space.from_dict(
        {"optimizer": "fsgdm", "params": {k: {"type": "float", "low": 0.1, "high": 1.0} for k in ("lr", "c_scaling")}}
    )
    assert [len(v) for v in square.job_grid(9).values()] == [3, 3]
    assert [len(v) for v in square.job_grid(10).values()] == [4, 3]


def test_a_job_grid_refuses_more_trials_than_points_and_grids_beyond_the_cap() -> None:
    small = Space.from_dict({"optimizer": "fsgdm", "params": {"n_stages": {"type": "int", "low": 1, "high": 4}}})
    assert small.grid_size() == 4 and small.job_grid(4) == {"n_stages": [1, 2, 3, 4]}
    with pytest.raises(SpaceError, match="4 points, fewer than n_trials=5"):
        small.job_grid(5)
    axes = ("beta_n", "beta_a", "beta_i", "gamma_i", "rc_x", "rc_e", "rc_n", "weight_decay", "eta_i", "tau", "spe")
    wide = Space.from_dict(
        {
            "optimizer": "autosgm",
            "params": {name: {"type": "float", "low": 0.1, "high": 0.5} for name in axes[:9]}
            | {name: {"type": "int", "low": 1, "high": 50} for name in (*axes[9:], "cfact")},
        }
    )
    assert 2 ** len(wide.searched()) <= MAX_GRID_POINTS < 3 ** len(wide.searched())
    assert math.prod(len(v) for v in wide.job_grid(1).values()) == 2 ** len(wide.searched())
    with pytest.raises(SpaceError, match="the cap is"):
        wide.job_grid(MAX_GRID_POINTS)
