"""Django's own middleware, with their hooks run on the event loop under ASGI.

Django runs every hook of a classic middleware (`process_request`, `process_view`, `process_response`) through
`sync_to_async` in an async request: one thread hop each, about a dozen per request for the stack in
settings.MIDDLEWARE, paid by every API call and every `/v1/chat`. The hooks below only read headers and
cookies and set attributes, so they run where the request is. The few cases that reach the database (a
session to save, messages kept in the session, a CSRF secret kept in the session) still go to a thread, as
Django would send them. Synchronous requests (WSGI, the test client) run Django's code unchanged.
"""

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as DjangoXFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.middleware.security import SecurityMiddleware as DjangoSecurityMiddleware


async def _hook(hook: Callable[..., Any], in_thread: bool, *args: Any) -> Any:
    if in_thread:
        return await sync_to_async(hook, thread_sensitive=True)(*args)
    return hook(*args)


class _OnTheLoop:
    """Mixed in front of a Django middleware: `__acall__` calls its hooks directly unless the request needs
    the database there (`_request_in_thread`, `_response_in_thread`)."""

    get_response: Callable[[HttpRequest], Any]

    def _request_in_thread(self, request: HttpRequest) -> bool:
        return False

    def _response_in_thread(self, request: HttpRequest) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = await _hook(process_request, self._request_in_thread(request), request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            response = await _hook(process_response, self._response_in_thread(request), request, response)
        return response


class SecurityMiddleware(_OnTheLoop, DjangoSecurityMiddleware):
    pass


class SessionMiddleware(_OnTheLoop, DjangoSessionMiddleware):
    def _response_in_thread(self, request: HttpRequest) -> bool:
        """The session is saved (a database write) only when it changed, or on every request if so set."""
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(_OnTheLoop, DjangoCommonMiddleware):
    pass


class CsrfViewMiddleware(_OnTheLoop, DjangoCsrfViewMiddleware):
    """With `CSRF_USE_SESSIONS` the secret lives in the session (the database): then every hook is
    threaded, as in Django. `process_view` is given as a coroutine so that Django does not thread it."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            self.process_view = self._process_view_async  # type: ignore[method-assign,assignment]

    def _request_in_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    def _response_in_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    async def _process_view_async(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponseBase | None:
        return await _hook(
            DjangoCsrfViewMiddleware.process_view,
            bool(settings.CSRF_USE_SESSIONS),
            self,
            request,
            callback,
            callback_args,
            callback_kwargs,
        )


class AuthenticationMiddleware(_OnTheLoop, DjangoAuthenticationMiddleware):
    """Only attaches a lazy `request.user`; it is read from the database where it is used."""


class MessageMiddleware(_OnTheLoop, DjangoMessageMiddleware):
    def _response_in_thread(self, request: HttpRequest) -> bool:
        """Messages read or added in this request are stored, which may load and write the session."""
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class XFrameOptionsMiddleware(_OnTheLoop, DjangoXFrameOptionsMiddleware):
    pass
