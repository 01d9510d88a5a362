"""DRF's JSON renderer, its bytes made by orjson.

DRF renders with the standard library's `json` through its `JSONEncoder`: for a page of 50 registry entries
that is about a tenth of a millisecond of CPU, on the request's thread, on every API answer. orjson makes the
same document in a few microseconds. The bytes are DRF's, exactly (tests/test_renderers.py compares them):
same compact separators, UTF-8 rather than `\\u` escapes, `\\u2028` and `\\u2029` escaped, and every value
orjson does not write itself the way DRF would (dates and times, decimals, lazy strings, dataclasses...)
goes through DRF's encoder. Where orjson and `json` could still differ, DRF's own path renders it:
an indented answer (`Accept: application/json; indent=4`), a key that is not a string, an integer beyond
64 bits, a string that is not valid Unicode, and a float below 1e-4 (`json` writes `1e-05`, orjson
`0.00001`: the same number, other characters), which are found by looking for what only such floats
write (`e-`, `0.0000`) anywhere in the bytes. Non-finite floats are null in orjson and an error in DRF;
none reaches a renderer (the API's JSON parser and number fields refuse them).
"""

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_ENCODER = JSONEncoder()
# Only a float below 1e-4 makes orjson write these where `json` writes something else.
_MAY_DIFFER = (b"e-", b"0.0000")


def orjson_rendered(data: Any) -> bytes | None:
    """`data` as DRF's compact JSON, or None when DRF's own path must render it."""
    try:
        rendered = orjson.dumps(data, default=_ENCODER.default, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a key, an integer or a string orjson refuses
        return None
    if _MAY_DIFFER[0] in rendered or _MAY_DIFFER[1] in rendered:
        return None
    if b"\xe2\x80" in rendered:
        rendered = rendered.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
    return rendered


class JSONRenderer(renderers.JSONRenderer):
    # DRF's settings COMPACT_JSON, UNICODE_JSON and STRICT_JSON as they are: orjson writes only that form.
    _as_orjson_writes = (
        renderers.JSONRenderer.compact
        and not renderers.JSONRenderer.ensure_ascii
        and renderers.JSONRenderer.strict
    )

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if (
            self._as_orjson_writes
            and self.get_indent(accepted_media_type or "", renderer_context or {}) is None
        ):
            rendered = None if data is None else orjson_rendered(data)
            if rendered is not None:
                return rendered
        return super().render(data, accepted_media_type, renderer_context)
