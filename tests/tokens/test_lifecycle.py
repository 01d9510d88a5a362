"""API tokens: issued with a name and an optional expiry, revoked, refused like unknown ones once expired or
revoked (cached or not, over HTTP and websockets), and their last use recorded at most once a minute."""

import io
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator_studio.models import ApiToken
from orchestrator_studio.services import api_token_issue, api_token_reissue, api_token_revoke
from orchestrator_studio.token_usage import token_use_flush, token_use_forget
from tests.threads_api.conftest import Socket
from threads.models import Thread


def _get(raw: str, path: str = "/api/agents/"):
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get(path)


def _refused_like_unknown(raw: str) -> None:
    response = _get(raw)
    unknown = _get("os_this-token-was-never-issued")
    assert response.status_code == unknown.status_code == 401
    assert response.json() == unknown.json()


def test_a_revoked_token_is_refused_at_once_even_if_cached(user):
    token, raw = api_token_issue(user=user, name="ci")
    assert _get(raw).status_code == 200  # its user is now in the cache

    api_token_revoke(token=token)

    _refused_like_unknown(raw)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not token.is_usable


def test_an_expired_token_is_refused_like_an_unknown_one(user):
    _, raw = api_token_issue(user=user, name="old", expires_at=timezone.now() - timedelta(seconds=1))

    _refused_like_unknown(raw)


def test_a_token_works_until_its_expiry(user):
    token, raw = api_token_issue(user=user, name="soon", expires_at=timezone.now() + timedelta(hours=1))
    assert _get(raw).status_code == 200

    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save(update_fields=["expires_at"])

    _refused_like_unknown(raw)


@pytest.mark.django_db(transaction=True)
async def test_a_revoked_token_cannot_open_a_websocket():
    user = await get_user_model().objects.acreate(username="erin")
    thread = await Thread.objects.acreate(owner=user, user_id="erin")
    token, raw = await sync_to_async(api_token_issue)(user=user, name="socket")
    await sync_to_async(api_token_revoke)(token=token)

    socket = Socket(str(thread.id), raw)
    connected, _ = await socket.connect()
    assert connected
    assert await socket.close_code() == 4401
    await socket.disconnect()


def test_reissue_revokes_the_earlier_token_of_that_name_only(user):
    _, first = api_token_reissue(user=user, name="make run")
    _, other = api_token_issue(user=user, name="ci")

    _, second = api_token_reissue(user=user, name="make run")

    _refused_like_unknown(first)
    assert _get(second).status_code == 200
    assert _get(other).status_code == 200
    assert ApiToken.objects.active().filter(user=user, name="make run").count() == 1


def test_bootstrap_local_revokes_the_token_of_the_last_make_run(db, settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setattr(
        "orchestrator_studio.management.commands.bootstrap_local.CREDENTIALS_FILE", tmp_path / "credentials"
    )

    def bootstrap() -> str:
        out = io.StringIO()
        call_command("bootstrap_local", "--url", "http://127.0.0.1:8123/", stdout=out)
        return next(line.split()[2] for line in out.getvalue().splitlines() if "API token:" in line)

    first, second = bootstrap(), bootstrap()

    _refused_like_unknown(first)
    assert _get(second).status_code == 200
    admin = get_user_model().objects.get(username="admin")
    assert ApiToken.objects.active().filter(user=admin).count() == 1


@pytest.mark.django_db(transaction=True)
def test_last_used_at_is_written_in_the_background_at_most_once_a_minute(settings):
    settings.TOKEN_LAST_USED_INTERVAL_SECONDS = 60
    token_use_forget()
    user = get_user_model().objects.create_user(username="carol")
    token, raw = api_token_issue(user=user, name="ci")
    assert token.last_used_at is None

    assert _get(raw).status_code == 200
    token_use_flush()
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None

    for _ in range(3):
        assert _get(raw).status_code == 200
    token_use_flush()
    token.refresh_from_db()
    assert token.last_used_at == first_use  # within the minute: not written again


@pytest.mark.django_db(transaction=True)
def test_last_used_at_is_not_written_for_a_refused_token(settings):
    settings.TOKEN_LAST_USED_INTERVAL_SECONDS = 60
    token_use_forget()
    user = get_user_model().objects.create_user(username="dave")
    token, raw = api_token_issue(user=user, name="ci")
    api_token_revoke(token=token)

    assert _get(raw).status_code == 401
    token_use_flush()
    token.refresh_from_db()
    assert token.last_used_at is None
