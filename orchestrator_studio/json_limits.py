"""How deeply nested the JSON the service accepts may be: request bodies, websocket frames and stored JSON.

Deeply nested JSON (`[` x 10000) makes Python's parser, `copy.deepcopy`, JSON Schema validators and
renderers recurse until they fail; bounded here, it is a clear 400 instead.
"""

import json
from typing import Any

from django.conf import settings


class JsonTooDeep(ValueError):
    """The JSON nests deeper than `JSON_MAX_DEPTH` levels."""

    def __init__(self, limit: int):
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


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


def check_json_depth(value: Any, limit: int | None = None) -> None:
    limit = settings.JSON_MAX_DEPTH if limit is None else limit
    if json_depth(value, stop_past=limit) > limit:
        raise JsonTooDeep(limit)


def loads_bounded(text: str | bytes) -> Any:
    """`json.loads`, with `JsonTooDeep` (a ValueError) for JSON nested past `JSON_MAX_DEPTH`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(settings.JSON_MAX_DEPTH) from None
    check_json_depth(value)
    return value
