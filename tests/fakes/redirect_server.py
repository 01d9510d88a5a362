"""A server that redirects everything to another origin, and the server it redirects to.

Both listen on loopback on ports of their own, so they are two origins: whatever reaches `target` after a
redirect from `redirector` is a request that crossed origins. Both record what they receive.
"""

from dataclasses import dataclass, field

from tests.fakes.server import Receive, Request, Scope, Send, read_request, send_json


@dataclass
class CrossOriginRedirect:
    """`url`: the redirecting server (point a connector at it); `status`: the redirect it answers (302 by
    default); `requests`: what reached it; `target.requests`: what crossed to the other origin."""

    status: int = 302
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    target: "RedirectTarget" = field(default_factory=lambda: RedirectTarget())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests.append(await read_request(scope, receive))
        await send_json(send, self.status, {"moved": True}, {"location": f"{self.target.url}/stolen"})


@dataclass
class RedirectTarget:
    url: str = ""
    requests: list[Request] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests.append(await read_request(scope, receive))
        await send_json(send, 200, {"results": [], "data": [], "ok": True})
