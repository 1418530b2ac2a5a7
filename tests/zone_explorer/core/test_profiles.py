"""Optimizer profiles: one per registry entry, each consistent with its registry domains; K defined once."""

from __future__ import annotations

import importlib
import math
from types import SimpleNamespace

import numpy as np
import pytest

from optimizers.registry import REGISTRY
from zone_explorer.core.errors import FieldError
from zone_explorer.core.profiles import PROFILES, Profile, ProfileError, get_profile, index_profiles
from zone_explorer.core.profiles.fsgdm import REFERENCE_ZONE, zone_constant
from zone_explorer.core.spaces import Space, default_space
from zone_explorer.engine.jobs import run_length


def test_every_registry_optimizer_has_exactly_one_profile_in_registry_order() -> None:
    assert list(PROFILES) == list(REGISTRY)
    assert all(p.name == name for name, p in PROFILES.items())


@pytest.mark.parametrize("name", list(REGISTRY))
def test_profile_agrees_with_the_registry(name: str) -> None:
    profile, spec = get_profile(name), REGISTRY[name]
    hps = {hp.name for hp in spec.hyperparameters}
    assert default_space(name) == Space.from_dict({"optimizer": name, **profile.default_space})
    assert len(profile.natural_axes) == 2 and set(profile.natural_axes) <= hps
    assert set(profile.run_length_params) <= hps
    assert set(profile.derive_run_length(7, 3)) == set(profile.run_length_params)
    if profile.snippet.factory is not None:
        assert callable(getattr(importlib.import_module(spec.cls.__module__), profile.snippet.factory))
    if profile.snippet.betas:
        assert set(profile.snippet.betas_from) <= hps


def test_get_profile_names_the_field_and_suggests() -> None:
    with pytest.raises(ProfileError) as err:
        get_profile("fsgmd")
    assert isinstance(err.value, FieldError) and err.value.field == "optimizer"
    assert "did you mean 'fsgdm'?" in err.value.message
    with pytest.raises(ProfileError, match="unknown optimizer"):
        get_profile(None)  # type: ignore[arg-type]


def _profile(name: str) -> Profile:
    return Profile(name=name, default_space={"params": {}}, natural_axes=("lr", "momentum"))


def test_the_import_check_rejects_missing_duplicate_and_unknown_profiles() -> None:
    assert list(index_profiles([_profile("b"), _profile("a")], ["a", "b"])) == ["a", "b"]
    with pytest.raises(ImportError, match="no profile for registry optimizer"):
        index_profiles([_profile("a")], ["a", "b"])
    with pytest.raises(ImportError, match="two profiles"):
        index_profiles([_profile("a"), _profile("a")], ["a"])
    with pytest.raises(ImportError, match="name no registry optimizer"):
        index_profiles([_profile("a"), _profile("z")], ["a"])


@pytest.mark.parametrize(("steps", "epochs"), [(23, 20), (1, 5), (460, 1)])
def test_run_length_is_derived_from_steps_per_epoch_and_epochs(steps: int, epochs: int) -> None:
    task = SimpleNamespace(steps_per_epoch=lambda: steps)
    assert run_length(task, "fsgdm", epochs) == {"sigma": steps * epochs, "n_stages": min(epochs, steps * epochs)}
    assert run_length(task, "autosgm", epochs) == {"tau": epochs, "spe": steps}
    for name in ("gsgd", "lion", "sgd", "adam", "adamw", "signum", "adam-tied"):
        assert run_length(task, name, epochs) == {}


def test_zone_constant_on_floats_and_arrays() -> None:
    assert zone_constant(0.033, 0.95) == pytest.approx(0.95 * (1 + 1 / 0.033), rel=1e-15)
    assert isinstance(zone_constant(0.5, 2.0), float) and zone_constant(0.5, 2.0) == 6.0
    c = np.array([0.5, 1.0, math.nan, 0.25])
    v = np.array([2.0, math.nan, 1.0, 1.0])
    np.testing.assert_array_equal(zone_constant(c, v), [6.0, math.nan, math.nan, 5.0])


def test_the_readme_reference_zone_keeps_its_learning_rate() -> None:
    assert (REFERENCE_ZONE.k, REFERENCE_ZONE.lr) == (30.992, 0.1)
    assert "30.992/v ≈ 1 + 1/c" in REFERENCE_ZONE.source
    assert get_profile("fsgdm").reference is REFERENCE_ZONE
    assert all(get_profile(n).reference is None for n in REGISTRY if n != "fsgdm")
