"""The `composio` tool: one Composio tool slug, executed by `registry.connectors.composio` (the SDK)."""

from typing import Any

from registry.connectors import composio
from registry.models import Tool

DEFAULT_TIMEOUT_SECONDS = 60.0


async def call(tool: Tool, arguments: dict[str, Any]) -> Any:
    config = tool.full_config
    timeout = float(config.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
    return await composio.composio_tool_call(config, arguments, timeout=timeout)


async def probe(tool: Tool) -> Any:
    """Composio knows the slug and the API key works; nothing is executed."""
    await composio.composio_tool_probe(tool.full_config)
    return {"slug": tool.config.get("slug")}
