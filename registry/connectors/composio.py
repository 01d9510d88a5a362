"""Composio through its `composio` SDK: the catalogue (toolkits, tools, raw tool schemas), users' connected
accounts, and executing one tool slug for a user.

The SDK is synchronous, so every call runs in a small thread pool of its own: the event loop never blocks,
and a slow Composio cannot starve the loop's default executor that `sync_to_async` shares. Each call builds
a light SDK object around one shared, pooled HTTP client whose transport applies the egress guard to every
hop (the SDK follows redirects itself). Catalogue reads are cached for `CACHE_TTL_SECONDS`.

Every failure leaves as a `DomainError` whose message never holds the API key.
"""

import asyncio
import contextvars
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from django.conf import settings
from django.core.cache import cache

from orchestrator_studio.errors import Conflict, DomainError, NotFound, ServiceUnavailable, ValidationFailed
from orchestrator_studio.http import OutboundError, guarded_sync_client

if TYPE_CHECKING:
    from composio import Composio

T = TypeVar("T")

CATALOGUE_TIMEOUT_SECONDS = 30.0
# One retry absorbs a transient 5xx or dropped connection; more would keep an admin page waiting.
MAX_RETRIES = 1
PAGE_SIZE = 100
MAX_CATALOGUE_ITEMS = 2000
MAX_MESSAGE_CHARS = 300
PRODUCTION_BASE_URL = "https://backend.composio.dev"

_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="composio")
_http_client: httpx.Client | None = None
_http_client_lock = threading.Lock()


class ComposioFailed(OutboundError):
    """Composio could not be reached, refused the call, or answered with an error."""

    code = "composio_error"


class ComposioTimeout(ComposioFailed):
    status_code = 504
    code = "composio_timeout"


class ComposioToolFailed(ComposioFailed):
    """The tool ran on Composio's side and reported a failure (bad arguments, the app refused, ...)."""

    code = "composio_tool_failed"


# Catalogue -------------------------------------------------------------------------------------------


async def composio_toolkits() -> list[dict[str, Any]]:
    """Every toolkit Composio offers: `slug`, `name`, `description`, `logo`, `categories`, `auth_schemes`,
    `no_auth`, `tools_count`."""

    def fetch(composio: "Composio") -> list[dict[str, Any]]:
        items: list[Any] = []
        cursor: str | None = None
        while len(items) < MAX_CATALOGUE_ITEMS:
            page = composio.toolkits.list(limit=PAGE_SIZE, cursor=cursor)
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor or not page.items:
                break
        return [_toolkit_view(item) for item in items]

    return await _cached("toolkits", lambda: _run(fetch, seconds=CATALOGUE_TIMEOUT_SECONDS))


async def composio_tools(toolkit: str | None = None, search: str | None = None) -> list[dict[str, Any]]:
    """The tools of a toolkit and/or matching a search, each with its input `parameters` (JSON Schema)."""
    toolkit = (toolkit or "").strip() or None
    search = (search or "").strip() or None
    _credentials()  # unconfigured: 503 whatever is asked, like every Composio endpoint
    if toolkit is None and search is None:
        raise ValidationFailed(
            "Give a toolkit or a search term.", fields={"toolkit": ["Give a toolkit or a search term."]}
        )

    def fetch(composio: "Composio") -> list[dict[str, Any]]:
        items: list[Any] = []
        cursor: str | None = None
        while len(items) < MAX_CATALOGUE_ITEMS:
            page = composio.client.tools.list(
                **_given(toolkit_slug=toolkit, query=search, cursor=cursor), limit=PAGE_SIZE
            )
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor or not page.items:
                break
        return [_tool_view(item) for item in items]

    return await _cached(f"tools:{toolkit}:{search}", lambda: _run(fetch, seconds=CATALOGUE_TIMEOUT_SECONDS))


async def composio_tool_schema(slug: str, version: str | None = None) -> dict[str, Any]:
    """One tool's raw schema at `version` (latest when None), shaped like a `composio_tools` item."""
    version = _pinned(version)
    return await _cached(f"tool:{slug}:{version}", lambda: _fetch_tool_schema(slug, version))


async def _fetch_tool_schema(slug: str, version: str | None) -> dict[str, Any]:
    def fetch(composio: "Composio") -> dict[str, Any]:
        return _tool_view(composio.client.tools.retrieve(slug, **_given(version=version)))

    return await _run(fetch, seconds=CATALOGUE_TIMEOUT_SECONDS, subject=_tool_subject(slug, version))


# Connected accounts -----------------------------------------------------------------------------------


async def composio_connection_create(user_id: str, toolkit: str) -> dict[str, Any]:
    """Start Composio's link flow for `user_id` on `toolkit`: `{"id", "redirect_url", "status"}`.

    Uses the toolkit's newest enabled auth config, making a Composio-managed one when there is none.
    """

    def create(composio: "Composio") -> dict[str, Any]:
        from composio.exceptions import ComposioMultipleConnectedAccountsError

        auth_config_id = _auth_config_id(composio, toolkit)
        try:
            request = composio.connected_accounts.link(user_id, auth_config_id)
        except ComposioMultipleConnectedAccountsError:
            raise Conflict(
                f"User {user_id!r} already has an active {toolkit} connection; delete it to connect again."
            ) from None
        return {"id": request.id, "redirect_url": request.redirect_url, "status": request.status}

    return await _run(create, seconds=CATALOGUE_TIMEOUT_SECONDS, subject=f"toolkit {toolkit!r}")


async def composio_connections(user_id: str | None = None) -> list[dict[str, Any]]:
    """Connected accounts (of one user when given), without any of the credentials Composio holds."""

    def fetch(composio: "Composio") -> list[dict[str, Any]]:
        items: list[Any] = []
        cursor: str | None = None
        while len(items) < MAX_CATALOGUE_ITEMS:
            page = composio.connected_accounts.list(
                **_given(user_ids=[user_id] if user_id else None, cursor=cursor), limit=PAGE_SIZE
            )
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor or not page.items:
                break
        return [_connection_view(item) for item in items]

    return await _run(fetch, seconds=CATALOGUE_TIMEOUT_SECONDS)


async def composio_connection_delete(connection_id: str) -> None:
    def delete(composio: "Composio") -> None:
        composio.connected_accounts.delete(connection_id)

    await _run(delete, seconds=CATALOGUE_TIMEOUT_SECONDS, subject=f"connected account {connection_id!r}")


# Registered `composio` tools (config keys: slug, user_id, version, timeout) -------------------------------


# The timeout is part of the interface the tools connector calls: it bounds work done in a thread pool, where
# `asyncio.timeout` alone could not end the SDK's blocking request.
async def composio_execute(
    config: dict[str, Any],
    arguments: dict[str, Any],
    timeout: float,  # noqa: ASYNC109
) -> Any:
    """Execute the tool `config["slug"]` for `config["user_id"]` with `arguments`; its JSON-safe `data`.

    The SDK refuses to execute "latest" on purpose (a new version may change what a tool does). A tool
    without a pinned `version` runs at the version of the raw schema the LLM was offered (the cached
    `composio_tool_schema`), so the parameters shown and the version executed always agree.
    """
    if not isinstance(arguments, dict):
        raise ValidationFailed("Tool arguments must be a JSON object.")
    slug = _slug(config)
    user_id = str(config.get("user_id") or "default")
    try:
        async with asyncio.timeout(timeout):
            version = _pinned(config.get("version")) or (await composio_tool_schema(slug))["version"]

            def execute(composio: "Composio") -> dict[str, Any]:
                return dict(composio.tools.execute(slug, arguments, user_id=user_id, version=version))

            response = await _run(execute, seconds=timeout, subject=_tool_subject(slug, version))
    except TimeoutError:
        raise ComposioTimeout(f"Composio tool {slug} did not finish within {timeout:g} s.") from None
    if not response.get("successful"):
        reason = _clean(str(response.get("error") or "no reason given"), settings.COMPOSIO_API_KEY)
        raise ComposioToolFailed(f"Composio tool {slug} failed: {reason}")
    return _json_safe(response.get("data"))


async def composio_tool_call(
    config: dict[str, Any],
    arguments: dict[str, Any],
    *,
    timeout: float,  # noqa: ASYNC109 (see composio_execute)
) -> Any:
    """What the tools connector calls for a `composio` tool."""
    return await composio_execute(config, arguments, timeout)


async def composio_tool_probe(config: dict[str, Any]) -> None:
    """Raise unless the tool's schema can be fetched now (at its pinned version) and, for a toolkit that
    needs authentication, its user has an active connected account for it."""
    slug = _slug(config)
    schema = await _fetch_tool_schema(slug, _pinned(config.get("version")))
    if schema["no_auth"]:
        return
    user_id = str(config.get("user_id") or "default")
    toolkit = schema["toolkit"]
    active = [
        c for c in await composio_connections(user_id) if c["toolkit"] == toolkit and c["status"] == "ACTIVE"
    ]
    if not active:
        raise ComposioFailed(
            f"User {user_id!r} has no active Composio connection for {toolkit}: "
            "create one with POST /api/composio/connections."
        )


async def composio_default_parameters(config: dict[str, Any]) -> dict[str, Any]:
    """The tool's input JSON Schema from Composio, offered to the LLM when the tool has no `parameters`."""
    schema = await composio_tool_schema(_slug(config), config.get("version"))
    parameters = schema["parameters"] or {}
    return parameters if parameters.get("type") == "object" else {"type": "object", "properties": {}}


# Running the SDK --------------------------------------------------------------------------------------


def _credentials() -> tuple[str, str]:
    api_key = settings.COMPOSIO_API_KEY
    if not api_key:
        raise ServiceUnavailable(
            "Composio is not configured: set COMPOSIO_API_KEY.", code="composio_not_configured"
        )
    return api_key, (settings.COMPOSIO_BASE_URL or PRODUCTION_BASE_URL).rstrip("/")


async def _run(fn: Callable[["Composio"], T], *, seconds: float, subject: str = "") -> T:
    """`fn(composio)` on the Composio thread pool, its SDK errors turned into `DomainError`s."""
    api_key, base_url = _credentials()
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = loop.run_in_executor(_executor, context.run, _call, fn, api_key, base_url, seconds, subject)
    try:
        # The SDK's own timeout ends the thread's request; this bounds a retry on top of it.
        return await asyncio.wait_for(call, seconds * (MAX_RETRIES + 1) + 1)
    except TimeoutError:
        raise ComposioTimeout(f"Composio at {base_url} did not answer within {seconds:g} s.") from None


def _call(fn: Callable[["Composio"], T], api_key: str, base_url: str, timeout: float, subject: str) -> T:
    # Imported on first use: the SDK takes seconds to import, which every process start would pay.
    from composio import Composio
    from composio.exceptions import ComposioError as SDKError
    from composio_client import ComposioError as ClientError

    try:
        # Built per call: the SDK keeps `allow_tracking` in a context variable, and only the context that
        # built the client has tracking off (no telemetry may leave for composio.dev).
        # The SDK types `timeout` as int; it hands it to httpx, which takes seconds as a float.
        composio = Composio(  # type: ignore[call-overload]
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=MAX_RETRIES,
            allow_tracking=False,
            http_client=_shared_http_client(),
        )
        return fn(composio)
    except (ClientError, SDKError) as exc:
        raise _domain_error(exc, api_key=api_key, base_url=base_url, subject=subject) from None


def _shared_http_client() -> httpx.Client:
    global _http_client
    with _http_client_lock:
        if _http_client is None:
            _http_client = guarded_sync_client(timeout=CATALOGUE_TIMEOUT_SECONDS)
        return _http_client


def _domain_error(exc: Exception, *, api_key: str, base_url: str, subject: str) -> DomainError:
    """The SDK's error as a `DomainError` a person can act on; Composio's own message is kept (cleaned)."""
    from composio.exceptions import ToolNotFoundError, ToolVersionRequiredError
    from composio_client import (
        APIConnectionError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
    )

    if isinstance(exc, APITimeoutError):
        return ComposioTimeout(f"Composio at {base_url} did not answer in time.")
    if isinstance(exc, APIConnectionError):
        return ComposioFailed(f"Could not reach Composio at {base_url}.")
    if isinstance(exc, APIResponseValidationError):
        return ComposioFailed(f"Composio at {base_url} sent a response that is not valid JSON.")
    if isinstance(exc, ToolNotFoundError):
        return NotFound(f"Composio has no {subject or 'such tool'}.")
    if isinstance(exc, ToolVersionRequiredError):
        return ValidationFailed("Composio needs a pinned tool version: set `version` in the tool's config.")
    if not isinstance(exc, APIStatusError):
        return ComposioFailed(f"Composio call failed: {_clean(str(exc), api_key)}")

    status = exc.status_code
    details = exc.details or {}
    reason = _clean(str(details.get("message") or ""), api_key)
    said = f": {reason}" if reason else "."
    if status in (401, 403):
        return ComposioFailed(
            f"Composio refused the configured API key (HTTP {status}); check COMPOSIO_API_KEY.",
            code="composio_auth_failed",
        )
    if status == 404:
        return NotFound(f"Composio found no {subject or 'such resource'}{said}")
    if status == 409:
        return Conflict(f"Composio reported a conflict{said}")
    if status in (400, 422):
        return ValidationFailed(f"Composio rejected the request{said}", code="composio_rejected")
    if status == 429:
        return ComposioFailed(
            "Composio is rate limiting this API key; try again shortly.", code="composio_busy"
        )
    return ComposioFailed(f"Composio answered HTTP {status}{said}")


def _clean(message: str, api_key: str) -> str:
    if api_key:
        message = message.replace(api_key, "****")
    return message.strip()[:MAX_MESSAGE_CHARS]


# Caching ----------------------------------------------------------------------------------------------


async def _cached(name: str, load: Callable[[], Any]) -> Any:
    """`load()` once per `CACHE_TTL_SECONDS` for this Composio account (key and base URL)."""
    api_key, base_url = _credentials()
    digest = hashlib.sha256(f"{base_url}\0{api_key}\0{name}".encode()).hexdigest()
    key = f"composio:{digest}"
    value = await cache.aget(key)
    if value is None:
        value = await load()
        await cache.aset(key, value, settings.CACHE_TTL_SECONDS)
    return value


# Shapes -----------------------------------------------------------------------------------------------


def _toolkit_view(item: Any) -> dict[str, Any]:
    meta = getattr(item, "meta", None)
    categories = getattr(meta, "categories", None) or []
    return {
        "slug": item.slug,
        "name": item.name,
        "description": getattr(meta, "description", "") or "",
        "logo": getattr(meta, "logo", None),
        "categories": [getattr(c, "name", None) or getattr(c, "id", "") for c in categories],
        "auth_schemes": list(getattr(item, "auth_schemes", None) or []),
        "no_auth": bool(getattr(item, "no_auth", False)),
        "tools_count": int(getattr(meta, "tools_count", 0) or 0),
    }


def _tool_view(item: Any) -> dict[str, Any]:
    toolkit = getattr(item, "toolkit", None)
    return {
        "slug": item.slug,
        "name": getattr(item, "name", item.slug),
        "description": getattr(item, "description", "") or "",
        "toolkit": getattr(toolkit, "slug", None),
        "version": getattr(item, "version", None),
        "available_versions": list(getattr(item, "available_versions", None) or []),
        "no_auth": bool(getattr(item, "no_auth", False)),
        "parameters": _json_safe(getattr(item, "input_parameters", None) or {}),
    }


def _connection_view(item: Any) -> dict[str, Any]:
    # Deliberately field by field: `state` and `data` hold the account's tokens.
    return {
        "id": item.id,
        "user_id": getattr(item, "user_id", None),
        "toolkit": getattr(getattr(item, "toolkit", None), "slug", None),
        "status": getattr(item, "status", None),
        "auth_config_id": getattr(getattr(item, "auth_config", None), "id", None),
        "created_at": getattr(item, "created_at", None),
        "updated_at": getattr(item, "updated_at", None),
    }


def _auth_config_id(composio: "Composio", toolkit: str) -> str:
    configs = [c for c in composio.auth_configs.list(toolkit_slug=toolkit).items if c.status == "ENABLED"]
    if configs:
        return max(configs, key=lambda c: c.created_at or "").id
    return composio.auth_configs.create(toolkit, {"type": "use_composio_managed_auth"}).id


def _given(**params: Any) -> dict[str, Any]:
    """Only the parameters that have a value (the SDK sends what it is given, `None` included)."""
    return {name: value for name, value in params.items() if value is not None}


def _pinned(version: Any) -> str | None:
    """A concrete version, or None for Composio's latest."""
    version = str(version or "").strip()
    return None if version in ("", "latest") else version


def _slug(config: dict[str, Any]) -> str:
    slug = str(config.get("slug") or "").strip()
    if not slug:
        raise ValidationFailed("The Composio tool has no `slug` in its config.")
    return slug


def _tool_subject(slug: str, version: str | None) -> str:
    return f"tool {slug}" + (f" at version {version}" if version else "")


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
