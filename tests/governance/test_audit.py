"""The audit log: every change of the configuration, from the API, the admin and the commands, with what
changed and by whom, and never a secret."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from orchestrator_studio.models import ApiToken, AuditRecord, hash_token
from orchestrator_studio.services import api_token_revoke
from registry.models import ExternalAgent, LLMConfig, Tool
from tests.registry import factories

AGENT_TOKEN = "agent-audit-Zz11Yy22Xx33"
NEW_AGENT_TOKEN = "agent-audit-new-Ww44Vv55"
LLM_KEY = "sk-audit-llm-Uu66Tt77Ss88"
TOOL_KEY = "search-audit-Rr99Qq00Pp11"


def _records(**filters) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(**filters).order_by("id"))


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (AGENT_TOKEN, NEW_AGENT_TOKEN, LLM_KEY, TOOL_KEY):
            assert secret not in text


@pytest.fixture
def admin_client_(db) -> Client:
    superuser = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(superuser)
    return client


def test_an_api_update_records_who_changed_which_fields_and_hides_the_secret(staff_client):
    created = staff_client.post(
        "/api/agents/",
        {"name": "billing", "url": "https://agent.example.com", "auth_token": AGENT_TOKEN},
        format="json",
    )
    assert created.status_code == 201

    updated = staff_client.patch(
        "/api/agents/billing/",
        {"timeout_seconds": 90, "auth_token": NEW_AGENT_TOKEN, "description": "Invoices"},
        format="json",
    )

    assert updated.status_code == 200
    create, update = _records(object_type="agent", object_name="billing")
    assert (create.actor, create.action) == ("staff", "create")
    assert create.changes["url"] == [None, "https://agent.example.com"]
    assert create.changes["auth_token"] == "changed"
    assert (update.actor, update.action) == ("staff", "update")
    assert update.changes == {
        "timeout_seconds": [30, 90],
        "auth_token": "changed",
        "description": ["", "Invoices"],
    }
    _assert_no_secret(json.dumps(create.changes), json.dumps(update.changes))


def test_an_update_that_changes_nothing_writes_no_record(staff_client):
    staff_client.post("/api/agents/", {"name": "billing", "url": "https://agent.example.com"}, format="json")

    staff_client.patch("/api/agents/billing/", {"url": "https://agent.example.com"}, format="json")

    assert [record.action for record in _records(object_name="billing")] == ["create"]


def test_a_delete_is_recorded_with_the_values_the_entry_had(staff_client):
    factories.llm_config_create(name="spare", api_key=LLM_KEY, is_default=False)
    factories.llm_config_create(name="main", is_default=True)

    response = staff_client.delete("/api/llm/configs/spare/")

    assert response.status_code == 204
    [deleted] = _records(action="delete")
    assert (deleted.actor, deleted.object_type, deleted.object_name) == ("staff", "llm_config", "spare")
    assert deleted.changes["model"] == ["gpt-4o", None]
    assert deleted.changes["api_key"] == "changed"
    _assert_no_secret(json.dumps(deleted.changes))


def test_an_admin_change_is_recorded_as_the_admin_user(admin_client_):
    agent = factories.agent_create(name="billing", auth_token=AGENT_TOKEN)
    page = admin_client_.get(f"/admin/registry/externalagent/{agent.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(auth_token="", description="Handles invoices", metadata="{}", enabled="on", _save="Save")
    data["input_schema"] = json.dumps(agent.input_schema)

    response = admin_client_.post(f"/admin/registry/externalagent/{agent.pk}/change/", data)

    assert response.status_code == 302
    [record] = _records(action="update", object_name="billing")
    assert record.actor == "root"
    assert record.changes == {"description": ["", "Handles invoices"]}
    assert ExternalAgent.objects.get(pk=agent.pk).auth_token == AGENT_TOKEN


def test_the_admin_audit_log_is_read_only(admin_client_):
    factories.agent_create(name="billing")
    record = AuditRecord.objects.get()

    listing = admin_client_.get("/admin/orchestrator_studio/auditrecord/")
    change = admin_client_.post(
        f"/admin/orchestrator_studio/auditrecord/{record.pk}/change/", {"actor": "mallory"}
    )
    delete = admin_client_.post(
        f"/admin/orchestrator_studio/auditrecord/{record.pk}/delete/", {"post": "yes"}
    )

    assert listing.status_code == 200
    assert "billing" in listing.content.decode()
    assert change.status_code == 403
    assert delete.status_code == 403
    assert AuditRecord.objects.get().actor == "system"
    with pytest.raises(PermissionError):
        record.delete()


def test_an_import_is_recorded_as_registry_import(tmp_path, db):
    path = tmp_path / "tools.json"
    tool = {"name": "search", "type": "web_search", "config": {"provider": "searxng"}}
    tool["config"].update(endpoint="https://search.example.com", api_key=TOOL_KEY)
    path.write_text(json.dumps({"tools": [tool]}))

    call_command("registry_import", str(path), stdout=io.StringIO())

    [record] = _records(object_type="tool")
    assert (record.actor, record.action, record.object_name) == ("registry_import", "create", "search")
    assert record.changes["config.api_key"] == "changed"
    assert record.changes["type"] == [None, "web_search"]
    _assert_no_secret(json.dumps(record.changes))
    assert Tool.objects.get(name="search").full_config["api_key"] == TOOL_KEY


def test_a_key_rotation_is_recorded_per_entry_without_secrets(settings, db):
    factories.llm_config_create(name="main", api_key=LLM_KEY)
    factories.agent_create(name="billing")  # no secret: nothing to rotate, nothing to record
    AuditRecord.objects.all().delete()

    call_command("rotate_secrets", stdout=io.StringIO())

    [record] = _records()
    assert (record.actor, record.action, record.object_name) == ("rotate_secrets", "update", "main")
    assert record.changes == {"api_key": "changed"}
    assert LLMConfig.objects.get(name="main").api_key == LLM_KEY


def test_the_audit_api_filters_and_is_staff_only(staff_client, user_client):
    factories.agent_create(name="billing")
    factories.agent_create(name="support")
    staff_client.patch("/api/agents/billing/", {"description": "Invoices"}, format="json")

    everything = staff_client.get("/api/audit/")
    billing = staff_client.get("/api/audit/", {"object_type": "agent", "object_name": "billing"})
    by_staff = staff_client.get("/api/audit/", {"actor": "staff"})
    future = staff_client.get("/api/audit/", {"since": "2999-01-01"})
    bad = staff_client.get("/api/audit/", {"since": "yesterday"})
    refused = user_client.get("/api/audit/")

    assert everything.status_code == 200
    assert everything.json()["count"] == 3
    assert [r["action"] for r in billing.json()["results"]] == ["update", "create"]
    assert set(billing.json()["results"][0]) == {
        "id", "at", "actor", "action", "object_type", "object_name", "changes",
    }  # fmt: skip
    assert [r["object_name"] for r in by_staff.json()["results"]] == ["billing"]
    assert future.json()["count"] == 0
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["since"]
    assert refused.status_code == 403


def test_audit_records_cannot_be_changed_through_the_api(staff_client):
    factories.agent_create(name="billing")
    record = AuditRecord.objects.get()

    put = staff_client.put(f"/api/audit/{record.pk}/", {"actor": "mallory"}, format="json")
    delete = staff_client.delete(f"/api/audit/{record.pk}/")

    assert put.status_code == 405
    assert delete.status_code == 405
    assert AuditRecord.objects.get().actor == "system"


def test_api_tokens_issued_renamed_revoked_and_deleted_are_recorded_without_the_token(admin_client_, user):
    out = io.StringIO()
    call_command("issue_token", "alice", "--name", "ci", stdout=out)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(name="ci")

    admin_client_.post(f"/admin/orchestrator_studio/apitoken/{token.pk}/change/", {"name": "ci-main"})
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk), actor="root")
    admin_client_.post(f"/admin/orchestrator_studio/apitoken/{token.pk}/delete/", {"post": "yes"})

    records = _records(object_type="api_token")
    assert [(r.actor, r.action) for r in records] == [
        ("issue_token", "create"),
        ("root", "update"),
        ("root", "update"),
        ("root", "delete"),
    ]
    assert records[0].changes["user"] == [None, "alice"]
    assert records[1].changes == {"name": ["ci", "ci-main"]}
    assert list(records[2].changes) == ["revoked_at"]
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    for record in records:
        assert raw not in json.dumps(record.changes)
        assert hash_token(raw) not in json.dumps(record.changes)
