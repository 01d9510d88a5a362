"""Websocket security: who the socket belongs to (an API token) and where the page that opened it came from.

Browsers cannot set headers on a websocket, so the token travels in the query string (`?token=...`); an
`Authorization` header is accepted as well for other clients. Without a token, a staff member logged in to
the admin is recognised by the session cookie (the playground's socket); the origin check keeps other
sites' pages from using that cookie. The consumer decides what an anonymous socket gets (close 4401), so
that the client learns why instead of seeing a failed handshake.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import SessionMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connections

from orchestrator_studio.auth import token_from_header, user_for_token_from
from orchestrator_studio.outages import outage_error
from orchestrator_studio.request_threads import RequestExecutors
from orchestrator_studio.throttle import AuthThrottled


def _raw_token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return token_from_header(value.decode("latin1"))
    return None


# The threads of websocket handshakes and frames: pooled as HTTP requests' are (request_threads.py).
_frame_executors = RequestExecutors()


@contextlib.asynccontextmanager
async def own_sync_thread() -> AsyncIterator[None]:
    """Thread-sensitive sync calls (the ORM) made inside run on a sync thread of their own.

    Channels opens no `ThreadSensitiveContext` per consumer (Django does per request), so the database work
    of every socket of the process would queue on asgiref's one shared sync thread. The thread is lent
    from a pool for the block (no thread started and joined per frame); its database connection is closed
    (back to the pool) at the end, as Django does after a request.
    """
    executor = _frame_executors.take()
    try:
        async with ThreadSensitiveContext(executor=executor):
            try:
                yield
            finally:
                await sync_to_async(connections.close_all)()
    finally:
        _frame_executors.give_back(executor)


class TokenAuthMiddleware(BaseMiddleware):
    """Puts the token's user (or, with no token, a logged-in staff member, or `AnonymousUser`) in
    `scope["user"]`."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw = _raw_token(scope)
        address = (scope.get("client") or [None])[0]
        # Self-contained (its connection is closed after it), so any pool thread will do: handshakes of many
        # sockets must not queue on asgiref's one shared sync thread.
        lookup = database_sync_to_async(user_for_token_from, thread_sensitive=False)
        user = None
        try:
            if raw:
                user = await lookup(raw, address)
            elif raw is None and scope.get("session") is not None:
                session_user = await get_user(scope)
                user = session_user if session_user.is_active and session_user.is_staff else None
        except AuthThrottled as exc:
            scope = dict(scope, auth_retry_after=exc.retry_after)
        except Exception as exc:
            # The database down, or every connection of this server's pool in use: the consumer accepts the
            # socket to say so, then closes it (a failed handshake would tell the client nothing).
            outage = outage_error(exc)
            if outage is None:
                raise
            scope = dict(scope, outage=outage)
        scope = dict(scope, user=user or AnonymousUser())
        return await super().__call__(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses sockets opened by pages of other sites (cross-site websocket hijacking).

    A browser always sends `Origin`; it must be one of `ALLOWED_HOSTS` or `CORS_ALLOWED_ORIGINS`. Clients
    that are not browsers (scripts, services) send none and are let through: they can only get in with a
    token, which a foreign page cannot read.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin: Any) -> bool:
        # Read at every handshake, so the check always follows the settings.
        return any(
            pattern == "*" or self.match_allowed_origin(parsed_origin, pattern)
            for pattern in allowed_websocket_origins()
        )


def allowed_websocket_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts + [origin for origin in settings.CORS_ALLOWED_ORIGINS if urlparse(origin).hostname]


def websocket_security(application: Any) -> Any:
    """The websocket stack: origin check, then token (or staff session) authentication, then `application`."""
    return BrowserOriginValidator(SessionMiddlewareStack(TokenAuthMiddleware(application)))
