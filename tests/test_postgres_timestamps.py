"""`timestamptz` values read through psycopg's C parser (orchestrator_studio/postgres_timestamps.py) are
exactly what Django's own loader gives: same instant, same fields, the connection's time zone."""

import datetime
import re
import zoneinfo

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from orchestrator_studio.postgres_timestamps import TIMESTAMPTZ_OID, TimestamptzLoader
from registry.models import ExternalAgent
from tests.registry import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres' timestamptz loader"),
]

INSTANTS = [
    "2026-12-01 06:00:01.123456+00",
    "2026-12-01 06:00:01+00",
    "2026-03-29 01:30:00.5+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "1970-01-01 00:00:00+00",
    "2024-02-29 12:00:00.000001+00",
]


def _texts(zone: str) -> list[bytes]:
    """The instants as Postgres writes them in a session of time zone `zone`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [zone])
        cursor.execute("SELECT t::timestamptz::text FROM unnest(%s::text[]) AS t", [INSTANTS])
        return [row[0].encode() for row in cursor.fetchall()]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_values_are_djangos_to_the_microsecond_and_the_zone(zone):
    tz = datetime.UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone)
    context = connection.connection
    django_loader = type("Django", (BaseTzLoader,), {"timezone": tz})(TIMESTAMPTZ_OID, context)
    ours = type("Ours", (TimestamptzLoader,), {"timezone": tz})(TIMESTAMPTZ_OID, context)

    for text in _texts(zone):
        try:
            theirs = django_loader.load(text)
        except psycopg.DataError as refused:  # year 1 or 9999 of UTC, outside 1-9999 in the zone
            with pytest.raises(psycopg.DataError, match=re.escape(str(refused).split(":")[0])):
                ours.load(text)
            continue
        mine = ours.load(text)
        assert mine == theirs
        assert mine.tzinfo is theirs.tzinfo is tz
        assert mine.isoformat() == theirs.isoformat()  # the same wall time and offset, to the microsecond


def test_django_connections_read_timestamps_with_it():
    agent = factories.agent_create(name="dated")
    connection.ensure_connection()

    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, 0)
    read = ExternalAgent.objects.get(pk=agent.pk)

    assert issubclass(loader, TimestamptzLoader)
    assert loader.timezone is connection.timezone
    assert read.created_at == agent.created_at
    assert read.created_at.tzinfo is connection.timezone
