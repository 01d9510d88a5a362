"""A fake remote MCP tool server, built with the official SDK's `MCPServer`, over real HTTP.

It speaks streamable HTTP at `/mcp` (and the legacy SSE transport at `/sse`), and refuses any request
without `Authorization: Bearer <token>` (the SDK's own bearer middleware, with a verifier that knows one
token). Its tools:
- `echo(text)` → the text; `add(a, b)` → the sum, as structured content too;
- `fail(reason)` → an `isError` result; `slow(seconds)` → answers after that long (`slow_started` is set
  when it begins);
- `whoami()` → echoes the bearer token it was called with (to prove it is scrubbed);
- `picture()` → an image and a text part; `progress(steps)` → reports progress, then "finished";
- `bad_required` and `broken_schema`, whose input schemas are not valid JSON Schema.
`add_tool`/`remove_tool` change the list while it runs; `headers_seen` records every request's headers.
"""

import asyncio
import threading
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.types import Image

from tests.fakes.server import Receive, Scope, Send

# A 1x1 transparent PNG.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class _OneTokenVerifier:
    def __init__(self, token: str) -> None:
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if token != self.token:
            return None
        return AccessToken(token=token, client_id="orchestrator", scopes=[])


def _echo(text: str) -> str:
    """Echo the text back."""
    return text


def _add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


def _fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(reason)


def _whoami() -> str:
    """Say which bearer token the call came with."""
    access = get_access_token()
    return f"called with Bearer {access.token if access else 'nothing'}"


def _picture() -> list[Any]:
    """A tiny picture and its caption."""
    return ["a transparent pixel", Image(data=PIXEL_PNG, format="png")]


async def _progress(steps: int, ctx: Context) -> str:
    """Count to `steps`, reporting each step."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
    return "finished"


def _unusable_tools() -> list[Tool]:
    """Two tools whose input schemas no LLM can be offered: neither is valid JSON Schema."""
    return [
        Tool.from_function(_echo, name="bad_required").model_copy(
            update={"parameters": {"type": "object", "required": "text"}}
        ),
        Tool.from_function(_echo, name="broken_schema").model_copy(
            update={"parameters": {"type": "object", "properties": {"text": {"type": 12}}}}
        ),
    ]


class FakeMcpServer:
    def __init__(self, *, token: str, name: str = "fake-tools", version: str = "1.2.3") -> None:
        self.token = token
        self.base_url = ""
        self.server: MCPServer = MCPServer(
            name,
            version=version,
            tools=_unusable_tools(),
            token_verifier=_OneTokenVerifier(token),
            auth=AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),
        )
        self.slow_started = threading.Event()

        async def slow(seconds: float) -> str:
            """Answer after `seconds`."""
            self.slow_started.set()
            await asyncio.sleep(seconds)
            return f"slept {seconds:g}s"

        for function in (_echo, _add, _fail, slow, _whoami, _progress):
            self.server.add_tool(function, name=function.__name__.lstrip("_"))
        self.server.add_tool(_picture, name="picture", structured_output=False)
        self._streamable = self.server.streamable_http_app(streamable_http_path="/mcp")
        self._sse = self.server.sse_app(sse_path="/sse", message_path="/messages/")
        self._lock = threading.Lock()
        self._headers: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        """The streamable HTTP endpoint."""
        return f"{self.base_url}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.base_url}/sse"

    @property
    def headers_seen(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers)

    def add_tool(self, function: Any, name: str) -> None:
        self.server.add_tool(function, name=name)

    def remove_tool(self, name: str) -> None:
        self.server.remove_tool(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            with self._lock:
                self._headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            if scope["path"].startswith(("/sse", "/messages")):
                await self._sse(scope, receive, send)
                return
        await self._streamable(scope, receive, send)
