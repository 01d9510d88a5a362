"""Exactly one default LLM config, and the seed-compatible `/api/llm/config` on it."""

import pytest
from django.core.management import call_command

from registry.models import LLMConfig
from tests.registry import factories


def _defaults() -> list[str]:
    return list(LLMConfig.objects.filter(is_default=True).values_list("name", flat=True))


def test_the_first_config_becomes_the_default(staff_client):
    response = staff_client.post("/api/llm/configs/", {"name": "first", "is_default": False}, format="json")

    assert response.json()["is_default"] is True
    assert _defaults() == ["first"]


def test_setting_the_flag_moves_it(staff_client):
    factories.llm_config_create(name="first")
    factories.llm_config_create(name="second")

    created = staff_client.post("/api/llm/configs/", {"name": "third", "is_default": True}, format="json")
    assert created.status_code == 201, created.json()
    assert _defaults() == ["third"]

    patched = staff_client.patch("/api/llm/configs/second/", {"is_default": True}, format="json")
    assert patched.json()["is_default"] is True
    assert _defaults() == ["second"]
    assert staff_client.get("/api/llm/configs/third/").json()["is_default"] is False


def test_the_only_default_cannot_be_unset(staff_client):
    factories.llm_config_create(name="only")

    response = staff_client.patch("/api/llm/configs/only/", {"is_default": False}, format="json")

    assert response.status_code == 200
    assert _defaults() == ["only"]


def test_deleting_the_default_promotes_another(staff_client):
    factories.llm_config_create(name="first")
    factories.llm_config_create(name="disabled-one", enabled=False)
    factories.llm_config_create(name="second")
    assert _defaults() == ["first"]

    assert staff_client.delete("/api/llm/configs/first/").status_code == 204

    assert _defaults() == ["second"]
    listed = staff_client.get("/api/llm/configs/").json()["results"]
    assert [c["name"] for c in listed if c["is_default"]] == ["second"]


def test_deleting_a_non_default_keeps_the_default(staff_client):
    factories.llm_config_create(name="first")
    factories.llm_config_create(name="second")

    staff_client.delete("/api/llm/configs/second/")

    assert _defaults() == ["first"]


def test_get_llm_config_is_the_default(user_client):
    factories.llm_config_create(name="first", model="gpt-4o-mini")
    factories.llm_config_create(name="chosen", model="llama3.1", is_default=True)

    response = user_client.get("/api/llm/config")

    assert response.status_code == 200
    assert response.json()["name"] == "chosen"
    assert response.json()["model"] == "llama3.1"


def test_migrate_makes_the_default_from_the_environment_once(user_client, settings):
    settings.LLM_DEFAULT_MODEL = "env-model"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
    settings.OPENAI_API_KEY = "sk-from-environment-123456"

    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)

    body = user_client.get("/api/llm/config").json()
    assert (body["name"], body["model"], body["base_url"], body["is_default"]) == (
        "default",
        "env-model",
        settings.OPENAI_BASE_URL,
        True,
    )
    assert body["api_key_set"] is True
    assert "sk-from-environment-123456" not in str(body)
    assert LLMConfig.objects.get().api_key == "sk-from-environment-123456"


def test_migrate_leaves_an_existing_registry_alone(db, settings):
    factories.llm_config_create(name="real", model="gpt-4.1")
    settings.OPENAI_API_KEY = "sk-from-environment-123456"

    call_command("migrate", verbosity=0)

    assert list(LLMConfig.objects.values_list("name", flat=True)) == ["real"]


def test_migrate_without_a_key_or_server_in_the_environment_makes_nothing(db, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    call_command("migrate", verbosity=0)

    assert not LLMConfig.objects.exists()


def test_get_llm_config_with_an_empty_registry_says_so_and_creates_nothing(user_client, settings):
    settings.OPENAI_API_KEY = "sk-from-environment-123456"

    response = user_client.get("/api/llm/config")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "llm_not_configured"
    assert "POST /api/llm/configs/" in response.json()["error"]["message"]
    assert not LLMConfig.objects.exists()


def test_put_llm_config_updates_the_default_only(staff_client):
    factories.llm_config_create(name="first")
    factories.llm_config_create(name="second", model="gpt-4o")

    response = staff_client.put(
        "/api/llm/config",
        {"model": "gpt-4.1", "temperature": 0.1, "api_key": "sk-new-key-987654"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["model"] == "gpt-4.1"
    assert response.json()["api_key_set"] is True
    assert "sk-new-key-987654" not in response.content.decode()
    first, second = LLMConfig.objects.order_by("name")
    assert (first.model, first.temperature, first.api_key) == ("gpt-4.1", 0.1, "sk-new-key-987654")
    assert second.model == "gpt-4o"


def test_put_llm_config_validates(staff_client):
    factories.llm_config_create(name="first", base_url="https://llm.example.com/v1")

    response = staff_client.put("/api/llm/config", {"base_url": "file:///etc/passwd"}, format="json")

    assert response.status_code == 400
    assert "base_url" in response.json()["error"]["fields"]
    assert LLMConfig.objects.get().base_url == "https://llm.example.com/v1"


@pytest.mark.parametrize(("client_name", "status"), [("user_client", 403), ("anon_client", 401)])
def test_put_llm_config_needs_staff(db, request, client_name, status):
    factories.llm_config_create(name="first", model="gpt-4o")
    client = request.getfixturevalue(client_name)

    response = client.put("/api/llm/config", {"model": "hijacked"}, format="json")

    assert response.status_code == status
    assert "error" in response.json()
    assert LLMConfig.objects.get().model == "gpt-4o"


# A run starts on a pooled thread with a connection of its own: the thread made by the test must be committed.
@pytest.mark.django_db(transaction=True)
def test_with_no_llm_config_a_run_is_refused_with_what_to_do(user_client):
    thread_id = user_client.post("/api/agent/initiate", {}, format="json").json()["thread_id"]

    response = user_client.post(f"/api/agent/{thread_id}/execute", {"task": "Hello"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "llm_not_configured"
    assert not LLMConfig.objects.exists()


def test_with_no_llm_config_the_chat_health_says_so(user_client):
    response = user_client.get("/v1/chat/health")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "llm_not_configured"
