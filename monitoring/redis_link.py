"""This process's link to the Redis that all processes share: one client, and one writer thread.

Writes come from places that must never wait on the network (a logging handler, a run's hot path), so they
are queued and a daemon thread sends them in pipelined batches. A full queue drops the write rather than
block. The thread never reports through `logging`: its own failures would come back to it as log records.
"""

import atexit
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

QUEUE_SIZE = 10_000
BATCH_SIZE = 500
SOCKET_TIMEOUT_SECONDS = 2.0
ERROR_REPORT_INTERVAL_SECONDS = 60.0
EXIT_FLUSH_SECONDS = 2.0

PipelineOp = Callable[[Any], None]

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_key: tuple[int, str] | None = None
_writer: "BackgroundWriter | None" = None


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> redis.Redis:
    """The process-wide client (its connection pool is thread-safe); rebuilt after a fork."""
    global _client, _client_key
    key = (os.getpid(), settings.REDIS_URL)
    with _lock:
        if _client is None or _client_key != key:
            _client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            )
            _client_key = key
        return _client


class BackgroundWriter:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[PipelineOp | threading.Event] = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self._last_error_report = 0.0
        self._thread = threading.Thread(target=self._run, name="monitoring-redis-writer", daemon=True)
        self._thread.start()
        # The thread is a daemon: send what is queued before the interpreter stops it.
        atexit.register(self.flush, EXIT_FLUSH_SECONDS)

    def submit(self, op: PipelineOp) -> bool:
        try:
            self.queue.put_nowait(op)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until everything queued before this call has been sent."""
        if self.pid != os.getpid() or not self._thread.is_alive():
            return False
        done = threading.Event()
        try:
            self.queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            ops = [item for item in batch if not isinstance(item, threading.Event)]
            if ops:
                self._send(ops)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _send(self, ops: list[PipelineOp]) -> None:
        try:
            pipe = redis_client().pipeline(transaction=False)
            for op in ops:
                op(pipe)
            pipe.execute()
        except Exception as exc:  # the writer must survive any Redis or encoding failure
            self.dropped += len(ops)
            now = time.monotonic()
            if now - self._last_error_report >= ERROR_REPORT_INTERVAL_SECONDS:
                self._last_error_report = now
                sys.stderr.write(f"monitoring: could not write to Redis ({type(exc).__name__}); dropped.\n")


def background_writer() -> BackgroundWriter:
    global _writer
    with _lock:
        if _writer is None or _writer.pid != os.getpid():
            _writer = BackgroundWriter()
        return _writer
