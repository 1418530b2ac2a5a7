"""The reference vectors (tests/data/refvectors.json, copied from shared/reference) and the protocol that made them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

_PATH = Path(__file__).resolve().parent.parent / "data" / "refvectors.json"


@cache
def _load() -> dict[str, Any]:
    return json.loads(_PATH.read_text())


def entries(section: str) -> dict[str, Any]:
    return _load()["results"][section]


W0 = torch.tensor(_load()["meta"]["W0"], dtype=torch.float64)
G = [torch.tensor(g, dtype=torch.float64) for g in _load()["meta"]["G"]]


def parse_args(name: str) -> dict[str, float]:
    """Numeric ``key=value`` pairs of an entry name such as ``fsgdm_A(lr=0.1,wd=0,c=0.5,...)``."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+(?:e-?\d+)?)(?=[,)])", name)}


@dataclass
class Run:
    params: list[torch.Tensor] = field(default_factory=list)
    state: list[dict[str, torch.Tensor]] = field(default_factory=list)
    group_steps: list[float] = field(default_factory=list)


def run_protocol(
    make_optimizer: Callable[[torch.Tensor], torch.optim.Optimizer],
    *,
    state_keys: tuple[str, ...] = (),
    before_step: Callable[[torch.optim.Optimizer, int], None] | None = None,
) -> Run:
    """p = W0 (float64); for t = 1..5: p.grad = fresh copy of G[t-1]; step(); record p and state."""
    p = W0.clone().requires_grad_(True)
    opt = make_optimizer(p)
    run = Run()
    for t in range(5):
        if before_step is not None:
            before_step(opt, t)
        p.grad = G[t].clone()
        opt.step()
        run.params.append(p.detach().clone())
        run.state.append({k: opt.state[p][k].clone() for k in state_keys if k in opt.state[p]})
        run.group_steps.append(opt.param_groups[0].get("step"))
    return run
