"""An admin registers an MCP server and an A2A agent in the Django admin, as a browser would, and sees the
server's tools and the agent's card after "Test connection"; secrets stay encrypted and masked."""

import json
from typing import Any

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.test import Client

from registry.models import ExternalAgent, Tool


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-123"))
    return client


def form_data(page) -> dict[str, Any]:
    """The add form as rendered, as a browser sends it back (passwords blank, booleans as checkboxes)."""
    form = page.context["adminform"].form
    data: dict[str, Any] = {"_save": "Save"}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.PasswordInput) or value is None:
            data[name] = ""
        elif isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = value
    return data


def test_an_mcp_server_registered_in_the_admin(admin, fake_mcp):
    header_secret = "hdr-admin-secret-0123456789"
    config = {"url": fake_mcp.url, "auth_token": fake_mcp.token, "headers": {"X-Team": header_secret}}
    data = {
        **form_data(admin.get("/admin/registry/tool/add/")),
        "name": "files",
        "type": "mcp",
        "config": json.dumps(config),
        "parameters": "{}",
    }
    response = admin.post("/admin/registry/tool/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    tool = Tool.objects.get(name="files")
    assert tool.full_config["auth_token"] == fake_mcp.token
    assert tool.full_config["headers"] == {"X-Team": header_secret}
    assert tool.config == {"url": fake_mcp.url, "headers": {}}

    page = admin.post(f"/admin/registry/tool/{tool.pk}/test/", follow=True).content.decode()
    assert "<code>add</code></td><td>Add two integers.</td><td>yes</td>" in page
    assert fake_mcp.token not in page
    assert header_secret not in page
    assert fake_mcp.headers_seen[-1]["x-team"] == header_secret


def test_an_a2a_agent_registered_in_the_admin(admin, fake_a2a):
    data = {
        **form_data(admin.get("/admin/registry/externalagent/add/")),
        "name": "research",
        "url": fake_a2a.base_url,
        "protocol": "a2a",
        "auth_token": fake_a2a.token,
        "timeout_seconds": "30",
    }
    response = admin.post("/admin/registry/externalagent/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = ExternalAgent.objects.get(name="research")
    assert (agent.protocol, agent.auth_token) == ("a2a", fake_a2a.token)

    page = admin.post(f"/admin/registry/externalagent/{agent.pk}/test/", follow=True).content.decode()
    assert "<strong>Research agent</strong> 2.0.0 — Finds things out. (streaming: yes)" in page
    assert fake_a2a.token not in page
