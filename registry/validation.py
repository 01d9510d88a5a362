import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from orchestrator_studio.json_limits import check_json_depth, json_depth

# A JSON Schema offered to an LLM stays small: past these its validation costs more than it could be worth
# (450 nested `allOf` made the validator recurse until it failed).
MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_NODES = 5000


HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def validate_http_url(url: str, *, checked_by_field: bool = False) -> None:
    """An http(s) URL with a host. `checked_by_field`: the value is a URLField's, whose own validator
    already says "Enter a valid URL." for a malformed one; only a well-formed URL of another scheme (ftp://)
    is refused here."""
    if checked_by_field:
        try:
            URLValidator()(url)
        except ValidationError:
            return
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Must be an http:// or https:// URL with a host.")
    if has_credentials(url):
        # Said without repeating the URL, which would show the password.
        raise ValidationError(
            "Must not hold credentials (user:password@): put the secret in the entry's secret field "
            "(auth_token, api_key or a header)."
        )


def has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return "@" in parts.netloc


def validate_header_safe(value: Any, *, field: str) -> None:
    """A secret sent in an HTTP header: printable ASCII, no line break (the message never shows it)."""
    if isinstance(value, str) and not all(" " <= char <= "~" for char in value):
        raise ValidationError(
            f"{field} must be printable ASCII without line breaks: it is sent in an HTTP header "
            "(the value is not shown: it is a secret)."
        )


def validate_header_name(name: str) -> None:
    if not HEADER_NAME.match(name):
        raise ValidationError(f"{name[:64]!r} is not a valid HTTP header name.")


# `validate_relative_path` as a JSON Schema pattern (for the OpenAPI document): segments of at least one
# character other than `/`, `\` and control characters, none of them `..`.
_CHAR = r"[^/\\\x00-\x1f\x7f]"
_NOT_DOT = r"[^/\\.\x00-\x1f\x7f]"
_SEGMENT = rf"(?:{_NOT_DOT}{_CHAR}*|\.|\.{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"
RELATIVE_PATH_PATTERN = rf"^(?:(?:/{_SEGMENT})+/?|/)$"
RELATIVE_PATH_OR_EMPTY_PATTERN = rf"^(?:(?:/{_SEGMENT})+/?|/)?$"


def validate_relative_path(path: str) -> None:
    """A path under a base URL: `/execute`, never a scheme, a host, `//`, `..` or a control character."""
    parts = urlsplit(path or "")
    if (
        not path
        or not path.startswith("/")
        or parts.scheme
        or parts.netloc
        or "//" in path
        or ".." in path.split("/")
        or "\\" in path
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
    ):
        raise ValidationError(
            "Must be a relative path starting with '/', without '//', '..', a host or a control character."
        )


def validate_json_depth(value: Any) -> None:
    """Stored JSON nests no deeper than `JSON_MAX_DEPTH`."""
    try:
        check_json_depth(value)
    except ValueError as exc:
        raise ValidationError(f"{exc}.") from None


def validate_json_schema(schema: Any) -> None:
    """A JSON Schema of an object, as OpenAI function parameters must be, of bounded size and nesting."""
    if not isinstance(schema, dict):
        raise ValidationError("Must be a JSON Schema object.")
    if json_depth(schema, stop_past=MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise ValidationError(f"The schema nests deeper than {MAX_SCHEMA_DEPTH} levels.")
    if _node_count(schema, stop_past=MAX_SCHEMA_NODES) > MAX_SCHEMA_NODES:
        raise ValidationError(f"The schema has more than {MAX_SCHEMA_NODES} parts.")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from exc
    if schema.get("type") != "object":
        raise ValidationError('The schema must describe an object ("type": "object").')


def _node_count(value: Any, *, stop_past: int) -> int:
    count, pending = 0, [value]
    while pending and count <= stop_past:
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count
