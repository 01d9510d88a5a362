"""The orchestrator as an MCP server at `/mcp` (streamable HTTP, stateless, the official `mcp` SDK)."""
