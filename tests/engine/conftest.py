"""Fixtures of the engine tests: an LLM config pointed at the fake OpenAI server, and a thread."""

import pytest

from registry.models import LLMConfig
from threads import services
from threads.models import Thread

LLM_API_KEY = "sk-engine-test-secret-0123456789"


@pytest.fixture
def llm(fake_openai, db) -> LLMConfig:
    return LLMConfig.objects.create(
        name="fake",
        model="gpt-4o",
        base_url=fake_openai.base_url,
        api_key=LLM_API_KEY,
        max_retries=0,
        timeout_seconds=5,
        is_default=True,
    )


@pytest.fixture
def thread(user) -> Thread:
    return services.thread_create(owner=user, user_id="customer-42", title="Engine test")
