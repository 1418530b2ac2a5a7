"""The filter page's data: the magnitude response |H(e^jw)| of an optimizer's momentum filter for a config."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optimizers.filters import filter_note, momentum_filter
from optimizers.registry import get_optimizer
from zone_explorer.core.errors import FieldError
from zone_explorer.core.limits import INT32_MAX, MAX_FILTER_CURVES
from zone_explorer.core.profiles import get_profile
from zone_explorer.engine.jobs import run_length
from zone_explorer.tasks import UnknownTaskError, get_task

__all__ = ["FilterRequestError", "filter_view"]


class FilterRequestError(FieldError):
    """A filter view cannot be drawn as asked; ``field`` names the argument or config value."""


def _spread(n: int, k: int) -> list[int]:
    """At most ``k`` of the indices ``0 .. n-1``, evenly spread, first and last included (O(k), whatever n)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _finite(x: float) -> float | None:
    # JSON has no inf or nan: a pole at 1 has an infinite DC gain, and extreme gains overflow
    return x if math.isfinite(x) else None


def filter_view(
    optimizer: str, config: Mapping[str, Any], *, task: str | None = None, epochs: int | None = None, n: int = 256
) -> dict[str, Any]:
    """The config completed (registry defaults; FSGDM's sigma/n_stages and AutoSGM's tau/spe from the task and
    epochs when given) and its filter: stage by stage for FSGDM, one filter for the others."""
    try:
        spec = get_optimizer(optimizer)
    except ValueError as err:
        raise FilterRequestError("optimizer", str(err).split(": ", 1)[-1]) from None
    raw = dict(config)
    derived: dict[str, int] = {}
    if task:
        try:
            t = get_task(task)
        except UnknownTaskError as err:
            raise FilterRequestError("task", err.message) from None
        derived = run_length(t, spec.name, epochs or t.default_epochs)
        for k, v in derived.items():
            raw.setdefault(k, v)
    try:
        cfg = spec.validate(raw)
    except (TypeError, ValueError) as err:
        text = str(err)
        name = next((k for k in sorted(raw, key=len, reverse=True) if k in text), "config")
        raise FilterRequestError(f"config.{name}" if name != "config" else name, text) from None
    for name, value in cfg.items():
        # the registry's counts (steps, stages, windows) have no upper bound; a run's step count fits 32 bits
        if isinstance(value, int) and not isinstance(value, bool) and value > INT32_MAX:
            raise FilterRequestError(f"config.{name}", f"must be at most {INT32_MAX:,} (a step count fits 32 bits)")
    staged = get_profile(spec.name).staged_filter
    if staged is not None:
        count = staged.count(cfg)
        curves = [
            {
                "label": s.get("label", f"stage {s['stage']}"),
                "stage": s["stage"],
                "step": s["first_step"],
                **s["filter"].response(n),
            }
            for s in staged.stages(cfg, _spread(count, MAX_FILTER_CURVES))
        ]
        summary: dict[str, Any] = {
            "stages": count,
            "shown": len(curves),
            "terminal_dc_gain": staged.terminal_dc_gain(cfg),
        }
    else:
        try:
            f = momentum_filter(spec.name, cfg, 1)
        except ValueError as err:
            raise FilterRequestError("optimizer", str(err).split(": ", 1)[-1]) from None
        curves = [{"label": spec.name, "stage": None, "step": 1, **f.response(n)}]
        summary = {"stages": None, "shown": 1, "terminal_dc_gain": f.dc_gain}
    for c in curves:
        for key in ("pole", "zero", "gain", "dc_gain", "nyquist_gain"):
            c[key] = _finite(c[key])
        c["magnitude"] = [_finite(m) for m in c["magnitude"]]
    summary["terminal_dc_gain"] = _finite(summary["terminal_dc_gain"])
    note = filter_note(spec.name)
    return {"optimizer": spec.name, "config": cfg, "derived": derived, "curves": curves, "note": note, **summary}
