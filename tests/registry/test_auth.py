"""Who may do what on the registry API, and the tokens that say who they are."""

import hashlib
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from orchestrator_studio.models import ApiToken
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.registry import factories

ENTRIES = [
    ("llm/configs", LLMConfig, factories.llm_config_create, {"model": "changed"}),
    ("agents", ExternalAgent, factories.agent_create, {"url": "https://changed.example.com"}),
    ("tools", Tool, factories.tool_create, {"description": "changed"}),
    ("datasources", DataSource, factories.datasource_create, {"description": "changed"}),
]
IDS = [e[0] for e in ENTRIES]


def _client(**credentials: str) -> APIClient:
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(**credentials)
    return client


def _assert_envelope(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.parametrize("path", IDS)
@pytest.mark.django_db
def test_anonymous_is_401_with_the_envelope(anon_client, path):
    response = anon_client.get(f"/api/{path}/")

    _assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer os_not-a-real-token", "Token wrong", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]
)
@pytest.mark.django_db
def test_a_bad_token_is_401(header):
    response = _client(HTTP_AUTHORIZATION=header).get("/api/agents/")

    _assert_envelope(response, 401, "authentication_failed")


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_bearer_and_token_prefixes_are_accepted(user, keyword):
    _, raw = ApiToken.issue(user=user)

    response = _client(HTTP_AUTHORIZATION=f"{keyword} {raw}").get("/api/agents/")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_deactivated_users_token_stops_working(user):
    _, raw = ApiToken.issue(user=user)
    user.is_active = False
    user.save()

    response = _client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/agents/")

    _assert_envelope(response, 401, "authentication_failed")


@pytest.mark.parametrize(("path", "model", "make", "change"), ENTRIES, ids=IDS)
def test_non_staff_reads_but_every_write_is_403(user_client, path, model, make, change):
    entry = make(name="guarded")
    before = user_client.get(f"/api/{path}/guarded/")
    assert before.status_code == 200
    assert user_client.get(f"/api/{path}/").json()["count"] == 1

    writes = [
        user_client.post(f"/api/{path}/", {**before.json(), "name": "intruder"}, format="json"),
        user_client.put(f"/api/{path}/guarded/", {**before.json(), **change}, format="json"),
        user_client.patch(f"/api/{path}/guarded/", change, format="json"),
        user_client.delete(f"/api/{path}/guarded/"),
    ]

    for response in writes:
        _assert_envelope(response, 403, "permission_denied")
    assert list(model.objects.values_list("name", flat=True)) == ["guarded"]
    assert user_client.get(f"/api/{path}/guarded/").json() == before.json()
    entry.refresh_from_db()


@pytest.mark.parametrize(("path", "model", "make", "change"), ENTRIES, ids=IDS)
def test_anonymous_writes_are_401_and_change_nothing(db, anon_client, path, model, make, change):
    make(name="guarded")

    responses = [
        anon_client.post(f"/api/{path}/", {"name": "intruder"}, format="json"),
        anon_client.patch(f"/api/{path}/guarded/", change, format="json"),
        anon_client.delete(f"/api/{path}/guarded/"),
    ]

    for response in responses:
        _assert_envelope(response, 401, "not_authenticated")
    assert list(model.objects.values_list("name", flat=True)) == ["guarded"]


@pytest.mark.parametrize(("path", "model", "make", "change"), ENTRIES, ids=IDS)
def test_staff_may_write(staff_client, path, model, make, change):
    make(name="managed")

    assert staff_client.patch(f"/api/{path}/managed/", change, format="json").status_code == 200
    assert staff_client.delete(f"/api/{path}/managed/").status_code == 204
    assert not model.objects.exists()


@pytest.mark.django_db
def test_tool_types_need_a_token(anon_client):
    _assert_envelope(anon_client.get("/api/tools/types/available"), 401, "not_authenticated")
    _assert_envelope(anon_client.get("/api/llm/config"), 401, "not_authenticated")


def _issue_token(*args: str) -> str:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_issue_token_prints_only_a_working_token(user):
    printed = _issue_token("alice")

    token = printed.strip()
    assert printed == token + "\n"
    assert len(token.split()) == 1
    assert token.startswith("os_")
    assert _client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/agents/").status_code == 200


@pytest.mark.django_db
def test_issue_token_create_staff_makes_a_staff_user_who_may_write():
    token = _issue_token("ops", "--create", "--staff").strip()

    ops = get_user_model().objects.get(username="ops")
    assert ops.is_staff
    response = _client(HTTP_AUTHORIZATION=f"Token {token}").post(
        "/api/agents/", {"name": "by-ops", "url": "https://agent.example.com"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_issue_token_create_without_staff_makes_a_reader():
    token = _issue_token("reader", "--create").strip()

    client = _client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/agents/").status_code == 200
    assert client.post("/api/agents/", {"name": "x", "url": "https://a.example.com"}).status_code == 403


@pytest.mark.django_db
def test_issue_token_for_an_unknown_user_needs_create():
    with pytest.raises(CommandError, match="--create"):
        _issue_token("ghost")
    assert not get_user_model().objects.filter(username="ghost").exists()


@pytest.mark.django_db
def test_tokens_are_stored_hashed(user):
    token = _issue_token("alice").strip()

    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")  # noqa: S608 (a model's own table name)
        rows = cursor.fetchall()
    assert rows
    assert not any(token in str(value) for row in rows for value in row)
    assert not any(token[len(stored.hint) :] in str(value) for row in rows for value in row)


def test_a_deleted_token_stops_working_at_once_though_it_was_just_used(user):
    token, raw = ApiToken.issue(user=user)
    client = _client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/agents/").status_code == 200

    token.delete()

    _assert_envelope(client.get("/api/agents/"), 401, "authentication_failed")


def test_a_user_deactivated_after_using_a_token_is_refused_at_the_next_request(user):
    _, raw = ApiToken.issue(user=user)
    client = _client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/agents/").status_code == 200

    user.is_active = False
    user.save()

    _assert_envelope(client.get("/api/agents/"), 401, "authentication_failed")


def test_a_user_made_staff_may_write_at_the_next_request(user):
    _, raw = ApiToken.issue(user=user)
    client = _client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"name": "promoted", "url": "https://agent.example.com"}
    assert client.post("/api/agents/", body, format="json").status_code == 403

    user.is_staff = True
    user.save()

    assert client.post("/api/agents/", body, format="json").status_code == 201
