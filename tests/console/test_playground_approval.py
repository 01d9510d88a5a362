"""The playground's approval buttons in a real browser: a call that needs approval waits with Approve and
Reject buttons (still there after a reload), and the decision, then the call's result, show on its card."""

from collections.abc import Iterator

import pytest

from tests.approvals.conftest import RecordingApi, refund_tool_register
from tests.console.conftest import log_in
from tests.fakes.openai_server import text, tool_call
from tests.fakes.server import serve
from threads.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def refunds() -> Iterator[RecordingApi]:
    api = RecordingApi()
    with serve(api) as base_url:
        refund_tool_register(base_url)
        yield api


async def _ask(page, studio_server, message: str) -> None:
    await log_in(page, studio_server, "/playground/")
    await page.fill("input[name=title]", "Refunds")
    await page.click("#new-thread")
    await page.wait_for_url("**/playground/?thread=*")
    await page.wait_for_function("document.getElementById('connection').textContent === 'connected'")
    await page.fill("#message", message)
    await page.click("#send")


async def test_approve_runs_the_waiting_call_and_a_reload_before_keeps_the_buttons(
    page, studio_server, staff_user, llm, fake_openai, refunds
):
    fake_openai.script(tool_call("tool__refund", {"order": "A-17"}), text("Refunded order A-17."))
    await _ask(page, studio_server, "Refund order A-17")

    card = page.locator(".tool-card")
    await card.locator(".tool-approval .approve").wait_for()
    assert await card.locator(".tool-outcome").inner_text() == "waiting for approval"
    assert refunds.calls == []

    # Undecided, the call keeps its buttons when the page is reloaded (replayed from the stored events).
    await page.reload()
    await page.locator(".tool-card .tool-approval .approve").click()

    await page.wait_for_selector(".run-footer.completed")
    assert await card.locator(".tool-decision").inner_text() == "approved"
    assert await card.locator(".tool-approval").count() == 0
    assert "done" in await card.locator(".tool-output").inner_text()
    assert await page.inner_text(".bubble.assistant .text") == "Refunded order A-17."
    assert len(refunds.calls) == 1
    assert (await Run.objects.aget()).status == "completed"


async def test_reject_asks_for_a_reason_and_the_call_never_runs(
    page, studio_server, staff_user, llm, fake_openai, refunds
):
    fake_openai.script(tool_call("tool__refund", {"order": "B-2"}), text("I did not refund it."))
    await _ask(page, studio_server, "Refund order B-2")

    card = page.locator(".tool-card")
    await card.locator(".tool-approval .reject").click()
    await card.locator(".reject-reason").fill("Order already shipped")
    await card.locator(".confirm-reject").click()

    await page.wait_for_selector(".run-footer.completed")
    assert await card.locator(".tool-decision").inner_text() == "rejected (Order already shipped)"
    assert await card.locator(".tool-outcome").inner_text() == "error"
    assert "Order already shipped" in await card.locator(".tool-output").inner_text()
    assert refunds.calls == []
    # The LLM was told.
    told = fake_openai.chat_requests[-1].body["messages"][-1]["content"]
    assert "Order already shipped" in told

    await page.reload()
    await page.wait_for_selector(".run-footer.completed")
    assert await page.locator(".tool-card .tool-decision").inner_text() == "rejected (Order already shipped)"
    assert await page.locator(".tool-card .tool-approval").count() == 0
