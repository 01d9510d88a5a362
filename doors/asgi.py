"""The doors that are their SDKs' ASGI applications, in front of Django: `/mcp` and the A2A JSON-RPC
endpoint `/a2a`; every other HTTP request goes to Django."""

from typing import Any

from doors.a2a_server.asgi import a2a_door
from doors.a2a_server.card import JSONRPC_PATH
from doors.auth import ASGIApp, Scope
from doors.mcp_server.asgi import mcp_door

MCP_PATH = "/mcp"


def doors_router(django_app: ASGIApp) -> ASGIApp:
    doors = {MCP_PATH: mcp_door(), JSONRPC_PATH: a2a_door()}

    async def route(scope: Scope, receive: Any, send: Any) -> None:
        door = doors.get(scope.get("path", "").rstrip("/") or "/")
        await (door or django_app)(scope, receive, send)

    return route
