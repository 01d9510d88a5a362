"""How an executing run is told to stop, and who is executing it."""

import asyncio
import os
import socket

CANCEL = "cancel"
SUPERSEDED = "superseded"


def worker_identity() -> str:
    """`host:pid` of this process, stored on the runs it executes."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunControl:
    """Set by the executor, read by the engine. A reason is set before the run's task is cancelled, so the
    engine can tell a user's cancel (`run.cancelled`), a run ended elsewhere (no event: recovery or a
    thread deletion already wrote the terminal one) and an interrupted process (`run.failed`)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        # Set by the engine once it writes the terminal event; from then on it must not be cancelled again.
        self.ending = False

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def checkpoint(self) -> None:
        """Raise `CancelledError` if a stop was asked (a cancel can land while the task awaits a thread,
        where asyncio cannot always interrupt it; the engine calls this between steps)."""
        if self.reason is not None:
            raise asyncio.CancelledError(self.reason)
