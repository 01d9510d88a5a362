from orchestrator_studio.errors import DomainError


class ToolError(DomainError):
    """A tool call failed; the message says why and holds no secret."""

    status_code = 502
    code = "tool_error"
