"""HTTP clients for the SDKs that bring their own HTTP library (the `mcp` SDK: httpx2; `a2a-sdk`: httpx).

Each client's transport runs the egress guard before every request it sends (redirects the SDK follows
included), never follows a redirect by itself and ignores proxy variables of the environment.
"""

from typing import Any

import httpx
import httpx2

from orchestrator_studio.egress import egress_check
from orchestrator_studio.http import USER_AGENT


class _GuardedHttpx2Transport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await egress_check(str(request.url))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedHttpxTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await egress_check(str(request.url))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_httpx2_client(
    *, headers: dict[str, str], timeout_seconds: float, **options: Any
) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=_GuardedHttpx2Transport(),
        headers={"User-Agent": USER_AGENT, **headers},
        timeout=httpx2.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        follow_redirects=False,
        trust_env=False,
        **options,
    )


def guarded_httpx_client(
    *, headers: dict[str, str], timeout_seconds: float, **options: Any
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=_GuardedHttpxTransport(),
        headers={"User-Agent": USER_AGENT, **headers},
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        follow_redirects=False,
        trust_env=False,
        **options,
    )
