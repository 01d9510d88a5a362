"""The dashboard draws its charts from the runs just made; /docs needs no host but the server's own."""

import httpx
import pytest
from asgiref.sync import sync_to_async

from tests.console.conftest import log_in, origin
from tests.fakes.openai_server import text, tool_call
from tests.threads_api.conftest import wait_run_ended

pytestmark = pytest.mark.django_db(transaction=True)


async def _sum(page, selector: str) -> float:
    return await page.eval_on_selector_all(
        selector, "marks => marks.reduce((sum, m) => sum + Number(m.dataset.value), 0)"
    )


async def test_the_dashboard_charts_the_runs_of_the_last_hour_and_day(
    page, studio_server, staff_user, staff_client, llm, fake_openai, fake_agent
):
    from registry.models import ExternalAgent

    await sync_to_async(ExternalAgent.objects.create)(
        name="helper", url=fake_agent.base_url, auth_token=fake_agent.token
    )
    fake_openai.script(
        tool_call("agent__helper", {"task": "look"}),
        text("First."),
        text("Second."),
        text("Third."),
        text("Fourth."),
    )
    headers = {"Authorization": f"Bearer {staff_client.raw_token}"}
    http = httpx.AsyncClient(base_url=studio_server, headers=headers, timeout=20)

    async def one_run(task: str) -> None:
        thread_id = (await http.post("/api/agent/initiate", json={})).json()["thread_id"]
        response = await http.post(f"/api/agent/{thread_id}/execute", json={"task": task})
        await wait_run_ended(response.json()["run_id"])

    for task in ("one", "two", "three"):
        await one_run(task)

    await log_in(page, studio_server, "/dashboard/")
    await page.wait_for_selector("#chart-runs rect[data-series=completed]")
    completed = await _sum(page, "#chart-runs rect[data-series=completed]")
    assert completed >= 3
    assert await _sum(page, "#chart-tokens rect") > 0
    assert await page.locator("#chart-latency circle[data-series=p99]").count() >= 1
    assert await page.locator("#chart-ttft circle[data-series=p50]").count() >= 1
    assert await _sum(page, "#chart-tools rect[data-series=ok][data-row=agent]") >= 1
    assert (await page.inner_text("#updated")).startswith("updated")

    # It refreshes itself: a run made now shows up without a reload (the page polls every 15 s).
    await one_run("four")
    await http.aclose()
    await page.wait_for_function(
        "total => [...document.querySelectorAll('#chart-runs rect[data-series=completed]')]"
        ".reduce((sum, m) => sum + Number(m.dataset.value), 0) > total",
        arg=completed,
        timeout=40_000,
    )

    await page.check("input[value=day]")
    await page.wait_for_selector("#chart-tools .chart-empty")
    assert await _sum(page, "#chart-runs rect[data-series=completed]") >= 3
    assert "last hour only" in await page.inner_text("#chart-tools")


async def test_dashboard_figures_are_for_staff_only(studio_server, user, user_client):
    async with httpx.AsyncClient(base_url=studio_server, timeout=20) as http:
        anonymous = await http.get("/dashboard/figures")
        page = await http.get("/dashboard/", follow_redirects=False)

    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["code"] == "permission_denied"
    assert page.status_code == 302
    assert "/admin/login/" in page.headers["location"]


async def test_docs_load_with_every_request_to_the_servers_own_origin(page, studio_server):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    await page.goto(f"{studio_server}/docs")
    await page.wait_for_selector(".swagger-ui .info .title")
    await page.wait_for_selector(".opblock-tag")

    assert "Orchestrator Studio API" in await page.inner_text(".swagger-ui .info .title")
    assert any(url.endswith(".js") for url in requested)
    assert any("/api/schema/" in url for url in requested)
    assert {origin(url) for url in requested} == {studio_server}
