"""The admin's and the API's wording: the product's name, names kept as typed, one message per problem,
fields only where they apply."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from registry.models import ExternalAgent
from tests.registry import factories
from tests.threads_api.conftest import async_client, initiate, open_socket


@pytest.fixture
def admin_browser(db) -> Client:
    superuser = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(superuser)
    return client


def test_a_connection_test_keeps_the_entry_name_as_typed(admin_browser, fake_agent):
    agent = factories.agent_create(name="shop", url=fake_agent.base_url, auth_token=fake_agent.token)

    page = admin_browser.post(f"/admin/registry/externalagent/{agent.pk}/test/", follow=True)

    assert "Connection to “shop” OK" in page.content.decode()


def test_the_dsn_password_is_offered_for_postgres_datasources_only(admin_browser):
    cube = factories.datasource_create(name="cube", type="cubejs", url="https://cube.example.com")
    pg = factories.datasource_create(name="pg", type="postgres", url="postgresql://u@db.example.com/x")

    cube_page = admin_browser.get(f"/admin/registry/datasource/{cube.pk}/change/").content.decode()
    pg_page = admin_browser.get(f"/admin/registry/datasource/{pg.pk}/change/").content.decode()

    assert "DSN password" not in cube_page
    assert 'name="password"' not in cube_page
    assert "DSN password" in pg_page


def test_a_malformed_url_gets_one_message_in_the_admin(admin_browser):
    page = admin_browser.post(
        "/admin/registry/externalagent/add/",
        {
            "name": "bad",
            "url": "http://",
            "endpoint": "/execute",
            "health_path": "/health",
            "timeout_seconds": 30,
            "metadata": "{}",
            "input_schema": '{"type": "object"}',
        },
    )

    errors = page.context["adminform"].form.errors["url"]
    assert errors == ["Enter a valid URL."]
    assert not ExternalAgent.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://", "Enter a valid URL."),
        ("ftp://files.example.com/", "Must be an http:// or https:// URL with a host."),
    ],
)
def test_a_bad_agent_url_gets_one_message_on_the_api(staff_client, url, message):
    response = staff_client.post("/api/agents/", {"name": "bad", "url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["url"] == [message]


def test_a_config_error_does_not_repeat_the_field_name(staff_client):
    response = staff_client.post(
        "/api/tools/", {"name": "web", "type": "web_search", "config": {}}, format="json"
    )

    assert response.status_code == 400
    messages = response.json()["error"]["fields"]["config"]
    assert messages
    assert not any(message.startswith("config") for message in messages)
    assert any("is a required property" in message for message in messages)


def test_the_admin_says_thread_summaries(admin_browser):
    assert "Thread summaries" in admin_browser.get("/admin/").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_message_frame_without_content_says_it_is_required(user_client):
    alice = async_client(user_client)
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    await socket.send({"type": "message"})
    frame = await socket.receive()
    await socket.disconnect()

    assert frame["type"] == "error"
    assert frame["error"]["fields"] == {"content": ["This field is required."]}
