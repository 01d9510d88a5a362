"""Which values are secrets, how they are split from the rest, merged on update and masked on the way out.

Secrets live in encrypted columns; the public part of a `config` and the URL of a DSN keep no secret.
A secret inside `config` is addressed by its key (`api_key`) or, for headers, `headers.<Name>`: every
header value is a secret, whatever its name. A DSN's password, in its userinfo or its query string
(`?password=`), is kept apart from the URL.
"""

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

SECRET_KEY_PATTERN = re.compile(r"(api_?key|token|password|passwd|secret)$", re.IGNORECASE)
MASK = "****"


def mask(value: str) -> str:
    """`****abcd` for a long secret, `****` for a short one (whose last 4 would give too much away)."""
    return MASK + value[-4:] if len(value) >= 12 else MASK


def is_mask(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public config, secrets by path); every header value is a secret. A secret given as None stays in
    the result as a removal."""
    public: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key, value in config.items():
        if key == "headers" and isinstance(value, dict):
            for name, header_value in value.items():
                secrets[f"headers.{name}"] = header_value
            public[key] = {}
        elif SECRET_KEY_PATTERN.search(key):
            secrets[key] = value
        else:
            public[key] = value
    return public, secrets


def merge_secrets(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """New values replace, masks and omitted keys keep the stored value, None removes it."""
    merged = dict(stored)
    for path, value in incoming.items():
        if value is None or value == "":
            merged.pop(path, None)
        elif not is_mask(value):
            merged[path] = value
    return merged


def join_config(public: dict[str, Any], secrets: dict[str, Any], *, masked: bool = False) -> dict[str, Any]:
    """The whole config: with real secret values for connectors, or masks for the API and admin."""
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in public.items()}
    for path, value in secrets.items():
        shown = mask(str(value)) if masked else value
        if path.startswith("headers."):
            config.setdefault("headers", {})[path.removeprefix("headers.")] = shown
        else:
            config[path] = shown
    return config


def split_dsn(url: str) -> tuple[str, str]:
    """(URL without its password, the password) for `scheme://user:password@host/db` and
    `scheme://user@host/db?password=...` (libpq's query-string form)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = [value for name, value in query if name == "password"]
    if parts.password is None and not in_query:
        return url, ""
    if in_query:
        parts = parts._replace(
            query=urlencode([(name, value) for name, value in query if name != "password"])
        )
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}@{host}")
    password = urlsplit(url).password
    # Kept as it would sit in the userinfo, where `join_dsn` puts it back.
    return urlunsplit(parts), password if password is not None else quote(in_query[-1], safe="")


def join_dsn(url: str, password: str, *, masked: bool = False) -> str:
    if not password:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    shown = MASK if masked else password
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{shown}@{host}"))
