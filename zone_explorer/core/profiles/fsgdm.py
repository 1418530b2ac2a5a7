"""FSGDM: its zone constant K, the README's reference zone, and how Zone Explorer explores it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optimizers.filters import fsgdm_stage_filters
from optimizers.hyperparams import Hyperparameter
from zone_explorer.core.profiles.base import Profile, Reparametrization, RunLength, StagedFilter
from zone_explorer.core.zone_constant import REFERENCE_ZONE, zone_constant

__all__ = ["PROFILES", "REFERENCE_ZONE", "zone_constant"]


def _run_length(steps_per_epoch: int, epochs: int) -> dict[str, int]:
    # sigma is the run's total number of steps; one stage per epoch, but never more stages than steps
    sigma = steps_per_epoch * epochs
    return {"sigma": sigma, "n_stages": min(epochs, sigma)}


_K_AXIS = Hyperparameter(
    "K", "float", 31.0, "FSGDM terminal low-frequency gain v(1 + 1/c)", low=0.0, low_open=True, log=True
)


def _k_c(values: dict[str, Any]) -> dict[str, Any]:
    # K = v (1 + 1/c) is linear in v, so v = K / (K at v = 1)
    return {"v_coefficient": values["K"] / zone_constant(values["c_scaling"], 1.0)}


def _k_v(values: dict[str, Any]) -> dict[str, Any]:
    k, v = values["K"], values["v_coefficient"]
    if k <= v:
        raise ValueError(f"fsgdm-K-v needs K > v_coefficient, got K={k:g}, v_coefficient={v:g}")
    return {"c_scaling": v / (k - v)}  # zone_constant(c, v) = K solved for c


#: search along the zone constant: the README's rule says the CNN zone is a level set of K
K_C = Reparametrization(
    "fsgdm-K-c",
    {"K": _K_AXIS},
    ("v_coefficient",),
    _k_c,
    "search K = v(1+1/c) and c_scaling; v_coefficient = K/(1+1/c)",
)


def _k_above_v(lowest: Callable[[str], float], highest: Callable[[str], float]) -> tuple[str, str] | None:
    # c = v / (K - v) exists only where K > v, so the whole K range must lie above the whole v range
    k_low, v_high = lowest("K"), highest("v_coefficient")
    if k_low > v_high:
        return None
    return (
        "params.K",
        f"fsgdm-K-v needs K > v_coefficient everywhere: K's lowest value {k_low:g} must exceed "
        f"v_coefficient's highest {v_high:g}",
    )


K_V = Reparametrization(
    "fsgdm-K-v",
    {"K": _K_AXIS},
    ("c_scaling",),
    _k_v,
    "search K = v(1+1/c) and v_coefficient; c_scaling = v/(K-v)",
    check=_k_above_v,
)

PROFILES = (
    Profile(
        name="fsgdm",
        default_space={
            "params": {
                "c_scaling": {"type": "float", "low": 0.005, "high": 2.0, "log": True},
                "v_coefficient": {"type": "float", "low": 0.05, "high": 50.0, "log": True},
                "lr": {"type": "fixed", "value": 0.01},
                "weight_decay": {"type": "fixed", "value": 5e-4},
            },
        },
        natural_axes=("c_scaling", "v_coefficient"),
        run_length=RunLength(("sigma", "n_stages"), _run_length),
        reference=REFERENCE_ZONE,
        reparametrizations=(K_C, K_V),
        # the pole rises stage by stage to 1/(1+c), so the DC gain tends to K
        staged_filter=StagedFilter(
            count=lambda cfg: cfg["n_stages"],
            stages=fsgdm_stage_filters,
            terminal_dc_gain=lambda cfg: zone_constant(cfg["c_scaling"], cfg["v_coefficient"]),
        ),
    ),
)
