"""Counting the database transactions a piece of work commits, in every thread of the process: a Django
execute wrapper on each connection counts a statement run in autocommit mode as one transaction, and an
`atomic` block (whatever it runs) as one when it commits."""

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.signals import connection_created

from threads.engine.writer import event_writer


class TransactionCounter:
    def __init__(self) -> None:
        self.committed = 0
        self.active = True
        self._lock = threading.Lock()

    def _add(self) -> None:
        if self.active:
            with self._lock:
                self.committed += 1

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        connection = context["connection"]
        if sql == "BEGIN":
            # SQLite's explicit start of an `atomic` block, counted at its commit.
            pass
        elif not connection.in_atomic_block:
            self._add()
        elif not any(entry[1] == self._add for entry in connection.run_on_commit):
            connection.on_commit(self._add)
        return execute(sql, params, many, context)

    def install(self, connection: Any, **kwargs: Any) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


@contextmanager
def transactions_counted() -> Iterator[TransactionCounter]:
    """Counts in connections opened from now on, and in the one of the current thread (`await
    counter_on_sync_thread(counter)` adds asgiref's shared sync thread)."""
    counter = TransactionCounter()
    connection_created.connect(counter.install)
    counter.install(connections["default"])
    try:
        yield counter
    finally:
        counter.active = False
        connection_created.disconnect(counter.install)


async def counter_on_sync_thread(counter: TransactionCounter) -> None:
    await sync_to_async(lambda: counter.install(connections["default"]))()


async def counter_on_writer_thread(counter: TransactionCounter) -> None:
    """Counts on the thread of this event loop's event writer, too."""
    writer = event_writer()
    await writer.loop.run_in_executor(writer.executor, lambda: counter.install(connections["default"]))


async def counter_on_pooled_threads(counter: TransactionCounter) -> None:
    """Counts on every thread of this event loop's default executor, too: run starts and a run's steps
    go there. (On Postgres their connections come from the pool, and count from `connection_created`; a
    SQLite connection stays with its thread.) Each thread installs once: all of them wait at a barrier, so
    none takes a second one."""
    loop = asyncio.get_running_loop()
    workers = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default size
    barrier = threading.Barrier(workers, timeout=10)

    def install() -> None:
        counter.install(connections["default"])
        barrier.wait()

    await asyncio.gather(*(loop.run_in_executor(None, install) for _ in range(workers)))
