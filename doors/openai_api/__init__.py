"""The OpenAI-compatible front door: `/v1/models` and `/v1/chat/completions` (API.md)."""
