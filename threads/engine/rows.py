"""New rows of the run path (threads, runs, messages, events) inserted with one plain INSERT per model.

The values are what Django's `save()` and `bulk_create()` would write, prepared by the same fields
(`pre_save` fills `auto_now_add`, `get_db_prep_save` adapts UUIDs, JSON and datetimes for the database at
hand); only the query is not built again for every row, which is about half of what an ORM insert costs
in CPU. Signals are not sent: nothing listens to these models' saves. Everywhere off the run path, the
ORM's own `save()` stays the way to write.
"""

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models
from django.db.models.fields import AutoFieldMixin

from threads.engine.events import Event
from threads.models import RunEvent

# Rows per statement: far below every database's limit on parameters (SQLite's included).
MAX_ROWS_PER_STATEMENT = 500


@cache
def _plan(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    """The start of the model's INSERT and the fields it writes (all but an auto-incremented key)."""
    fields = tuple(f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin))
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    # Names from the model's own metadata, quoted; every value goes as a parameter.
    table = connection.ops.quote_name(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES ", fields  # noqa: S608


def rows_insert(rows: Sequence[models.Model]) -> None:
    """Insert `rows`, new instances of one model, in the caller's transaction; afterwards they are saved
    instances, as after `save()` (their auto-incremented keys, if any, are not read back)."""
    if not rows:
        return
    start, fields = _plan(type(rows[0]))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"  # one parameter per field
    for first in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        batch = rows[first : first + MAX_ROWS_PER_STATEMENT]
        params: list[Any] = []
        for row in batch:
            params.extend(field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields)
        with connection.cursor() as cursor:
            cursor.execute(start + ", ".join([row_sql] * len(batch)), params)
        for row in batch:
            row._state.adding = False
            row._state.db = connection.alias


def events_store(events: Iterable[Event]) -> None:
    """Store numbered events as RunEvent rows (`run_id`, `seq` and `type` from the event, which is the
    payload), in one statement, in the caller's transaction."""
    rows_insert([RunEvent(run_id=e["run_id"], seq=e["seq"], type=e["type"], payload=e) for e in events])
