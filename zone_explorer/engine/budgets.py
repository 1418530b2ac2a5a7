"""The budget of a result: how long it trained (epochs or steps) and over how many seeds.

Results of different budgets are not comparable (a longer run scores better), so a zone belongs to one budget.
An explored trial takes its job's budget; a contribution the ``epochs``, ``steps`` and ``seeds`` it reported (a
contribution that reported none of them has the *unspecified* budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["UNSPECIFIED", "Budget"]

#: the key of a budget that names neither a length nor a seed count
UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Budget:
    """Epochs (or, where a result reported no epochs, optimizer steps) and the number of seeds whose mean is the
    result; None where not reported. The length is epochs *or* steps, never both: a contribution that reported
    both compares with the jobs (which count epochs) by its epochs."""

    epochs: int | None = None
    steps: int | None = None
    seeds: int | None = None

    @classmethod
    def of(cls, epochs: int | None, steps: int | None, seeds: Sequence[Any] | None) -> Budget:
        """The budget of a job or contribution from its ``epochs``, ``steps`` and list of ``seeds`` columns."""
        return cls(epochs, None if epochs is not None else steps, len(seeds) if seeds else None)

    @property
    def key(self) -> str:
        """A stable text form, e.g. ``epochs=10;seeds=2`` (what the REST ``budget`` parameter takes)."""
        parts = (("epochs", self.epochs), ("steps", self.steps), ("seeds", self.seeds))
        return ";".join(f"{name}={n}" for name, n in parts if n is not None) or UNSPECIFIED

    @property
    def label(self) -> str:
        """For people, e.g. ``10 epochs x 2 seeds``."""
        parts = (("epoch", self.epochs), ("step", self.steps), ("seed", self.seeds))
        words = [f"{n} {word}{'' if n == 1 else 's'}" for word, n in parts if n is not None]
        return " x ".join(words) or "unspecified budget"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "epochs": self.epochs, "steps": self.steps, "seeds": self.seeds}
