"""Token authentication: `Authorization: Bearer <token>` or `Token <token>`; tokens are stored hashed."""

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from orchestrator_studio.cache import shared_cache
from orchestrator_studio.models import ApiToken, hash_token
from orchestrator_studio.throttle import (
    AuthThrottled,
    client_address,
    token_auth_failure_record,
    token_auth_failures_key,
    token_auth_retry_after,
)
from orchestrator_studio.token_usage import token_use_note

KEYWORDS = ("bearer", "token")

logger = logging.getLogger(__name__)


# A token's user is kept in the cache (shared by every process with REDIS_URL) for this long, which saves a
# database round trip (and, with no pooled connection at hand, a connection) on every API call.
# Consequence: a token revoked by a bulk `.delete()`/`.update()` that sends no signal, or whose user is
# changed that way, may keep working for up to TOKEN_CACHE_SECONDS. Saving or deleting a token, or saving
# its user, through the ORM clears the entry at once (the signal receivers below).
TOKEN_CACHE_SECONDS = 10
_TOKEN_CACHE_PREFIX = "auth:token:"  # noqa: S105 (a cache key prefix, not a secret)


def _token_cache_key(key_hash: str) -> str:
    return _TOKEN_CACHE_PREFIX + key_hash


@contextlib.contextmanager
def _cache_optional() -> Iterator[None]:
    """The token cache only saves a query: with the cache (Redis) down, tokens are read from the database
    (and an entry not cleared then expires within TOKEN_CACHE_SECONDS of the cache's return)."""
    try:
        yield
    except RedisError as exc:
        logger.warning("Cache unavailable for token authentication, going on without: %s", type(exc).__name__)


def _user_for_hash(key_hash: str, *, cached: User | None, cache_up: bool) -> User | None:
    """The active user of a token (by its hash), given what the cache held for it (`cached`); read from the
    database on a miss, and cached when the cache is up."""
    if cached is not None:
        token_use_note(key_hash)
        return cached
    token = ApiToken.objects.active().select_related("user").filter(key_hash=key_hash).first()
    if token is None:
        # Misses are not cached: a token issued a moment later must work at once.
        return None
    cache_seconds: float = TOKEN_CACHE_SECONDS
    if token.expires_at is not None:  # never served from the cache past its expiry
        cache_seconds = min(cache_seconds, (token.expires_at - timezone.now()).total_seconds())
    if cache_up and cache_seconds >= 1:
        with _cache_optional():
            shared_cache().set(_token_cache_key(key_hash), token.user, int(cache_seconds))
    token_use_note(key_hash)
    return token.user


def user_for_token_from(raw: str, address: str | None) -> User | None:
    """The active user a raw token belongs to, or None, for a client at `address`, whose invalid tokens are
    counted: `AuthThrottled` once it sent too many (orchestrator_studio.throttle). Shared by DRF, SSE views,
    websockets and the doors. One cache round trip reads both the address's count and the token's cached
    user. The counters live in the cache: while it is down, tokens are checked against the database
    uncounted rather than every request refused (a token cannot be guessed anyway)."""
    key_hash = hash_token(raw) if raw else ""
    failures_key = token_auth_failures_key(address)
    token_key = _token_cache_key(key_hash)
    found: dict[str, Any] | None = None
    with _cache_optional():
        found = shared_cache().get_many([failures_key, token_key])
    retry_after = None
    if found is not None:
        with _cache_optional():
            retry_after = token_auth_retry_after(address, failures=found.get(failures_key) or 0)
    if retry_after is not None:
        raise AuthThrottled(retry_after)
    user = None
    if key_hash:
        user = _user_for_hash(key_hash, cached=(found or {}).get(token_key), cache_up=found is not None)
    if user is None:
        with _cache_optional():
            token_auth_failure_record(address)
    return user


@receiver(post_delete, sender=ApiToken, dispatch_uid="auth_token_cache_on_delete")
@receiver(post_save, sender=ApiToken, dispatch_uid="auth_token_cache_on_save")
def _token_changed(sender: type[ApiToken], instance: ApiToken, **kwargs: Any) -> None:
    """A revoked token, or one given an expiry, is refused by the next request."""
    with _cache_optional():
        shared_cache().delete(_token_cache_key(instance.key_hash))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="auth_token_cache_on_user_save")
def _token_user_saved(sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
    """A deactivated user (or one whose staff flag changed) is seen by the next request."""
    if created:
        return
    hashes = ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)
    keys = [_token_cache_key(key_hash) for key_hash in hashes]
    if keys:
        with _cache_optional():
            shared_cache().delete_many(keys)


def token_from_header(header: str) -> str | None:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in KEYWORDS:
        return None
    return parts[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        raw = token_from_header(header)
        if raw is None:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            user = user_for_token_from(raw, client_address(request))
        except AuthThrottled as exc:
            # DRF's own 429, so that its `Retry-After` header and the envelope's `rate_limited` follow.
            raise exceptions.Throttled(exc.retry_after, exc.message) from None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class IsStaffForWrites(permissions.BasePermission):
    """Any authenticated user may read; only staff may change anything."""

    message = "Only staff users may change the registry."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or bool(user.is_staff)


class IsStaff(permissions.BasePermission):
    message = "Staff only."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
