"""Guessing passwords and tokens is throttled per client address: 429 with Retry-After, never saying whether
a user or token exists, while the right credentials from another address still get in."""

import secrets

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from orchestrator_studio.asgi import application
from threads.models import Thread


def _address() -> str:
    """A fresh client address per test: the token counters live in the shared cache across tests."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser(username="root", password="pw-root-123")


def _login(address: str, password: str, username: str = "root"):
    client = Client(REMOTE_ADDR=address)
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_admin_logins_are_throttled_per_address(admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    guesser, colleague = _address(), _address()

    failures = [_login(guesser, f"guess-{n}").status_code for n in range(3)]
    locked = _login(guesser, "guess-3")
    right_password_from_guesser = _login(guesser, "pw-root-123")
    unknown_user = _login(guesser, "x", username="nobody")
    colleague_login = _login(colleague, "pw-root-123")

    assert failures == [200, 200, 429]  # the form again twice, then the lock-out
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == settings.LOGIN_LOCKOUT_SECONDS
    assert "root" not in locked.content.decode()
    assert right_password_from_guesser.status_code == 429
    assert unknown_user.status_code == 429
    assert unknown_user.content == locked.content
    assert colleague_login.status_code == 302
    assert colleague_login["Location"] == "/admin/"


def _api(address: str, token: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_guessing_is_throttled_per_address_everywhere(user_client, settings):
    settings.TOKEN_AUTH_FAILURE_LIMIT = 3
    guesser, colleague = _address(), _address()

    guesses = [_api(guesser, f"os_guess{n}").get("/api/threads/").status_code for n in range(3)]
    throttled = _api(guesser, "os_guess4").get("/api/threads/")
    right_token_from_guesser = _api(guesser, user_client.raw_token).get("/api/threads/")
    async_view = _api(guesser, user_client.raw_token).post("/v1/chat", {"prompt": "hi"}, format="json")
    openai_door = _api(guesser, user_client.raw_token).get("/v1/models")
    colleague_call = _api(colleague, user_client.raw_token).get("/api/threads/")
    colleague_models = _api(colleague, user_client.raw_token).get("/v1/models")

    assert guesses == [401, 401, 401]
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled["Retry-After"]) <= settings.TOKEN_AUTH_LOCKOUT_SECONDS
    assert right_token_from_guesser.status_code == 429
    assert async_view.status_code == 429
    assert async_view.json()["error"]["code"] == "rate_limited"
    assert int(async_view["Retry-After"]) >= 1
    assert openai_door.status_code == 429
    assert openai_door.json()["error"]["type"] == "rate_limit_error"
    assert int(openai_door["Retry-After"]) >= 1
    assert colleague_call.status_code == 200
    assert colleague_models.status_code == 200


class _SocketFrom(WebsocketCommunicator):
    """A websocket whose peer is `address` (the test communicator sets no client address)."""

    def __init__(self, path: str, address: str) -> None:
        path, _, query = path.partition("?")
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": query.encode(),
            "headers": [],
            "subprotocols": [],
            "client": (address, 50000),
        }
        ApplicationCommunicator.__init__(self, application, scope)
        self.response_headers = None


@pytest.mark.django_db(transaction=True)
async def test_a_throttled_address_gets_its_websocket_closed_with_4429(user, settings):
    settings.TOKEN_AUTH_FAILURE_LIMIT = 2
    thread = await Thread.objects.acreate(owner=user, user_id="alice")
    guesser = _address()
    codes = []
    for token in ("os_bad1", "os_bad2", "os_bad3"):
        socket = _SocketFrom(f"/ws/threads/{thread.id}/?token={token}", guesser)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        codes.append((await socket.receive_output(timeout=5))["code"])
        await socket.disconnect()

    assert codes == [4401, 4401, 4429]
