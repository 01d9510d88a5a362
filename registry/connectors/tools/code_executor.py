"""The `code_executor` tool: Python in the bubblewrap sandbox of `registry.connectors.tools.sandbox`.

The code sees no network, no file of the server, no environment and no other process; it runs as an
unprivileged uid under CPU, memory, file size, process count and wall-clock limits, and only the first
`MAX_OUTPUT_BYTES` of its output are kept. It runs only when `CODE_EXECUTOR_ENABLED` is on, the tool is
enabled and the sandbox can be set up (bubblewrap installed): never outside the sandbox.
"""

import math
import signal
from typing import Any

from django.conf import settings

from registry.connectors.tools.errors import ToolError
from registry.connectors.tools.sandbox import Limits, SandboxTimeout, sandbox_run
from registry.models import Tool

MAX_CODE_CHARS = 100_000
MAX_OUTPUT_BYTES = 64 * 1024
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TMP_BYTES = 32 * 1024 * 1024
MAX_PROCESSES = 16
MAX_OPEN_FILES = 256
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MEMORY_MB = 256
PROBE_CODE = "print('ok')"


def _refusal(tool: Tool) -> str | None:
    if not settings.CODE_EXECUTOR_ENABLED:
        return "The code executor is disabled on this server (set CODE_EXECUTOR_ENABLED=true to allow it)."
    if not tool.enabled:
        return f"The tool '{tool.name}' is disabled."
    return None


async def run_python(code: str, *, timeout_seconds: float, memory_mb: int) -> dict[str, Any]:
    """Run `code`; `{"exit_code", "stdout", "stderr", "truncated"}` or `ToolError` when it was stopped."""
    limits = Limits(
        cpu_seconds=math.ceil(timeout_seconds) + 1,
        memory_bytes=memory_mb * 1024 * 1024,
        file_bytes=MAX_FILE_BYTES,
        processes=MAX_PROCESSES,
        open_files=MAX_OPEN_FILES,
        tmp_bytes=MAX_TMP_BYTES,
    )
    try:
        outcome = await sandbox_run(
            code.encode(), limits=limits, timeout_seconds=timeout_seconds, max_output_bytes=MAX_OUTPUT_BYTES
        )
    except SandboxTimeout:
        raise ToolError(f"The code ran longer than {timeout_seconds:g}s and was stopped.") from None
    result = {
        "exit_code": outcome.exit_code,
        "stdout": outcome.stdout.decode(errors="replace"),
        "stderr": outcome.stderr.decode(errors="replace"),
        "truncated": outcome.truncated,
    }
    if outcome.exit_code != 0:
        raise ToolError(_failure(result, memory_mb))
    return result


def _failure(result: dict[str, Any], memory_mb: int) -> str:
    exit_code = result["exit_code"]
    tail = result["stderr"].strip()[-2000:]
    if exit_code < 0:
        name = signal.Signals(-exit_code).name
        reason = " (CPU time limit)" if name == "SIGXCPU" else ""
        return f"The code was stopped by {name}{reason}."
    if "MemoryError" in tail:
        return f"The code ran out of memory (limit {memory_mb} MB).\n{tail}"
    return f"The code exited with status {exit_code}.\n{tail}".strip()


def _settings(tool: Tool) -> tuple[float, int]:
    config = tool.config or {}
    return (
        float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        int(config.get("memory_mb") or DEFAULT_MEMORY_MB),
    )


async def call(tool: Tool, arguments: dict[str, Any]) -> Any:
    refusal = _refusal(tool)
    if refusal:
        raise ToolError(refusal, code="code_executor_disabled")
    code = arguments.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ToolError("code must be a non-empty string of Python source.")
    if len(code) > MAX_CODE_CHARS:
        raise ToolError(f"code is longer than {MAX_CODE_CHARS} characters.")
    timeout_seconds, memory_mb = _settings(tool)
    return await run_python(code, timeout_seconds=timeout_seconds, memory_mb=memory_mb)


async def probe(tool: Tool) -> Any:
    """Runs `print('ok')` under the tool's limits: the sandbox starts and answers."""
    return await call(tool, {"code": PROBE_CODE})
