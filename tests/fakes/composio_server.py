"""A stand-in for Composio's REST API (v3.1), faithful enough for the real `composio` SDK to talk to it.

Serve it with `tests.fakes.server.serve(FakeComposio(api_key=...))` and give the SDK that `base_url`. What it
speaks, as `composio==0.29.0` calls it (header `x-api-key` on every `/api/` request):

- `GET  /api/v3.1/toolkits?limit=&cursor=&category=&search=`          toolkits, paged by cursor
- `GET  /api/v3.1/tools?toolkit_slug=&tool_slugs=&query=&limit=&cursor=&toolkit_versions=`
- `GET  /api/v3.1/tools/{slug}?version=&toolkit_versions=`            one tool's raw schema
- `POST /api/v3.1/tools/execute/{slug}` `{arguments, user_id, version, connected_account_id?}`
- `GET|POST /api/v3.1/auth_configs`                                     (create: Composio-managed auth only)
- `GET  /api/v3.1/connected_accounts?user_ids=&auth_config_ids=&statuses=&toolkit_slugs=`
- `POST /api/v3.1/connected_accounts/link` `{auth_config_id, user_id}` -> a redirect URL to this server
- `DELETE /api/v3.1/connected_accounts/{id}`
- `GET  /link/{token}`: what the user's browser does at the redirect URL; the account becomes ACTIVE.

Errors use Composio's envelope `{"error": {"message", "code", "slug", "status"}}`. Executing a tool echoes
what reached the server (tool, version, user, account, arguments), so tests can check it.
"""

import asyncio
import itertools
import uuid
from typing import Any

import jsonschema

from tests.fakes.server import Receive, Request, Scope, Send, read_request, send_bytes, send_json

CREATED_AT = "2025-10-01T12:00:00.000Z"


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "title": "Request", "properties": properties, "required": required}


_STRING = {"type": "string"}

TOOLKITS: list[dict[str, Any]] = [
    {
        "slug": "github",
        "name": "GitHub",
        "description": "Code hosting: repositories, issues and pull requests.",
        "category": "developer-tools",
        "auth_schemes": ["OAUTH2"],
        "no_auth": False,
    },
    {
        "slug": "hackernews",
        "name": "Hacker News",
        "description": "Read stories and comments on Hacker News.",
        "category": "news",
        "auth_schemes": [],
        "no_auth": True,
    },
]

# slug -> toolkit, description, versions (oldest first; the last one is "latest") -> input schema.
TOOLS: dict[str, dict[str, Any]] = {
    "GITHUB_CREATE_AN_ISSUE": {
        "toolkit": "github",
        "name": "Create an issue",
        "description": "Creates an issue in a GitHub repository.",
        "versions": {
            "20250901_00": _schema(
                {"owner": _STRING, "repo": _STRING, "title": _STRING, "body": _STRING},
                ["owner", "repo", "title"],
            ),
            "20251001_00": _schema(
                {
                    "owner": _STRING,
                    "repo": _STRING,
                    "title": _STRING,
                    "body": _STRING,
                    "labels": {"type": "array", "items": _STRING},
                },
                ["owner", "repo", "title"],
            ),
        },
    },
    "GITHUB_STAR_A_REPOSITORY": {
        "toolkit": "github",
        "name": "Star a repository",
        "description": "Stars a repository for the authenticated user.",
        "versions": {"20251001_00": _schema({"owner": _STRING, "repo": _STRING}, ["owner", "repo"])},
    },
    "HACKERNEWS_SEARCH_POSTS": {
        "toolkit": "hackernews",
        "name": "Search posts",
        "description": "Searches Hacker News posts by keyword.",
        "versions": {
            "20250915_00": _schema(
                {"query": _STRING, "size": {"type": "integer", "minimum": 1, "maximum": 50}}, ["query"]
            )
        },
    },
    "HACKERNEWS_GET_ITEM_WITH_ID": {
        "toolkit": "hackernews",
        "name": "Get item by id",
        "description": "Fetches one Hacker News item by its numeric id.",
        "versions": {"20250915_00": _schema({"id": {"type": "integer"}}, ["id"])},
    },
}


class ComposioHTTPError(Exception):
    def __init__(self, status: int, message: str, slug: str):
        super().__init__(message)
        self.status, self.message, self.slug = status, message, slug


class FakeComposio:
    """The ASGI app. State lives on the instance; tests read `requests` and may set `failure` or `delay`."""

    def __init__(self, api_key: str, *, page_size_cap: int = 100):
        self.api_key = api_key
        self.base_url = ""
        self.page_size_cap = page_size_cap
        self.requests: list[Request] = []
        # (status, body bytes, content type) answered to every /api/ request while set.
        self.failure: tuple[int, bytes, str] | None = None
        # Seconds to wait before answering /api/ requests.
        self.delay = 0.0
        self.auth_configs: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self._link_tokens: dict[str, str] = {}
        self._ids = itertools.count(1)

    def api_requests(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/api/")
            and (method is None or r.method == method)
            and (path is None or r.path == path)
        ]

    def add_account(self, *, user_id: str, toolkit: str, status: str = "ACTIVE") -> dict[str, Any]:
        """An account as if the user had already completed the link flow."""
        auth_config = self._auth_config_for(toolkit)
        return self._new_account(user_id=user_id, auth_config=auth_config, status=status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self.requests.append(request)
        if request.path.startswith("/link/"):
            await self._complete_link(request, send)
            return
        await self._wait()
        if self.failure is not None:
            status, body, content_type = self.failure
            await send_bytes(send, status, body, content_type)
            return
        try:
            if request.headers.get("x-api-key") != self.api_key:
                raise ComposioHTTPError(401, "Invalid API key provided.", "Auth_InvalidApiKey")
            status, payload = self._route(request)
        except ComposioHTTPError as exc:
            body = {"message": exc.message, "code": exc.status * 10, "slug": exc.slug, "status": exc.status}
            await send_json(send, exc.status, {"error": body})
            return
        await send_json(send, status, payload)

    def _route(self, request: Request) -> tuple[int, Any]:
        parts = request.path.removeprefix("/api/v3.1/").strip("/").split("/")
        method = request.method
        match parts:
            case ["toolkits"] if method == "GET":
                return 200, self._toolkits(request)
            case ["tools"] if method == "GET":
                return 200, self._tools(request)
            case ["tools", "execute", slug] if method == "POST":
                return 200, self._execute(slug, request.json() or {})
            case ["tools", slug] if method == "GET":
                return 200, self._tool(slug, request)
            case ["auth_configs"] if method == "GET":
                return 200, self._auth_configs(request)
            case ["auth_configs"] if method == "POST":
                return 201, self._auth_config_create(request.json() or {})
            case ["connected_accounts"] if method == "GET":
                return 200, self._accounts(request)
            case ["connected_accounts", "link"] if method == "POST":
                return 201, self._link(request.json() or {}, request)
            case ["connected_accounts", account_id] if method == "DELETE":
                if self.accounts.pop(account_id, None) is None:
                    raise ComposioHTTPError(404, f"Connected account {account_id} not found.", "NotFound")
                return 200, {"success": True}
        raise ComposioHTTPError(404, f"No route for {method} {request.path}.", "NotFound")

    async def _wait(self) -> None:
        # In steps, so that setting `delay = 0` (as the fixture does on teardown) releases waiting requests.
        waited = 0.0
        while waited < self.delay:
            await asyncio.sleep(0.05)
            waited += 0.05

    # Catalogue ---------------------------------------------------------------------------------

    def _page(self, items: list[Any], request: Request) -> dict[str, Any]:
        limit = min(int(float(_first(request, "limit") or 20)), self.page_size_cap)
        offset = int(_first(request, "cursor") or 0)
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {
            "items": page,
            "next_cursor": str(offset + limit) if more else None,
            "total_items": len(items),
            "current_page": offset // limit + 1,
            "total_pages": max(1, -(-len(items) // limit)),
        }

    def _toolkits(self, request: Request) -> dict[str, Any]:
        category = _first(request, "category")
        search = (_first(request, "search") or "").lower()
        items = [
            _toolkit_item(t)
            for t in TOOLKITS
            if (not category or t["category"] == category) and search in (t["slug"] + t["name"]).lower()
        ]
        return self._page(items, request)

    def _tools(self, request: Request) -> dict[str, Any]:
        toolkits = _csv(request, "toolkit_slug")
        slugs = _csv(request, "tool_slugs")
        term = (_first(request, "query") or _first(request, "search") or "").lower()
        selected = []
        for slug, tool in TOOLS.items():
            if toolkits and tool["toolkit"] not in toolkits:
                continue
            if slugs and slug not in slugs:
                continue
            if term and term not in f"{slug} {tool['name']} {tool['description']}".lower():
                continue
            selected.append(_tool_item(slug, _requested_version(slug, request)))
        return self._page(selected, request)

    def _tool(self, slug: str, request: Request) -> dict[str, Any]:
        if slug not in TOOLS:
            raise ComposioHTTPError(404, f"Tool {slug} not found.", "Tool_NotFound")
        version = _first(request, "version") or _requested_version(slug, request)
        if version not in TOOLS[slug]["versions"]:
            raise ComposioHTTPError(404, f"Tool {slug} has no version {version}.", "Tool_VersionNotFound")
        return _tool_item(slug, version)

    def _execute(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        tool = TOOLS.get(slug)
        if tool is None:
            raise ComposioHTTPError(404, f"Tool {slug} not found.", "Tool_NotFound")
        version = body.get("version") or _latest(slug)
        if version not in tool["versions"]:
            raise ComposioHTTPError(400, f"Tool {slug} has no version {version}.", "Tool_VersionNotFound")
        user_id = body.get("user_id")
        account = None
        if not _toolkit(tool["toolkit"])["no_auth"]:
            account = self._active_account(user_id, tool["toolkit"], body.get("connected_account_id"))
        arguments = body.get("arguments") or {}
        error = next(iter(jsonschema.Draft7Validator(tool["versions"][version]).iter_errors(arguments)), None)
        if error is not None:
            return {"data": {}, "error": f"Invalid arguments: {error.message}", "successful": False}
        return {
            "data": {
                "tool": slug,
                "version": version,
                "user_id": user_id,
                "connected_account_id": account["id"] if account else None,
                "arguments": arguments,
            },
            "error": None,
            "successful": True,
            "log_id": f"log_{next(self._ids)}",
        }

    # Auth configs and connected accounts --------------------------------------------------------

    def _auth_configs(self, request: Request) -> dict[str, Any]:
        toolkit = _first(request, "toolkit_slug")
        items = [c for c in self.auth_configs if not toolkit or c["toolkit"]["slug"] == toolkit]
        return self._page(items, request)

    def _auth_config_create(self, body: dict[str, Any]) -> dict[str, Any]:
        slug = (body.get("toolkit") or {}).get("slug")
        auth_type = (body.get("auth_config") or {}).get("type", "use_composio_managed_auth")
        if auth_type != "use_composio_managed_auth":
            raise ComposioHTTPError(400, "Only Composio-managed auth is offered here.", "AuthConfig_Invalid")
        config = self._auth_config_for(slug)
        return {
            "auth_config": {
                "id": config["id"],
                "auth_scheme": config["auth_scheme"],
                "is_composio_managed": True,
                "restrict_to_following_tools": [],
            },
            "toolkit": {"slug": slug},
        }

    def _auth_config_for(self, slug: str | None) -> dict[str, Any]:
        toolkit = _toolkit(slug)
        if toolkit["no_auth"]:
            raise ComposioHTTPError(
                400,
                f"Toolkit {slug} needs no authentication; no auth config can be made.",
                "AuthConfig_NoAuth",
            )
        for config in self.auth_configs:
            if config["toolkit"]["slug"] == slug:
                return config
        config = {
            "id": f"ac_{next(self._ids):06d}",
            "uuid": str(uuid.uuid4()),
            "name": f"{toolkit['name']} (Composio managed)",
            "auth_scheme": toolkit["auth_schemes"][0],
            "is_composio_managed": True,
            "no_of_connections": 0,
            "status": "ENABLED",
            "type": "default",
            "created_at": CREATED_AT,
            "tool_access_config": {"tools_for_connected_account_creation": []},
            "toolkit": {"slug": slug, "logo": f"https://logos.example/{slug}.png"},
        }
        self.auth_configs.append(config)
        return config

    def _accounts(self, request: Request) -> dict[str, Any]:
        filters = {
            "user_id": _csv(request, "user_ids"),
            "auth_config_id": _csv(request, "auth_config_ids"),
            "status": _csv(request, "statuses"),
            "toolkit_slug": _csv(request, "toolkit_slugs"),
        }
        items = [
            _account_item(a)
            for a in self.accounts.values()
            if all(not wanted or a[key] in wanted for key, wanted in filters.items())
        ]
        return self._page(items, request)

    def _link(self, body: dict[str, Any], request: Request) -> dict[str, Any]:
        user_id = body.get("user_id")
        config = next((c for c in self.auth_configs if c["id"] == body.get("auth_config_id")), None)
        if not user_id or config is None:
            raise ComposioHTTPError(400, "A known auth_config_id and a user_id are required.", "Link_Invalid")
        account = self._new_account(user_id=user_id, auth_config=config, status="INITIATED")
        token = f"lt_{uuid.uuid4().hex[:16]}"
        self._link_tokens[token] = account["id"]
        host = request.headers.get("host", "127.0.0.1")
        return {
            "connected_account_id": account["id"],
            "link_token": token,
            "redirect_url": f"http://{host}/link/{token}",
            "expires_at": "2099-01-01T00:00:00.000Z",
        }

    def _new_account(self, *, user_id: str, auth_config: dict[str, Any], status: str) -> dict[str, Any]:
        account = {
            "id": f"ca_{next(self._ids):06d}",
            "user_id": user_id,
            "status": status,
            "auth_config_id": auth_config["id"],
            "auth_scheme": auth_config["auth_scheme"],
            "toolkit_slug": auth_config["toolkit"]["slug"],
            # What Composio holds for the account; it must never leave the product.
            "access_token": f"gho_{uuid.uuid4().hex}",
        }
        self.accounts[account["id"]] = account
        return account

    def _active_account(self, user_id: str | None, toolkit: str, account_id: str | None) -> dict[str, Any]:
        for account in self.accounts.values():
            if (
                account["toolkit_slug"] == toolkit
                and account["status"] == "ACTIVE"
                and account["user_id"] == user_id
                and (account_id is None or account["id"] == account_id)
            ):
                return account
        raise ComposioHTTPError(
            400,
            f"No active connected account found for user {user_id} in toolkit {toolkit}.",
            "ConnectedAccount_NotFound",
        )

    async def _complete_link(self, request: Request, send: Send) -> None:
        account_id = self._link_tokens.pop(request.path.removeprefix("/link/"), None)
        if account_id is None or account_id not in self.accounts:
            await send_bytes(send, 404, b"This link has expired.")
            return
        self.accounts[account_id]["status"] = "ACTIVE"
        await send_bytes(send, 200, b"Connected. You can close this window.")


def _first(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _csv(request: Request, name: str) -> set[str]:
    return {v for value in request.query.get(name, []) for v in value.split(",") if v}


def _toolkit(slug: str | None) -> dict[str, Any]:
    toolkit = next((t for t in TOOLKITS if t["slug"] == slug), None)
    if toolkit is None:
        raise ComposioHTTPError(404, f"Toolkit {slug} not found.", "Toolkit_NotFound")
    return toolkit


def _latest(slug: str) -> str:
    return list(TOOLS[slug]["versions"])[-1]


def _requested_version(slug: str, request: Request) -> str:
    """The version `toolkit_versions` asks for (`latest`, one for all, or `toolkit_versions[<toolkit>]`)."""
    toolkit = TOOLS[slug]["toolkit"]
    wanted = _first(request, f"toolkit_versions[{toolkit}]") or _first(request, "toolkit_versions")
    if not wanted or wanted == "latest" or wanted not in TOOLS[slug]["versions"]:
        return _latest(slug)
    return wanted


def _toolkit_item(toolkit: dict[str, Any]) -> dict[str, Any]:
    slug = toolkit["slug"]
    return {
        "slug": slug,
        "name": toolkit["name"],
        "type": "native",
        "is_local_toolkit": False,
        "no_auth": toolkit["no_auth"],
        "auth_schemes": toolkit["auth_schemes"],
        "composio_managed_auth_schemes": toolkit["auth_schemes"],
        "auth_guide_url": None,
        "deprecated": {"toolkitId": str(uuid.uuid5(uuid.NAMESPACE_URL, slug))},
        "meta": {
            "description": toolkit["description"],
            "logo": f"https://logos.example/{slug}.png",
            "app_url": f"https://{slug}.example",
            "categories": [
                {"id": toolkit["category"], "name": toolkit["category"].replace("-", " ").title()}
            ],
            "tools_count": sum(1 for t in TOOLS.values() if t["toolkit"] == slug),
            "triggers_count": 0,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "version": "20251001_00",
        },
    }


def _tool_item(slug: str, version: str) -> dict[str, Any]:
    tool = TOOLS[slug]
    toolkit = _toolkit(tool["toolkit"])
    versions = list(tool["versions"])
    return {
        "slug": slug,
        "name": tool["name"],
        "description": tool["description"],
        "human_description": tool["description"],
        "version": version,
        "available_versions": versions,
        "input_parameters": tool["versions"][version],
        "output_parameters": {"type": "object", "properties": {"data": {"type": "object"}}},
        "no_auth": toolkit["no_auth"],
        "is_deprecated": False,
        "scopes": [],
        "tags": [],
        "toolkit": {
            "slug": toolkit["slug"],
            "name": toolkit["name"],
            "logo": f"https://logos.example/{slug}",
        },
        "deprecated": {
            "available_versions": versions,
            "displayName": tool["name"],
            "is_deprecated": False,
            "toolkit": {"logo": f"https://logos.example/{toolkit['slug']}.png"},
            "version": version,
        },
    }


def _account_item(account: dict[str, Any]) -> dict[str, Any]:
    status = account["status"]
    value: dict[str, Any] = {"status": status}
    if status == "ACTIVE":
        value |= {"access_token": account["access_token"], "token_type": "bearer"}
    return {
        "id": account["id"],
        "user_id": account["user_id"],
        "status": status,
        "status_reason": None,
        "is_disabled": False,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "toolkit": {"slug": account["toolkit_slug"]},
        "auth_config": {
            "id": account["auth_config_id"],
            "auth_scheme": account["auth_scheme"],
            "is_composio_managed": True,
            "is_disabled": False,
        },
        "data": dict(value),
        "state": {"authScheme": account["auth_scheme"], "val": value},
    }
