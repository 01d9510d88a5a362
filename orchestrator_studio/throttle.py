"""Password and token guessing, slowed down per client address.

Admin logins: django-axes (settings `AXES_*`) counts failures per address in the database and answers a
locked-out address with `admin_lockout_response`. API tokens: the same idea here, with the counters in the
shared cache (Redis with `REDIS_URL`, so every process sees them): after `TOKEN_AUTH_FAILURE_LIMIT` invalid
tokens from one address within `TOKEN_AUTH_LOCKOUT_SECONDS`, that address gets 429 with `Retry-After` for
any token until the window ends. Neither answer says whether a user or a token exists.
"""

import math
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import BaseCache
from django.http import HttpRequest, HttpResponse

from orchestrator_studio.cache import shared_cache
from orchestrator_studio.errors import TooManyRequests

_FAILURES_KEY = "auth:token-failures:"
_WINDOW_END_KEY = "auth:token-window-end:"
UNKNOWN_ADDRESS = "unknown"


class AuthThrottled(TooManyRequests):
    """Too many invalid tokens came from this address: nothing is looked at before `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed authentications from your address.", retry_after=retry_after)


def _cache() -> BaseCache:
    return shared_cache()


def client_address(request: HttpRequest) -> str | None:
    """The address requests are throttled by: the peer's (None when unknown, as for a login made by
    code). Behind a proxy, the proxy must pass the client's address as the peer (uvicorn
    `--proxy-headers`), never a header a client could make up."""
    return request.META.get("REMOTE_ADDR") or None


def lockout_seconds() -> int:
    return max(1, int(settings.TOKEN_AUTH_LOCKOUT_SECONDS))


def token_auth_failures_key(address: str | None) -> str:
    """The cache key of the address's count of invalid tokens (read with the token, in one round trip)."""
    return _FAILURES_KEY + (address or UNKNOWN_ADDRESS)


def token_auth_retry_after(address: str | None, *, failures: int) -> int | None:
    """Seconds this address must wait before its next token is looked at; None when it may go on.
    `failures`: the address's count, read by the caller (`token_auth_failures_key`) with the token."""
    address = address or UNKNOWN_ADDRESS
    if failures < settings.TOKEN_AUTH_FAILURE_LIMIT:
        return None
    window_end = _cache().get(_WINDOW_END_KEY + address)
    if window_end is None:
        return None
    return max(1, math.ceil(window_end - time.time()))


def token_auth_failure_record(address: str | None) -> None:
    """Count an invalid token from `address`; the count lives as long as the window the first one opened."""
    address = address or UNKNOWN_ADDRESS
    window = lockout_seconds()
    cache = _cache()
    cache.add(_WINDOW_END_KEY + address, time.time() + window, window)
    cache.add(_FAILURES_KEY + address, 0, window)
    try:
        cache.incr(_FAILURES_KEY + address)
    except ValueError:
        # The window ended between `add` and `incr`: this failure opens the next one.
        cache.set(_FAILURES_KEY + address, 1, window)


def admin_login_cool_off(request: HttpRequest | None = None) -> timedelta:
    """django-axes' `AXES_COOLOFF_TIME`: how long a locked-out address waits."""
    return timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def admin_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' `AXES_LOCKOUT_CALLABLE`: 429 with `Retry-After`, naming no user."""
    seconds = int(settings.LOGIN_LOCKOUT_SECONDS)
    response = HttpResponse(
        f"Too many failed logins from your address. Try again in {math.ceil(seconds / 60)} minute(s).",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response
