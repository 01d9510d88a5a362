"""The `mcp` tool against a real MCP server on loopback (the official SDK's MCPServer, streamable HTTP and
SSE, Bearer token): listing, calls, the allowed-tools filter, failures, secrets."""

import asyncio
import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from registry.catalog import catalog_build, catalog_call, mcp_function_name
from registry.config_files import registry_export, registry_files_import
from registry.connectors.tools import ToolError, tool_probe
from registry.connectors.tools.mcp import mcp_tool_call
from registry.models import Tool
from registry.secrets import mask
from tests.connectors import factories
from tests.fakes.mcp_server import PIXEL_PNG
from tests.fakes.server import free_port

CONTEXT = {"thread_id": "t-1", "run_id": "r-1", "user_id": "u-1"}


def mcp_tool(fake, *, save: bool = True, name: str = "files", **config) -> Tool:
    return factories.tool(
        save=save,
        name=name,
        type="mcp",
        config={"url": fake.url, "auth_token": fake.token, "timeout": 5, **config},
    )


def probe(tool: Tool):
    return async_to_sync(tool_probe)(tool)


def offered_names() -> set[str]:
    return set(async_to_sync(catalog_build)().functions)


def call(name: str, arguments: dict):
    catalog = async_to_sync(catalog_build)()
    return async_to_sync(catalog_call)(catalog, name, arguments, context=CONTEXT)


def test_probe_lists_the_server_and_its_tools_with_the_allowed_flag(db, fake_mcp):
    result = probe(mcp_tool(fake_mcp, allowed_tools=["echo", "add"]))
    assert result.ok, result.error
    listing = result.detail["result"]
    assert listing["server"] == {"name": "fake-tools", "version": "1.2.3"}
    tools = {tool["name"]: tool for tool in listing["tools"]}
    assert {"echo", "add", "fail", "slow", "whoami", "picture", "progress"} <= set(tools)
    assert tools["add"]["allowed"] is True
    assert tools["fail"]["allowed"] is False
    assert tools["add"]["description"] == "Add two integers."
    assert tools["add"]["input_schema"]["properties"].keys() == {"a", "b"}
    assert all(header["authorization"] == f"Bearer {fake_mcp.token}" for header in fake_mcp.headers_seen)


def test_tools_with_unusable_schemas_are_skipped_with_a_logged_reason(db, fake_mcp, caplog):
    caplog.set_level(logging.WARNING, logger="registry.connectors.tools.mcp")
    result = probe(mcp_tool(fake_mcp))
    listing = result.detail["result"]
    assert {"bad_required", "broken_schema"}.isdisjoint(tool["name"] for tool in listing["tools"])
    reasons = {skipped["name"]: skipped["reason"] for skipped in listing["skipped"]}
    assert "not valid JSON Schema" in reasons["bad_required"]
    assert "not valid JSON Schema" in reasons["broken_schema"]
    assert "MCP tool 'broken_schema' of files skipped" in caplog.text
    assert "files__echo" in offered_names()


def test_test_api_lists_tools_and_calls_one(fake_mcp, staff_client):
    mcp_tool(fake_mcp)
    listing = staff_client.post("/api/tools/files/test", {}, format="json").json()
    assert listing["ok"] is True
    assert listing["result"]["server"]["name"] == "fake-tools"
    body = {"arguments": {"tool": "add", "arguments": {"a": 2, "b": 40}}}
    answer = staff_client.post("/api/tools/files/test", body, format="json").json()
    assert answer["ok"] is True
    assert json.loads(answer["result"]) == {"sum": 42}


def test_each_allowed_server_tool_is_one_function_of_the_catalogue(fake_mcp, user_client):
    mcp_tool(fake_mcp, allowed_tools=["echo", "add"])
    schemas = user_client.get("/api/tools/registry/schemas").json()
    functions = {entry["function"]["name"]: entry["function"] for entry in schemas}
    assert {"files__echo", "files__add"} <= set(functions)
    assert not {"files__fail", "files__whoami", "tool__files"} & set(functions)
    assert functions["files__add"]["description"] == "Add two integers."
    assert functions["files__add"]["parameters"]["required"] == ["a", "b"]


def test_a_call_through_the_catalogue_returns_the_text_output(db, fake_mcp):
    mcp_tool(fake_mcp)
    result = call("files__echo", {"text": "hello there"})
    assert result.ok, result.error
    assert result.output == "hello there"


def test_a_disallowed_tool_is_never_offered_nor_called(fake_mcp, staff_client):
    tool = mcp_tool(fake_mcp, allowed_tools=["echo"])
    assert "files__fail" not in offered_names()
    sent_before = len(fake_mcp.headers_seen)
    named_anyway = call("files__fail", {"reason": "x"})
    assert named_anyway.ok is False
    assert "Unknown function" in named_anyway.error
    with pytest.raises(ToolError, match="not among the allowed tools"):
        async_to_sync(mcp_tool_call)(tool, "fail", {"reason": "x"})
    body = {"arguments": {"tool": "fail", "arguments": {"reason": "x"}}}
    answer = staff_client.post("/api/tools/files/test", body, format="json").json()
    assert answer["ok"] is False
    assert "not among the allowed tools" in answer["error"]
    # Nothing reached the server for the refused calls (only the catalogue's listing, already cached).
    assert len(fake_mcp.headers_seen) == sent_before


def test_an_is_error_result_is_ok_false_with_the_servers_message(db, fake_mcp):
    mcp_tool(fake_mcp)
    result = call("files__fail", {"reason": "the disk is full"})
    assert result.ok is False
    assert "reported an error" in result.error
    assert "the disk is full" in result.error


def test_a_slow_tool_is_cut_off_at_the_tools_timeout(db, fake_mcp):
    mcp_tool(fake_mcp, timeout=1)
    result = call("files__slow", {"seconds": 30})
    assert result.ok is False
    assert "did not answer within 1s" in result.error


def test_a_cancelled_call_is_abandoned_not_reported_as_a_failure(db, fake_mcp):
    tool = mcp_tool(fake_mcp)

    async def cancel_midway() -> None:
        call = asyncio.ensure_future(mcp_tool_call(tool, "slow", {"seconds": 30}))
        assert await asyncio.to_thread(fake_mcp.slow_started.wait, 10)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    async_to_sync(cancel_midway)()


def test_a_server_that_is_down_is_a_clear_failure(db):
    tool = factories.tool(
        save=True, name="gone", type="mcp", config={"url": f"http://127.0.0.1:{free_port()}/mcp"}
    )
    result = probe(tool)
    assert result.ok is False
    assert "Cannot connect to the MCP server at http://127.0.0.1" in result.error
    assert "connection refused" in result.error
    assert not any(name.startswith("gone__") for name in offered_names())


def test_a_wrong_token_is_reported_as_refused_credentials(db, fake_mcp):
    result = probe(mcp_tool(fake_mcp, auth_token="not-the-token-at-all"))
    assert result.ok is False
    assert "refused the credentials (HTTP 401)" in result.error


def test_an_mcp_server_at_a_blocked_address_is_refused_before_connecting(db):
    tool = factories.tool(save=True, name="meta", type="mcp", config={"url": "http://169.254.169.254/mcp"})
    result = probe(tool)
    assert result.ok is False
    assert "cloud metadata address" in result.error


def test_private_addresses_are_refused_when_blocked(db, fake_mcp, settings):
    tool = mcp_tool(fake_mcp)
    settings.BLOCK_PRIVATE_NETWORKS = True
    result = probe(tool)
    assert result.ok is False
    assert "loopback address (BLOCK_PRIVATE_NETWORKS is on)" in result.error
    assert fake_mcp.headers_seen == []


def test_import_and_export_keep_the_protocols_and_drop_the_secrets(db, fake_mcp, tmp_path):
    header_secret = "hdr-import-secret-0123456789"
    document = {
        "tools": [
            {
                "name": "files",
                "type": "mcp",
                "config": {
                    "url": fake_mcp.url,
                    "auth_token": fake_mcp.token,
                    "headers": {"X-Team": header_secret},
                    "allowed_tools": ["echo"],
                },
            }
        ],
        "agents": [{"name": "research", "protocol": "a2a", "url": "https://research.example.com"}],
    }
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    registry_files_import(paths=[path])
    tool = Tool.objects.get(name="files")
    assert tool.full_config["headers"] == {"X-Team": header_secret}
    assert probe(tool).ok
    exported = registry_export()
    assert exported["agents"][0]["protocol"] == "a2a"
    assert exported["tools"][0]["config"] == {"url": fake_mcp.url, "headers": {}, "allowed_tools": ["echo"]}
    assert fake_mcp.token not in json.dumps(exported)
    assert header_secret not in json.dumps(exported)


def test_the_tool_list_is_cached_until_a_test_or_an_edit(fake_mcp, staff_client):
    tool = mcp_tool(fake_mcp)
    assert "files__shout" not in offered_names()

    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    fake_mcp.add_tool(shout, name="shout")
    assert "files__shout" not in offered_names()  # still the cached list
    assert staff_client.post("/api/tools/files/test", {}, format="json").json()["ok"] is True
    assert call("files__shout", {"text": "hey"}).output == "HEY"

    fake_mcp.remove_tool("shout")
    staff_client.patch("/api/tools/files/", {"description": "Files."}, format="json")
    assert "files__shout" not in offered_names()
    assert tool.pk


def test_structured_content_images_and_progress(db, fake_mcp):
    tool = mcp_tool(fake_mcp)
    assert json.loads(async_to_sync(mcp_tool_call)(tool, "add", {"a": 1, "b": 2})) == {"sum": 3}
    picture = async_to_sync(mcp_tool_call)(tool, "picture", {})
    assert picture.splitlines() == ["a transparent pixel", f"[image image/png, {len(PIXEL_PNG)} bytes]"]
    heard: list[str] = []

    async def on_progress(text: str) -> None:
        heard.append(text)

    output = async_to_sync(mcp_tool_call)(tool, "progress", {"steps": 3}, on_progress=on_progress)
    assert output == "finished"
    assert heard == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]


def test_the_legacy_sse_transport(db, fake_mcp):
    tool = factories.tool(
        save=True,
        name="legacy",
        type="mcp",
        config={"url": fake_mcp.sse_url, "transport": "sse", "auth_token": fake_mcp.token, "timeout": 5},
    )
    result = probe(tool)
    assert result.ok, result.error
    assert async_to_sync(mcp_tool_call)(tool, "echo", {"text": "over sse"}) == "over sse"


def test_secrets_are_sent_but_never_shown_logged_or_exported(fake_mcp, staff_client, caplog):
    caplog.set_level(logging.DEBUG)
    header_secret = "hdr-secret-value-0123456789"
    mcp_tool(fake_mcp, headers={"X-Team": header_secret})
    shown = staff_client.get("/api/tools/files/").json()["config"]
    assert shown["auth_token"] == mask(fake_mcp.token)
    assert shown["headers"] == {"X-Team": mask(header_secret)}

    output = call("files__whoami", {}).output
    assert fake_mcp.token not in output
    assert output == f"called with Bearer {mask(fake_mcp.token)}"
    assert fake_mcp.headers_seen[-1]["x-team"] == header_secret

    exported = json.dumps(registry_export())
    assert fake_mcp.token not in exported
    assert header_secret not in exported
    assert fake_mcp.token not in caplog.text
    assert header_secret not in caplog.text


@pytest.mark.parametrize(
    ("name", "message"),
    [("agent", "would collide with the functions of agents"), ("a__b", "cannot contain '__'")],
)
def test_names_whose_functions_could_collide_are_refused_at_save(fake_mcp, staff_client, name, message):
    body = {"name": name, "type": "mcp", "config": {"url": fake_mcp.url}}
    response = staff_client.post("/api/tools/", body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["error"]["fields"]["name"])
    assert not Tool.objects.filter(name=name).exists()


def test_function_names_are_sanitised_and_fit():
    assert mcp_function_name("files", "read.file") == "files__read_file"
    long_one = mcp_function_name("files", "x" * 100)
    other = mcp_function_name("files", "x" * 99 + "y")
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", long_one)
    assert len(long_one) == 64
    assert long_one != other


def test_config_is_validated(staff_client, db):
    body = {"name": "bad", "type": "mcp", "config": {"url": "ftp://x", "transport": "carrier-pigeon"}}
    response = staff_client.post("/api/tools/", body, format="json")
    assert response.status_code == 400
    errors = " ".join(response.json()["error"]["fields"]["config"])
    assert "url" in errors
    assert "transport" in errors


def test_admin_shows_the_server_tools_after_a_connection_test(fake_mcp, db):
    tool = mcp_tool(fake_mcp, allowed_tools=["echo"])
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser(username="root", password="pw-root-123"))
    change_url = f"/admin/registry/tool/{tool.pk}/change/"
    assert "Not listed yet" in admin.get(change_url).content.decode()

    tested = admin.post(f"/admin/registry/tool/{tool.pk}/test/", follow=True).content.decode()
    assert f"Connection to “{tool.name}” OK" in tested
    assert "<code>echo</code></td><td>Echo the text back.</td><td>yes</td>" in tested
    assert "<code>fail</code></td><td>Always fails with the given reason.</td><td>no</td>" in tested
    assert "fake-tools 1.2.3" in tested
    assert fake_mcp.token not in tested


def test_health_and_connectivity_include_mcp_servers(fake_mcp, staff_client):
    mcp_tool(fake_mcp)
    factories.tool(save=True, name="gone", type="mcp", config={"url": f"http://127.0.0.1:{free_port()}/mcp"})
    health = staff_client.get("/api/tools/health/all").json()
    assert (health["total"], health["healthy"]) == (2, 1)
    rows = {row["name"]: row for row in health["tools"]}
    assert rows["files"]["ok"] is True
    assert "connection refused" in rows["gone"]["error"]

    connectivity = staff_client.get("/api/monitoring/connectivity").json()
    servers = {row["name"]: row for row in connectivity["mcp_servers"]}
    assert servers["files"]["ok"] is True
    assert servers["files"]["type"] == "mcp"
    assert servers["gone"]["ok"] is False
