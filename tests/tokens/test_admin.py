"""API tokens in the admin: issued with a name and expiry (the value shown once), revoked by an action."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from orchestrator_studio.models import ApiToken, hash_token
from orchestrator_studio.services import api_token_issue

CHANGELIST = "/admin/orchestrator_studio/apitoken/"


@pytest.fixture
def admin_browser(db) -> Client:
    superuser = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(superuser)
    return client


def _api_status(raw: str) -> int:
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get("/api/agents/").status_code


def test_issuing_a_token_shows_it_once_and_it_works(admin_browser, user):
    response = admin_browser.post(
        f"{CHANGELIST}add/", {"user": user.pk, "name": "reporting", "expires_at_0": "", "expires_at_1": ""}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    raw = re.search(r'value="(os_[^"]+)"', page).group(1)
    assert "shown only this once" in page
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.key_hash, token.expires_at) == ("reporting", hash_token(raw), None)
    assert _api_status(raw) == 200
    # Nowhere else: not in the list, not on the token's own page, not in the session.
    for path in (CHANGELIST, f"{CHANGELIST}{token.pk}/change/"):
        assert raw not in admin_browser.get(path).content.decode()
    assert raw not in str(dict(admin_browser.session))


def test_issuing_a_token_with_an_expiry(admin_browser, user):
    admin_browser.post(
        f"{CHANGELIST}add/",
        {"user": user.pk, "name": "temp", "expires_at_0": "2031-01-02", "expires_at_1": "03:04:05"},
    )

    assert ApiToken.objects.get(user=user).expires_at.isoformat() == "2031-01-02T03:04:05+00:00"


def test_the_revoke_action_refuses_the_tokens_from_the_next_request(admin_browser, user):
    _, kept_raw = api_token_issue(user=user, name="kept")
    revoked, revoked_raw = api_token_issue(user=user, name="leaked")
    assert _api_status(revoked_raw) == 200

    response = admin_browser.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [revoked.pk]}, follow=True
    )

    assert "Revoked 1 token." in response.content.decode()
    assert _api_status(revoked_raw) == 401
    assert _api_status(kept_raw) == 200
    listing = admin_browser.get(CHANGELIST).content.decode()
    assert "revoked" in listing
    assert "active" in listing


def test_the_admin_title_names_the_product(admin_browser):
    page = admin_browser.get("/admin/").content.decode()

    assert "Orchestrator Studio" in page
    assert "Django administration" not in page
