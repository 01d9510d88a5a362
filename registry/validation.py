from typing import Any
from urllib.parse import urlsplit

import jsonschema
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator


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


def validate_relative_path(path: str) -> None:
    """A path under a base URL: `/execute`, never a scheme, a host, `//` or `..`."""
    parts = urlsplit(path or "")
    if (
        not path
        or not path.startswith("/")
        or parts.scheme
        or parts.netloc
        or "//" in path
        or ".." in path.split("/")
        or "\\" in path
    ):
        raise ValidationError("Must be a relative path starting with '/', without '//', '..' or a host.")


def validate_json_schema(schema: Any) -> None:
    """A JSON Schema of an object, as OpenAI function parameters must be."""
    if not isinstance(schema, dict):
        raise ValidationError("Must be a JSON Schema object.")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from exc
    if schema.get("type") != "object":
        raise ValidationError('The schema must describe an object ("type": "object").')
