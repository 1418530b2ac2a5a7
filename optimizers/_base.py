"""What every optimizer here shares: validated param groups, closures, gradient collection, tensor grouping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, TypeVar

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from ._compiled import check_fused
from .hyperparams import Hyperparameter, reject_unknown_keywords, validate_tuple

__all__ = ["SparseGradientError", "ZoneOptimizer", "group_by_device_and_dtype"]

#: what rides along with each parameter in :func:`group_by_device_and_dtype`
_State = TypeVar("_State")
#: what ``torch._foreach_*`` functions take, and return (a tuple)
TensorList: TypeAlias = list[Tensor] | tuple[Tensor, ...]


class SparseGradientError(TypeError, RuntimeError):
    """A sparse gradient reached a dense optimizer (a TypeError, and a RuntimeError as torch.optim raises)."""


class ZoneOptimizer(torch.optim.Optimizer):
    """Base class: group hyperparameters are validated against :attr:`hyperparameters` whenever a group is added.

    Subclasses declare ``hyperparameters`` (the group-level domains, shared with the registry), may override
    :meth:`_check_group` for constraints between hyperparameters and :meth:`_prepare_group` for values derived
    when a group is created (GSGD's ``scaling=None`` -> 1/lr, FSGDM's step counter).
    """

    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()
    #: group keys that hold a tuple, with each element's domain (``betas``: validated whole, named after ``lr``)
    tuple_fields: ClassVar[Mapping[str, Sequence[Hyperparameter]]] = {}
    #: group keys that are switches rather than searchable hyperparameters
    switches: ClassVar[tuple[str, ...]] = ("foreach",)
    #: whether the ``fused`` switch means the compiled update of :mod:`optimizers._compiled` (checked when a group
    #: is added); FSGDM's and GSGD's ``fused`` mean torch's own fused SGD kernel instead
    compiled_fused: ClassVar[bool] = False

    def __init__(self, params: ParamsT, defaults: dict[str, Any], extra_kwargs: dict[str, Any] | None = None) -> None:
        if extra_kwargs:
            reject_unknown_keywords(type(self).__name__, extra_kwargs, self._keyword_names())
        self._validate_values(defaults, type(self).__name__)
        super().__init__(params, defaults)

    @classmethod
    def _keyword_names(cls) -> list[str]:
        names = [hp.name for hp in cls.hyperparameters]
        return names[:1] + list(cls.tuple_fields) + names[1:] + list(cls.switches)

    def _validate_values(self, values: dict[str, Any], owner: str) -> None:
        for hp in self.hyperparameters:
            if hp.name in values:
                values[hp.name] = hp.validate(values[hp.name], owner=owner)
        for name, fields in self.tuple_fields.items():
            if name in values:
                values[name] = validate_tuple(owner, name, values[name], fields)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._validate_values(param_group, f"{type(self).__name__} param group")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._check_group(group)
            if self.compiled_fused:
                check_fused(f"{type(self).__name__} param group", group)
            self._prepare_group(group)
        except Exception:
            self.param_groups.pop()  # a rejected group leaves the optimizer as it was
            raise

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ``ValueError`` for combinations of valid values that do not work together."""

    def _prepare_group(self, group: dict[str, Any]) -> None:
        """Fill values derived when the group is created."""

    # ---- helpers for step() ------------------------------------------------------------------------------
    @staticmethod
    def _evaluate_closure(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def _params_with_grad(self, group: dict[str, Any]) -> tuple[list[Tensor], list[Tensor]]:
        params, grads = [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise SparseGradientError(
                    f"{type(self).__name__} does not support sparse gradients; use a dense embedding "
                    "(sparse=False) or torch.optim.SparseAdam for sparse parameters"
                )
            params.append(p)
            grads.append(p.grad)
        return params, grads

    @staticmethod
    def _use_foreach(group: dict[str, Any], params: Sequence[Tensor]) -> bool:
        """``foreach=None`` means: the multi-tensor path wherever every tensor is on an accelerator."""
        if group.get("foreach") is not None:
            return bool(group["foreach"])
        return bool(params) and all(p.device.type != "cpu" for p in params)


def group_by_device_and_dtype(
    params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[_State]
) -> list[tuple[list[Tensor], list[Tensor], list[_State]]]:
    """Split parallel lists (parameters, their gradients and one per-parameter item: a buffer, a state dict, an
    index) into sub-lists whose parameters share device and dtype (what ``torch._foreach_*`` needs)."""
    buckets: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor], list[_State]]] = defaultdict(
        lambda: ([], [], [])
    )
    for p, g, state in zip(params, grads, states):
        ps, gs, sts = buckets[(p.device, p.dtype)]
        ps.append(p)
        gs.append(g)
        sts.append(state)
    return list(buckets.values())
