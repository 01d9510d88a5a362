"""The API's JSON parser: DRF's, with the bounds of `json_limits` (nesting, NUL characters)."""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from orchestrator_studio.json_limits import JsonRefused, JsonTooDeep, check_json_depth


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            try:
                data = super().parse(stream, media_type, parser_context)
            except RecursionError:
                raise JsonTooDeep(settings.JSON_MAX_DEPTH) from None
            check_json_depth(data)
        except JsonRefused as exc:
            raise ParseError(f"JSON parse error - {exc}.") from None
        return data
