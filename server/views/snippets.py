"""Copy-ready Python for a configuration: the optimizer's constructor call with the config's values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from optimizers.registry import get_optimizer
from zone_explorer.core.errors import FieldError, NotFound
from zone_explorer.core.limits import INT32_MAX, MAX_CONTRIBUTED_EPOCHS
from zone_explorer.core.profiles import get_profile

__all__ = ["constructor_call", "run_length_call"]


def _literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"float({str(value)!r})"
        text = f"{value:.6g}"
        return text if any(ch in text for ch in ".en") else f"{text}.0"
    return repr(value)


def _call(func: str, items: Mapping[str, Any]) -> str:
    """``func(model.parameters(), k=v, ...)``, one argument per line when it would be long."""
    args = ["model.parameters()"] + [f"{k}={v if isinstance(v, _Raw) else _literal(v)}" for k, v in items.items()]
    one_line = f"{func}({', '.join(args)})"
    if len(one_line) <= 96:
        return one_line
    return f"{func}(\n" + "".join(f"    {a},\n" for a in args) + ")"


class _Raw(str):
    """Python source to place as is."""


def constructor_call(optimizer: str, config: Mapping[str, Any]) -> str:
    """``from ... import Cls`` and ``optimizer = Cls(model.parameters(), ...)`` for a flat registry config.

    Values equal to the registry default are kept (so the call does not depend on defaults changing); keys the
    registry does not know are left out. The optimizer's profile says how the call is written
    (:class:`~zone_explorer.core.profiles.Snippet`): Adam/AdamW/Lion take ``betas=(beta1, beta2)``, adam-tied
    ``betas=(beta, beta)``; AutoSGM's
    flat names go through ``from_flat``.
    """
    spec = get_optimizer(optimizer)
    snippet = get_profile(spec.name).snippet
    names = [hp.name for hp in spec.hyperparameters]
    cfg = {k: config[k] for k in names if k in config}
    module, cls = spec.cls.__module__, spec.cls.__qualname__
    first, second = snippet.betas_from
    if snippet.betas and (first in cfg or second in cfg):
        b1 = cfg.get(first, spec.hyperparameter(first).default)
        b2 = cfg.get(second, spec.hyperparameter(second).default)
        cfg = {k: v for k, v in cfg.items() if k not in snippet.betas_from}
        ordered: dict[str, Any] = {}
        for k in names:  # keep the registry order, betas where the first beta was
            if k == first:
                ordered["betas"] = _Raw(f"({_literal(b1)}, {_literal(b2)})")
            elif k in cfg:
                ordered[k] = cfg[k]
        cfg = ordered
    if module.startswith("torch.optim"):
        return f"import torch\n\noptimizer = {_call(f'torch.optim.{cls}', cfg)}"
    if snippet.factory:
        return f"from {module} import {snippet.factory}\n\noptimizer = {_call(snippet.factory, cfg)}"
    return f"from {module} import {cls}\n\noptimizer = {_call(cls, cfg)}"


def _whole(text: str, field: str, high: int) -> int:
    """A count typed into a form: digits only, from 1 to ``high``."""
    text = text.strip()
    value = int(text) if re.fullmatch(r"[0-9]{1,12}", text) else 0
    if not 1 <= value <= high:
        raise FieldError(field, f"must be a whole number from 1 to {high:,}, got {text!r}")
    return value


def run_length_call(optimizer: str, config: Mapping[str, Any], steps_per_epoch: str, epochs: str) -> dict[str, Any]:
    """The copy-call calculator: the run-length hyperparameters of the user's run (``steps_per_epoch`` and
    ``epochs`` as typed) by the rule the engine uses (the optimizer profile's
    :meth:`~zone_explorer.core.profiles.Profile.derive_run_length`), and ``config``'s constructor call with them.

    ``{"run_length": {...}, "call": "..."}``; ``run_length`` is empty for an optimizer that derives nothing from
    the run length. Counts that are not whole numbers in range raise :class:`FieldError` naming the field; the run
    (``steps_per_epoch * epochs`` steps) must fit a signed 32-bit step counter, like every step count.
    """
    spe = _whole(steps_per_epoch, "steps_per_epoch", INT32_MAX)
    n_epochs = _whole(epochs, "epochs", MAX_CONTRIBUTED_EPOCHS)
    if spe * n_epochs > INT32_MAX:
        raise FieldError(
            "epochs", f"the run is {spe * n_epochs:,} steps (steps_per_epoch x epochs); at most {INT32_MAX:,}"
        )
    try:
        spec = get_optimizer(optimizer)
    except ValueError as err:
        raise NotFound("optimizer", str(err).split(": ", 1)[-1]) from None
    derived = get_profile(spec.name).derive_run_length(spe, n_epochs)
    return {"run_length": derived, "call": constructor_call(optimizer, {**config, **derived})}
