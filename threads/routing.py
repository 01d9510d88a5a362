"""Websocket routes (mounted by `orchestrator_studio.asgi`)."""

from django.urls import re_path

from threads.consumers import ThreadConsumer

# Any id reaches the consumer, so that an unknown one gets the 4404 close code rather than a failed handshake.
websocket_urlpatterns = [
    re_path(r"^ws/threads/(?P<thread_id>[^/]+)/?$", ThreadConsumer.as_asgi()),
]
