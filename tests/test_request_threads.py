"""The ASGI handler lends each request a pooled thread (orchestrator_studio/request_threads.py): threads are
reused, and every database connection a request took (a sync view's, an async view's through
`sync_to_async`) is back in the pool when the request ends, however many requests there are."""

import asyncio
import threading
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import include, path

from orchestrator_studio.asgi import application, django_http
from orchestrator_studio.request_threads import RequestExecutors
from tests.fakes.server import serve

pytestmark = pytest.mark.django_db(transaction=True)


async def users_counted_async(request: HttpRequest) -> JsonResponse:
    """An async view that reads through the ORM (on the request's thread, via sync_to_async)."""
    count = await get_user_model().objects.acount()
    return JsonResponse({"users": count, "thread": await sync_to_async(threading.get_ident)()})


def users_counted(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"users": get_user_model().objects.count(), "thread": threading.get_ident()})


def slow_sync_view(request: HttpRequest) -> JsonResponse:
    get_user_model().objects.count()  # holds a connection while it sleeps
    time.sleep(1.5)
    return JsonResponse({"slept": True})


urlpatterns = [
    path("test/slow", slow_sync_view),
    path("test/async-count", users_counted_async),
    path("test/sync-count", users_counted),
    path("", include("orchestrator_studio.urls")),
]


def _pool():
    return getattr(connections["default"], "pool", None)


@pytest.fixture
def server():
    global _held_elsewhere
    connection.close()  # the test's own connection back to the pool: the pool's figures are the server's
    if _pool() is not None:
        stats = _pool().get_stats()
        _held_elsewhere = stats["pool_size"] - stats["pool_available"]
    with override_settings(ROOT_URLCONF=__name__), serve(application) as base_url:
        yield base_url


_held_elsewhere = 0  # pool connections held outside the server's requests (earlier tests' threads)


@pytest.fixture
def pooled():
    if _pool() is None:
        pytest.skip("the connection pool is Postgres' (DATABASE_URL=postgresql://...)")


def _checked_out() -> int:
    """Connections taken from the pool by requests and not given back, once the requests that ended have
    finished: a client has its answer before the server's `request_finished` receivers have run."""
    deadline = time.monotonic() + 5
    while True:
        stats = _pool().get_stats()
        taken = stats["pool_size"] - stats["pool_available"] - _held_elsewhere
        if taken <= 0 or time.monotonic() > deadline:
            return max(taken, 0)
        time.sleep(0.01)


def _executor_back(idle_before: int) -> None:
    deadline = time.monotonic() + 5
    while django_http.executors.idle < max(idle_before, 1) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_connections_of_sync_and_async_views_go_back_to_the_pool(pooled, server, user_client):
    connection.close()
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {user_client.raw_token}"}) as http:
        for url in ("/test/sync-count", "/test/async-count", "/api/agents/"):
            response = http.get(url)
            assert response.status_code == 200, response.text
            assert _checked_out() == 0, url


def test_many_concurrent_requests_leak_no_connection_and_reuse_threads(pooled, server, user_client):
    connection.close()
    started_before = django_http.executors.started
    headers = {"Authorization": f"Bearer {user_client.raw_token}"}

    async def burst() -> set[int]:
        async with httpx.AsyncClient(base_url=server, headers=headers, timeout=30) as http:
            threads: set[int] = set()
            for _ in range(10):
                answers = await asyncio.gather(
                    *(http.get(url) for url in ("/test/sync-count", "/test/async-count", "/api/agents/") * 8)
                )
                assert all(answer.status_code == 200 for answer in answers)
                threads |= {answer.json()["thread"] for answer in answers if "thread" in answer.json()}
            return threads

    threads = asyncio.run(burst())

    assert _checked_out() == 0
    # 240 requests, at most 24 at once: their sync work ran on at most 24 executors' threads.
    assert django_http.executors.started - started_before <= 24
    assert len(threads) <= 24


def test_a_request_runs_its_sync_work_on_one_thread_not_the_loop(server, user_client):
    answers = []
    with httpx.Client(base_url=server) as http:
        for url in ("/test/async-count", "/test/sync-count", "/test/async-count"):
            idle = django_http.executors.idle
            answers.append(http.get(url).json()["thread"])
            _executor_back(idle)
    assert threading.get_ident() not in answers
    # One after the other, the requests were lent the same (most recently used) executor.
    assert len(set(answers)) == 1


def test_idle_executors_beyond_the_limit_are_shut_down():
    executors = RequestExecutors(idle_kept=1)
    first, second = executors.take(), executors.take()
    assert first.submit(threading.get_ident).result() != second.submit(threading.get_ident).result()

    executors.give_back(first)
    executors.give_back(second)

    assert executors.idle == 1
    assert executors.take() is first
    with pytest.raises(RuntimeError):
        second.submit(threading.get_ident)
    assert not first.busy


def test_an_executor_still_running_a_requests_work_is_not_lent_again():
    executors = RequestExecutors()
    busy, release = executors.take(), threading.Event()
    running = busy.submit(release.wait, 10)

    executors.give_back(busy)

    assert executors.idle == 0
    assert executors.take() is not busy
    release.set()
    assert running.result(timeout=5) is True  # its work still ran to the end
    with pytest.raises(RuntimeError):
        busy.submit(threading.get_ident)


def test_a_request_whose_client_left_mid_view_delays_no_later_request_and_leaks_no_connection(pooled, server):
    connection.close()
    with httpx.Client(base_url=server, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/test/slow")  # the client gives up; the view goes on in its thread
        started = time.monotonic()
        assert http.get("/test/sync-count").status_code == 200
        assert time.monotonic() - started < 1.0
    time.sleep(1.5)  # the slow view ends
    assert _checked_out() == 0


def test_djangos_request_signals_come_from_djangos_handler_class(server):
    """Receivers connected for `sender=ASGIHandler` (the recovery sweeps' first request) are called."""
    senders = []

    def receiver(sender, **kwargs):
        senders.append(sender)

    request_started.connect(receiver, sender=ASGIHandler)
    try:
        assert httpx.get(f"{server}/healthz").status_code == 200
    finally:
        request_started.disconnect(receiver, sender=ASGIHandler)
    assert senders == [ASGIHandler]
