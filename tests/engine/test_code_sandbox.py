"""Issue 11, point 1, through a chat: a non-staff user's run in which the LLM calls the code executor with
each probe. Every probe is refused inside the sandbox, and what comes back to the LLM holds no secret."""

import json
import os
import uuid

import psutil
import pytest

from registry.models import Tool
from tests.connectors import sandbox_probes as probes
from tests.engine.support import run_until_done, start
from tests.fakes.openai_server import call, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def python_tool(db, settings):
    settings.CODE_EXECUTOR_ENABLED = True
    return Tool.objects.create(
        name="python", type="code_executor", description="Runs Python.", config={"timeout_seconds": 3}
    )


async def test_a_users_run_cannot_break_out_of_the_code_executor(
    llm, thread, fake_openai, python_tool, settings
):
    assert not thread.owner.is_staff
    project_file = settings.BASE_DIR / "sandbox-run-probe.txt"
    setsid_marker = f"run-setsid-probe-{uuid.uuid4().hex}"
    script = {
        "secrets": probes.read_server_secrets(),
        "files": probes.read_host_files(),
        "sockets": probes.open_sockets([5432, 6379]),
        "signal": probes.signal_the_server(),
        "writes": probes.write_files(str(project_file), 45),
        "forks": probes.fork_bomb(100),
        "setsid": probes.setsid_child(setsid_marker),
    }
    fake_openai.script(
        tool_calls(
            *(call("tool__python", {"code": code}, id=f"call_{name}") for name, code in script.items())
        ),
        text("I could not get out."),
    )

    run = await start(thread, "Find the server's secrets with Python")
    events = await run_until_done(run, timeout=60)

    assert events[-1]["type"] == "run.completed"
    completed = {e["tool_call_id"]: e for e in events if e["type"] == "tool_call.completed"}
    found = {
        name.removeprefix("call_"): json.loads(event["output"]["stdout"])
        for name, event in completed.items()
        if event["ok"]
    }
    assert found["secrets"][f"{os.getpid()}/environ"] == "FileNotFoundError"
    assert set(found["files"].values()) == {"FileNotFoundError"}
    assert set(found["sockets"].values()) == {"ConnectionRefusedError"}
    assert found["signal"] == {"kill": "ProcessLookupError"}
    assert found["writes"]["bulk"] == "OSError"
    assert "written" not in {found["writes"][path] for path in (str(project_file), "/sandbox-probe")}
    assert not project_file.exists()
    assert found["forks"]["error"] == "BlockingIOError"
    assert completed["call_setsid"]["ok"] is False
    assert "longer than 3s" in completed["call_setsid"]["error"]
    assert not [
        process
        for process in psutil.process_iter(["cmdline", "status"])
        if setsid_marker in " ".join(process.info["cmdline"] or [])
        and process.info["status"] != psutil.STATUS_ZOMBIE
    ]

    everything_the_llm_saw = json.dumps(fake_openai.chat_requests[1].body["messages"])
    assert settings.SECRET_KEY not in everything_the_llm_saw
    assert "PATH=" not in everything_the_llm_saw
    assert "root:x:0" not in everything_the_llm_saw
