"""``fused=True``: an optimizer's whole elementwise update as one generated kernel, through ``torch.compile``.

torch ships fused CPU kernels for Adam, AdamW, SGD and Adagrad only. Every other update here is a chain of
elementwise passes, and on a parameter list larger than the caches each pass reads and writes memory, so a step
costs several times the memory-bound floor (read each input once, write each output once). Cache blocking
(:mod:`optimizers._blocks`) keeps the later passes in cache but leaves the per-element work of every pass.
TorchInductor (``torch.compile``) fuses the update of a list of tensors into one loop per tensor that does all of
it in registers: the floor, without hand-written C++ or CUDA.

What it costs: the first step of a param group compiles (a few seconds to tens of seconds; Inductor caches the
result on disk, so later processes load it faster); later steps reuse it. Learning rates and betas are graph
inputs, so a scheduler does not recompile; a param group with other shapes, another length, dtype or set of
flags compiles once more (up to :data:`RECOMPILE_LIMIT` variants per update; beyond that torch runs the same
function eagerly: correct, not faster). It needs
a C++ compiler on CPU (what ``torch.compile`` builds its kernels with) or Triton on CUDA, and is therefore an
opt-in, like ``fused=True`` of ``torch.optim.Adam``: worth it for long runs, not for a few hundred steps.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
from torch import Tensor

__all__ = ["RECOMPILE_LIMIT", "check_fused", "compiled", "fused_unavailable", "scalars"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: compiled variants (shapes, list lengths, dtypes, flags) of one update before torch runs it eagerly instead; torch's
#: own default (8) is for a model's forward, where every recompile is a surprise; an optimizer meets one variant per
#: param group and configuration, by design
RECOMPILE_LIMIT = 64
#: C++ compilers torch.compile's CPU backend can use (it reads ``CXX`` first)
_CPP_COMPILERS = ("g++", "c++", "clang++")


def fused_unavailable(device_types: Iterable[str]) -> str | None:
    """Why ``fused=True`` cannot run on these device types here, or None when it can."""
    for kind in set(device_types):
        if kind == "cpu":
            candidates = [os.environ["CXX"]] if os.environ.get("CXX") else list(_CPP_COMPILERS)
            if not any(shutil.which(c) for c in candidates):
                return f"no C++ compiler found ({' or '.join(candidates)}); torch.compile needs one on CPU"
        elif kind == "cuda":
            from torch.utils._triton import has_triton

            if not has_triton():
                return "Triton is not installed; torch.compile needs it on CUDA"
        else:
            return f"device type {kind!r} is not supported (cpu and cuda are)"
    return None


def check_fused(owner: str, group: dict[str, Any]) -> None:
    """Reject ``fused=True`` where it cannot run: with ``foreach=True``, on non-float tensors, or where
    :func:`fused_unavailable` finds no compiler. Raises ``ValueError`` naming ``fused``."""
    if not group.get("fused"):
        return
    if group.get("foreach"):
        raise ValueError(f"{owner}: fused=True and foreach=True cannot be set together; pass one of them")
    params: list[Tensor] = list(group["params"])
    bad = [p.dtype for p in params if not p.is_floating_point()]
    if bad:
        raise ValueError(f"{owner}: fused=True needs floating-point parameters (real), got {bad[0]}")
    reason = fused_unavailable(p.device.type for p in params)
    if reason:
        raise ValueError(f"{owner}: fused=True cannot run here: {reason}; use fused=False (the default)")


@functools.cache
def compiled(update: _F) -> _F:
    """``update`` compiled by TorchInductor, once per process (up to :data:`RECOMPILE_LIMIT` variants).

    ``update`` works on parallel lists of tensors of one device and dtype, on 0-dim tensors for the numbers that
    change between steps (:func:`scalars`: graph inputs, so a new lr does not recompile, where a Python float
    handed to an op would be baked in as a constant) and on bools (constants: one graph per combination)."""
    kernel = torch.compile(update)

    @functools.wraps(update)
    def run(*args: Any, **kwargs: Any) -> Any:
        # the limit is read when a variant is compiled; patched for these calls only, the user's own compiled
        # code keeps torch's default
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return kernel(*args, **kwargs)

    return run  # type: ignore[return-value]


def scalars(like: Tensor, *values: float) -> list[Tensor]:
    """``values`` as 0-dim CPU tensors of ``like``'s dtype (the precision an eager op uses for a Python scalar
    on such a tensor), the form :func:`compiled` updates take their numbers in."""
    return [torch.tensor(v, dtype=like.dtype) for v in values]
