"""Checks the arguments an LLM (or an admin testing a tool) passes against a function's JSON Schema."""

from typing import Any

import jsonschema

MAX_ARGUMENT_ERRORS = 5
MAX_MESSAGE_CHARS = 200


def argument_errors(schema: dict[str, Any], arguments: Any) -> list[str]:
    """Every way `arguments` breaks `schema`, as short messages (empty when valid)."""
    if not isinstance(arguments, dict):
        return ["arguments must be a JSON object."]
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    except jsonschema.SchemaError as exc:
        return [f"the function's parameter schema is invalid: {exc.message}"]
    messages = []
    for error in errors[:MAX_ARGUMENT_ERRORS]:
        path = ".".join(str(p) for p in error.absolute_path)
        message = error.message
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + "..."
        messages.append(f"{path}: {message}" if path else message)
    return messages
