"""The process's one client of the shared cache (Redis across processes with REDIS_URL)."""

import functools
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver


@functools.cache
def shared_cache() -> BaseCache:
    """One cache client for the whole process. `django.core.cache.cache` is one per request context: with
    Redis, each request (and each run) would open a new Redis connection (~1 ms of handshake) to save a
    database query. The Redis client's own connection pool, and the local-memory cache, are thread-safe."""
    return caches.create_connection("default")


@receiver(setting_changed, dispatch_uid="shared_cache_on_caches_changed")
def _caches_changed(setting: str, **kwargs: Any) -> None:
    """Like Django's own cache handler, the shared client follows a change of CACHES (tests do that)."""
    if setting == "CACHES":
        shared_cache.cache_clear()
