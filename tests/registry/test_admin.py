"""The Django admin of the four registries, driven like a browser would (session login, form posts)."""

from typing import Any

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.test import Client

from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.registry import factories

LLM_KEY = "sk-admin-llm-Aa11Bb22"
AGENT_TOKEN = "agent-admin-Cc33Dd44"
SEARCH_KEY = "search-admin-Ee55Ff66"
DS_TOKEN = "cube-admin-Gg77Hh88"
DSN_PASSWORD = "pg-admin-Ii99Jj00"
SECRETS = [LLM_KEY, AGENT_TOKEN, SEARCH_KEY, DS_TOKEN, DSN_PASSWORD]


@pytest.fixture
def admin_client_(db) -> Client:
    superuser = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def entries(db) -> dict[str, Any]:
    return {
        "llmconfig": factories.llm_config_create(name="llm", api_key=LLM_KEY),
        "externalagent": factories.agent_create(name="agent", auth_token=AGENT_TOKEN),
        "tool": factories.tool_create(
            name="search",
            config={"provider": "brave", "endpoint": "https://search.example.com", "api_key": SEARCH_KEY},
        ),
        "datasource": factories.datasource_create(
            name="warehouse",
            type="postgres",
            url=f"postgresql://reader:{DSN_PASSWORD}@db.example.com/dw",
            auth_token=DS_TOKEN,
        ),
    }


MODELS = ["llmconfig", "externalagent", "tool", "datasource"]


def _assert_no_secret(html: str) -> None:
    for secret in SECRETS:
        assert secret not in html


def _post_data(response) -> dict[str, Any]:
    """What a browser sends back for the change form as rendered: passwords blank, the rest as shown."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {"_save": "Save"}
    for name, field in form.fields.items():
        if isinstance(field.widget, forms.PasswordInput):
            data[name] = ""
            continue
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else value
    return data


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders_without_secrets(admin_client_, entries, model):
    response = admin_client_.get(f"/admin/registry/{model}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert str(entries[model]) in html
    _assert_no_secret(html)


def test_datasource_changelist_shows_the_masked_dsn(admin_client_, entries):
    html = admin_client_.get("/admin/registry/datasource/").content.decode()

    assert "postgresql://reader:****@db.example.com/dw" in html


@pytest.mark.parametrize("model", MODELS)
def test_changelist_search_and_filters(admin_client_, entries, model):
    found = admin_client_.get(f"/admin/registry/{model}/", {"q": str(entries[model])})
    filtered = admin_client_.get(f"/admin/registry/{model}/", {"enabled__exact": "0"})

    assert found.context["cl"].result_count == 1
    assert filtered.context["cl"].result_count == 0


@pytest.mark.parametrize("model", MODELS)
def test_change_page_renders_secrets_as_empty_password_inputs(admin_client_, entries, model):
    response = admin_client_.get(f"/admin/registry/{model}/{entries[model].pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    _assert_no_secret(html)
    assert 'type="password"' in html or model == "tool"
    assert "Leave blank to keep the stored value" in html or model == "tool"


def test_tool_change_page_shows_config_secrets_masked(admin_client_, entries):
    html = admin_client_.get(f"/admin/registry/tool/{entries['tool'].pk}/change/").content.decode()

    assert "****" + SEARCH_KEY[-4:] in html
    assert "https://search.example.com" in html


@pytest.mark.parametrize("model", MODELS)
def test_add_page_renders(admin_client_, model):
    assert admin_client_.get(f"/admin/registry/{model}/add/").status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_saving_with_blank_secrets_keeps_them(admin_client_, entries, model):
    url = f"/admin/registry/{model}/{entries[model].pk}/change/"
    data = _post_data(admin_client_.get(url))
    data["description"] = "edited in the admin"

    response = admin_client_.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    llm, agent, tool, datasource = (
        LLMConfig.objects.get(),
        ExternalAgent.objects.get(),
        Tool.objects.get(),
        DataSource.objects.get(),
    )
    assert type(entries[model]).objects.get().description == "edited in the admin"
    assert llm.api_key == LLM_KEY
    assert agent.auth_token == AGENT_TOKEN
    assert tool.full_config["api_key"] == SEARCH_KEY
    assert datasource.auth_token == DS_TOKEN
    assert datasource.dsn == f"postgresql://reader:{DSN_PASSWORD}@db.example.com/dw"


def test_a_typed_secret_replaces_the_stored_one(admin_client_, entries):
    url = f"/admin/registry/externalagent/{entries['externalagent'].pk}/change/"
    data = {**_post_data(admin_client_.get(url)), "auth_token": "typed-in-admin-123"}

    assert admin_client_.post(url, data).status_code == 302

    assert ExternalAgent.objects.get().auth_token == "typed-in-admin-123"


def test_a_typed_dsn_password_replaces_the_stored_one(admin_client_, entries):
    url = f"/admin/registry/datasource/{entries['datasource'].pk}/change/"
    data = {**_post_data(admin_client_.get(url)), "password": "typed-Pass-456"}

    assert admin_client_.post(url, data).status_code == 302

    assert DataSource.objects.get().dsn == "postgresql://reader:typed-Pass-456@db.example.com/dw"


def test_adding_through_the_admin_validates_and_encrypts(admin_client_):
    page = admin_client_.get("/admin/registry/externalagent/add/")
    data = {
        **_post_data(page),
        "name": "from-admin",
        "url": "https://admin-agent.example.com",
        "auth_token": AGENT_TOKEN,
        "timeout_seconds": "15",
    }

    response = admin_client_.post("/admin/registry/externalagent/add/", data)

    assert response.status_code == 302
    agent = ExternalAgent.objects.get(name="from-admin")
    assert (agent.auth_token, agent.timeout_seconds, agent.endpoint) == (AGENT_TOKEN, 15, "/execute")


def test_an_invalid_form_shows_the_error_and_saves_nothing(admin_client_, entries):
    url = f"/admin/registry/externalagent/{entries['externalagent'].pk}/change/"
    data = {
        **_post_data(admin_client_.get(url)),
        "endpoint": "https://elsewhere.example.com",
        "timeout_seconds": "0",
    }

    response = admin_client_.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"endpoint", "timeout_seconds"} <= set(errors)
    agent = ExternalAgent.objects.get()
    assert (agent.endpoint, agent.timeout_seconds) == ("/execute", 30)
    _assert_no_secret(response.content.decode())


def test_the_admin_moves_the_default_flag(admin_client_, entries):
    other = factories.llm_config_create(name="other")
    url = f"/admin/registry/llmconfig/{other.pk}/change/"
    data = {**_post_data(admin_client_.get(url)), "is_default": "on"}

    response = admin_client_.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(LLMConfig.objects.filter(is_default=True).values_list("name", flat=True)) == ["other"]


@pytest.mark.parametrize("who", ["anonymous", "non-staff"])
def test_the_admin_needs_a_staff_session(db, who):
    client = Client()
    if who == "non-staff":
        client.force_login(get_user_model().objects.create_user(username="eve", password="pw-eve-123"))

    response = client.get("/admin/registry/llmconfig/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
