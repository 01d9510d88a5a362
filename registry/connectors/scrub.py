"""Keeps secrets out of what the outside world sends back: an echoed key never reaches a response or log."""

from typing import Any

from registry.secrets import mask

MIN_SECRET_LENGTH = 4


def scrub(text: str, secrets: list[Any]) -> str:
    """`text` with every secret value replaced by its mask."""
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, mask(secret))
    return text


def scrub_json(value: Any, secrets: list[Any]) -> Any:
    """`value` (decoded JSON) with every secret masked in its strings, keys included."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(key), secrets): scrub_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_json(item, secrets) for item in value]
    return value
