"""The orchestrator as an A2A agent: the card at `/.well-known/agent-card.json` and JSON-RPC at `/a2a`,
served by `a2a-sdk`'s JSON-RPC routes with a request handler whose tasks are the project's runs."""
