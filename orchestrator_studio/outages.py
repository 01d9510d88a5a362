"""Which error means which outside system of the server's own is down, as the API's 503.

The database (Django's wrapped driver errors: a refused or lost connection, a pool with no connection to
give within its timeout, which says so: the database is up, this server's connections are all in use) and
Redis (the shared cache, the channel layers) fail whatever uses them at the
moment; the exception handler (DRF views) and the project's 500 handler (everything else) answer such a
failure with a 503 naming what is down, never a 500. What does not need the failing system goes on working
(API tokens, for one, are read from the database when the cache is down: `auth.user_for_token`).
"""

import traceback

from django.db import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from orchestrator_studio.errors import ServiceUnavailable

# The channel layers (run hand-off, run events) are channels-redis; the cache is Django's Redis cache.
_CHANNEL_LAYER_MODULES = ("channels_redis", "channels.layers")


def _raised_by_channel_layer(exc: BaseException) -> bool:
    return any(
        frame.f_globals.get("__name__", "").startswith(_CHANNEL_LAYER_MODULES)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def outage_error(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 to answer `exc` with when it says the database or Redis is unreachable; None otherwise."""
    if isinstance(exc, OperationalError | InterfaceError):
        if isinstance(exc.__cause__, PoolTimeout):
            return ServiceUnavailable(
                "Every database connection of this server is in use at the moment "
                "(DATABASE_POOL_MAX_SIZE); try again shortly.",
                code="database_unavailable",
            )
        return ServiceUnavailable(
            "The database cannot be reached at the moment; try again shortly.", code="database_unavailable"
        )
    if isinstance(exc, RedisError):
        if _raised_by_channel_layer(exc):
            return ServiceUnavailable(
                "The channel layer (Redis) cannot be reached at the moment; try again shortly.",
                code="channel_layer_unavailable",
            )
        return ServiceUnavailable(
            "The cache (Redis) cannot be reached at the moment; try again shortly.", code="cache_unavailable"
        )
    return None
