"""The process's one client of the shared cache (Redis across processes with REDIS_URL)."""

import functools
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
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


class _ReusedClients(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self  # the stubs leave out RedisCacheClient's private helpers
        index = django_client._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = django_client._get_connection_pool(write)
            client = self._clients[index] = django_client._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, with one redis-py client per server instead of a new one per operation
    (building one costs more than the GET it serves). A redis-py client is thread-safe: its connections come
    from the pool, as before."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusedClients
