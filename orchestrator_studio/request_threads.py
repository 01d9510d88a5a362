"""Django's HTTP requests, with the thread of each request's synchronous work taken from a pool.

Django serves each HTTP request inside a `ThreadSensitiveContext`: every `sync_to_async` call of the request
(the `request_started` receivers, a sync view such as DRF's, rendering its response, `response.close()` and
the `request_finished` receivers, an async view's ORM calls) runs on one thread of that context. Without
an executor, asgiref makes a new single-thread executor for every request and joins its thread from yet
another new thread when the request ends: two thread starts per request, about a quarter of a millisecond of
CPU before any work is done, paid by every API call and every `/v1/chat`.

asgiref (3.13) lets the context be given an executor that it does not shut down
(`ThreadSensitiveContext(executor=...)`). The wrapper here lends each request a single-thread executor from a
per-process pool and takes it back when the request has ended, so the threads are started once and reused,
one request at a time each, as a WSGI server's threads are. Each request still has its synchronous work on
one thread of its own for its duration, and Django's database connections (one per thread) are closed or
returned to the pool by the `request_finished` receivers on that thread as before: a reused thread starts
each request with none open.

One difference from Django's own contexts, by asgiref's design: a task created inside a request that outlives
it must not make thread-sensitive `sync_to_async` calls after the request has ended (asgiref raises
RuntimeError rather than run them on a thread now lent to another request). Work that outlives a request
(a run executed inline) is started in a fresh `contextvars.Context()`, as `threads.executors` does.
"""

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

# Idle executors kept for the next requests; beyond these (after a burst) they are shut down. A thread
# only starts when its executor is first given work, so a request that makes no sync call starts none.
IDLE_EXECUTORS_KEPT = 64


class RequestExecutor(ThreadPoolExecutor):
    """A single-thread executor that knows whether work it was given has not finished yet."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._unfinished = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._unfinished -= 1

    @property
    def busy(self) -> bool:
        return self._unfinished > 0


class RequestExecutors:
    """Single-thread executors lent to one request at a time; the most recently used first (its thread
    is the warmest)."""

    def __init__(self, idle_kept: int = IDLE_EXECUTORS_KEPT) -> None:
        self.idle_kept = idle_kept
        self._idle: list[RequestExecutor] = []
        self.started = 0  # executors made (a figure for the tests and the curious)

    def take(self) -> RequestExecutor:
        if self._idle:
            return self._idle.pop()
        self.started += 1
        return RequestExecutor()

    def give_back(self, executor: RequestExecutor) -> None:
        """Called on the event loop once the request's context has exited. Django's handler has then
        waited for its `request_finished` receivers, which run on the same thread after anything the
        request left running there (a sync view whose client went away), so the executor is normally
        idle. One that is not is never lent again: it is shut down and its thread ends when its work
        does, so no later request waits for another's."""
        if executor.busy or len(self._idle) >= self.idle_kept:
            executor.shutdown(wait=False)
        else:
            self._idle.append(executor)

    @property
    def idle(self) -> int:
        return len(self._idle)


class PooledRequestThreads:
    """Wraps Django's ASGI handler (or the static files' handler around it): each HTTP request runs inside
    a `ThreadSensitiveContext` given a pooled executor. Django's handler, inside it, finds the context
    already set and uses it (its own `ThreadSensitiveContext()` only sets one where there is none). It
    stays Django's own class, not a subclass, so the receivers of its signals connected with
    `sender=ASGIHandler` (the recovery sweeps' first request) are called as before."""

    def __init__(self, application: Callable[..., Awaitable[None]]) -> None:
        self.application = application
        self.executors = RequestExecutors()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.application(scope, receive, send)  # Django refuses it, as it would anyway
            return
        executor = self.executors.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.application(scope, receive, send)
        finally:
            self.executors.give_back(executor)
