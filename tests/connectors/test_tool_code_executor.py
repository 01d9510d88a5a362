"""The `code_executor` tool: a separate, limited Python process, off unless enabled."""

import os
import time

import psutil
import pytest

from registry.connectors.tools import ToolError, tool_call, tool_probe
from tests.connectors import factories


def executor(**config):
    return factories.tool(name="python", type="code_executor", config=config)


@pytest.fixture
def enabled(settings):
    settings.CODE_EXECUTOR_ENABLED = True


async def test_disabled_by_default():
    with pytest.raises(ToolError, match="CODE_EXECUTOR_ENABLED"):
        await tool_call(executor(), {"code": "print(1)"})


async def test_disabled_tool_is_refused(enabled):
    tool = executor()
    tool.enabled = False
    with pytest.raises(ToolError, match="is disabled"):
        await tool_call(tool, {"code": "print(1)"})


async def test_runs_python_and_returns_output(enabled):
    output = await tool_call(executor(), {"code": "import sys\nprint(6 * 7)\nprint('warn', file=sys.stderr)"})
    assert output == {"exit_code": 0, "stdout": "42\n", "stderr": "warn\n", "truncated": False}


async def test_sees_none_of_the_server_environment(enabled, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret-should-not-leak")
    monkeypatch.setenv("CONNECTORS_SENTINEL", "visible?")
    output = await tool_call(executor(), {"code": "import os, json\nprint(json.dumps(dict(os.environ)))"})
    assert "sk-server-secret" not in output["stdout"]
    assert "CONNECTORS_SENTINEL" not in output["stdout"]
    assert "FIELD_ENCRYPTION_KEYS" not in output["stdout"]


async def test_runs_in_a_fresh_temporary_directory(enabled):
    output = await tool_call(executor(), {"code": "import os\nprint(os.getcwd())\nprint(os.listdir('.'))"})
    cwd, listing = output["stdout"].splitlines()
    assert cwd != os.getcwd()
    assert "os-code-" in cwd
    assert listing == "[]"
    assert not os.path.exists(cwd)


async def test_infinite_loop_is_killed_at_the_timeout(enabled):
    started = time.monotonic()
    with pytest.raises(ToolError, match="longer than 1s"):
        await tool_call(executor(timeout_seconds=1), {"code": "while True:\n    pass"})
    assert time.monotonic() - started < 10


async def test_sleeping_child_processes_are_killed_with_it(enabled):
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # orphan-probe'])\n"
        "while True: pass"
    )
    with pytest.raises(ToolError, match="longer than 1s"):
        await tool_call(executor(timeout_seconds=1), {"code": code})
    assert not _live_processes_with("orphan-probe")


def _live_processes_with(marker: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["cmdline", "status"])
        if marker in " ".join(process.info["cmdline"] or [])
        and process.info["status"] != psutil.STATUS_ZOMBIE
    ]


async def test_memory_hog_is_stopped(enabled):
    with pytest.raises(ToolError, match=r"out of memory \(limit 64 MB\)"):
        await tool_call(
            executor(memory_mb=64), {"code": "blob = bytearray(512 * 1024 * 1024)\nprint(len(blob))"}
        )


async def test_big_file_is_stopped(enabled):
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (64 * 1024 * 1024))"
    with pytest.raises(ToolError, match="File too large"):
        await tool_call(executor(memory_mb=512), {"code": code})


async def test_output_is_capped(enabled):
    output = await tool_call(executor(), {"code": "print('x' * 1_000_000)"})
    assert output["truncated"] is True
    assert len(output["stdout"]) == 64 * 1024


async def test_failing_code_reports_the_traceback(enabled):
    with pytest.raises(ToolError, match=r"(?s)status 1.*ZeroDivisionError"):
        await tool_call(executor(), {"code": "1 / 0"})


async def test_probe(enabled):
    result = await tool_probe(executor())
    assert result.ok
    assert result.detail["result"]["stdout"] == "ok\n"


def test_api_test_disabled_by_default(staff_client, db):
    factories.tool(save=True, name="python", type="code_executor", config={})
    body = staff_client.post(
        "/api/tools/python/test", {"arguments": {"code": "print(1)"}}, format="json"
    ).json()
    assert body["ok"] is False
    assert "CODE_EXECUTOR_ENABLED" in body["error"]


def test_api_test_runs_code_when_enabled(staff_client, db, enabled):
    factories.tool(save=True, name="python", type="code_executor", config={"timeout_seconds": 5})
    body = staff_client.post(
        "/api/tools/python/test", {"arguments": {"code": "print(2 ** 10)"}}, format="json"
    ).json()
    assert body["ok"] is True
    assert body["result"]["stdout"] == "1024\n"
