"""The MCP server: a low-level `mcp` Server whose handlers read the caller from the HTTP request (the door
authenticated it before the SDK saw the request)."""

from typing import Any

import mcp_types as types
from django.contrib.auth.models import User
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from doors.auth import SCOPE_USER_KEY
from doors.mcp_server.tools import ASK, ask, function_call, tools_for
from registry.catalog import catalog_build

SERVER_NAME = "orchestrator-studio"


def _caller(ctx: ServerRequestContext[Any]) -> User:
    request = ctx.request
    user = request.scope.get(SCOPE_USER_KEY) if request is not None else None
    if user is None:
        raise MCPError(types.INVALID_REQUEST, "Not authenticated.")
    return user


async def _list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=await tools_for(_caller(ctx)))


async def _call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    user = _caller(ctx)
    arguments = dict(params.arguments or {})
    if params.name == ASK:
        return await ask(user, arguments)
    if user.is_staff:
        catalog = await catalog_build()
        spec = catalog.functions.get(params.name)
        if spec is not None and spec.requires_approval:
            raise MCPError(
                types.INVALID_PARAMS,
                f"{params.name} needs a person's approval before each call, so it is not offered over MCP: "
                "ask for it in the playground or over the API, where the call can be approved.",
            )
        if spec is not None:
            return await function_call(user, catalog, params.name, arguments)
    raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")


def mcp_server_build(*, version: str, instructions: str) -> Server[Any]:
    return Server(
        SERVER_NAME,
        version=version,
        instructions=instructions,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )
