"""A bubblewrap sandbox for untrusted Python (the `code_executor` tool).

The code runs as an unprivileged uid (`CODE_EXECUTOR_UID` when the server is root; in any case a uid of a
user namespace of its own) in new user, pid, mount, network, ipc, uts and cgroup namespaces:
- no network at all (a network namespace with only a loopback of its own);
- a read-only root that holds the Python runtime only (`/usr/lib`, the interpreter, the loader): no project,
  no `/etc`, no host `/proc` (a `/proc` of its own pid namespace shows its own processes only);
- an empty environment, and a private `/tmp` (the working directory) on a size-capped tmpfs;
- CPU, address space, file size, open files and process count limits, set inside the sandbox: the process
  count is per user namespace, so it binds whatever uid the server runs as;
- at the timeout the sandbox's pid 1 is killed, which makes the kernel kill every process of its pid
  namespace (children that called `setsid` included) before the call returns.

Without bubblewrap (or where the kernel refuses its namespaces) nothing runs: `SandboxUnavailable`.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
from dataclasses import dataclass
from typing import cast

from django.conf import settings

from registry.connectors.tools.errors import ToolError

SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_UID = 65534
SANDBOX_WORKDIR = "/tmp"  # noqa: S108 (a tmpfs of the sandbox's own, not the host's /tmp)
# Sets the limits inside the sandbox, then becomes the interpreter reading the code from stdin.
LAUNCHER = """\
import os, resource, sys
names = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE")
for name, value in zip(names, map(int, sys.argv[1:])):
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(sys.executable, [sys.executable, "-I", "-"])
"""
KILL_WAIT_SECONDS = 10.0


class SandboxUnavailable(ToolError):
    """The sandbox cannot be set up on this server, so the code is not run at all."""

    status_code = 503
    code = "sandbox_unavailable"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int
    processes: int
    open_files: int
    tmp_bytes: int


@dataclass(frozen=True)
class Outcome:
    """How the sandboxed code ended: its exit status (a signal as its negative number) and its output."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: bool


class SandboxTimeout(Exception):
    """The code ran past its wall-clock time; everything it started has been killed."""


def sandbox_refusal() -> str | None:
    """Why code cannot run in the sandbox here, or None when it can."""
    if not _bwrap_path():
        return (
            "The code executor needs bubblewrap (bwrap) to isolate the code, and it is not installed on "
            "this server: install the 'bubblewrap' package (apt-get install bubblewrap). Code never runs "
            "outside the sandbox."
        )
    if not os.path.isfile(os.path.realpath(settings.CODE_EXECUTOR_PYTHON)):
        return (
            f"The code executor's interpreter {settings.CODE_EXECUTOR_PYTHON} does not exist: install "
            "python3 or set CODE_EXECUTOR_PYTHON."
        )
    return None


def _bwrap_path() -> str | None:
    return shutil.which(settings.CODE_EXECUTOR_BWRAP)


def _runtime_mounts() -> list[str]:
    """The Python runtime, read-only: the interpreter, its libraries and the dynamic loader."""
    interpreter = os.path.realpath(settings.CODE_EXECUTOR_PYTHON)
    mounts = ["--ro-bind", "/usr/lib", "/usr/lib"]
    if os.path.isdir("/usr/lib64"):
        mounts += ["--ro-bind", "/usr/lib64", "/usr/lib64"]
    for directory in ("/lib", "/lib64"):
        if os.path.islink(directory):
            mounts += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            mounts += ["--ro-bind", directory, directory]
    if interpreter.startswith("/usr/"):
        return [*mounts, "--ro-bind", interpreter, SANDBOX_PYTHON]
    # An interpreter installed under its own prefix (pyenv, /opt/python): that prefix, where it is.
    prefix = os.path.dirname(os.path.dirname(interpreter))
    return [*mounts, "--ro-bind", prefix, prefix, "--symlink", interpreter, SANDBOX_PYTHON]


def _command(bwrap: str, limits: Limits, info_fd: int) -> list[str]:
    return [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--info-fd", str(info_fd),
        *_runtime_mounts(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.tmp_bytes), "--tmpfs", SANDBOX_WORKDIR,
        "--chdir", SANDBOX_WORKDIR,
        "--remount-ro", "/",
        "--",
        SANDBOX_PYTHON, "-I", "-S", "-c", LAUNCHER,
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        str(limits.file_bytes),
        str(limits.processes),
        str(limits.open_files),
        "0",
    ]  # fmt: skip


def _unprivileged_user() -> dict[str, object]:
    """A root server hands the sandbox to `CODE_EXECUTOR_UID`; any other server is unprivileged already."""
    if os.geteuid() != 0:
        return {}
    uid = settings.CODE_EXECUTOR_UID
    return {"user": uid, "group": uid, "extra_groups": []}


async def sandbox_run(
    code: bytes, *, limits: Limits, timeout_seconds: float, max_output_bytes: int
) -> Outcome:
    """Run `code` with Python in the sandbox; `SandboxTimeout` when it ran out of time. Whatever happens,
    nothing it started is left running when this returns."""
    refusal = sandbox_refusal()
    if refusal:
        raise SandboxUnavailable(refusal)
    info_read, info_write = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *_command(cast(str, _bwrap_path()), limits, info_write),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={},
            start_new_session=True,
            pass_fds=(info_write,),
            **_unprivileged_user(),  # type: ignore[arg-type]
        )
    finally:
        os.close(info_write)
    pidfd = None
    try:
        try:
            pidfd = _pidfd(await asyncio.to_thread(_sandbox_pid, info_read))
        finally:
            os.close(info_read)
        return await _converse(process, code, timeout_seconds, max_output_bytes, set_up=pidfd is not None)
    finally:
        await _end(process, pidfd)


def _sandbox_pid(info_read: int) -> int | None:
    """The host pid of the sandbox's pid 1, from bwrap's info (None when bwrap failed to set it up)."""
    data = bytearray()
    while chunk := os.read(info_read, 4096):
        data.extend(chunk)
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def _pidfd(pid: int | None) -> int | None:
    """A pidfd of the sandbox's pid 1: it can be signalled without a race on its pid, and it becomes readable
    only once that process has exited, which the kernel allows only once its pid namespace is empty."""
    if pid is None:
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


async def _converse(
    process: asyncio.subprocess.Process,
    code: bytes,
    timeout_seconds: float,
    max_output_bytes: int,
    *,
    set_up: bool,
) -> Outcome:
    stdout, stderr = bytearray(), bytearray()
    try:
        async with asyncio.timeout(timeout_seconds):
            stdin = cast(asyncio.StreamWriter, process.stdin)
            stdin.write(code)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.drain()
            stdin.close()
            dropped = await asyncio.gather(
                _read_capped(cast(asyncio.StreamReader, process.stdout), stdout, max_output_bytes),
                _read_capped(cast(asyncio.StreamReader, process.stderr), stderr, max_output_bytes),
            )
            exit_code = await process.wait()
    except TimeoutError:
        raise SandboxTimeout from None
    if not set_up:
        reason = stderr.decode(errors="replace").strip().removeprefix("bwrap: ") or f"status {exit_code}"
        raise SandboxUnavailable(f"The sandbox could not be set up on this server: {reason}.")
    return Outcome(_exit_status(exit_code), bytes(stdout), bytes(stderr), any(dropped))


def _exit_status(bwrap_status: int) -> int:
    """bwrap reports a child killed by signal N as 128 + N; that is -N here, as subprocess says it."""
    if bwrap_status > 128 and bwrap_status - 128 in signal.valid_signals():
        return -(bwrap_status - 128)
    return bwrap_status


async def _read_capped(stream: asyncio.StreamReader, sink: bytearray, cap: int) -> bool:
    """Read `stream` to its end keeping at most `cap` bytes; True when some was dropped."""
    dropped = False
    while chunk := await stream.read(65536):
        room = cap - len(sink)
        if len(chunk) > room:
            dropped = True
        sink.extend(chunk[: max(room, 0)])
    return dropped


async def _end(process: asyncio.subprocess.Process, pidfd: int | None) -> None:
    """Kill the sandbox's pid 1, which makes the kernel kill every process of its pid namespace, wait until
    they are all gone, then for bwrap itself (its process group goes too)."""
    if pidfd is not None:
        try:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_exited(pidfd), KILL_WAIT_SECONDS)
        finally:
            os.close(pidfd)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def _exited(pidfd: int) -> None:
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_readable)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
