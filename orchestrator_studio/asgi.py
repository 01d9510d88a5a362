"""ASGI entry point: HTTP through Django, websockets through Channels (`/ws/...`), and the `runs` channel
that `runworker` processes consume."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_studio.settings")
django_asgi_app = get_asgi_application()

from registry.config_files import registry_import_configured_files  # noqa: E402

# Every server process (uvicorn, daphne, `runserver`, `runworker`) starts with the `*_CONFIG_PATH` files
# imported; not in AppConfig.ready(), which also runs for `migrate` and the test suite.
registry_import_configured_files()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from doors.asgi import doors_router  # noqa: E402
from orchestrator_studio.request_threads import PooledRequestThreads  # noqa: E402
from threads.routing import websocket_urlpatterns  # noqa: E402
from threads.worker import RunWorkerConsumer  # noqa: E402
from threads.ws_auth import websocket_security  # noqa: E402

# Each Django request's sync work on a pooled thread rather than a new one (request_threads.py).
django_http = PooledRequestThreads(ASGIStaticFilesHandler(django_asgi_app))

application = ProtocolTypeRouter(
    {
        # The admin's, /docs' and the operator pages' assets (a few small files) are served by the app
        # itself, so that no front proxy or CDN is needed; a proxy may still serve STATIC_ROOT directly.
        # `/mcp` and the A2A server are their SDKs' ASGI apps; everything else is Django.
        "http": doors_router(django_http),
        # Origin check (ALLOWED_HOSTS, CORS_ALLOWED_ORIGINS), then `?token=` authentication.
        "websocket": websocket_security(URLRouter(websocket_urlpatterns)),
        # `manage.py runworker runs`: runs handed over by RUN_EXECUTOR=worker.
        "channel": ChannelNameRouter({"runs": RunWorkerConsumer.as_asgi()}),
    }
)
