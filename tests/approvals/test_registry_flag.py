"""`requires_approval` on agents, tools and datasources, `config.approval_tools` on `mcp` tools, and the
catalogue's flag that the engine and the doors read."""

import json

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from registry.catalog import catalog_build
from registry.config_files import registry_export, registry_files_import
from registry.connectors.tools import tool_probe
from registry.models import DataSource, ExternalAgent, Tool
from tests.connectors import factories


def flags() -> dict[str, bool]:
    catalog = async_to_sync(catalog_build)()
    return {name: spec.requires_approval for name, spec in catalog.functions.items()}


def test_the_flag_is_false_by_default_and_set_over_the_api(staff_client):
    agent = {"name": "refunds", "url": "https://refunds.example.com", "requires_approval": True}
    tool = {"name": "crm", "type": "http", "config": {"base_url": "https://crm.example.com"}}
    datasource = {"name": "sales", "type": "http", "url": "https://sales.example.com"}
    assert staff_client.post("/api/agents/", agent, format="json").status_code == 201
    assert staff_client.post("/api/tools/", tool, format="json").status_code == 201
    assert staff_client.post("/api/datasources/", datasource, format="json").status_code == 201

    assert staff_client.get("/api/agents/refunds/").json()["requires_approval"] is True
    assert staff_client.get("/api/tools/crm/").json()["requires_approval"] is False
    assert staff_client.get("/api/datasources/sales/").json()["requires_approval"] is False
    patched = staff_client.patch("/api/tools/crm/", {"requires_approval": True}, format="json")
    assert patched.json()["requires_approval"] is True
    assert Tool.objects.get(name="crm").requires_approval is True


def test_a_flag_that_is_not_a_boolean_is_refused_and_changes_nothing(staff_client):
    factories.datasource(name="sales")
    response = staff_client.patch("/api/datasources/sales/", {"requires_approval": 1}, format="json")
    assert response.status_code == 400
    assert "requires_approval" in response.json()["error"]["fields"]
    assert DataSource.objects.get(name="sales").requires_approval is False


def test_the_catalogue_marks_the_functions_that_need_approval(db, fake_agent):
    factories.agent(save=True, name="refunds", url=fake_agent.base_url, requires_approval=True)
    factories.agent(save=True, name="faq", url=fake_agent.base_url)
    factories.tool(save=True, name="mailer", requires_approval=True)
    factories.datasource(name="sales", requires_approval=True)
    assert flags() == {
        "agent__refunds": True,
        "agent__faq": False,
        "tool__mailer": True,
        "datasource__sales": True,
    }
    catalog = async_to_sync(catalog_build)()
    free = catalog.without_approval()
    assert set(free.functions) == {"agent__faq"}
    assert set(free.resources) == {"agent__faq"}


def mcp_tool(fake, **fields) -> Tool:
    tool = factories.tool(
        save=True,
        name="files",
        type="mcp",
        **{"config": {"url": fake.url, "auth_token": fake.token, "timeout": 5}, **fields},
    )
    assert async_to_sync(tool_probe)(tool).ok
    return tool


def test_mcp_approval_tools_mark_single_server_tools(db, fake_mcp):
    config = {
        "url": fake_mcp.url,
        "auth_token": fake_mcp.token,
        "allowed_tools": ["echo", "add"],
        "approval_tools": ["add"],
    }
    mcp_tool(fake_mcp, config=config)
    assert flags() == {"files__echo": False, "files__add": True}


def test_an_mcp_tool_that_requires_approval_marks_every_server_tool(db, fake_mcp):
    config = {"url": fake_mcp.url, "auth_token": fake_mcp.token, "allowed_tools": ["echo", "add"]}
    mcp_tool(fake_mcp, config=config, requires_approval=True)
    assert flags() == {"files__echo": True, "files__add": True}


def test_approval_tools_are_validated(staff_client):
    base = {"url": "https://tools.example.com/mcp"}
    cases = [
        ({**base, "approval_tools": "add"}, "approval_tools"),
        ({**base, "approval_tools": [""]}, "approval_tools"),
        ({**base, "approval_tools": ["add", "add"]}, "approval_tools"),
        ({**base, "allowed_tools": ["echo"], "approval_tools": ["add"]}, "'add' is not in allowed_tools"),
    ]
    for config, message in cases:
        body = {"name": "files", "type": "mcp", "config": config}
        response = staff_client.post("/api/tools/", body, format="json")
        assert response.status_code == 400, config
        assert message in " ".join(response.json()["error"]["fields"]["config"])
    assert not Tool.objects.exists()
    ok = {"name": "files", "type": "mcp", "config": {**base, "approval_tools": ["add"]}}
    assert staff_client.post("/api/tools/", ok, format="json").status_code == 201


def test_import_and_export_keep_the_flags(db, tmp_path):
    document = {
        "agents": [{"name": "refunds", "url": "https://refunds.example.com", "requires_approval": True}],
        "tools": [
            {
                "name": "files",
                "type": "mcp",
                "config": {"url": "https://tools.example.com/mcp", "approval_tools": ["delete"]},
            },
            {
                "name": "mailer",
                "type": "http",
                "config": {"base_url": "https://mail.example.com"},
                "requires_approval": True,
            },
        ],
        "datasources": [{"name": "sales", "type": "http", "url": "https://sales.example.com"}],
    }
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    registry_files_import(paths=[path])
    assert ExternalAgent.objects.get(name="refunds").requires_approval is True
    exported = registry_export()
    tools = {entry["name"]: entry for entry in exported["tools"]}
    assert tools["mailer"]["requires_approval"] is True
    assert tools["files"]["requires_approval"] is False
    assert tools["files"]["config"]["approval_tools"] == ["delete"]
    assert exported["datasources"][0]["requires_approval"] is False
    assert exported["agents"][0]["requires_approval"] is True

    again = tmp_path / "again.json"
    again.write_text(json.dumps(exported))
    report = registry_files_import(paths=[again])
    assert report.total("unchanged") == 4


def test_the_admin_sets_the_flag_and_shows_which_server_tools_need_approval(db, fake_mcp):
    config = {"url": fake_mcp.url, "auth_token": fake_mcp.token, "approval_tools": ["add"]}
    tool = mcp_tool(fake_mcp, config=config)
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-123"))
    page = admin.get(f"/admin/registry/tool/{tool.pk}/change/").content.decode()
    assert 'name="requires_approval"' in page
    assert "<th>Needs approval</th>" in page
    assert "<code>add</code></td><td>Add two integers.</td><td>yes</td><td>yes</td>" in page
    assert "<code>echo</code></td><td>Echo the text back.</td><td>yes</td><td>no</td>" in page

    agent = factories.agent(save=True, name="refunds")
    form = admin.get(f"/admin/registry/externalagent/{agent.pk}/change/").content.decode()
    assert 'name="requires_approval"' in form
    listing = admin.get("/admin/registry/datasource/?requires_approval__exact=1")
    assert listing.status_code == 200
