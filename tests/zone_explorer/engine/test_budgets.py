"""The budget of a result: its key (what the zone routes take) and label (what people read)."""

from __future__ import annotations

import pytest

from zone_explorer.engine.budgets import UNSPECIFIED, Budget


@pytest.mark.parametrize(
    "epochs,steps,seeds,key,label",
    [
        (10, None, [0, 1], "epochs=10;seeds=2", "10 epochs x 2 seeds"),
        (1, None, [7], "epochs=1;seeds=1", "1 epoch x 1 seed"),
        (2, 200, [0], "epochs=2;seeds=1", "2 epochs x 1 seed"),  # epochs compare with the jobs'; steps then drop
        (None, 500, None, "steps=500", "500 steps"),
        (None, None, [], UNSPECIFIED, "unspecified budget"),
        (None, None, None, UNSPECIFIED, "unspecified budget"),
    ],
)
def test_key_and_label(epochs, steps, seeds, key, label) -> None:
    budget = Budget.of(epochs, steps, seeds)
    assert (budget.key, budget.label) == (key, label)
    assert budget.to_dict() == {
        "key": key,
        "label": label,
        **{k: getattr(budget, k) for k in ("epochs", "steps", "seeds")},
    }


def test_equal_budgets_are_one_zone() -> None:
    assert Budget.of(10, None, [0]) == Budget.of(10, 999, [3]) and hash(Budget.of(10, None, [0])) == hash(
        Budget(10, None, 1)
    )
    assert Budget.of(10, None, [0]) != Budget.of(10, None, [0, 1])
