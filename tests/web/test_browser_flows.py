"""End to end in Chromium: a job submitted from the form appears and its page updates live while the embedded
worker runs it; a contribution from the form shows on the zone map; form errors show next to their field."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import open_page, screenshot

QUICK = {"task": "noisy-quadratic", "optimizer": "fsgdm", "trials": "4", "epochs": "3", "seeds": "0, 1"}
#: a job that keeps the site's one worker busy until it is cancelled
BLOCKER = {"task": "noisy-quadratic", "optimizer": "sgd", "n_trials": 10_000, "epochs": 5, "sampler": "random"}


@pytest.mark.slow
def test_a_job_submitted_from_the_form_updates_live(site, page) -> None:
    # The site's one worker takes jobs oldest first: a long job submitted first keeps it busy, so the form's job
    # waits, queued, until the test cancels that one. The job page is then open before any of its trials run,
    # and can only reach "4 finished" by polling (a 4-trial job could otherwise finish before the page loads).
    blocker = site.api("POST", "/api/v1/jobs", who="submit", json=BLOCKER)
    assert blocker.status_code == 202, blocker.text
    open_page(page, site, f"/submit?task={QUICK['task']}&optimizer={QUICK['optimizer']}")
    assert (
        '"reparametrization"' in page.locator("#s-space").input_value()
        or '"params"' in page.locator("#s-space").input_value()
    )
    page.locator("#token").fill(site.tokens["submit"])
    page.locator("#s-trials").fill(QUICK["trials"])
    page.locator("#s-epochs").fill(QUICK["epochs"])
    page.locator("#s-seeds").fill(QUICK["seeds"])
    page.locator("#s-sampler").select_option("random")
    page.locator("#s-sampler-seed").fill("7")
    screenshot(page, "submit-filled")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"), timeout=15_000)
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("h1").inner_text() == "fsgdm on noisy-quadratic"
    assert page.evaluate("() => [document.body.dataset.status, document.body.dataset.finished]") == ["queued", "0"]
    assert site.api("POST", f"/api/v1/jobs/{blocker.json()['id']}/cancel", who="submit").status_code == 200

    # live: the page polls; the status turns running (screenshot), then completed with 4 trials, without a reload
    page.wait_for_selector("body[data-status=running], body[data-status=completed]", timeout=150_000)
    if page.evaluate("() => document.body.dataset.status") == "running":
        screenshot(page, "job-live-running")
    page.wait_for_selector("body[data-status=completed]", timeout=150_000)
    assert page.evaluate("() => document.body.dataset.finished") == "4"
    assert int(page.evaluate("() => document.body.dataset.updates")) >= 2  # the queued view, then polled ones
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # never reloaded
    page.wait_for_selector("#history-plot .main-svg")
    page.wait_for_selector("#job-zone .main-svg")
    # four trials: the zone is a sketch, and a note says so
    page.wait_for_selector('#job-zone-warnings .zone-warning[data-code="too_few_trials"]')
    assert page.locator("#stat-finished").inner_text() == "4 / 4"
    assert page.locator("#job-status .pill").inner_text() == "completed"
    assert page.locator("#live-text").inner_text() == "job completed"
    assert page.evaluate("() => document.getElementById('history-plot').data[0].x.length") == 4
    assert len(page.evaluate("() => document.getElementById('curves-plot').data")) == 4  # one curve per trial
    screenshot(page, "job-live-completed")

    # the job appears in the lists
    open_page(page, site, "/jobs")
    assert page.locator(f"a[href='/jobs/{job_id}']").count() == 1
    open_page(page, site, "/")
    assert page.locator(f"a[href='/jobs/{job_id}']").count() == 1


@pytest.mark.slow
def test_cancel_from_the_job_page(site, page, console) -> None:
    r = site.api("POST", "/api/v1/jobs", who="submit", json=BLOCKER)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    open_page(page, site, f"/jobs/{job_id}")
    assert page.locator("#cancel-card").is_visible()
    console.allow(401)
    page.locator("#cancel-form #token").fill("ze_000000000000_" + "x" * 43)
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector("#cancel-form [data-field='Authorization'] .field-error:not([hidden])")
    assert "token" in page.locator("#cancel-form .field-error").inner_text()
    page.locator("#cancel-form #token").fill(site.tokens["submit"])
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector("body[data-status=cancelled]", timeout=15_000)
    assert page.locator("#job-status .pill").inner_text() == "cancelled"
    assert page.locator("#cancel-card").is_hidden()


@pytest.mark.slow
def test_a_contribution_from_the_form_shows_on_the_zone_map(site, page) -> None:
    open_page(page, site, "/contribute?task=digits-cnn&optimizer=sgd")
    before = site.get("/api/v1/zones/digits-cnn/sgd").json()["counts"]["contributed"]
    page.locator("#token").fill(site.tokens["contribute"])
    values = {"lr": "0.0777", "momentum": "0.85", "weight_decay": "0.0005", "dampening": "0", "nesterov": "false"}
    for field in page.locator("#config-fields [data-field]").all():
        name = field.get_attribute("data-field").split(".", 1)[1]
        control = field.locator("input, select")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(values[name])
        else:
            control.fill(values[name])
    page.locator("#c-value").fill("0.9791")
    page.locator("#c-epochs").fill("10")
    page.locator("#c-seeds").fill("0")  # the budget of the explored trials (10 epochs x 1 seed): their zone
    page.locator("#c-notes").fill("from the browser test")
    page.get_by_role("button", name="Contribute").click()
    page.wait_for_selector("#contribute-result:not([hidden])")
    assert "Stored 1 contribution" in page.locator("#contribute-result").inner_text()
    screenshot(page, "contribute-stored")
    link = page.locator("#contribute-result a.zone-link")
    assert "10 epochs x 1 seed" in link.inner_text()  # the zone it joins: its budget
    link.click()
    page.wait_for_url(re.compile(r"/zones/digits-cnn/sgd\?budget=epochs%3D10%3Bseeds%3D1$"))
    page.wait_for_selector("body[data-ready=true]")
    assert f"{before + 1}contributed" in page.locator("#counts").inner_text().replace("\n", "").replace(" ", "")
    xs = page.evaluate("() => document.getElementById('zone-map').data.find(d => d.uid === 'points-contributed').x")
    assert any(abs(x - 0.0777) < 1e-9 for x in xs), xs
    assert "0.9791" in page.locator("#best-table").inner_text()  # the best result now
    screenshot(page, "zone-with-contribution")


@pytest.mark.slow
def test_form_errors_show_next_to_their_field(site, page, console) -> None:
    console.allow(401)
    console.allow(422)
    open_page(page, site, "/contribute?task=digits-cnn&optimizer=fsgdm")

    def error_at(field: str) -> str:
        slot = page.locator(f"#contribute-form [data-field='{field}'] > .field-error")
        slot.wait_for(state="visible", timeout=10_000)
        return slot.inner_text()

    page.get_by_role("button", name="Contribute").click()
    assert "token" in error_at("Authorization")
    page.locator("#token").fill(site.tokens["contribute"])
    for name, value in (("c_scaling", "0.03"), ("v_coefficient", "1"), ("lr", "-1"), ("weight_decay", "0")):
        page.locator(f"#cfg-{name}").fill(value)
    page.locator("#c-value").fill("0.9")
    page.locator("#c-notes").fill("n")
    page.get_by_role("button", name="Contribute").click()
    assert "lr" in error_at("config.lr")  # the API's field, next to the lr input
    page.locator("#cfg-lr").fill("0.01")
    page.locator("#c-notes").fill("")
    page.get_by_role("button", name="Contribute").click()
    assert error_at("source")
    assert page.locator("#contribute-form [data-field='config.lr'] > .field-error").is_hidden()

    # a new task named <script>: refused at its field, shown as text, nothing runs
    page.locator("#c-notes").fill("n")
    page.locator("#c-task").select_option("__new__")
    page.locator("#nt-name").fill("<script>window.__xss=1</script>")
    for sel, value in (("#nt-metric", "acc"), ("#nt-dataset", "d"), ("#nt-model", "m"), ("#nt-description", "x")):
        page.locator(sel).fill(value)
    page.get_by_role("button", name="Contribute").click()
    assert error_at("task.name")
    assert page.evaluate("() => window.__xss") is None
    screenshot(page, "contribute-errors")

    # uploads: the error names the row and column
    page.get_by_role("tab", name="Upload CSV or JSON").click()
    page.locator("#c-paste").fill(
        "task,optimizer,value,source_notes,config.lr,config.beta1,config.beta2\n"
        "digits-cnn,lion,0.9,n,0.001,0.9,0.99\ndigits-cnn,lion,0.9,n,-5,0.9,0.99\n"
    )
    page.get_by_role("button", name="Contribute").click()
    message = error_at("paste")
    assert "rows[1]" in message and "lr" in message and "line 3" in message

    # submit form: the API's field for a bad space and a bad trial count
    open_page(page, site, "/submit?task=noisy-quadratic&optimizer=lion")
    page.locator("#token").fill(site.tokens["submit"])
    page.locator("#s-trials").fill("0")
    page.get_by_role("button", name="Submit job").click()
    slot = page.locator("#submit-form [data-field='n_trials'] > .field-error")
    slot.wait_for(state="visible")
    page.locator("#s-trials").fill("5")
    page.locator("#s-space").fill('{"params": {"lr": {"type": "float", "low": -1, "high": 0.1}}}')
    page.get_by_role("button", name="Submit job").click()
    slot = page.locator("#submit-form [data-field='space'] > .field-error")
    slot.wait_for(state="visible")
    assert "lr" in slot.inner_text()
    page.locator("#s-space").fill("{not json")
    page.get_by_role("button", name="Submit job").click()
    assert "JSON" in slot.inner_text()
