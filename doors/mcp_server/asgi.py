"""`/mcp` as an ASGI application: the SDK's stateless streamable HTTP transport, so any process can serve
any call, behind the token check (401 before the SDK reads a byte of the body).

The SDK's session manager needs a running task group (normally entered by a Starlette lifespan). Neither
daphne (`runserver`) nor every uvicorn setup runs lifespans, so each event loop gets its manager on its
first request, held open by a task of that loop until the loop ends.
"""

import asyncio
import weakref
from typing import Any

from django.conf import settings
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from doors.auth import ASGIApp, Scope, token_required
from doors.mcp_server.server import mcp_server_build
from orchestrator_studio import __version__


class McpManagers:
    def __init__(self) -> None:
        # Per event loop: the manager once it runs, and the task that holds it open.
        self._managers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Future[Any], asyncio.Task[None]]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        manager = await self._manager()
        await manager.handle_request(scope, receive, send)

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        entry = self._managers.get(loop)
        if entry is None:
            ready = loop.create_future()
            entry = self._managers[loop] = (ready, loop.create_task(self._hold(loop, ready)))
        return await asyncio.shield(entry[0])

    async def _hold(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[Any]) -> None:
        server = mcp_server_build(version=__version__, instructions=settings.ASSISTANT_DESCRIPTION)
        manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
        try:
            async with manager.run():
                ready.set_result(manager)
                await asyncio.Event().wait()
        except Exception as exc:
            # The next request tries again with a new manager.
            self._managers.pop(loop, None)
            if not ready.done():
                ready.set_exception(exc)
            raise


def mcp_door() -> ASGIApp:
    return token_required(McpManagers())
