import pytest
from channels.layers import channel_layers
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from orchestrator_studio.models import ApiToken
from registry.models import LLMConfig

pytest_plugins = ["tests.fakes.fixtures"]


def _client_for(user) -> APIClient:
    _, raw = ApiToken.issue(user=user)
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    client.raw_token = raw
    return client


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A channel layer per test: channels-redis binds its locks to the first event loop that uses them,
    and every test (and every uvicorn server a test starts) has an event loop of its own."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


FAKE_LLM_API_KEY = "sk-fake-llm-test-secret-0123456789"


@pytest.fixture
def llm(fake_openai, db) -> LLMConfig:
    """The default LLM config, on the fake OpenAI-compatible server (no retries: scripts stay exact)."""
    return LLMConfig.objects.create(
        name="fake",
        model="gpt-4o",
        base_url=fake_openai.base_url,
        api_key=FAKE_LLM_API_KEY,
        max_retries=0,
        timeout_seconds=10,
        is_default=True,
    )


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(username="staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    return _client_for(staff_user)


@pytest.fixture
def user_client(user) -> APIClient:
    return _client_for(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return _client_for(other_user)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient(SERVER_NAME="localhost")
