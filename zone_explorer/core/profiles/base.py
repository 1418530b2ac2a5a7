"""What the engine, the analysis and the pages know about one optimizer, beyond its registry entry.

The registry (:mod:`optimizers.registry`) says what an optimizer *is*: its class and hyperparameter domains. A
:class:`Profile` says how Zone Explorer *explores* it: where to search by default, which hyperparameters follow
from the run length, which two axes its zone is drawn over, what published zone it is compared with and how its
constructor call is written out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optimizers.hyperparams import Hyperparameter
from zone_explorer.core.errors import FieldError
from zone_explorer.core.zone_constant import ReferenceZone

__all__ = ["Profile", "ProfileError", "ReferenceZone", "Reparametrization", "RunLength", "Snippet", "StagedFilter"]


class ProfileError(FieldError):
    """No profile answers the request; ``field`` names the argument (``optimizer``)."""


@dataclass(frozen=True)
class RunLength:
    """Hyperparameters that are not searched but follow from how long the run is.

    ``derive(steps_per_epoch, epochs)`` returns exactly the names in ``params``; a search space may still fix any
    of them, and its value wins.
    """

    params: tuple[str, ...]
    derive: Callable[[int, int], dict[str, int]]


@dataclass(frozen=True)
class Reparametrization:
    """Search axes the theory suggests, from which the optimizer's own hyperparameters are derived.

    ``axes``: axis name -> its domain (a :class:`Hyperparameter` of its own); ``replaces``: the optimizer's
    hyperparameters that ``derive(values)`` computes from the axes (and the other searched values). A profile lists
    the reparametrisations that apply to it; optimizers may share one (Adam and AdamW share ``tied-betas``).

    ``check(lowest, highest)``, when given, sees a whole space before any trial runs: ``lowest(name)`` and
    ``highest(name)`` are the extreme values a parameter or axis can take in it (its default when the space leaves
    it out). It returns None, or ``(field, message)`` when ``derive`` could fail somewhere in the space.
    """

    name: str
    axes: dict[str, Hyperparameter]
    replaces: tuple[str, ...]
    derive: Callable[[dict[str, Any]], dict[str, Any]]
    description: str
    check: Callable[[Callable[[str], float], Callable[[str], float]], tuple[str, str] | None] | None = None


@dataclass(frozen=True)
class StagedFilter:
    """A momentum filter that changes over the run in stages (FSGDM's): the filter page draws one per stage.

    ``count(config)`` is the number of stages of a complete flat config; ``stages(config, numbers)`` lists
    ``{"stage", "first_step", "filter"}`` for those stages only (see
    :func:`optimizers.filters.fsgdm_stage_filters`), so a page that draws a few stages of a long run builds just
    those; ``terminal_dc_gain(config)`` is the DC gain the stages tend to as training ends (FSGDM's zone constant K).
    """

    count: Callable[[Mapping[str, Any]], int]
    stages: Callable[[Mapping[str, Any], Sequence[int]], list[dict[str, Any]]]
    terminal_dc_gain: Callable[[Mapping[str, Any]], float]


@dataclass(frozen=True)
class Snippet:
    """How a flat config becomes a constructor call in copy-ready code.

    ``factory``: a function in the optimizer class's module that takes the flat config (None: the class itself
    takes the flat names). ``betas``: the constructor takes ``betas_from`` (the flat names, ``beta1``/``beta2`` by
    default; ``("beta", "beta")`` for Adam with tied betas) as one tuple ``betas``.
    """

    factory: str | None = None
    betas: bool = False
    betas_from: tuple[str, str] = ("beta1", "beta2")


@dataclass(frozen=True)
class Profile:
    """One registry optimizer as Zone Explorer explores it.

    ``default_space`` is the search space's JSON without its ``optimizer`` field (``params`` and, optionally,
    ``reparametrization``; see :mod:`zone_explorer.core.spaces`). ``natural_axes`` is the pair a zone map is
    drawn over unless the user picks others.
    """

    name: str
    default_space: Mapping[str, Any]
    natural_axes: tuple[str, str]
    run_length: RunLength | None = None
    reference: ReferenceZone | None = None
    reparametrizations: tuple[Reparametrization, ...] = ()
    snippet: Snippet = field(default_factory=Snippet)
    #: None: one filter for the whole run, :func:`optimizers.filters.momentum_filter` at the first step
    staged_filter: StagedFilter | None = None

    @property
    def run_length_params(self) -> tuple[str, ...]:
        """The hyperparameters the engine derives from the run length (none for most optimizers)."""
        return self.run_length.params if self.run_length else ()

    def derive_run_length(self, steps_per_epoch: int, epochs: int) -> dict[str, int]:
        """The run-length hyperparameters for ``epochs`` epochs of ``steps_per_epoch`` optimizer steps."""
        return self.run_length.derive(steps_per_epoch, epochs) if self.run_length else {}
