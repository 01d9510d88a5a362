"""The `code_executor` tool: Python in a separate, limited process.

The child gets an empty environment (no keys of the server), a fresh temporary working directory, the
interpreter's isolated mode (`-I`), and resource limits set before it starts: CPU seconds, address space
(`memory_mb`), file size and process count. A wall-clock timeout kills its whole process group, and only
the first `MAX_OUTPUT_BYTES` of its output are kept. It runs only when `CODE_EXECUTOR_ENABLED` is on and the
tool is enabled.
"""

import asyncio
import contextlib
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
from typing import Any, cast

from django.conf import settings

from registry.connectors.tools.errors import ToolError
from registry.models import Tool

MAX_CODE_CHARS = 100_000
MAX_OUTPUT_BYTES = 64 * 1024
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PROCESSES = 16
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MEMORY_MB = 256
PROBE_CODE = "print('ok')"


def _limits(cpu_seconds: int, memory_bytes: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def _read_capped(stream: asyncio.StreamReader, sink: bytearray) -> bool:
    """Read `stream` to its end keeping at most MAX_OUTPUT_BYTES; True when some was dropped."""
    dropped = False
    while chunk := await stream.read(65536):
        room = MAX_OUTPUT_BYTES - len(sink)
        if len(chunk) > room:
            dropped = True
        sink.extend(chunk[: max(room, 0)])
    return dropped


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _refusal(tool: Tool) -> str | None:
    if not settings.CODE_EXECUTOR_ENABLED:
        return "The code executor is disabled on this server (set CODE_EXECUTOR_ENABLED=true to allow it)."
    if not tool.enabled:
        return f"The tool '{tool.name}' is disabled."
    return None


async def run_python(code: str, *, timeout_seconds: float, memory_mb: int) -> dict[str, Any]:
    """Run `code`; `{"exit_code", "stdout", "stderr", "truncated"}` or `ToolError` when it was stopped."""
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="os-code-")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env={},
            start_new_session=True,
            preexec_fn=_limits(math.ceil(timeout_seconds) + 1, memory_mb * 1024 * 1024),
        )
        stdout, stderr = bytearray(), bytearray()
        try:
            async with asyncio.timeout(timeout_seconds):
                stdin = cast(asyncio.StreamWriter, process.stdin)
                stdin.write(code.encode())
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    await stdin.drain()
                stdin.close()
                dropped = await asyncio.gather(
                    _read_capped(cast(asyncio.StreamReader, process.stdout), stdout),
                    _read_capped(cast(asyncio.StreamReader, process.stderr), stderr),
                )
                exit_code = await process.wait()
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            raise ToolError(f"The code ran longer than {timeout_seconds:g}s and was stopped.") from None
        finally:
            if process.returncode is None:
                _kill_group(process)
                await process.wait()
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    _kill_group(process)  # whatever it left running in its group goes with it
    result = {
        "exit_code": exit_code,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace"),
        "truncated": any(dropped),
    }
    if exit_code != 0:
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
