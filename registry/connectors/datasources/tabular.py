"""Turns what a datasource returns into the API's table: `columns`, `rows` (JSON-safe) and the row cap.

Every value leaves as something `json.dumps` accepts without a custom encoder, so results travel unchanged
through the API, run events and the LLM's tool messages.
"""

import base64
import datetime
import enum
import ipaddress
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from registry.models import DataSource

DEFAULT_MAX_ROWS = 1000
DEFAULT_MAX_RESULT_BYTES = 5_000_000
DEFAULT_MAX_VALUE_BYTES = 1_000_000
# Strict JSON has no NaN or Infinity; the text Postgres itself uses for them.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def max_rows_of(datasource: DataSource) -> int:
    return _positive_int_or((datasource.config or {}).get("max_rows"), DEFAULT_MAX_ROWS)


@dataclass(frozen=True)
class ResultCaps:
    """How much JSON one result may hold in all (`max_result_bytes`) and in one value (`max_value_bytes`)."""

    max_result_bytes: int
    max_value_bytes: int


def _positive_int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def result_caps_of(datasource: DataSource) -> ResultCaps:
    config = datasource.config or {}
    total = _positive_int_or(config.get("max_result_bytes"), DEFAULT_MAX_RESULT_BYTES)
    value = _positive_int_or(config.get("max_value_bytes"), DEFAULT_MAX_VALUE_BYTES)
    return ResultCaps(max_result_bytes=total, max_value_bytes=min(value, total))


def capped_row(row: Iterable[Any], max_value_bytes: int) -> tuple[list[Any], int, bool]:
    """(the row JSON-safe, its size as JSON, whether a value was cut). A value whose JSON is over
    `max_value_bytes` becomes the start of its text and a note of its size."""
    out: list[Any] = []
    size, cut = 2, False  # the row's brackets; each value adds its separator
    for value in row:
        safe = json_safe(value)
        text = json.dumps(safe)
        if len(text) > max_value_bytes:
            shown = safe if isinstance(safe, str) else text
            safe = f"{shown[:max_value_bytes]}… [cut: {len(text)} characters in all]"
            text, cut = safe, True
        out.append(safe)
        size += len(text) + 2
    return out, size, cut


def json_safe(value: Any) -> Any:
    """`value` as plain JSON: numbers stay numbers where that loses nothing, the rest becomes text.

    Decimals become int or float when exact, else their digits as a string; dates and times ISO 8601;
    intervals ISO 8601 durations; UUIDs and network addresses their text; bytes base64.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)


def _decimal(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


def iso_duration(delta: datetime.timedelta) -> str:
    """`P1DT2H3M4.5S`; negative durations get a leading '-'."""
    sign = "-" if delta < datetime.timedelta(0) else ""
    delta = abs(delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time_parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else ""]
    if seconds or delta.microseconds:
        time_parts.append(f"{seconds}.{delta.microseconds:06d}".rstrip("0").rstrip(".") + "S")
    time_part = "".join(time_parts)
    days = f"{delta.days}D" if delta.days else ""
    if not days and not time_part:
        return "PT0S"
    return f"{sign}P{days}" + (f"T{time_part}" if time_part else "")


def table(columns: list[str], rows: Iterable[Iterable[Any]], max_rows: int) -> dict[str, Any]:
    """The API's result shape, at most `max_rows` rows; `truncated` says whether more were there."""
    kept: list[list[Any]] = []
    truncated = False
    for row in rows:
        if len(kept) == max_rows:
            truncated = True
            break
        kept.append([json_safe(value) for value in row])
    return {"columns": columns, "rows": kept, "row_count": len(kept), "truncated": truncated}


def table_from_records(records: list[Any], max_rows: int, columns: list[str] | None = None) -> dict[str, Any]:
    """A table from a list of JSON objects (the keys, in first-seen order, are the columns).

    Lists are taken as rows of `columns`; anything else becomes a single `value` column.
    """
    if columns is not None and all(isinstance(record, list) for record in records):
        return table([str(column) for column in columns], records, max_rows)
    if all(isinstance(record, Mapping) for record in records):
        names: dict[str, None] = dict.fromkeys(columns or [])
        for record in records[: max_rows + 1]:
            names.update(dict.fromkeys(str(key) for key in record))
        ordered = list(names)
        return table(ordered, ([record.get(name) for name in ordered] for record in records), max_rows)
    return table(["value"], ([record] for record in records), max_rows)
