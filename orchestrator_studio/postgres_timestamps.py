"""`timestamptz` values read by psycopg's C parser, with Django's time zone, on every Postgres connection.

Django reads each `timestamptz` with its own loader (`BaseTzLoader` of django.db.backends.postgresql): a
subclass of psycopg's pure-Python `TimestamptzLoader` (which psycopg would otherwise replace with its C
twin), then `replace(tzinfo=<the connection's time zone>)`. That is about 3 µs of CPU per value; a page of
50 registry entries (`created_at`, `updated_at`) paid a third of a millisecond for it, and every run and
event read pays it too. The loader installed here gives the same value: psycopg's C parser (the same
parse as the Python one, its optimised twin, looked up through psycopg's public adapters map), then the
same `replace`. Django keeps the loader while its `timezone` is the connection's (`create_cursor`
compares them), so this is done once per connection Django opens (`connection_created`).
"""

import datetime
from typing import Any

import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.adapt import Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# psycopg's `TimestamptzLoader`, its C implementation when psycopg has one (psycopg[binary] or [c]).
_PARSER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class TimestamptzLoader(Loader):
    """Django's `SpecificTzLoader` for one time zone, parsing with psycopg's fastest parser."""

    timezone: datetime.tzinfo | None = None

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._parse = _PARSER(oid, context).load  # type: ignore[misc]

    def load(self, data: Any) -> datetime.datetime:
        return self._parse(data).replace(tzinfo=self.timezone)


_LOADERS: dict[datetime.tzinfo | None, type[TimestamptzLoader]] = {}


def _loader_for(zone: datetime.tzinfo | None) -> type[TimestamptzLoader]:
    loader = _LOADERS.get(zone)
    if loader is None:
        loader = _LOADERS[zone] = type("SpecificTzLoader", (TimestamptzLoader,), {"timezone": zone})
    return loader


def timestamptz_loader_install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: on a Postgres connection with `USE_TZ`, the loader above in place of
    Django's, for the connection's time zone (without `USE_TZ` Django's loader is left as it is)."""
    if connection.vendor != "postgresql" or connection.timezone is None:
        return
    adapters = connection.connection.adapters
    loader = _loader_for(connection.timezone)
    if adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not loader:
        adapters.register_loader(TIMESTAMPTZ_OID, loader)
