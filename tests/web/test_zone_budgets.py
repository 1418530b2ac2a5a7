"""The zone page shows one budget at a time (a picker for the others, and says which) and leaves disputed results
out of the map and the best list, listed apart (issue 16). Its own contributed task: the shared site stays as is."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.web.conftest import open_page, screenshot
from zone_explorer.contrib import add_contributions
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution

TASK = {
    "name": "budget-picker-task",
    "dataset": "synthetic",
    "model": "none",
    "metric": "accuracy",
    "direction": "maximize",
    "description": "results of two budgets, one disputed",
}
PAGE = f"/zones/{TASK['name']}/fsgdm"
CONFIG = {"lr": 0.01, "weight_decay": 5e-4}


def _items(n: int, epochs: int, seeds: list[int], base: float) -> list[dict]:
    return [
        {
            "task": TASK,
            "optimizer": "fsgdm",
            "value": base + 0.01 * i,
            "config": {**CONFIG, "c_scaling": 0.01 * (i + 1), "v_coefficient": 0.5 + 0.7 * i},
            "budget": {"epochs": epochs},
            "seeds": seeds,
            "source": {"notes": "budget picker test"},
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def budgets(site) -> dict[str, str]:
    """Seven results of 5 epochs x 1 seed (the best one disputed by its rerun) and four of 20 epochs x 2 seeds."""
    short = add_contributions(site.db_url, _items(7, 5, [0], 0.80), None)
    add_contributions(site.db_url, _items(4, 20, [0, 1], 0.90), None)
    disputed = short[-1]["id"]  # the highest accuracy of its budget
    with session_scope(site.db_url) as s:  # as a finished verification that did not reproduce it leaves it
        s.execute(
            sa.update(Contribution)
            .where(Contribution.id == disputed)
            .values(verdict="disputed", measured_value=0.5, verdict_detail="the rerun measured 0.5")
        )
    return {"disputed": f"contribution/{disputed}", "value": "0.86"}


def _map_ids(page) -> list[str]:
    return page.evaluate(
        "() => document.getElementById('zone-map').data.filter(d => (d.uid || '').startsWith('points-'))"
        ".flatMap(d => d.customdata)"
    )


def test_the_budget_picker_switches_the_zone_and_says_which(site, page, budgets) -> None:
    open_page(page, site, PAGE)
    page.wait_for_selector("body[data-zone-version='1']")
    assert page.locator("#budget-label").inner_text() == "5 epochs x 1 seed"  # the most results (6)
    options = page.locator("#budget-picker option").all_inner_texts()
    assert options == ["5 epochs x 1 seed (6 results)", "20 epochs x 2 seeds (4 results)"]
    assert "1 other budget" in page.locator("#budget-shown").inner_text()
    page.locator("#budget-picker").select_option("epochs=20;seeds=2")
    page.wait_for_selector("body[data-zone-version='2']")
    assert page.locator("#budget-label").inner_text() == "20 epochs x 2 seeds"
    page.wait_for_function("() => /results/.test(document.getElementById('zone-status').textContent)")
    assert page.locator("#zone-status").inner_text() == "4 results"
    assert re.search(r"budget=epochs%3D20%3Bseeds%3D2", page.url), page.url
    assert len(_map_ids(page)) == 4
    # the URL opens the same budget
    open_page(page, site, f"{PAGE}?budget=epochs%3D20%3Bseeds%3D2")
    page.wait_for_selector("body[data-zone-version='1']")
    assert page.locator("#budget-label").inner_text() == "20 epochs x 2 seeds"


def test_a_disputed_result_is_out_of_the_map_and_the_best_list(site, page, budgets) -> None:
    open_page(page, site, PAGE)
    page.wait_for_selector("body[data-zone-version='1']")
    page.wait_for_selector("#best-table tbody tr")
    assert budgets["disputed"] not in _map_ids(page) and len(_map_ids(page)) == 6
    assert budgets["value"] not in page.locator("#best-table").inner_text()
    row = page.locator("#disputed-table tr.disputed")
    assert row.count() == 1 and budgets["disputed"] in row.inner_text() and budgets["value"] in row.inner_text()
    assert page.locator("#disputed-card").is_visible()
    screenshot(page, "zone-disputed-apart")
    # counted on request: on the map, first in the best list and marked
    page.locator("#include-disputed").check()
    page.wait_for_selector("body[data-zone-version='2']")
    page.wait_for_selector("#best-table tbody tr.disputed")
    assert budgets["disputed"] in _map_ids(page)
    first = page.locator("#best-table tbody tr").first
    assert budgets["value"] in first.inner_text() and "disputed" in (first.get_attribute("class") or "")
    assert page.locator("#disputed-card").is_hidden()
    assert "include_disputed=true" in page.url
