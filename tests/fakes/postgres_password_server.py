"""A PostgreSQL server on loopback that asks for a cleartext password, records it, and refuses the login.

The real test database trusts every local connection, so it cannot show that a DSN's password is sent.
This speaks just enough of the wire protocol (SSL/GSS refusal, StartupMessage,
AuthenticationCleartextPassword, PasswordMessage, ErrorResponse 28P01) for libpq to send the password as it
would to a real server.
"""

import contextlib
import socketserver
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
AUTH_CLEARTEXT_PASSWORD = 3


@dataclass
class PasswordCapture:
    port: int = 0
    passwords: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)


def _read_exact(sock, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _error_response(user: str) -> bytes:
    fields = [
        (b"S", b"FATAL"),
        (b"V", b"FATAL"),
        (b"C", b"28P01"),
        (b"M", f'password authentication failed for user "{user}"'.encode()),
    ]
    payload = b"".join(code + value + b"\0" for code, value in fields) + b"\0"
    return b"E" + struct.pack("!I", len(payload) + 4) + payload


@contextlib.contextmanager
def password_capturing_postgres() -> Iterator[PasswordCapture]:
    capture = PasswordCapture()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock = self.request
            try:
                while True:
                    (length,) = struct.unpack("!I", _read_exact(sock, 4))
                    body = _read_exact(sock, length - 4)
                    (code,) = struct.unpack("!I", body[:4])
                    if code in (SSL_REQUEST, GSSENC_REQUEST):
                        sock.sendall(b"N")
                        continue
                    parts = body[4:].split(b"\0")
                    params = dict(zip(parts[0::2], parts[1::2], strict=False))
                    user = params.get(b"user", b"").decode()
                    capture.users.append(user)
                    break
                sock.sendall(b"R" + struct.pack("!II", 8, AUTH_CLEARTEXT_PASSWORD))
                kind = _read_exact(sock, 1)
                (length,) = struct.unpack("!I", _read_exact(sock, 4))
                payload = _read_exact(sock, length - 4)
                if kind == b"p":
                    capture.passwords.append(payload.rstrip(b"\0").decode())
                sock.sendall(_error_response(user))
            except (ConnectionError, struct.error):
                return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    capture.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
