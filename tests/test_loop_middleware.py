"""Django's middleware run on the event loop under ASGI (orchestrator_studio/loop_middleware.py): what they
guarantee stays the same for an async request as for a sync one, including the hooks that need the database
(a session saved at login, a message kept across a redirect) and the CSRF check."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from orchestrator_studio.models import ApiToken
from registry.models import ExternalAgent

pytestmark = pytest.mark.django_db(transaction=True)

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


async def _staff_login(client: AsyncClient) -> None:
    await sync_to_async(get_user_model().objects.create_user)(
        username="ops", password="pw-ops-123", is_staff=True, is_superuser=True
    )
    form = await client.get("/admin/login/")
    token = CSRF_INPUT.search(form.content.decode()).group(1)
    response = await client.post(
        "/admin/login/",
        {"username": "ops", "password": "pw-ops-123", "csrfmiddlewaretoken": token, "next": "/admin/"},
    )
    assert response.status_code == 302, response.content[:300]


async def test_api_answers_carry_the_security_headers_over_asgi():
    user = await sync_to_async(get_user_model().objects.create_user)(username="alice", password="pw-1")
    _, raw = await sync_to_async(ApiToken.issue)(user=user)

    response = await AsyncClient().get("/api/agents/", headers={"authorization": f"Bearer {raw}"})

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Set-Cookie" not in response  # no session, no CSRF cookie for a token client


async def test_admin_login_over_asgi_saves_the_session_and_keeps_it():
    client = AsyncClient(enforce_csrf_checks=True)
    await _staff_login(client)

    response = await client.get("/admin/")

    assert response.status_code == 200
    assert "Log out" in response.content.decode()


async def test_a_post_without_the_csrf_token_is_refused_over_asgi():
    client = AsyncClient(enforce_csrf_checks=True)
    await sync_to_async(get_user_model().objects.create_user)(username="ops", password="pw-ops-123")
    await client.get("/admin/login/")

    response = await client.post("/admin/login/", {"username": "ops", "password": "pw-ops-123"})

    assert response.status_code == 403
    assert "sessionid" not in response.cookies


async def test_an_admin_message_survives_the_redirect_over_asgi():
    client = AsyncClient(enforce_csrf_checks=True)
    await _staff_login(client)
    form = await client.get("/admin/registry/externalagent/add/")
    token = CSRF_INPUT.search(form.content.decode()).group(1)

    added = await client.post(
        "/admin/registry/externalagent/add/",
        {
            "csrfmiddlewaretoken": token,
            "name": "helper",
            "url": "https://agent.example.com",
            "protocol": "http",
            "endpoint": "/execute",
            "health_path": "/health",
            "timeout_seconds": "30",
            "enabled": "on",
            "metadata": "{}",
            "input_schema": '{"type": "object"}',
            "_save": "Save",
        },
    )
    assert added.status_code == 302, added.content[-2000:]
    listing = await client.get(added["Location"])

    assert await ExternalAgent.objects.filter(name="helper").aexists()
    assert "was added successfully" in listing.content.decode()
