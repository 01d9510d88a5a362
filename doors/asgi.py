"""The doors that are ASGI applications of their SDKs, in front of Django: `/mcp` (and, below, the A2A
server); every other HTTP request goes to Django."""

from typing import Any

from doors.mcp_server.asgi import McpDoor

ASGIApp = Any


def doors_router(django_app: ASGIApp) -> ASGIApp:
    mcp = McpDoor()

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if path in ("/mcp", "/mcp/"):
            await mcp(scope, receive, send)
            return
        await django_app(scope, receive, send)

    return route
