"""HTTP for the Cube.js and HTTP datasources: the guarded client, and what each answer means for the caller.

A refused query (HTTP 400/422 to a query) is the caller's mistake (400); every other failure is the outside
system's (502, or 504 when it did not answer in time).
"""

import json
from typing import Any

from orchestrator_studio.http import FetchedResponse, OutboundError, http_request
from registry.connectors.datasources.errors import DatasourceTimeout, InvalidQuery

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
MAX_UPSTREAM_MESSAGE_CHARS = 300


async def request_json(
    method: str,
    url: str,
    *,
    label: str,
    timeout_seconds: float,
    headers: dict[str, str],
    json_body: Any = None,
    is_query: bool = False,
) -> Any:
    """The JSON body of a 2xx answer; a `DomainError` with a readable reason for anything else."""
    response = await fetch(method, url, timeout_seconds=timeout_seconds, headers=headers, json_body=json_body)
    if not response.ok:
        raise status_error(response, label, is_query=is_query)
    return json_body_of(response, label)


async def fetch(
    method: str, url: str, *, timeout_seconds: float, headers: dict[str, str], json_body: Any = None
) -> FetchedResponse:
    try:
        response = await http_request(
            method,
            url,
            timeout_seconds=timeout_seconds,
            headers={"Accept": "application/json", **headers},
            json_body=json_body,
            max_response_bytes=MAX_RESPONSE_BYTES,
        )
    except OutboundError as exc:
        if exc.code == "upstream_timeout":
            raise DatasourceTimeout(exc.message) from exc
        raise
    if response.truncated:
        raise OutboundError(
            f"The answer from {url.split('?')[0]} is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB; "
            "ask for fewer rows or columns.",
            code="upstream_response_too_large",
        )
    return response


def json_body_of(response: FetchedResponse, label: str) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise OutboundError(
            f"{label} answered HTTP {response.status_code} with a malformed body (not JSON).",
            code="upstream_malformed",
        ) from exc


def status_error(response: FetchedResponse, label: str, *, is_query: bool) -> OutboundError | InvalidQuery:
    status = response.status_code
    detail = upstream_message(response)
    suffix = f": {detail}" if detail else ""
    if is_query and status in (400, 422):
        return InvalidQuery(f"{label} refused the query (HTTP {status}){suffix}.")
    if status in (401, 403):
        return OutboundError(
            f"{label} refused the credentials (HTTP {status}){suffix}. Check the datasource's auth token.",
            code="upstream_auth_failed",
        )
    if status == 404:
        return OutboundError(f"{label} answered HTTP 404 (not found){suffix}. Check the datasource URL.")
    return OutboundError(f"{label} answered HTTP {status}{suffix}.")


def upstream_message(response: FetchedResponse) -> str:
    """The outside system's own words about an error, shortened; empty for an HTML page or nothing."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail")
            if isinstance(value, str) and value.strip():
                return _shorten(value)
        return ""
    text = response.text.strip()
    if not text or "html" in response.headers.get("content-type", "") or text.startswith("<"):
        return ""
    return _shorten(text)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_UPSTREAM_MESSAGE_CHARS:
        text = text[: MAX_UPSTREAM_MESSAGE_CHARS - 3] + "..."
    return text.rstrip(".")
