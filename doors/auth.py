"""The API token of a door's request, read from the `Authorization` header as everywhere else."""

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from orchestrator_studio.auth import token_from_header, user_for_token_from
from orchestrator_studio.errors import error_body
from orchestrator_studio.throttle import AuthThrottled

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
# Where an ASGI door finds the authenticated user in the request's scope.
SCOPE_USER_KEY = "orchestrator_studio.user"


async def door_user(authorization: str, address: str | None) -> User | None:
    """The active user of `Authorization: Bearer <token>` (or `Token <token>`), None for anything else.
    `AuthThrottled` when the client at `address` sent too many invalid tokens."""
    raw = token_from_header(authorization) if authorization else None
    if raw is None:
        return None
    return await sync_to_async(user_for_token_from)(raw, address)


def asgi_header(scope: Scope, name: bytes) -> str:
    """One header of an ASGI HTTP scope (`name` in lower case), or ''."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


async def _unauthorized(send: Any) -> None:
    body = error_body("not_authenticated", "Send 'Authorization: Bearer <API token>'.")
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="api"')]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


async def _throttled(send: Any, exc: AuthThrottled) -> None:
    headers = [(b"content-type", b"application/json"), (b"retry-after", str(exc.retry_after).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps({"error": exc.as_error()})})


def token_required(app: ASGIApp) -> ASGIApp:
    """An ASGI door that answers 401 (the error envelope) before reading any of the body unless the token
    is valid; `app` finds the user at `scope[SCOPE_USER_KEY]`."""

    async def door(scope: Scope, receive: Any, send: Any) -> None:
        try:
            user = await door_user(asgi_header(scope, b"authorization"), (scope.get("client") or [None])[0])
        except AuthThrottled as exc:
            await _throttled(send, exc)
            return
        if user is None:
            await _unauthorized(send)
            return
        await app({**scope, SCOPE_USER_KEY: user}, receive, send)

    return door
