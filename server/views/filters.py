"""The filter page's data: the magnitude response |H(e^jw)| of an optimizer's momentum filter for a config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimizers.filters import momentum_filter
from optimizers.registry import get_optimizer
from zone_explorer.core.errors import FieldError
from zone_explorer.core.profiles import get_profile
from zone_explorer.engine.jobs import run_length
from zone_explorer.tasks import UnknownTaskError, get_task

__all__ = ["FilterRequestError", "filter_view"]

#: FSGDM stages drawn at most (evenly spread, first and last included)
MAX_STAGES = 24


class FilterRequestError(FieldError):
    """A filter view cannot be drawn as asked; ``field`` names the argument or config value."""


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    picks = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in picks]


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
    staged = get_profile(spec.name).staged_filter
    if staged is not None:
        every = staged.stages(cfg)
        curves = [
            {"label": f"stage {s['stage']}", "stage": s["stage"], "step": s["first_step"], **s["filter"].response(n)}
            for s in _spread(every, MAX_STAGES)
        ]
        summary: dict[str, Any] = {
            "stages": len(every),
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
    for c in curves:  # JSON has no inf: a pole at 1 has an infinite DC gain
        for key in ("dc_gain", "nyquist_gain"):
            if c[key] == float("inf"):
                c[key] = None
        c["magnitude"] = [m if m != float("inf") else None for m in c["magnitude"]]
    if summary["terminal_dc_gain"] == float("inf"):
        summary["terminal_dc_gain"] = None
    return {"optimizer": spec.name, "config": cfg, "derived": derived, "curves": curves, **summary}
