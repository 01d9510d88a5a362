"""Secrets are write-only, encrypted at rest, rotatable, and never leave in a response, a log or an export."""

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from tests.registry import factories

LLM_KEY = "sk-llm-key-Zq81Lr00aa"
AGENT_TOKEN = "agent-bearer-Wp39Xx11bb"
SEARCH_KEY = "search-api-key-Hh72Kk22cc"
HEADER_TOKEN = "Bearer hdr-secret-Mm55Nn33dd"
DS_TOKEN = "cube-jwt-Tt66Uu44ee"
DSN_PASSWORD = "pg-pass-Rr77Ss55ff"
SECRETS = [LLM_KEY, AGENT_TOKEN, SEARCH_KEY, HEADER_TOKEN, DS_TOKEN, DSN_PASSWORD]


def _create_all(client) -> None:
    bodies = {
        "llm/configs": {"name": "llm", "api_key": LLM_KEY, "base_url": "https://llm.example.com/v1"},
        "agents": {"name": "agent", "url": "https://agent.example.com", "auth_token": AGENT_TOKEN},
        "tools": {
            "name": "search",
            "type": "web_search",
            "config": {"provider": "brave", "endpoint": "https://search.example.com", "api_key": SEARCH_KEY},
        },
        "datasources": {
            "name": "warehouse",
            "type": "postgres",
            "url": f"postgresql://reader:{DSN_PASSWORD}@db.example.com:5432/dw",
            "auth_token": DS_TOKEN,
        },
    }
    for path, body in bodies.items():
        response = client.post(f"/api/{path}/", body, format="json")
        assert response.status_code == 201, response.json()
        _assert_no_secret(response.content.decode())
    http_tool = {
        "name": "crm",
        "type": "http",
        "config": {
            "base_url": "https://crm.example.com",
            "headers": {"Authorization": HEADER_TOKEN, "X-Team": "a"},
        },
    }
    response = client.post("/api/tools/", http_tool, format="json")
    assert response.status_code == 201, response.json()
    _assert_no_secret(response.content.decode())


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_responses_never_hold_a_secret(staff_client):
    _create_all(staff_client)

    pages = [
        staff_client.get(url)
        for url in (
            "/api/llm/configs/", "/api/llm/configs/llm/", "/api/llm/config", "/api/agents/",
            "/api/agents/agent/", "/api/tools/", "/api/tools/search/", "/api/tools/crm/", "/api/datasources/",
            "/api/datasources/warehouse/",
        )
    ]  # fmt: skip
    pages.append(staff_client.patch("/api/agents/agent/", {"description": "x"}, format="json"))
    pages.append(staff_client.patch("/api/datasources/warehouse/", {"url": "ftp://nope"}, format="json"))

    for page in pages:
        assert page.status_code in (200, 400)
        _assert_no_secret(page.content.decode())


def test_responses_say_which_secrets_are_set_and_mask_config_secrets(staff_client):
    _create_all(staff_client)

    assert staff_client.get("/api/llm/configs/llm/").json()["api_key_set"] is True
    assert staff_client.get("/api/agents/agent/").json()["auth_token_set"] is True
    datasource = staff_client.get("/api/datasources/warehouse/").json()
    assert datasource["auth_token_set"] is True
    assert datasource["url"] == "postgresql://reader:****@db.example.com:5432/dw"
    assert "api_key" not in staff_client.get("/api/llm/configs/llm/").json()
    search = staff_client.get("/api/tools/search/").json()["config"]
    assert search["api_key"] == "****" + SEARCH_KEY[-4:]
    assert search["endpoint"] == "https://search.example.com"
    crm = staff_client.get("/api/tools/crm/").json()["config"]
    # Every header value is a secret, whatever its name.
    assert crm["headers"] == {"Authorization": "****" + HEADER_TOKEN[-4:], "X-Team": "****"}


def test_an_error_never_echoes_a_submitted_secret(staff_client):
    responses = [
        staff_client.post(
            "/api/agents/",
            {"name": "bad", "url": "ftp://x.example.com", "auth_token": AGENT_TOKEN},
            format="json",
        ),
        staff_client.post(
            "/api/datasources/",
            {"name": "bad", "type": "postgres", "url": f"mysql://u:{DSN_PASSWORD}@db.example.com/x"},
            format="json",
        ),
        staff_client.post(
            "/api/tools/",
            {"name": "bad", "type": "web_search", "config": {"provider": "nope", "api_key": SEARCH_KEY}},
            format="json",
        ),
        staff_client.post("/api/llm/configs/", {"name": "Bad Name", "api_key": LLM_KEY}, format="json"),
    ]

    for response in responses:
        assert response.status_code == 400
        _assert_no_secret(response.content.decode())


def test_no_log_record_holds_a_secret(staff_client, caplog, settings):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    # SQL statements and their parameters are logged too: they must carry ciphertext only.
    connection.force_debug_cursor = True
    try:
        _create_all(staff_client)
        staff_client.get("/api/tools/")
        staff_client.patch("/api/agents/agent/", {"auth_token": AGENT_TOKEN + "-v2"}, format="json")
        staff_client.post(
            "/api/agents/", {"name": "bad", "url": "ftp://x", "auth_token": AGENT_TOKEN}, format="json"
        )
        call_command("registry_export", stdout=io.StringIO())
    finally:
        connection.force_debug_cursor = False

    assert any(r.name == "django.db.backends" for r in caplog.records)
    for record in caplog.records:
        _assert_no_secret(record.getMessage())
        _assert_no_secret(repr(record.args))
    _assert_no_secret(caplog.text)


def _raw_rows(model) -> list[tuple]:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (a model's own table name)
        return cursor.fetchall()


def test_the_database_holds_no_plaintext_secret(staff_client):
    _create_all(staff_client)

    for model in (LLMConfig, ExternalAgent, Tool, DataSource):
        rows = _raw_rows(model)
        assert rows
        _assert_no_secret(repr(rows))
    # The secrets are really there, encrypted: each model's value reads back through the ORM.
    assert LLMConfig.objects.get().api_key == LLM_KEY
    assert ExternalAgent.objects.get().auth_token == AGENT_TOKEN
    assert Tool.objects.get(name="search").full_config["api_key"] == SEARCH_KEY
    assert Tool.objects.get(name="crm").full_config["headers"]["Authorization"] == HEADER_TOKEN
    warehouse = DataSource.objects.get()
    assert warehouse.dsn == f"postgresql://reader:{DSN_PASSWORD}@db.example.com:5432/dw"
    assert warehouse.auth_token == DS_TOKEN


def _raw_secret(model, column: str, name: str) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE name = %s", [name])  # noqa: S608
        return cursor.fetchone()[0]


def test_key_rotation(settings, db):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    factories.llm_config_create(name="llm", api_key=LLM_KEY)
    factories.agent_create(name="agent", auth_token=AGENT_TOKEN)
    factories.tool_create(
        name="search",
        config={"provider": "brave", "endpoint": "https://s.example.com", "api_key": SEARCH_KEY},
    )
    factories.datasource_create(
        name="warehouse",
        type="postgres",
        url=f"postgresql://u:{DSN_PASSWORD}@db.example.com/dw",
        auth_token=DS_TOKEN,
    )
    columns = [
        (LLMConfig, "api_key", "llm"),
        (ExternalAgent, "auth_token", "agent"),
        (Tool, "secret_config", "search"),
        (DataSource, "url_password", "warehouse"),
        (DataSource, "auth_token", "warehouse"),
    ]
    updated_before = {m: list(m.objects.values_list("updated_at", flat=True)) for m, _, _ in columns}

    # A new key in front: what the old key wrote stays readable.
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert LLMConfig.objects.get().api_key == LLM_KEY
    for model, column, name in columns:
        Fernet(old_key.encode()).decrypt(_raw_secret(model, column, name).encode())

    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "registry.DataSource: 2" in out.getvalue()

    for model, column, name in columns:
        token = _raw_secret(model, column, name).encode()
        Fernet(new_key.encode()).decrypt(token)
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(token)
    assert {m: list(m.objects.values_list("updated_at", flat=True)) for m, _, _ in columns} == updated_before

    # The old key can now go.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert LLMConfig.objects.get().api_key == LLM_KEY
    assert ExternalAgent.objects.get().auth_token == AGENT_TOKEN
    assert Tool.objects.get().full_config["api_key"] == SEARCH_KEY
    assert DataSource.objects.get().dsn == f"postgresql://u:{DSN_PASSWORD}@db.example.com/dw"
    assert DataSource.objects.get().auth_token == DS_TOKEN


def test_without_rotation_dropping_the_old_key_is_a_clear_error(settings, db):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    factories.agent_create(name="agent", auth_token=AGENT_TOKEN)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS") as excinfo:
        ExternalAgent.objects.get()
    assert AGENT_TOKEN not in str(excinfo.value)


SECRET_CASES = [
    # (path, make, secret field in the request, how to read the stored value, set flag or None)
    (
        "llm/configs",
        lambda: factories.llm_config_create(name="entry", api_key=LLM_KEY),
        "api_key",
        lambda: LLMConfig.objects.get().api_key,
        "api_key_set",
    ),
    (
        "agents",
        lambda: factories.agent_create(name="entry", auth_token=AGENT_TOKEN),
        "auth_token",
        lambda: ExternalAgent.objects.get().auth_token,
        "auth_token_set",
    ),
    (
        "datasources",
        lambda: factories.datasource_create(name="entry", auth_token=DS_TOKEN),
        "auth_token",
        lambda: DataSource.objects.get().auth_token,
        "auth_token_set",
    ),
]
SECRET_IDS = [c[0] for c in SECRET_CASES]


@pytest.mark.parametrize(("path", "make", "field", "stored", "flag"), SECRET_CASES, ids=SECRET_IDS)
def test_update_without_the_secret_keeps_it(staff_client, path, make, field, stored, flag):
    make()
    original = stored()

    staff_client.patch(f"/api/{path}/entry/", {"description": "patched"}, format="json")
    body = staff_client.get(f"/api/{path}/entry/").json()
    staff_client.put(f"/api/{path}/entry/", body, format="json")

    assert stored() == original
    assert staff_client.get(f"/api/{path}/entry/").json()[flag] is True


@pytest.mark.parametrize(("path", "make", "field", "stored", "flag"), SECRET_CASES, ids=SECRET_IDS)
def test_sending_the_mask_back_keeps_the_secret(staff_client, path, make, field, stored, flag):
    make()
    original = stored()

    response = staff_client.patch(f"/api/{path}/entry/", {field: "****" + original[-4:]}, format="json")

    assert response.status_code == 200
    assert stored() == original


@pytest.mark.parametrize(("path", "make", "field", "stored", "flag"), SECRET_CASES, ids=SECRET_IDS)
def test_a_new_secret_replaces_and_null_clears(staff_client, path, make, field, stored, flag):
    make()

    replaced = staff_client.patch(f"/api/{path}/entry/", {field: "replacement-value-123"}, format="json")
    assert replaced.status_code == 200
    assert stored() == "replacement-value-123"

    cleared = staff_client.patch(f"/api/{path}/entry/", {field: None}, format="json")
    assert cleared.status_code == 200
    assert cleared.json()[flag] is False
    assert stored() == ""


def test_config_secrets_keep_on_mask_and_omission_and_clear_on_null(staff_client):
    factories.tool_create(
        name="entry",
        config={
            "provider": "brave",
            "endpoint": "https://s.example.com",
            "api_key": SEARCH_KEY,
            "max_results": 3,
        },
    )
    shown = staff_client.get("/api/tools/entry/").json()["config"]

    staff_client.patch("/api/tools/entry/", {"config": {**shown, "max_results": 7}}, format="json")
    assert Tool.objects.get().full_config == {
        "provider": "brave",
        "endpoint": "https://s.example.com",
        "api_key": SEARCH_KEY,
        "max_results": 7,
    }

    staff_client.patch(
        "/api/tools/entry/",
        {"config": {"provider": "brave", "endpoint": "https://s.example.com"}},
        format="json",
    )
    assert Tool.objects.get().full_config["api_key"] == SEARCH_KEY

    staff_client.patch(
        "/api/tools/entry/",
        {"config": {"provider": "brave", "endpoint": "https://s.example.com", "api_key": None}},
        format="json",
    )
    assert "api_key" not in Tool.objects.get().full_config
    assert "api_key" not in staff_client.get("/api/tools/entry/").json()["config"]


def test_dsn_password_keeps_on_mask_and_on_a_url_without_password(staff_client):
    factories.datasource_create(
        name="entry", type="postgres", url=f"postgresql://reader:{DSN_PASSWORD}@db.example.com/dw"
    )
    shown = staff_client.get("/api/datasources/entry/").json()["url"]
    assert shown == "postgresql://reader:****@db.example.com/dw"

    staff_client.patch("/api/datasources/entry/", {"url": shown.replace("/dw", "/dw2")}, format="json")
    assert DataSource.objects.get().dsn == f"postgresql://reader:{DSN_PASSWORD}@db.example.com/dw2"

    staff_client.patch(
        "/api/datasources/entry/", {"url": "postgresql://reader@db.example.com/dw3"}, format="json"
    )
    assert DataSource.objects.get().dsn == f"postgresql://reader:{DSN_PASSWORD}@db.example.com/dw3"

    staff_client.patch(
        "/api/datasources/entry/", {"url": "postgresql://reader:new-Pass-1@db.example.com/dw3"}, format="json"
    )
    assert DataSource.objects.get().dsn == "postgresql://reader:new-Pass-1@db.example.com/dw3"


def test_export_holds_no_secret(staff_client, tmp_path):
    _create_all(staff_client)
    target = tmp_path / "registry.json"

    call_command("registry_export", "--output", str(target))

    text = target.read_text()
    _assert_no_secret(text)
    exported = json.loads(text)
    assert {e["name"] for e in exported["tools"]} == {"search", "crm"}
    assert "api_key" not in next(e for e in exported["tools"] if e["name"] == "search")["config"]
    assert (
        "Authorization" not in next(e for e in exported["tools"] if e["name"] == "crm")["config"]["headers"]
    )
    assert exported["datasources"][0]["url"] == "postgresql://reader@db.example.com:5432/dw"
    for section in exported.values():
        for entry in section:
            assert not {"api_key", "auth_token", "api_key_set", "auth_token_set"} & set(entry)


def test_rotation_stops_without_writing_when_a_value_cannot_be_read(settings, db):
    lost_key, kept_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [kept_key]
    factories.agent_create(name="readable", auth_token=AGENT_TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = [lost_key]
    factories.agent_create(name="unreadable", auth_token=DS_TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), kept_key]
    before = _raw_secret(ExternalAgent, "auth_token", "readable")

    with pytest.raises(CommandError, match="Nothing was re-encrypted"):
        call_command("rotate_secrets", stdout=io.StringIO())

    assert _raw_secret(ExternalAgent, "auth_token", "readable") == before
