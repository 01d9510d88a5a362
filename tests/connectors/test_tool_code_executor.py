"""The `code_executor` tool: Python in a bubblewrap sandbox, limited, off unless enabled. The probes of
issue 11 (secrets of the server, host files, sockets, signals, writes, fork bombs, setsid children) are
each refused."""

import json
import os
import socket
import time
import uuid

import psutil
import pytest

from registry.connectors.tools import ToolError, tool_call, tool_probe
from registry.connectors.tools.sandbox import SANDBOX_WORKDIR
from tests.connectors import factories
from tests.connectors import sandbox_probes as probes
from tests.fakes.server import send_json, serve


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


async def test_runs_in_a_private_empty_tmp(enabled):
    output = await tool_call(executor(), {"code": "import os\nprint(os.getcwd())\nprint(os.listdir('.'))"})
    assert output["stdout"].splitlines() == [SANDBOX_WORKDIR, "[]"]


async def test_infinite_loop_is_killed_at_the_timeout(enabled):
    started = time.monotonic()
    with pytest.raises(ToolError, match="longer than 1s"):
        await tool_call(executor(timeout_seconds=1), {"code": "while True:\n    pass"})
    assert time.monotonic() - started < 10


async def test_sleeping_child_processes_are_killed_with_it(enabled):
    marker = _marker("orphan")
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'])\n"
        "while True: pass"
    )
    with pytest.raises(ToolError, match="longer than 1s"):
        await tool_call(executor(timeout_seconds=1), {"code": code})
    assert not _live_processes_with(marker)


async def test_a_child_in_a_session_of_its_own_dies_at_the_timeout_too(enabled):
    marker = _marker("setsid")
    with pytest.raises(ToolError, match="longer than 2s"):
        await tool_call(executor(timeout_seconds=2), {"code": probes.setsid_child(marker)})
    assert not _live_processes_with(marker)


async def test_a_child_left_running_by_finished_code_does_not_outlive_it(enabled):
    marker = _marker("leftover")
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'],"
        " start_new_session=True)\n"
        "print('done')"
    )
    output = await tool_call(executor(timeout_seconds=5), {"code": code})
    assert output["stdout"] == "done\n"
    assert not _live_processes_with(marker)


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


async def test_without_bubblewrap_the_code_is_refused_not_run_unsandboxed(enabled, settings, tmp_path):
    settings.CODE_EXECUTOR_BWRAP = str(tmp_path / "no-bwrap")
    marker = tmp_path / "ran"
    with pytest.raises(ToolError, match="needs bubblewrap") as refused:
        await tool_call(executor(), {"code": f"open({str(marker)!r}, 'w').write('ran')"})
    assert refused.value.status_code == 503
    assert refused.value.code == "sandbox_unavailable"
    assert not marker.exists()


def test_api_test_without_bubblewrap_says_why(staff_client, db, enabled, settings, tmp_path):
    settings.CODE_EXECUTOR_BWRAP = str(tmp_path / "no-bwrap")
    factories.tool(save=True, name="python", type="code_executor", config={})
    body = staff_client.post("/api/tools/python/test", {}, format="json").json()
    assert body["ok"] is False
    assert "apt-get install bubblewrap" in body["error"]


async def test_runs_as_an_unprivileged_user_with_no_environment(enabled):
    code = "import json, os\nprint(json.dumps([os.getuid(), os.getgid(), dict(os.environ)]))"
    output = await tool_call(executor(), {"code": code})
    uid, gid, environment = json.loads(output["stdout"])
    assert (uid, gid) == (65534, 65534)
    assert set(environment) <= {"PWD", "LC_CTYPE"}


async def test_cannot_read_the_environment_of_the_server_or_any_host_process(enabled, settings):
    output = await tool_call(executor(), {"code": probes.read_server_secrets()})
    found = json.loads(output["stdout"])
    assert found[f"{os.getpid()}/environ"] == "FileNotFoundError"
    text = json.dumps(found)
    assert settings.SECRET_KEY not in text
    assert "PATH=" not in text
    assert "DATABASE_URL" not in text
    assert "pytest" not in text


async def test_cannot_read_host_files(enabled):
    output = await tool_call(executor(), {"code": probes.read_host_files()})
    found = json.loads(output["stdout"])
    assert set(found.values()) == {"FileNotFoundError"}, found


async def test_cannot_open_sockets_to_the_database_redis_or_a_live_server(enabled):
    with serve(_hello) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # reachable from the server itself
        output = await tool_call(executor(), {"code": probes.open_sockets([port, 5432, 6379])})
    found = json.loads(output["stdout"])
    assert "connected" not in found.values()
    assert set(found) == {str(port), "5432", "6379"}


async def test_cannot_signal_the_server(enabled):
    output = await tool_call(executor(), {"code": probes.signal_the_server()})
    assert json.loads(output["stdout"]) == {"kill": "ProcessLookupError"}


async def test_cannot_write_into_the_project_or_outside_its_size_capped_tmp(enabled, settings):
    project_file = settings.BASE_DIR / "sandbox-probe.txt"
    output = await tool_call(executor(), {"code": probes.write_files(str(project_file), 45)})
    found = json.loads(output["stdout"])
    assert not project_file.exists()
    assert found[str(project_file)] == "FileNotFoundError"
    assert found["/usr/lib/sandbox-probe"] == "OSError"  # read-only file system
    assert found["/sandbox-probe"] == "OSError"
    assert found["bulk"] == "OSError"  # no space left on the 32 MB tmpfs
    assert found["megabytes"] <= 32


async def test_a_fork_bomb_hits_the_process_limit(enabled):
    output = await tool_call(executor(timeout_seconds=5), {"code": probes.fork_bomb(100)})
    found = json.loads(output["stdout"])
    assert found["error"] == "BlockingIOError"
    assert found["started"] < 16


async def _hello(scope, receive, send):
    await send_json(send, 200, {"hello": "world"})


def _marker(kind: str) -> str:
    """A name no other process on the machine carries (other test runs may be probing at the same time)."""
    return f"{kind}-probe-{uuid.uuid4().hex}"


def _live_processes_with(marker: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["cmdline", "status"])
        if marker in " ".join(process.info["cmdline"] or [])
        and process.info["status"] != psutil.STATUS_ZOMBIE
    ]
