"""Issue 11, point 5 and part of point 4: secrets outside the designated fields (a DSN's query string, URL
userinfo, header values of any name, what a service echoes in its schema) are kept apart or refused, secrets
are header-safe, and bad JSON (too deep, a too complex schema) is a 400, never a 500."""

import json

import pytest
from django.core.cache import cache
from psycopg.conninfo import conninfo_to_dict

from orchestrator_studio.errors import ValidationFailed
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from registry.services import registry_entry_save
from tests.fakes.server import read_request, send_json, serve
from threads.services import thread_create

QS_PASSWORD = "qs-Secret-Pw-7d1e"
USERINFO_SECRET = "userinfo-Secret-9c2b"
HEADER_SECRETS = {
    "Ocp-Apim-Subscription-Key": "ocp-secret-0001",
    "X-Auth": "xauth-secret-0002",
    "X-Access-Key": "access-secret-0003",
    "X-Signature": "signature-secret-0004",
    "X-Session": "session-secret-0005",
    "PRIVATE-KEY": "private-secret-0006",
    "X-Credentials": "credentials-secret-0007",
}

pytestmark = pytest.mark.django_db


def test_a_dsn_query_string_password_is_moved_into_the_secret_field(staff_client):
    url = f"postgresql://reader@db.example.com:5432/dw?password={QS_PASSWORD}&sslmode=require"
    response = staff_client.post(
        "/api/datasources/", {"name": "warehouse", "type": "postgres", "url": url}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["url"] == "postgresql://reader:****@db.example.com:5432/dw?sslmode=require"
    assert QS_PASSWORD not in staff_client.get("/api/datasources/warehouse/").content.decode()
    stored = DataSource.objects.get(name="warehouse")
    assert QS_PASSWORD not in stored.url
    assert conninfo_to_dict(stored.dsn)["password"] == QS_PASSWORD
    assert conninfo_to_dict(stored.dsn)["sslmode"] == "require"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/agents/", {"name": "agent", "url": f"https://bot:{USERINFO_SECRET}@agent.example.com"}),
        ("/api/llm/configs/", {"name": "llm", "base_url": f"https://u:{USERINFO_SECRET}@llm.example.com/v1"}),
        (
            "/api/tools/",
            {
                "name": "crm",
                "type": "http",
                "config": {"base_url": f"https://u:{USERINFO_SECRET}@crm.example.com"},
            },
        ),
        (
            "/api/tools/",
            {
                "name": "crm",
                "type": "http",
                "config": {"base_url": f"ftp://u:{USERINFO_SECRET}@crm.example.com"},
            },
        ),
        (
            "/api/datasources/",
            {"name": "cube", "type": "cubejs", "url": f"https://u:{USERINFO_SECRET}@cube.example.com"},
        ),
    ],
)
def test_a_url_holding_credentials_is_refused_and_never_echoed(staff_client, path, body):
    response = staff_client.post(path, body, format="json")

    assert response.status_code == 400
    assert USERINFO_SECRET not in response.content.decode()
    assert "credentials" in json.dumps(response.json()) or "the value" in json.dumps(response.json())
    for model in (ExternalAgent, LLMConfig, Tool, DataSource):
        assert not model.objects.exists()


def test_every_header_value_is_a_secret_whatever_its_name(staff_client):
    body = {
        "name": "crm",
        "type": "http",
        "config": {"base_url": "https://crm.example.com", "headers": HEADER_SECRETS},
    }
    created = staff_client.post("/api/tools/", body, format="json")
    shown = staff_client.get("/api/tools/crm/")
    listed = staff_client.get("/api/tools/")

    assert created.status_code == 201, created.json()
    for response in (created, shown, listed):
        text = response.content.decode()
        assert not [secret for secret in HEADER_SECRETS.values() if secret in text]
    assert set(shown.json()["config"]["headers"]) == set(HEADER_SECRETS)
    tool = Tool.objects.get(name="crm")
    assert tool.config["headers"] == {}
    assert tool.full_config["headers"] == HEADER_SECRETS


async def echo_credentials_schema(scope, receive, send):
    """An HTTP datasource whose /schema (and /tables) echo the Authorization header they were sent."""
    request = await read_request(scope, receive)
    authorization = request.headers.get("authorization", "")
    if request.path.endswith("/schema"):
        await send_json(
            send, 200, {"tables": [{"name": "t", "columns": [{"name": authorization, "type": "x"}]}]}
        )
    else:
        await send_json(send, 200, {"tables": [authorization]})


def test_schema_answers_are_scrubbed_before_they_are_cached_or_shown(staff_client):
    token = "ds-echoed-token-5e8f"
    with serve(echo_credentials_schema) as base_url:
        datasource = registry_entry_save(
            instance=DataSource(), data={"name": "svc", "type": "http", "url": base_url, "auth_token": token}
        )
        schema = staff_client.get("/api/datasources/svc/schema")
        tables = staff_client.get("/api/datasources/svc/tables")

    assert schema.status_code == 200, schema.json()
    assert tables.status_code == 200, tables.json()
    assert token not in schema.content.decode()
    assert token not in tables.content.decode()
    assert schema.json()["tables"][0]["columns"][0]["name"] == "Bearer ****" + token[-4:]
    key = f"datasource:schema:svc:{datasource.pk}:{datasource.updated_at.timestamp()}"
    assert cache.get(key) is not None
    assert token not in json.dumps(cache.get(key))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/agents/", {"name": "agent", "url": "https://agent.example.com", "auth_token": "tokén-1234"}),
        ("/api/llm/configs/", {"name": "llm", "api_key": "sk-\u00e9\u00e9\u00e9-1234"}),
        (
            "/api/datasources/",
            {"name": "svc", "type": "http", "url": "https://x.example.com", "auth_token": "a\nb"},
        ),
        (
            "/api/tools/",
            {
                "name": "crm",
                "type": "http",
                "config": {"base_url": "https://c.example.com", "auth_token": "tök"},
            },
        ),
        (
            "/api/tools/",
            {
                "name": "crm",
                "type": "http",
                "config": {"base_url": "https://c.example.com", "headers": {"X-K": "ü"}},
            },
        ),
        (
            "/api/tools/",
            {
                "name": "crm",
                "type": "http",
                "config": {"base_url": "https://c.example.com", "headers": {"X K": "v"}},
            },
        ),
    ],
)
def test_secrets_that_cannot_travel_in_a_header_are_refused_at_save(staff_client, path, body):
    response = staff_client.post(path, body, format="json")

    assert response.status_code == 400
    text = response.content.decode()
    assert "tokén" not in text
    assert "HTTP header" in text
    for model in (ExternalAgent, LLMConfig, Tool, DataSource):
        assert not model.objects.exists()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "path",
    ["/api/agents/", "/api/tools/", "/api/datasources/svc/query", "/api/memory/u1/message", "/api/llm/test"],
)
def test_deeply_nested_request_json_is_a_400(staff_client, path):
    registry_entry_save(
        instance=DataSource(), data={"name": "svc", "type": "http", "url": "https://s.example.com"}
    )
    response = staff_client.generic("POST", path, _nested(10_000), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert "nested deeper than 64 levels" in response.json()["error"]["message"]


def test_deeply_nested_json_to_chat_and_execute_is_a_400(staff_client):
    thread = thread_create(owner=staff_client.user, user_id="u1", title="Deep")
    for path in ("/v1/chat", f"/api/agent/{thread.id}/execute"):
        response = staff_client.generic("POST", path, _nested(10_000), content_type="application/json")
        assert response.status_code == 400, path
        assert "nested deeper than 64 levels" in response.json()["error"]["message"]


def test_json_within_the_limit_still_parses(staff_client):
    metadata = {"a": json.loads(_nested(40))}
    response = staff_client.post(
        "/api/agents/",
        {"name": "agent", "url": "https://agent.example.com", "metadata": metadata},
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_stored_json_is_bounded_too_whatever_the_way_in():
    deep = json.loads(_nested(100))
    with pytest.raises(ValidationFailed) as refused:
        registry_entry_save(
            instance=ExternalAgent(),
            data={"name": "agent", "url": "https://a.example.com", "metadata": {"x": deep}},
        )
    assert "nested deeper than 64 levels" in json.dumps(refused.value.fields)
    with pytest.raises(ValidationFailed):
        registry_entry_save(
            instance=Tool(),
            data={"name": "crm", "type": "http", "config": {"base_url": "https://c.example.com", "x": deep}},
        )
    assert not ExternalAgent.objects.exists()
    assert not Tool.objects.exists()


def _all_of(depth: int) -> dict:
    schema: dict = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "allOf": [schema]}
    return schema


def test_an_input_schema_with_450_nested_all_of_is_a_400(staff_client):
    body = {"name": "agent", "url": "https://agent.example.com", "input_schema": _all_of(450)}
    response = staff_client.post("/api/agents/", body, format="json")

    assert response.status_code == 400
    assert not ExternalAgent.objects.exists()


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (_all_of(450), "nests deeper than 32 levels"),
        (_all_of(10), None),
        (
            {
                "type": "object",
                "properties": {f"p{i}": {"type": "string", "enum": ["a", "b"]} for i in range(2000)},
            },
            "more than 5000 parts",
        ),
    ],
)
def test_json_schema_complexity_is_bounded_at_save(schema, reason):
    data = {"name": "agent", "url": "https://agent.example.com", "input_schema": schema}
    if reason is None:
        assert registry_entry_save(instance=ExternalAgent(), data=data).input_schema == schema
        return
    with pytest.raises(ValidationFailed) as refused:
        registry_entry_save(instance=ExternalAgent(), data=data)
    assert reason in json.dumps(refused.value.fields)


def test_a_non_ascii_secret_saved_before_the_check_fails_its_own_calls_only(staff_client, fake_agent):
    # Saved straight to the database, as entries saved before the header-safe check could be.
    ExternalAgent.objects.create(
        name="bad", url=fake_agent.base_url, auth_token="tokén-1234", timeout_seconds=5
    )
    ExternalAgent.objects.create(
        name="good", url=fake_agent.base_url, auth_token=fake_agent.token, timeout_seconds=5
    )

    health = staff_client.get("/api/agents/health/all")
    tested = staff_client.post("/api/agents/bad/test")
    called = staff_client.post("/api/agents/bad/call", {"task": "hello"}, format="json")

    assert health.status_code == 200
    rows = {row["name"]: row for row in health.json()["agents"]}
    assert rows["good"]["ok"] is True
    assert rows["bad"]["ok"] is False
    assert "cannot carry" in rows["bad"]["error"]
    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert called.status_code != 500
    for response in (health, tested, called):
        assert "tokén" not in response.content.decode()
