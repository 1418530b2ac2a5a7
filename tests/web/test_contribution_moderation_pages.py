"""Contribution moderation in Chromium: a value outside the task's metric range is refused at its field and nothing
is stored; a typo is corrected from the contributions page (Edit opens the form on that row and saves it in place,
and sending the form again after a contribution corrects it rather than storing a second row); withdraw and verify
from the list, refused for another owner's row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.web.conftest import open_page, screenshot
from zone_explorer.store.db import session_scope
from zone_explorer.store.models import Contribution
from zone_explorer.store.tokens import create_token

#: this module writes to charlm-pydoc with GSGD only, so it disturbs no other web test
TASK, OPTIMIZER = "charlm-pydoc", "gsgd"
GSGD = {"lr": 0.05, "momentum": 0.9, "nesterov": 0.0}


def rows(url: str, **where: str) -> list[Contribution]:
    with session_scope(url) as s:
        q = sa.select(Contribution).where(*(getattr(Contribution, k) == v for k, v in where.items()))
        return list(s.scalars(q))


def count(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Contribution)) or 0


def fill_config(page, values: dict[str, object]) -> None:
    for name, value in values.items():
        control = page.locator(f"#cfg-{name}")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(str(value).lower())
        else:
            control.fill(str(value))


def error_at(page, field: str) -> str:
    slot = page.locator(f"#contribute-form [data-field='{field}'] > .field-error")
    slot.wait_for(state="visible", timeout=10_000)
    return slot.inner_text()


@pytest.mark.slow
def test_a_value_outside_the_metric_range_is_refused_in_the_form(site, page, console) -> None:
    console.allow(422)
    open_page(page, site, f"/contribute?task=digits-cnn&optimizer={OPTIMIZER}")
    assert "in [0, 1]" in page.locator("#c-value-hint").inner_text()  # the range is said before sending
    before = count(site.db_url)
    page.locator("#token").fill(site.tokens["contribute"])
    fill_config(page, GSGD)
    page.locator("#c-value").fill("1.7")
    page.locator("#c-notes").fill("a typo: 1.7 for 0.97")
    page.get_by_role("button", name="Contribute").click()
    message = error_at(page, "value")
    assert "must be in [0, 1]" in message and "val_accuracy" in message and "1.7" in message, message
    screenshot(page, "contribute-out-of-range")
    assert count(site.db_url) == before
    # a hyperparameter beyond its finite bounds: refused at its own field
    page.locator("#c-value").fill("0.97")
    page.locator("#cfg-lr").fill("1e-300")
    page.get_by_role("button", name="Contribute").click()
    assert "zone-explorer optimizers gsgd" in error_at(page, "config.lr")
    assert count(site.db_url) == before


@pytest.mark.slow
def test_a_typo_is_corrected_in_place_from_the_form(site, page) -> None:
    open_page(page, site, f"/contribute?task={TASK}&optimizer={OPTIMIZER}")
    before = count(site.db_url)
    page.locator("#token").fill(site.tokens["contribute"])
    fill_config(page, GSGD)
    page.locator("#c-value").fill("1.91")
    page.locator("#c-notes").fill("typo in the form")
    page.get_by_role("button", name="Contribute").click()
    page.wait_for_selector("body[data-editing]:not([data-editing=''])")
    stored_id = page.evaluate("() => document.body.dataset.editing")
    # the value was a typo: fix it and send again; the same row is corrected
    page.locator("#c-value").fill("1.19")
    page.get_by_role("button", name=f"Save changes to {stored_id}").click()
    page.wait_for_selector("#contribute-message.ok >> text=Saved")
    assert count(site.db_url) == before + 1
    assert rows(site.db_url, id=stored_id)[0].value == 1.19


@pytest.mark.slow
def test_edit_and_withdraw_from_the_contributions_page(site, page, console) -> None:
    console.allow(403)
    c = site.api(
        "POST",
        "/api/v1/contributions",
        who="contribute",
        json={"task": TASK, "optimizer": OPTIMIZER, "config": {**GSGD, "lr": 0.07}, "value": 1.5,
              "source": {"notes": "from the list test"}},
    ).json()  # fmt: skip
    before = count(site.db_url)
    open_page(page, site, "/contributions")
    row = page.locator(f"#c-{c['id']}")
    row.get_by_role("link", name="Edit").click()
    page.wait_for_selector(f"body[data-editing='{c['id']}'][data-ready=true]")
    assert page.locator("#cfg-lr").input_value() == "0.07" and page.locator("#c-value").input_value() == "1.5"
    page.locator("#token").fill(site.tokens["contribute"])
    page.locator("#c-value").fill("1.45")
    page.get_by_role("button", name=f"Save changes to {c['id']}").click()
    page.wait_for_selector("#contribute-message.ok >> text=Saved")
    assert count(site.db_url) == before and rows(site.db_url, id=c["id"])[0].value == 1.45

    # another owner's token may not withdraw it: the API's answer is shown, the row stays
    open_page(page, site, "/contributions")
    page.locator("#token").fill(create_token(site.db_url, "someone-else", "contribute")[1])
    page.locator(f"#c-{c['id']} button[data-action=withdraw]").click()
    page.wait_for_selector(f"body[data-acted='error:{c['id']}']")
    assert "another token" in page.locator("#moderate-message").inner_text()
    assert rows(site.db_url, id=c["id"])[0].status == "active"
    # its owner withdraws it
    page.locator("#token").fill(site.tokens["contribute"])
    page.locator(f"#c-{c['id']} button[data-action=withdraw]").click()
    page.wait_for_selector(f"body[data-acted='withdraw:{c['id']}']")
    assert "Withdrew" in page.locator("#moderate-message").inner_text()
    assert page.locator(f"#c-{c['id']}.withdrawn").count() == 1
    screenshot(page, "contributions-withdrawn")
    assert rows(site.db_url, id=c["id"])[0].status == "withdrawn" and count(site.db_url) == before
