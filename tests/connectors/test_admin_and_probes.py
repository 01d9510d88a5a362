"""`probe_entry` for all four registries, and the admin's "Test connection" action and button."""

import pytest
from asgiref.sync import async_to_sync
from django.contrib.messages import get_messages

from registry.connectors.probes import probe_entry
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.connectors import factories
from tests.fakes.server import free_port


@pytest.fixture
def entries(db, fake_openai, fake_agent, fake_search, fake_datasource):
    return {
        "llm": factories.llm_config(save=True, base_url=fake_openai.base_url, api_key="sk-any-0123456789"),
        "agent": factories.agent(save=True, url=fake_agent.base_url, auth_token=fake_agent.token),
        "tool": factories.tool(
            save=True, type="web_search", config={"provider": "searxng", "endpoint": fake_search.searxng_url}
        ),
        "datasource": factories.datasource(url=fake_datasource.base_url, auth_token=fake_datasource.token),
    }


def test_probe_entry_covers_every_registry(entries):
    for kind, entry in entries.items():
        result = async_to_sync(probe_entry)(entry)
        assert result.ok, (kind, result.error)
        assert result.latency_ms >= 0


def test_probe_entry_never_raises_for_failures(db):
    down = f"http://127.0.0.1:{free_port()}"
    for entry in (
        factories.llm_config(base_url=down + "/v1", api_key="sk-x-0123456789"),
        factories.agent(url=down),
        factories.tool(config={"base_url": down}),
        factories.datasource(url=down),
    ):
        result = async_to_sync(probe_entry)(entry)
        assert not result.ok
        assert "connection refused" in result.error.lower() or "cannot connect" in result.error.lower()


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("model", "key"),
    [(LLMConfig, "llm"), (ExternalAgent, "agent"), (Tool, "tool"), (DataSource, "datasource")],
)
def test_list_action_tests_selected_entries(admin_client, entries, model, key):
    entry = entries[key]
    url = f"/admin/registry/{model._meta.model_name}/"
    response = admin_client.post(
        url, {"action": "test_connection", "_selected_action": [entry.pk]}, follow=True
    )
    assert response.status_code == 200
    [(level, message)] = _messages(response)
    assert level == "success"
    assert message.startswith(f"Connection to “{entry.name}” OK (")
    assert "ms" in message


@pytest.mark.parametrize(
    ("model", "key"),
    [(LLMConfig, "llm"), (ExternalAgent, "agent"), (Tool, "tool"), (DataSource, "datasource")],
)
def test_change_page_has_button_that_probes_and_returns(admin_client, entries, model, key):
    entry = entries[key]
    change_url = f"/admin/registry/{model._meta.model_name}/{entry.pk}/change/"
    page = admin_client.get(change_url)
    test_url = f"/admin/registry/{model._meta.model_name}/{entry.pk}/test/"
    assert test_url in page.content.decode()
    assert "Test connection" in page.content.decode()
    response = admin_client.post(test_url)
    assert response.status_code == 302
    assert response["Location"] == change_url
    follow = admin_client.get(change_url)
    [(level, message)] = _messages(follow)
    assert level == "success"
    assert message.startswith(f"Connection to “{entry.name}” OK (")


def test_button_reports_failure_with_reason(admin_client, db, fake_agent):
    agent = factories.agent(save=True, url=fake_agent.base_url, auth_token="wrong-token-abcdef")
    response = admin_client.post(f"/admin/registry/externalagent/{agent.pk}/test/", follow=True)
    [(level, message)] = _messages(response)
    assert level == "error"
    assert message.startswith(f"Connection to “{agent.name}” failed (")
    assert "HTTP 401" in message
    assert "wrong-token-abcdef" not in response.content.decode()


def test_button_needs_post(admin_client, db, fake_agent):
    agent = factories.agent(save=True, url=fake_agent.base_url)
    assert admin_client.get(f"/admin/registry/externalagent/{agent.pk}/test/").status_code == 405
    assert fake_agent.requests == []


def test_button_needs_staff(client, user, db, fake_agent):
    agent = factories.agent(save=True, url=fake_agent.base_url)
    client.force_login(user)
    response = client.post(f"/admin/registry/externalagent/{agent.pk}/test/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert fake_agent.requests == []
