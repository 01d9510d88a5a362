"""Fixtures of the engine tests: an LLM config pointed at the fake OpenAI server, and a thread."""

import pytest

from threads import services
from threads.models import Thread


@pytest.fixture
def thread(user) -> Thread:
    return services.thread_create(owner=user, user_id="customer-42", title="Engine test")
