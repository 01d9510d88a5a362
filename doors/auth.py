"""The API token of a door's request, read from the `Authorization` header as everywhere else."""

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User

from orchestrator_studio.auth import token_from_header, user_for_token_from
from orchestrator_studio.errors import DomainError
from orchestrator_studio.outages import outage_error
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


async def _error(send: Any, status: int, exc: DomainError, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json")]
    raw += [
        (name.lower().encode(), value.encode()) for name, value in {**exc.headers, **(headers or {})}.items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": orjson.dumps({"error": exc.as_error()})})


def _too_large(scope: Scope) -> DomainError | None:
    """A body over MAX_REQUEST_BODY_BYTES, as its Content-Length says (the SDK reads what is sent)."""
    try:
        length = int(asgi_header(scope, b"content-length") or 0)
    except ValueError:
        return DomainError("Invalid Content-Length header.", code="bad_request")
    if length > settings.MAX_REQUEST_BODY_BYTES:
        return DomainError(
            f"Request body is larger than {settings.MAX_REQUEST_BODY_BYTES} bytes.", code="request_too_large"
        )
    return None


def _not_json(scope: Scope) -> DomainError | None:
    content_type = asgi_header(scope, b"content-type").split(";")[0].strip().lower()
    if scope.get("method") == "POST" and content_type != "application/json":
        return DomainError("Send JSON with 'Content-Type: application/json'.", code="unsupported_media_type")
    return None


def token_required(app: ASGIApp, *, json_only: bool = False) -> ASGIApp:
    """An ASGI door that answers 401 (the error envelope) before reading any of the body unless the token
    is valid, 413 for a body over MAX_REQUEST_BODY_BYTES, 503 when the database or Redis is down and (with
    `json_only`) 415 for a POST that is not JSON; `app` finds the user at `scope[SCOPE_USER_KEY]`."""

    async def door(scope: Scope, receive: Any, send: Any) -> None:
        try:
            user = await door_user(asgi_header(scope, b"authorization"), (scope.get("client") or [None])[0])
        except AuthThrottled as exc:
            await _error(send, 429, exc)
            return
        except Exception as exc:
            # The database or Redis down: 503 naming it, as everywhere else.
            outage = outage_error(exc)
            if outage is None:
                raise
            await _error(send, 503, outage)
            return
        if user is None:
            unauthorized = DomainError("Send 'Authorization: Bearer <API token>'.", code="not_authenticated")
            await _error(send, 401, unauthorized, {"WWW-Authenticate": 'Bearer realm="api"'})
            return
        too_large = _too_large(scope)
        if too_large is not None:
            await _error(send, 413 if too_large.code == "request_too_large" else 400, too_large)
            return
        not_json = _not_json(scope) if json_only else None
        if not_json is not None:
            await _error(send, 415, not_json)
            return
        await app({**scope, SCOPE_USER_KEY: user}, receive, send)

    return door
