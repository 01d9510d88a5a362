"""The probes of issue 11 point 1, as Python a user could get the LLM to run: each prints what it reached
as one JSON object, so a test can assert that every attempt was refused."""

import json
import os

from django.conf import settings


def read_server_secrets() -> str:
    """Read the environment and command line of every process it can see, the server's first."""
    return f"""
import json, os
found = {{}}
for pid in [{os.getpid()}, {os.getppid()}] + [p for p in os.listdir('/proc') if p.isdigit()]:
    for name in ('environ', 'cmdline'):
        try:
            with open(f'/proc/{{pid}}/{{name}}', 'rb') as f:
                found[f'{{pid}}/{{name}}'] = f.read().decode(errors='replace')
        except OSError as exc:
            found[f'{{pid}}/{{name}}'] = type(exc).__name__
print(json.dumps(found))
"""


def read_host_files() -> str:
    paths = ["/etc/passwd", "/etc/shadow", str(settings.BASE_DIR / "manage.py"), "/root/.bashrc"]
    return f"""
import json
found = {{}}
for path in {json.dumps(paths)}:
    try:
        with open(path) as f:
            found[path] = f.read()
    except OSError as exc:
        found[path] = type(exc).__name__
print(json.dumps(found))
"""


def open_sockets(ports: list[int]) -> str:
    return f"""
import json, socket
found = {{}}
for port in {json.dumps(ports)}:
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
        found[str(port)] = 'connected'
    except OSError as exc:
        found[str(port)] = type(exc).__name__
print(json.dumps(found))
"""


def signal_the_server() -> str:
    return f"""
import json, os, signal
try:
    os.kill({os.getpid()}, signal.SIGTERM)
    print(json.dumps({{"kill": "sent"}}))
except OSError as exc:
    print(json.dumps({{"kill": type(exc).__name__}}))
"""


def write_files(project_file: str, megabytes: int) -> str:
    """Write into the project, next to the runtime, at the root, and `megabytes` MB in 1 MB files."""
    return f"""
import json
found = {{}}
for path in [{project_file!r}, '/usr/lib/sandbox-probe', '/sandbox-probe']:
    try:
        with open(path, 'w') as f:
            f.write('probe')
        found[path] = 'written'
    except OSError as exc:
        found[path] = type(exc).__name__
written = 0
try:
    for index in range({megabytes}):
        with open(f'blob-{{index}}', 'wb') as f:
            f.write(b'x' * 1024 * 1024)
        written += 1
    found['bulk'] = 'written'
except OSError as exc:
    found['bulk'] = type(exc).__name__
found['megabytes'] = written
print(json.dumps(found))
"""


def fork_bomb(children: int) -> str:
    return f"""
import json, os, time
started, error = 0, None
for _ in range({children}):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        started += 1
    except OSError as exc:
        error = type(exc).__name__
        break
print(json.dumps({{"started": started, "error": error}}))
"""


def setsid_child(marker: str) -> str:
    """A child in a session of its own that would sleep a minute, then the caller spins until killed."""
    return f"""
import subprocess, sys
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'], start_new_session=True)
print('child started', flush=True)
while True:
    pass
"""
