"""A CSM decides from the real Temporal Web UI, proven in a real browser.

Python Playwright drives Debian's chromium against the Web UI that the `temporal`
dev server serves (`ui_env`), doing what a CSM does:

1. filter the workflow list to their own pending decisions with the search
   attributes (a raw visibility query) and see which account each belongs to;
2. open the escalation from the list and read its User Metadata: the static
   summary and details, and the current details in Markdown (what the customer
   wrote, what is decided and why, who may decide, the deadline, the draft, and
   each person's approve, reject and edit payloads);
3. More Actions → Send a Signal → `decide`: first a payload from someone who may
   not decide (refused, shown in the current details, the workflow keeps
   waiting); the same payload as an update (Send an Update: refused in the modal,
   one sentence, no stack trace); then Jane's own edit payload from the current
   details with her text, which is what the customer receives;
4. (second test) follow the renewal package's link in its current details to the
   brief, served read-only the way `csops up` serves it, with its charts;
5. (third test) after the health sweep, open a bookmarked query over the account
   watches (`CsopsHealth < 40`) and read each account's score in the CsopsHealth
   column.

Every step leaves a screenshot in test-artifacts/ui/ (and `failure.png` when a
step fails); with CSOPS_UPDATE_DOC_SCREENSHOTS=1 the four the README shows are
also copied to docs/img/.

Temporal UI 2.54 facts this relies on: open a workflow from the list (its URL
needs the run id); wait for `load`, never `networkidle` (the pages poll); the
Markdown of the user metadata renders in same-origin iframes
(#user-metadata-summary, -details, -current-details); the page keeps a hidden
copy of the signal modal, so modal locators are scoped to the one visible
`dialog`; the signal picker lists the names the running worker reports; JSON
goes into the CodeMirror editor with `keyboard.insert_text`, then the editor is
blurred with JavaScript and the modal left to settle before Submit (it re-lays
out on blur and a click during that is lost); "Workflow signaled." matches two
nodes (the toast, #workflow-signal-success-toast, and its aria-live copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import FrameLocator, Locator, Page, async_playwright, expect
from sqlmodel import select
from support.data import (
    CSM,
    HOW_TO,
    HOW_TO_BODY,
    HOW_TO_SUBJECT,
    MANAGER,
    add_account,
    add_ticket,
    audit,
    customer_messages,
)
from support.polling import eventually
from support.temporal import (
    current_details,
    human_history,
    human_requests,
    new_ticket_id,
    start_escalation,
    start_renewal_package,
    ticket_ids,
    wait_for_requests,
)
from temporalio.client import WorkflowExecutionStatus

from context.db import session
from context.tables import Account, HealthScore
from contracts import search_attributes as sa
from contracts.escalation import EscalationResult
from contracts.health import HealthSweepInput
from contracts.ids import watch_id
from csops.artifact_server import serve_artifacts
from csops.demo_book import generate_book
from workflows.health import HealthSweepWorkflow

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "ui"
DOC_IMG = ROOT / "docs" / "img"
DOC_SHOTS = (
    "01-filtered-list",
    "02-current-details",
    "03-send-signal",
    "03c-refused-update",
    "04-decided",
    "07-renewal-details",
)

CHROMIUM = Path("/usr/bin/chromium")
# The network is closed: without the background-networking flags chromium keeps
# dialling out and floods the log with refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 15_000  # default for every Playwright wait in this test
# CSS transitions end; CSS animations may loop forever (the UI's pulsing dot).
NO_TRANSITION_RUNNING = """() => !document.getAnimations().some(
    a => a instanceof CSSTransition && a.playState === "running")"""

MY_PENDING = f"CsopsApprovers = '{CSM}' AND CsopsPendingApprovals > 0"
# The list as a CSM sets it up: which account, what stage, how many decisions, whose.
COLUMNS_OUT = ("Run ID", "Type", "Start", "End")
COLUMNS_IN = ("CsopsAccountId", "CsopsStage", "CsopsPendingApprovals", "CsopsApprovers")

MALLORY = "mallory@evil.test"


# ---------------------------------------------------------------- browser plumbing


class Shots:
    """Screenshots of each step into test-artifacts/ui/ (and docs/img/ on request)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.to_docs = os.environ.get("CSOPS_UPDATE_DOC_SCREENSHOTS") == "1"

    async def take(self, name: str) -> Path:
        # No hover tooltip in the picture: move the pointer away, then wait until no
        # tooltip shows and no hover transition (a background fading back) still runs.
        await self.page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)
        await expect(self.page.get_by_role("tooltip")).to_have_count(0)  # visible ones
        await self.page.wait_for_function(NO_TRANSITION_RUNNING)
        path = SHOTS / f"{name}.png"
        await self.page.screenshot(path=path, timeout=WAIT_MS)
        if self.to_docs and name in DOC_SHOTS:
            DOC_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_IMG / path.name)
        return path


@contextlib.asynccontextmanager
async def chromium_page() -> AsyncIterator[tuple[Page, Shots]]:
    """Debian's chromium, headless, one 1280x800 page; a screenshot if the body fails.

    The async API on purpose: the test shares the session's event loop with the
    in-process worker, which the sync API would block."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "failure.png").unlink(missing_ok=True)  # the others are overwritten by name
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(WAIT_MS)
            page.set_default_navigation_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            shots = Shots(page)
            try:
                yield page, shots
            except BaseException:
                with contextlib.suppress(Exception):
                    await shots.take("failure")
                raise
        finally:
            await browser.close()


# How long one look at the page waits before the page is reloaded or refreshed. Under
# load (two CI runs on two cores) the UI's own fetch can take several seconds, and a
# reload restarts it: a short wait here reloaded forever and never saw the list.
PAGE_WAIT_MS = 8_000


async def keep_trying(attempt, retry, *, timeout_s: float) -> None:
    """`await attempt()` (Playwright expectations) until it stops raising AssertionError;
    `await retry()` between tries. Visibility and the current details are eventually
    consistent, so the UI is reloaded (or refreshed) until it shows the truth."""
    await eventually(
        attempt,
        timeout_s,
        holds=lambda _: True,  # passing is holding: a failed expectation raises
        every_s=0.5,
        ignoring=(AssertionError,),
        between=retry,
        what="what the page should show",
    )


async def reload_until(page: Page, check, timeout_s: float = 90) -> None:
    """Reload the page (visibility lags the workflow a little) until `check()` passes."""
    await keep_trying(check, lambda: page.reload(wait_until="load"), timeout_s=timeout_s)


async def refresh_until(page: Page, frame: FrameLocator, text: str, timeout_s: float = 90):
    """The current details are a workflow query; the UI re-runs it on R ("Press the R
    for freshness"). Refresh until the rendered Markdown contains `text`."""
    body = frame.locator("body")

    async def shows():
        await expect(body).to_contain_text(text, timeout=PAGE_WAIT_MS)

    async def press_r():
        await page.locator("body").press("r")

    await keep_trying(shows, press_r, timeout_s=timeout_s)
    return body


async def settled(locator: Locator, timeout_s: float = 5, still_for: int = 3) -> None:
    """Wait until the element's box stays put for `still_for` samples in a row
    (the signal modal re-lays out after its editor loses focus)."""
    boxes: list = []

    async def still() -> bool:
        boxes[:] = [*boxes[-(still_for - 1) :], await locator.bounding_box()]
        return (
            len(boxes) == still_for and boxes[0] is not None and boxes.count(boxes[0]) == still_for
        )

    await eventually(still, timeout_s, every_s=0.1, what=f"{locator} staying put")


async def open_decide_modal(page: Page, kind: str, payload: str) -> Locator:
    """More Actions → Send a Signal (`kind` "Signal") or Send an Update ("Update") →
    `decide`, with `payload` typed into the editor: the modal, ready to submit."""
    article = "a" if kind == "Signal" else "an"
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name=f"Send {article} {kind}").click()
    dialog = page.get_by_role("dialog")  # the visible modal, not its hidden copy
    await expect(dialog).to_have_count(1)
    await expect(dialog.get_by_role("heading", name=f"Send {article} {kind}")).to_be_visible()
    await dialog.get_by_test_id(f"{kind.lower()}-select-button").click()
    # Listed because the running worker reports the workflow's signal and update names.
    await dialog.get_by_role("option", name="decide", exact=True).click()
    editor = dialog.get_by_role("textbox", name="Data")
    await editor.click()
    # The modal keeps what was sent last time: replace it.
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.press("Delete")
    await expect(editor).to_have_text("")
    await page.keyboard.insert_text(payload)
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    # On blur the editor pretty-prints the JSON: the same payload, re-laid out.
    assert json.loads(await editor.inner_text()) == json.loads(payload)
    return dialog


async def send_decide_signal(page: Page, shots: Shots, payload: str, shot: str) -> None:
    """More Actions → Send a Signal → `decide` with `payload`, as a CSM does it."""
    # The toast itself ("Workflow signaled." alone also matches its aria-live copy).
    toast = page.locator("#workflow-signal-success-toast")
    await expect(toast).to_have_count(0)  # the last signal's toast was closed
    dialog = await open_decide_modal(page, "Signal", payload)
    submit = dialog.get_by_role("button", name="Submit")
    await expect(submit).to_be_enabled()
    await settled(submit)
    await shots.take(shot)
    await submit.click()
    await expect(toast).to_have_text("Workflow signaled.")
    await expect(dialog).to_have_count(0)
    await toast.get_by_role("button", name="Close").click()
    await expect(toast).to_have_count(0)


async def send_refused_update(page: Page, shots: Shots, payload: str, reason: str) -> None:
    """More Actions → Send an Update → `decide` with a payload the workflow refuses:
    the modal stays open and shows the reason, one sentence with no stack trace."""
    dialog = await open_decide_modal(page, "Update", payload)
    submit = dialog.get_by_test_id("confirm-modal-button")
    await expect(submit).to_be_enabled()
    await settled(submit)
    await submit.click()
    # The reason, as the workflow's validator gave it, and nothing else.
    shown = dialog.get_by_text(reason, exact=True)
    await expect(shown).to_be_visible()
    box = shown.locator("xpath=ancestor::*[contains(@class, 'alert') or @role='alert'][1]")
    message = await (box if await box.count() else shown).inner_text()
    assert message.strip() == reason, message
    for trace in ("Traceback", 'File "', ".py", "ValueError", "ApplicationError"):
        assert trace not in await dialog.inner_text(), trace
    await shots.take("03c-refused-update")
    await dialog.get_by_test_id("cancel-modal-button").click()
    await expect(dialog).to_have_count(0)


# ---------------------------------------------------------------- the test


@pytest.mark.timeout(300)  # a real browser on a loaded CI machine
async def test_a_csm_filters_opens_and_decides_in_the_temporal_web_ui(ui_env, db, run_worker):
    assert CHROMIUM.exists(), "install Debian's chromium (make test does)"
    env, ui_url = ui_env
    add_account(
        db, "acc-ui", arr=400_000, segment="enterprise", top_rank=12, name="Northwind Test Co"
    )
    add_account(db, "acc-ui-small", arr=20_000, top_rank=180, name="Tiny Test Ltd")
    # The small account's reply goes out supervised; one the policy does not sample
    # for review, or its review would be Jane's too and join her list.
    ticket, [small_ticket] = new_ticket_id(), ticket_ids(sampled=0, unsampled=1)
    add_ticket(db, ticket, "acc-ui", *HOW_TO)
    add_ticket(db, small_ticket, "acc-ui-small", *HOW_TO)

    async with run_worker(env) as tq, chromium_page() as (page, shots):
        # Not Jane's to decide: a small account's how-to goes out without a human.
        other = await start_escalation(db, env.client, tq, small_ticket)
        handle = await start_escalation(db, env.client, tq, ticket)
        [request] = await wait_for_requests(handle)
        assert (request.request_id, request.kind) == ("approval-1", "approval")
        assert request.eligible_approvers == [CSM, MANAGER]
        other_outcome: EscalationResult = await asyncio.wait_for(other.result(), 20)
        assert (other_outcome.outcome, other_outcome.requests) == ("sent", [])
        run_id = (await handle.describe()).run_id

        # ---- 1. The list, filtered to Jane's pending decisions.
        await page.goto(f"{ui_url}/namespaces/default/workflows", wait_until="load")
        mine = page.get_by_role("link", name=handle.id, exact=True)
        theirs = page.get_by_role("link", name=other.id, exact=True)

        async def both_listed():
            await expect(mine).to_be_visible(timeout=PAGE_WAIT_MS)
            await expect(theirs).to_be_visible(timeout=PAGE_WAIT_MS)

        await reload_until(page, both_listed)
        await shots.take("00-all-workflows")

        # Room for the columns below (and wider panes later): the narrow navigation.
        await page.get_by_role("button", name="Collapse Navigation").click()

        # Columns that say whose and which account, instead of run ids and times.
        await page.get_by_role("button", name="Configure Columns").click()
        for column in COLUMNS_OUT:
            await page.get_by_test_id(f"orderable-list-item-{column}-remove-button").click()
        for column in COLUMNS_IN:
            await page.get_by_test_id(f"orderable-list-item-{column}-add-button").click()
        await page.get_by_test_id("drawer-close-button").click()

        # The </> toggle opens the raw visibility query input.
        await page.get_by_test_id("toggle-manual-query").click()
        query = page.get_by_test_id("workflow-manual-search-input")
        await query.fill(MY_PENDING)
        await query.press("Enter")
        await expect(page).to_have_url(re.compile(r"[?&]query=CsopsApprovers"))
        rows = page.get_by_role("row")

        async def only_mine_listed():
            await expect(theirs).to_have_count(0, timeout=PAGE_WAIT_MS)
            await expect(rows).to_have_count(2, timeout=PAGE_WAIT_MS)  # the header and Jane's one
            await expect(rows.nth(1)).to_contain_text(handle.id, timeout=PAGE_WAIT_MS)

        await reload_until(page, only_mine_listed)
        headers = [h.strip() for h in await page.get_by_role("columnheader").all_inner_texts()]
        assert [h for h in headers if h and h != "Select all Workflows"] == [
            "Status",
            "Workflow ID",
            *COLUMNS_IN,
        ]
        cells = [c.strip() for c in await rows.nth(1).get_by_role("cell").all_inner_texts()]
        assert cells[-len(COLUMNS_IN) :] == ["acc-ui", "awaiting approval", "1", f"{CSM},{MANAGER}"]
        assert "RUNNING" in cells and handle.id in cells
        await shots.take("01-filtered-list")

        # ---- 2. Open it from the list; the User Metadata says what it is and what waits.
        await mine.click()
        await page.wait_for_url(
            re.compile(rf"/workflows/{re.escape(quote(handle.id, safe=''))}/{run_id}(/|$)"),
            wait_until="load",
        )
        await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(handle.id)
        await page.get_by_role("tab", name="User Metadata").click()
        summary = page.frame_locator("#user-metadata-summary").locator("body")
        await expect(summary).to_contain_text(
            f"Escalation {ticket} · Northwind Test Co: {HOW_TO_SUBJECT}"
        )
        details = page.frame_locator("#user-metadata-details").locator("body")
        await expect(details).to_contain_text(
            "Account Northwind Test Co (acc-ui) · enterprise · ARR $400,000 · "
        )
        await expect(details).to_contain_text(CSM)  # whose account it is
        await expect(details.locator("strong").first).to_have_text("Account")  # rendered
        await shots.take("02a-user-metadata")

        now = page.frame_locator("#user-metadata-current-details")
        current = now.locator("body")
        waiting = now.get_by_role("heading", name="Waiting for a human (1)")
        await expect(waiting).to_be_visible()
        for shown in (
            request.title,
            "What you decide: approve the draft as it stands, edit it",
            "Why a person: the policy puts customer_reply at copilot, where the agent",
            f"Who may decide: {CSM}, {MANAGER}",
            f"Decide by {request.due_at:%Y-%m-%d %H:%M} UTC;",
            f"expires {request.expire_at:%Y-%m-%d %H:%M} UTC, then nothing is done",
            "Paste into Send a Signal (or Send an Update) → decide the payload",
        ):
            await expect(current).to_contain_text(shown)
        # What the customer wrote, then the draft, each quoted exactly as written (the
        # data is escaped: the draft's Markdown shows as the plain text the customer gets).
        asked, draft = now.locator("blockquote").first, now.locator("blockquote").nth(1)
        await expect(asked).to_contain_text(HOW_TO_BODY)
        for line in request.draft.splitlines():
            if line.strip() and not set(line) & set("\"'"):  # the renderer curls quotes
                await expect(draft).to_contain_text(line.strip())
        # Each person who may decide has their own approve, reject and edit payloads.
        payloads = now.locator("pre code")
        await expect(payloads).to_have_count(6)
        shown_payloads = [json.loads(p) for p in await payloads.all_inner_texts()]
        assert shown_payloads == [*request.payloads[CSM], *request.payloads[MANAGER]]
        janes_edit = shown_payloads[2]
        assert (janes_edit["decision"], janes_edit["approver"]) == ("edit", CSM)
        assert janes_edit["text"] == request.draft
        # The customer's words on top, then what waits and the draft.
        await now.get_by_text("The customer wrote:").evaluate(
            "p => p.scrollIntoView({block: 'start'})"
        )
        await shots.take("02-current-details")

        # ---- 3a. Someone who may not decide: refused, shown, the workflow keeps waiting.
        bad = json.dumps({**request.signal_payload, "approver": MALLORY})
        await send_decide_signal(page, shots, bad, "03a-send-refused-signal")
        refusal = f"{MALLORY} may not decide 'approval-1'; eligible: {CSM}, {MANAGER}"
        await refresh_until(page, now, "Refused signals (the workflow kept waiting)")
        # The renderer curls the quotes of prose: 'approval-1' shows as ‘approval-1’.
        await expect(current).to_contain_text(
            re.compile(
                rf"{re.escape(MALLORY)} may not decide .approval-1.; eligible: {CSM}, {MANAGER}"
            )
        )
        await expect(waiting).to_be_visible()  # still waiting for a human
        status = page.get_by_test_id("execution-status")
        await expect(status).to_have_text("Running", ignore_case=True)
        await now.get_by_role("heading", name=re.compile("Refused signals")).evaluate(
            "h => h.scrollIntoView({block: 'center'})"
        )
        await shots.take("03b-refused")

        # The same payload as an update: the modal says why in one sentence, no trace.
        await page.evaluate("window.scrollTo(0, 0)")
        await send_refused_update(page, shots, bad, refusal)

        refused = (await human_history(handle))["refusals"]
        assert [r["reason"] for r in refused] == [refusal]  # an update leaves none behind
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        still_open = await human_requests(handle)
        assert [r.request_id for r in still_open] == ["approval-1"]
        assert "### Refused signals (the workflow kept waiting)" in await current_details(handle)
        assert not customer_messages(db, handle.id)

        # ---- 3b. Jane pastes her edit payload from the details, with her own words:
        # her text is what goes out.
        edited = request.draft.replace("Best regards,", "Best regards, and call me any time,")
        assert edited != request.draft
        pasted = json.dumps({**janes_edit, "text": edited})
        await page.evaluate("window.scrollTo(0, 0)")
        await send_decide_signal(page, shots, pasted, "03-send-signal")
        outcome: EscalationResult = await asyncio.wait_for(handle.result(), 20)
        decided = f"approval-1: edited by {CSM}"
        await refresh_until(page, now, decided)
        await expect(current).to_contain_text("Nothing is waiting for a human.")
        await expect(current).to_contain_text("outcome: edited")
        await expect(status).to_have_text("Completed", ignore_case=True)
        await shots.take("04a-completed")
        await now.get_by_role("heading", level=2).evaluate(
            "h => h.scrollIntoView({block: 'start'})"
        )  # the current details from the top: stage, outcome, decided, refused
        await shots.take("04-decided")

        # Back on the list, nothing of Jane's is pending any more.
        await page.goto(
            f"{ui_url}/namespaces/default/workflows?query={quote(MY_PENDING)}", wait_until="load"
        )

        async def none_pending():
            await expect(mine).to_have_count(0, timeout=PAGE_WAIT_MS)
            await expect(page.get_by_text("No Workflows Found")).to_be_visible(timeout=PAGE_WAIT_MS)

        await reload_until(page, none_pending)
        await shots.take("05-nothing-pending")

    assert outcome.outcome == "edited" and outcome.customer_messages_sent == 1
    [reply] = customer_messages(db, handle.id)
    assert reply.body == edited
    [approved] = [e for e in audit(db, handle.id) if e.outcome == "edited"]
    assert approved.actor == CSM
    # The UI runs without login here: the identity it records proves nothing, and
    # the audit says so (RELIABILITY.md).
    assert (approved.detail["identity"], approved.detail["identity_verified"]) == ("", False)
    assert not [e for e in audit(db, handle.id) if e.actor == MALLORY]


@pytest.mark.timeout(300)
async def test_the_renewal_package_link_in_the_details_opens_the_brief(
    ui_env, db, run_worker, tmp_path
):
    """The package is served the way `csops up` serves it; the CSM follows the link in
    the workflow's current details and reads the brief in the browser."""
    env, ui_url = ui_env
    generate_book(db, accounts=12, seed=5, as_of=datetime.now(UTC).date())
    with session(db) as s:
        account = s.exec(select(Account).order_by(Account.top_rank)).first()
    assert account is not None
    packages = tmp_path / "packages"
    server = serve_artifacts(packages, "", port=0)
    settings = {"artifact_dir": packages, "artifact_url": server.url}
    try:
        async with (
            run_worker(env, settings=settings) as tq,
            chromium_page() as (page, shots),
        ):
            handle = await start_renewal_package(db, env.client, tq, account.id)
            await wait_for_requests(handle, count=2)
            run_id = (await handle.describe()).run_id
            await page.goto(
                f"{ui_url}/namespaces/default/workflows/{quote(handle.id, safe='')}/{run_id}",
                wait_until="load",
            )
            await page.get_by_role("tab", name="User Metadata").click()
            now = page.frame_locator("#user-metadata-current-details")
            link = now.get_by_role("link", name="Open the renewal brief")
            await expect(link).to_be_visible()
            href = await link.get_attribute("href")
            assert href is not None and href.startswith(f"{server.url}/{account.id}/")
            await link.scroll_into_view_if_needed()
            await shots.take("07-renewal-details")
            async with page.context.expect_page() as opened:
                await link.click()
            brief = await opened.value
            await brief.wait_for_load_state("load")
            assert brief.url == href
            await expect(brief.get_by_role("heading", level=1)).to_contain_text(
                f"Renewal brief: {account.name}"
            )
            # The charts are images the browser decoded, not broken links.
            charts = brief.locator("img")
            assert await charts.count() >= 2
            for chart in await charts.all():
                await expect(chart).to_be_visible()
                assert await chart.evaluate("i => i.complete && i.naturalWidth > 0")
            await brief.screenshot(path=SHOTS / "07-renewal-brief.png", full_page=False)
    finally:
        server.close()


async def test_the_list_shows_the_accounts_at_risk_with_their_health(ui_env, db, run_worker):
    """What `make up` shows after its health sweep: the workflow list, opened from a
    bookmarked query (`CsopsHealth < 40` over the account watches), lists exactly the
    watches of the accounts stored at risk, each with its score in the CsopsHealth
    column."""
    env, ui_url = ui_env
    today = datetime.now(UTC).date()
    generate_book(db, accounts=15, seed=5, as_of=today)
    async with run_worker(env) as tq, chromium_page() as (page, shots):
        await env.client.execute_workflow(
            HealthSweepWorkflow.run,
            HealthSweepInput(as_of=today),
            id=f"health-sweep-ui-{tq}",
            task_queue=tq,
        )
        with session(db) as s:
            scores = s.exec(select(HealthScore).where(HealthScore.as_of == today)).all()
        at_risk = {watch_id(h.account_id): h.score for h in scores if h.band == "at_risk"}
        assert len(scores) == 15 and at_risk, "the seeded book has accounts at risk"
        query = f"TaskQueue = '{tq}' AND WorkflowType = 'AccountWatch' AND CsopsHealth < 40"

        async def listed() -> dict[str, int | None]:
            return {
                w.id: w.typed_search_attributes.get(sa.HEALTH)
                async for w in env.client.list_workflows(query)
            }

        assert await eventually(listed, holds=lambda got: got == at_risk) == at_risk

        await page.goto(
            f"{ui_url}/namespaces/default/workflows?query={quote(query)}", wait_until="load"
        )
        await page.get_by_role("button", name="Collapse Navigation").click()
        await page.get_by_role("button", name="Configure Columns").click()
        for column in COLUMNS_OUT:
            await page.get_by_test_id(f"orderable-list-item-{column}-remove-button").click()
        for column in ("CsopsAccountId", "CsopsHealth", "CsopsStage"):
            await page.get_by_test_id(f"orderable-list-item-{column}-add-button").click()
        await page.get_by_test_id("drawer-close-button").click()
        rows = page.get_by_role("row")

        async def the_watches_at_risk_listed():
            await expect(rows).to_have_count(1 + len(at_risk), timeout=PAGE_WAIT_MS)

        await reload_until(page, the_watches_at_risk_listed)
        await shots.take("08-health-at-risk")
        headers = [h.strip() for h in await page.get_by_role("columnheader").all_inner_texts()]
        named = [h for h in headers if h and h != "Select all Workflows"]
        assert named == ["Status", "Workflow ID", "CsopsAccountId", "CsopsHealth", "CsopsStage"]
        shown = {}
        for row in (await rows.all())[1:]:
            cells = [c.strip() for c in await row.get_by_role("cell").all_inner_texts()]
            wid, account, health, band = cells[-4:]
            assert (wid, account, band) == (watch_id(account), account, "at_risk")
            shown[wid] = int(health)
        assert shown == at_risk
