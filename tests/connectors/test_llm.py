"""The LLM connector against the fake OpenAI-compatible server, through the real openai SDK."""

import asyncio
import logging

import pytest

from registry.connectors.llm import (
    llm_answer,
    llm_client,
    llm_completion_options,
    llm_models,
    llm_probe,
    model_capabilities,
)
from tests.connectors import factories
from tests.fakes.openai_server import error, hang, malformed, text
from tests.fakes.server import free_port

API_KEY = "sk-test-connectors-0123456789abcdef"


@pytest.fixture
def secured_openai(make_fake_openai):
    return make_fake_openai(api_key=API_KEY)


def config_for(fake, **fields):
    return factories.llm_config(base_url=fake.base_url, api_key=API_KEY, **fields)


# --- capabilities and options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "function_calling", "reasoning_effort"),
    [
        ("gpt-4o", True, False),
        ("gpt-4o-mini-2024-07-18", True, False),
        ("gpt-4-turbo", True, False),
        ("gpt-4", True, False),
        ("gpt-3.5-turbo", True, False),
        ("gpt-5", True, True),
        ("gpt-5-mini", True, True),
        ("o1", True, True),
        ("o1-mini", False, False),
        ("o3-mini", True, True),
        ("o4-mini-2025-04-16", True, True),
        ("openai/gpt-4o", True, False),
    ],
)
def test_model_capabilities(model, function_calling, reasoning_effort):
    assert model_capabilities(model) == {
        "function_calling": function_calling,
        "reasoning_effort": reasoning_effort,
    }


def test_chat_model_options_use_temperature_and_max_tokens():
    config = factories.llm_config(model="gpt-4o", temperature=0.2, max_tokens=300, reasoning_effort="high")
    assert llm_completion_options(config) == {"model": "gpt-4o", "temperature": 0.2, "max_tokens": 300}


def test_reasoning_model_options_use_max_completion_tokens_and_effort():
    config = factories.llm_config(model="o3-mini", temperature=0.2, max_tokens=300, reasoning_effort="high")
    assert llm_completion_options(config) == {
        "model": "o3-mini",
        "max_completion_tokens": 300,
        "reasoning_effort": "high",
    }


def test_early_o1_takes_no_reasoning_effort():
    config = factories.llm_config(model="o1-mini", reasoning_effort="low")
    assert llm_completion_options(config) == {"model": "o1-mini"}


# --- the client --------------------------------------------------------------------------------------


async def test_client_reused_per_config_until_it_changes(fake_openai, db):
    config = await asyncio.to_thread(lambda: None) or factories.llm_config(base_url=fake_openai.base_url)
    config.pk = 41
    first = llm_client(config)
    assert llm_client(config) is first
    config.model = "gpt-4o-mini"
    assert llm_client(config) is first  # the model is an option of each request, not of the client
    config.base_url = fake_openai.base_url + "/"
    assert llm_client(config) is not first


async def test_client_sends_the_key_and_answers(secured_openai):
    client = llm_client(config_for(secured_openai))
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "You said: hi"
    assert secured_openai.chat_requests[0].bearer == API_KEY


# --- probe ---------------------------------------------------------------------------------------------


async def test_probe_lists_models_then_completes_one_token(secured_openai):
    result = await llm_probe(config_for(secured_openai))
    assert result.ok, result.error
    assert result.detail["model"] == "gpt-4o"
    assert "Listed 4 models" in result.detail["detail"]
    assert [r.path for r in secured_openai.requests] == ["/v1/models", "/v1/chat/completions"]
    body = secured_openai.chat_requests[0].body
    assert body["max_tokens"] == 1
    assert "reasoning_effort" not in body


async def test_probe_of_reasoning_model_turns_reasoning_down(secured_openai):
    result = await llm_probe(config_for(secured_openai, model="gpt-5", reasoning_effort="high"))
    assert result.ok, result.error
    body = secured_openai.chat_requests[0].body
    assert body["max_completion_tokens"] == 1
    assert body["reasoning_effort"] == "minimal"
    assert "temperature" not in body
    assert "max_tokens" not in body


async def test_probe_with_wrong_key_fails_without_echoing_it(make_fake_openai, caplog):
    caplog.set_level(logging.DEBUG)
    fake = make_fake_openai(api_key="sk-the-right-key-000000")
    wrong = "sk-wrong-key-abcdefghijklmnop"
    fake.script_models(error(401, f"Incorrect API key provided: {wrong}."))
    result = await llm_probe(factories.llm_config(base_url=fake.base_url, api_key=wrong))
    assert not result.ok
    assert "HTTP 401" in result.error
    assert "API key was refused" in result.error
    assert wrong not in str(result.as_dict())
    assert wrong not in caplog.text
    assert fake.requests[0].bearer == wrong


@pytest.mark.parametrize(("status", "words"), [(404, "not found"), (429, "rate limited"), (500, "HTTP 500")])
async def test_probe_fails_on_error_status_of_the_completion(secured_openai, status, words):
    secured_openai.script(error(status))
    result = await llm_probe(config_for(secured_openai))
    assert not result.ok
    assert f"HTTP {status}" in result.error
    assert words in result.error


async def test_probe_fails_when_models_list_fails(secured_openai):
    secured_openai.script_models(error(503))
    result = await llm_probe(config_for(secured_openai))
    assert not result.ok
    assert "HTTP 503" in result.error
    assert secured_openai.chat_requests == []


async def test_probe_with_malformed_body(secured_openai):
    secured_openai.script(malformed())
    result = await llm_probe(config_for(secured_openai))
    assert not result.ok
    assert "malformed" in result.error


async def test_probe_times_out(secured_openai):
    secured_openai.script(hang())
    result = await llm_probe(config_for(secured_openai, timeout_seconds=1.0))
    assert not result.ok
    assert "in time" in result.error
    assert result.latency_ms < 10_000


async def test_probe_connection_refused():
    config = factories.llm_config(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=API_KEY)
    result = await llm_probe(config)
    assert not result.ok
    assert "connection refused" in result.error


async def test_probe_refuses_metadata_address():
    result = await llm_probe(factories.llm_config(base_url="http://169.254.169.254/v1", api_key=API_KEY))
    assert not result.ok
    assert "cloud metadata" in result.error


async def test_probe_refuses_private_server_when_blocked(secured_openai, settings):
    settings.BLOCK_PRIVATE_NETWORKS = True
    result = await llm_probe(config_for(secured_openai))
    assert not result.ok
    assert "loopback" in result.error
    assert secured_openai.requests == []


async def test_openai_itself_without_key_is_a_clear_failure(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    result = await llm_probe(factories.llm_config(api_key=""))
    assert not result.ok
    assert "no API key" in result.error


async def test_keyless_compatible_server_works(fake_openai, settings):
    settings.OPENAI_API_KEY = ""
    result = await llm_probe(factories.llm_config(base_url=fake_openai.base_url, api_key=""))
    assert result.ok, result.error
    assert "authorization" not in fake_openai.requests[0].headers


async def test_environment_key_is_the_fallback(secured_openai, settings):
    settings.OPENAI_API_KEY = API_KEY
    result = await llm_probe(factories.llm_config(base_url=secured_openai.base_url, api_key=""))
    assert result.ok, result.error


# --- answer and models -------------------------------------------------------------------------------


async def test_answer_is_a_real_completion(secured_openai):
    secured_openai.script(text("The capital is Paris."))
    result = await llm_answer(config_for(secured_openai, temperature=0.3), "Capital of France?")
    assert result["ok"] is True
    assert result["response"] == "The capital is Paris."
    assert result["usage"]["total_tokens"] > 0
    body = secured_openai.chat_requests[0].body
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert body["temperature"] == 0.3


async def test_models_from_provider_are_annotated_and_cached(secured_openai, db):
    config = config_for(secured_openai)
    config.pk = 7
    result = await llm_models(config)
    assert result["source"] == "provider"
    assert {m["id"]: m for m in result["models"]}["o3-mini"] == {
        "id": "o3-mini",
        "function_calling": True,
        "reasoning_effort": True,
    }
    assert await llm_models(config) == result
    assert len([r for r in secured_openai.requests if r.path == "/v1/models"]) == 1


async def test_models_fall_back_to_builtin_list():
    config = factories.llm_config(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=API_KEY)
    result = await llm_models(config)
    assert result["source"] == "builtin"
    assert "connection refused" in result["error"]
    ids = {m["id"] for m in result["models"]}
    assert {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4-turbo",
        "gpt-4",
        "gpt-3.5-turbo",
        "gpt-5",
        "o1",
        "o3",
        "o4-mini",
    } <= ids


# --- the API -----------------------------------------------------------------------------------------


@pytest.fixture
def default_config(db, secured_openai):
    return factories.llm_config(save=True, base_url=secured_openai.base_url, api_key=API_KEY, is_default=True)


def test_api_config_test_action(staff_client, default_config, secured_openai):
    response = staff_client.post("/api/llm/configs/main/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["model"] == "gpt-4o"
    assert isinstance(body["detail"], str)
    assert API_KEY not in response.content.decode()


def test_api_config_test_failure_is_ok_false(staff_client, default_config, secured_openai):
    secured_openai.script(error(500))
    response = staff_client.post("/api/llm/configs/main/test")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert "HTTP 500" in response.json()["error"]


def test_api_llm_test_answers_the_prompt(staff_client, default_config, secured_openai):
    response = staff_client.post("/api/llm/test", {"prompt": "hello there"}, format="json")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["response"] == "You said: hello there"


def test_api_llm_test_without_prompt(staff_client, default_config, secured_openai):
    response = staff_client.post("/api/llm/test", {}, format="json")
    assert response.json()["ok"] is True
    assert secured_openai.chat_requests[0].body["messages"][0]["content"]


def test_api_llm_test_validates_prompt(staff_client, default_config):
    response = staff_client.post("/api/llm/test", {"prompt": 5 * ["x"]}, format="json")
    assert response.status_code == 400


def test_api_models_for_any_user(user_client, default_config):
    response = user_client.get("/api/llm/models")
    assert response.status_code == 200
    assert response.json()["source"] == "provider"
    assert "gpt-4o" in {m["id"] for m in response.json()["models"]}


def test_api_models_of_named_config(user_client, default_config):
    assert user_client.get("/api/llm/models?config=main").json()["source"] == "provider"
    assert user_client.get("/api/llm/models?config=nope").status_code == 404


def test_api_health(user_client, default_config):
    response = user_client.get("/api/llm/health")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["config"] == "main"


def test_api_llm_posts_are_staff_only(user_client, default_config, secured_openai):
    assert user_client.post("/api/llm/configs/main/test").status_code == 403
    assert user_client.post("/api/llm/test", {}, format="json").status_code == 403
    assert secured_openai.requests == []
