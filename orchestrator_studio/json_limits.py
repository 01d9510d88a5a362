"""What JSON the service accepts in request bodies, websocket frames and stored JSON.

Deeply nested JSON (`[` x 10000) makes Python's parser, `copy.deepcopy`, JSON Schema validators and
renderers recurse until they fail, and a NUL character (`\\u0000`) in a string can be stored neither in a
Postgres text column nor in jsonb; refused here, each is a clear 400 instead.
"""

import json
from typing import Any

from django.conf import settings


class JsonRefused(ValueError):
    """JSON the service does not accept, though it parses."""


class JsonTooDeep(JsonRefused):
    """The JSON nests deeper than `JSON_MAX_DEPTH` levels."""

    def __init__(self, limit: int):
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


class JsonHasNul(JsonRefused):
    def __init__(self) -> None:
        super().__init__("JSON strings may not contain the NUL character (\\u0000)")


def json_depth(value: Any, *, stop_past: int | None = None) -> int:
    """Levels of arrays and objects in `value` (0 for a scalar), without recursion; counting stops once
    past `stop_past`."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if stop_past is not None and deepest > stop_past:
            break
        pending.extend((child, depth) for child in children)
    return deepest


def _has_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def check_json_depth(value: Any, limit: int | None = None) -> None:
    """`JsonTooDeep` past `limit` levels (default `JSON_MAX_DEPTH`), `JsonHasNul` for a NUL in any string."""
    limit = settings.JSON_MAX_DEPTH if limit is None else limit
    if json_depth(value, stop_past=limit) > limit:
        raise JsonTooDeep(limit)
    if _has_nul(value):
        raise JsonHasNul


def loads_bounded(text: str | bytes) -> Any:
    """`json.loads`, with `JsonRefused` (a ValueError) for JSON the service does not accept."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(settings.JSON_MAX_DEPTH) from None
    check_json_depth(value)
    return value
