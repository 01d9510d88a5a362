"""The process's one client of the shared cache (Redis across processes with REDIS_URL)."""

import functools

from django.core.cache import BaseCache, caches


@functools.cache
def shared_cache() -> BaseCache:
    """One cache client for the whole process. `django.core.cache.cache` is one per request context: with
    Redis, each request (and each run) would open a new Redis connection (~1 ms of handshake) to save a
    database query. The Redis client's own connection pool, and the local-memory cache, are thread-safe."""
    return caches.create_connection("default")
