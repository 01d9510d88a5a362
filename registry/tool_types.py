"""The kinds of tool an admin can register: their config schema and the parameters offered to the LLM."""

from dataclasses import dataclass
from typing import Any

import jsonschema
from django.db import models

from registry.secrets import SECRET_KEY_PATTERN


class ToolType(models.TextChoices):
    HTTP = "http", "HTTP API"
    WEB_SEARCH = "web_search", "Web search"
    CODE_EXECUTOR = "code_executor", "Code executor"
    COMPOSIO = "composio", "Composio action"
    MCP = "mcp", "MCP tool server"


@dataclass(frozen=True)
class ToolTypeSpec:
    type: str
    description: str
    config_schema: dict[str, Any]
    default_parameters: dict[str, Any]


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


_URL = {"type": "string", "pattern": "^https?://"}
# MCP tool names: 1-128 letters, digits, '_', '-' and '.' (the specification's recommendation), kept lenient.
_MCP_TOOL_NAMES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 128},
    "uniqueItems": True,
}
# A registry `mcp` tool offers its server's tools; its own parameters are those of a test call.
MCP_TEST_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tool": {"type": "string", "description": "The server tool to call."},
        "arguments": {"type": "object", "description": "Its arguments."},
    },
    "required": ["tool"],
}

TOOL_TYPES: dict[str, ToolTypeSpec] = {
    ToolType.HTTP: ToolTypeSpec(
        type=ToolType.HTTP,
        description="Calls an HTTP API under a configured base URL; the LLM fills path, query and body.",
        config_schema=_object(
            {
                "base_url": _URL,
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "GET"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "auth_token": {"type": "string"},
                "timeout": {"type": "number", "minimum": 1, "maximum": 600, "default": 30},
            },
            ["base_url"],
        ),
        default_parameters={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Path under the API's base URL."},
                "query": {"type": "object", "description": "Query string parameters."},
                "body": {"type": "object", "description": "JSON body."},
            },
        },
    ),
    ToolType.WEB_SEARCH: ToolTypeSpec(
        type=ToolType.WEB_SEARCH,
        description="Searches the web through a SearXNG, Tavily, Brave or Google style JSON API.",
        config_schema=_object(
            {
                # "google" is the seed's own example provider (Google Programmable Search, engine `cx`).
                "provider": {"enum": ["searxng", "tavily", "brave", "google"], "default": "searxng"},
                "endpoint": _URL,
                "api_key": {"type": "string"},
                "cx": {"type": "string", "description": "Google Programmable Search engine id."},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                "timeout": {"type": "number", "minimum": 1, "maximum": 600, "default": 30},
            },
            ["provider", "endpoint"],
        ),
        default_parameters={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
        },
    ),
    ToolType.CODE_EXECUTOR: ToolTypeSpec(
        type=ToolType.CODE_EXECUTOR,
        description="Runs Python in a sandbox (no network, no server files, limited; off by default).",
        config_schema=_object(
            {
                "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 300, "default": 10},
                "memory_mb": {"type": "integer", "minimum": 32, "maximum": 4096, "default": 256},
            }
        ),
        default_parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python source; print() the result."}},
            "required": ["code"],
        },
    ),
    ToolType.COMPOSIO: ToolTypeSpec(
        type=ToolType.COMPOSIO,
        description="Executes one Composio tool (by slug) for a configured user.",
        config_schema=_object(
            {
                "slug": {"type": "string", "minLength": 1},
                "user_id": {"type": "string", "minLength": 1, "default": "default"},
                "version": {"type": "string"},
                "timeout": {"type": "number", "minimum": 1, "maximum": 600, "default": 60},
            },
            ["slug"],
        ),
        default_parameters={"type": "object", "properties": {}},
    ),
    ToolType.MCP: ToolTypeSpec(
        type=ToolType.MCP,
        description="A remote MCP (Model Context Protocol) server: each allowed tool of it is one function.",
        config_schema=_object(
            {
                "url": _URL,
                "transport": {"enum": ["streamable_http", "sse"], "default": "streamable_http"},
                "auth_token": {"type": "string"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "allowed_tools": _MCP_TOOL_NAMES,
                "approval_tools": _MCP_TOOL_NAMES,
                "timeout": {"type": "number", "minimum": 1, "maximum": 600, "default": 30},
            },
            ["url"],
        ),
        default_parameters=MCP_TEST_PARAMETERS,
    ),
}


# The kinds of the catalogue's own function names (`tool__<name>`, `agent__<name>`, ...).
CATALOG_KINDS = ("tool", "agent", "datasource")


def function_prefix_problem(tool_type: str, name: str) -> str | None:
    """Why an `mcp` tool may not have this name, or None. Its functions are `<name>__<server tool>`: a
    name that is a catalogue kind would collide with that kind's functions (`agent__billing`), and a name
    holding `__` with another server's (`a__b` + `c` = `a` + `b__c`). Refused at save, never at run time."""
    if tool_type != ToolType.MCP:
        return None
    if name in CATALOG_KINDS:
        return (
            f"An MCP tool cannot be named {name!r}: its functions ({name}__<server tool>) would collide "
            f"with the functions of {name}s. Choose another name."
        )
    if "__" in (name or ""):
        return (
            "An MCP tool's name cannot contain '__': its functions are named <tool name>__<server tool>, "
            "and two servers' functions could then collide."
        )
    return None


def config_errors(tool_type: str, config: Any) -> list[str]:
    """Every way `config` breaks its type's schema, as readable messages (empty when valid)."""
    spec = TOOL_TYPES.get(tool_type)
    if spec is None:
        return [f"Unknown tool type {tool_type!r}."]
    validator = jsonschema.Draft202012Validator(spec.config_schema)
    errors = [
        _describe(error)
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]
    if not errors and tool_type == ToolType.MCP:
        errors = _approval_tools_errors(config)
    return errors


def _approval_tools_errors(config: dict[str, Any]) -> list[str]:
    """An `mcp` tool's `approval_tools` must name tools it offers: one outside `allowed_tools` is a typo
    that would leave the tool the admin meant to guard unguarded, or guard nothing."""
    allowed = config.get("allowed_tools")
    if not allowed:
        return []
    outside = [name for name in config.get("approval_tools") or () if name not in allowed]
    return [f"approval_tools: {name!r} is not in allowed_tools." for name in outside]


def _describe(error: jsonschema.ValidationError) -> str:
    """The error without the value itself: a value may be a secret, or a URL holding credentials."""
    path = ".".join(str(p) for p in error.absolute_path)
    if not path:  # the config object itself: the error is already filed under "config"
        return error.message
    if SECRET_KEY_PATTERN.search(path) or path.startswith("headers."):
        return f"{path}: invalid value (not shown: it may be a secret)."
    if isinstance(error.instance, str):
        return f"{path}: {error.message.replace(repr(error.instance), 'the value')}"
    return f"{path}: {error.message}"
