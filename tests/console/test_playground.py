"""The playground in a real browser: log in, start a thread, watch an answer stream in with a tool-call card,
cancel a slow run, reload and see it all again (the page replays the stored events over the websocket)."""

import pytest
from asgiref.sync import sync_to_async

from registry.models import ExternalAgent
from tests.console.conftest import log_in
from tests.fakes.openai_server import text, tool_call
from threads.models import Run

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "The blue widget is in stock: 42 left in the Lyon warehouse."


async def _new_thread(page, studio_server) -> None:
    await log_in(page, studio_server, "/playground/")
    await page.fill("input[name=title]", "Stock questions")
    await page.click("#new-thread")
    await page.wait_for_url("**/playground/?thread=*")
    await page.wait_for_function("document.getElementById('connection').textContent === 'connected'")


async def _send(page, message: str) -> None:
    await page.fill("#message", message)
    await page.click("#send")


async def test_a_message_streams_in_with_its_tool_call_card_and_survives_a_reload(
    page, studio_server, staff_user, llm, fake_openai, fake_agent
):
    await sync_to_async(ExternalAgent.objects.create)(
        name="warehouse", url=fake_agent.base_url, auth_token=fake_agent.token
    )
    fake_openai.script(
        tool_call("agent__warehouse", {"task": "blue widget stock"}),
        text(ANSWER, chunks=6, chunk_delay=0.3),
    )
    await _new_thread(page, studio_server)

    await _send(page, "Is the blue widget in stock?")

    # Streamed: part of the answer is on the page while the run is still going.
    await page.wait_for_function(
        "(() => { const t = document.querySelector('.bubble.assistant .text');"
        " const f = document.querySelector('.run-footer');"
        " return t && t.textContent.length > 0 && !f.classList.contains('completed'); })()"
    )
    await page.wait_for_selector(".run-footer.completed")
    assert await page.inner_text(".bubble.user") == "Is the blue widget in stock?"
    assert await page.inner_text(".bubble.assistant .text") == ANSWER
    card = page.locator(".tool-card")
    assert await card.count() == 1
    assert await card.locator(".tool-name").inner_text() == "agent__warehouse"
    assert await card.locator(".tool-kind").inner_text() == "agent"
    assert await card.locator(".tool-outcome").inner_text() == "ok"
    assert (await card.locator(".tool-latency").inner_text()).endswith(" ms")
    await card.locator("summary").click()
    assert "blue widget stock" in await card.locator(".tool-arguments").inner_text()
    assert "done: blue widget stock" in await card.locator(".tool-output").inner_text()
    footer = await page.inner_text(".run-footer")
    assert footer.startswith("completed")
    assert "prompt +" in footer
    assert "completion tokens" in footer

    await page.reload()
    await page.wait_for_selector(".run-footer.completed")
    assert await page.inner_text(".bubble.user") == "Is the blue widget in stock?"
    assert await page.inner_text(".bubble.assistant .text") == ANSWER
    assert await page.locator(".tool-card .tool-outcome").inner_text() == "ok"


async def test_cancel_stops_a_slow_run_and_a_reload_keeps_its_partial_text(
    page, studio_server, staff_user, llm, fake_openai
):
    words = " ".join(f"word{i}" for i in range(60))
    fake_openai.script(text(words, chunks=60, chunk_delay=0.2))
    await _new_thread(page, studio_server)

    await _send(page, "Write a long answer")
    await page.wait_for_function(
        "(document.querySelector('.bubble.assistant .text') || {textContent: ''})"
        ".textContent.includes('word2')"
    )
    await page.click("#cancel")
    await page.wait_for_selector(".run-footer.cancelled")

    run = await Run.objects.aget()
    assert run.status == "cancelled"
    partial = await page.inner_text(".bubble.assistant .text")
    assert partial.startswith("word0 word1 word2")
    assert len(partial) < len(words)
    assert await page.is_enabled("#send")

    await page.reload()
    await page.wait_for_selector(".run-footer.cancelled")
    assert await page.inner_text(".bubble.assistant .text") == partial


async def test_the_playground_needs_a_staff_login(page, studio_server, user):
    await page.goto(f"{studio_server}/playground/")

    assert "/admin/login/" in page.url


async def test_the_pages_wear_the_products_name(page, studio_server, staff_user):
    for path in ("/playground/", "/dashboard/"):
        await log_in(page, studio_server, path)
        assert await page.inner_text("#site-name") == "Orchestrator Studio"
        await page.context.clear_cookies()
