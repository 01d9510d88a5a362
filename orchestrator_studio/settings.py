"""Settings, all from the environment (django-environ). Every variable is explained in `.env.example`.

With no environment at all (and DEBUG on) the project runs on embedded defaults: SQLite, the in-memory
channel layer, the local-memory cache and the inline run executor.
"""

import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `make run` writes `.env` (see orchestrator_studio/local_env.py); ENV_FILE names another file instead.
ENV_FILE = Path(os.environ.get("ENV_FILE") or BASE_DIR / ".env")
env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

DEVELOPMENT_SECRET_KEY = "insecure-development-only-key-do-not-use-in-production"  # noqa: S105

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for local development).")
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "orchestrator_studio",
    "registry",
    "threads",
    "monitoring",
    "console",
    "doors",
    "governance",
    "axes",
]

MIDDLEWARE = [
    "monitoring.middleware.request_metrics",
    "orchestrator_studio.tracing.trace_context",
    # Outside the envelope: errors on the OpenAI-compatible paths leave in OpenAI's shape.
    "doors.openai_api.middleware.openai_error_shape",
    "orchestrator_studio.middleware.api_error_envelope",
    # Django's own, with their hooks run on the event loop under ASGI (no thread hop per hook).
    "orchestrator_studio.loop_middleware.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "orchestrator_studio.loop_middleware.SessionMiddleware",
    "orchestrator_studio.loop_middleware.CommonMiddleware",
    "orchestrator_studio.loop_middleware.CsrfViewMiddleware",
    "orchestrator_studio.loop_middleware.AuthenticationMiddleware",
    "orchestrator_studio.loop_middleware.MessageMiddleware",
    "orchestrator_studio.loop_middleware.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out admin login into the 429 of AXES_LOCKOUT_CALLABLE.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orchestrator_studio.urls"
ASGI_APPLICATION = "orchestrator_studio.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env.str("DATABASE_URL", default="")
DATABASES: dict[str, dict[str, Any]] = {
    "default": env.db_url_config(DATABASE_URL)
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}
}
# Under ASGI a persistent connection would leak per thread; ATOMIC_REQUESTS would break async views.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# On Postgres, connections can come from a pool (Django's own, psycopg-pool): opening one costs ~2-5 ms and a
# backend process, which every request and every run paid with CONN_MAX_AGE = 0. A connection is held only
# for a database step, never while something waits: a run gives it back after each step (its start and end
# transactions, its context reads), the event writer after each flush, a websocket after each frame, an SSE
# stream and a /v1/chat waiting for its run after their reads. So live streams need as many connections as
# there are database steps in flight at once (the event loop's default executor, the writer, the websocket
# frames and HTTP requests being handled), not one each. A step that finds every connection in use waits up
# to `timeout` for one, then answers 503 database_unavailable naming the pool (a websocket frame gets that
# error frame). Measured on one process (2 cores, instant LLM): 1,000 websockets sending their message at
# once all ran to `run.completed` with no pool error at 20, and still at 5 and at 2 (14.9-17.3 s for the
# burst, CPU-bound): the defaults keep a tenfold margin for a loaded machine, where each step holds its
# connection longer. A pool that does run out says so, and says to add processes (each has its own pool)
# rather than to wait longer. Every process (server, run workers,
# the tests' servers) has its own pool and they share Postgres' max_connections (100 by default); a pool
# only grows under load and closes connections idle for `max_idle` seconds. Without a pool, every running
# run would hold a connection of its own: a few hundred concurrent runs exhaust max_connections. 0 turns the
# pool off.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=20)
# Postgres down (or a full pool): a request waits this long for a connection, new or pooled, and then answers
# 503 database_unavailable (see orchestrator_studio/outages.py) rather than hanging on.
DATABASE_CONNECT_TIMEOUT_SECONDS = env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=2)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT_SECONDS
    if DATABASE_POOL_MAX_SIZE > 0:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "max_idle": 60,
            "timeout": DATABASE_CONNECT_TIMEOUT_SECONDS,
        }

REDIS_URL = env.str("REDIS_URL", default="")
# Redis down or unreachable: connecting gives up after this many seconds (cache reads and writes too), so a
# request that needs the cache or the channel layer answers 503 quickly and the rest goes on working.
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=2.0)
# Redis connections of one process's channel layer pool; each open websocket may hold one for a moment.
CHANNEL_LAYER_MAX_CONNECTIONS = env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        # The `runs` channel of `manage.py runworker runs` (and the health probes): at-least-once lists.
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's default read timeout (5 s) equals channels-redis's blocking pop (5 s): an idle
            # `receive` (a run worker, a websocket) would then fail with a read timeout. Reads wait longer.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    }
                ],
                "capacity": 5000,
                "expiry": 60,
            },
        },
        # Run events to the thread groups (websockets, SSE, /v1/chat). Pub/sub, because a cancelled receive
        # on RedisChannelLayer's shared process channel stalls the other receivers of the process
        # (django/channels_redis#151); its at-most-once delivery is enough, as events are stored first and
        # followers fill gaps from the store.
        "events": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    }
                ],
            },
        },
    }
    CACHES = {
        "default": {
            "BACKEND": "orchestrator_studio.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "events": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Request bodies: one limit for the whole API, enforced as a JSON 413.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orchestrator_studio.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["orchestrator_studio.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["orchestrator_studio.renderers.JSONRenderer"],  # DRF's bytes, by orjson
    "DEFAULT_PAGINATION_CLASS": "orchestrator_studio.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "orchestrator_studio.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "orchestrator_studio.exception_handler.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Orchestrator Studio API",
    "DESCRIPTION": "Control plane and runtime of an enterprise AI assistant.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # 3.1: JSON Schema 2020-12, which can say that an SSE frame's `data` is JSON of a given schema.
    "OAS_VERSION": "3.1.0",
    # /docs and /api/schema/ are public and identical for everyone: they read no token, so they keep
    # answering while the database or the cache is down.
    "SERVE_AUTHENTICATION": [],
    # /docs works with no internet: Swagger UI's assets are the pinned copy in drf-spectacular-sidecar,
    # served from the project's static files; no online validator badge.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # The agent's async views (execute, SSE stream, /v1/chat) and the doors are not DRF views: documented by
    # hooks.
    "POSTPROCESSING_HOOKS": [
        "threads.api.openapi.add_async_views",
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Last: its schemas are JSON Schema as written, with no enums for drf-spectacular to name.
        "doors.openapi.add_door_paths",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ThreadStatusEnum": "threads.models.Thread.Status",
        "RunStatusEnum": "threads.models.Run.Status",
    },
}

# An API token's `last_used_at` is written at most this often (seconds; 0: never written).
TOKEN_LAST_USED_INTERVAL_SECONDS = env.int("TOKEN_LAST_USED_INTERVAL_SECONDS", default=60)

# Secrets at rest: comma-separated Fernet keys, the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set: generate one with "
        '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
    )

# The LLM used when none is configured in the database.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
LLM_DEFAULT_MODEL = env.str("LLM_DEFAULT_MODEL", default="gpt-4o")

# How the assistant presents itself through the doors (the A2A agent card, the MCP server).
ASSISTANT_NAME = env.str("ASSISTANT_NAME", default="Orchestrator Studio assistant")
ASSISTANT_DESCRIPTION = env.str(
    "ASSISTANT_DESCRIPTION",
    default="The company's AI assistant: it answers with the tools, agents and datasources registered in "
    "Orchestrator Studio.",
)

COMPOSIO_API_KEY = env.str("COMPOSIO_API_KEY", default="")
COMPOSIO_BASE_URL = env.str("COMPOSIO_BASE_URL", default="")

# Registry files imported on start-up (the seed's JSON formats).
AGENTS_CONFIG_PATH = env.str("AGENTS_CONFIG_PATH", default="")
TOOLS_CONFIG_PATH = env.str("TOOLS_CONFIG_PATH", default="")
DATASOURCES_CONFIG_PATH = env.str("DATASOURCES_CONFIG_PATH", default="")

# Request bodies, websocket frames and stored JSON may nest at most this deep (deeper: 400).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)

# Outbound HTTP.
BLOCK_PRIVATE_NETWORKS = env.bool("BLOCK_PRIVATE_NETWORKS", default=False)
CACHE_TTL_SECONDS = env.int("CACHE_TTL_SECONDS", default=300)
CODE_EXECUTOR_ENABLED = env.bool("CODE_EXECUTOR_ENABLED", default=False)
# The code executor's sandbox: bubblewrap, the interpreter it runs, and the uid a root server hands it to.
CODE_EXECUTOR_BWRAP = env.str("CODE_EXECUTOR_BWRAP", default="bwrap")
CODE_EXECUTOR_PYTHON = env.str("CODE_EXECUTOR_PYTHON", default="/usr/bin/python3")
CODE_EXECUTOR_UID = env.int("CODE_EXECUTOR_UID", default=65534)
# How long an MCP tool server's tool list and an A2A agent's card are kept.
MCP_TOOLS_CACHE_SECONDS = env.int("MCP_TOOLS_CACHE_SECONDS", default=300)
A2A_CARD_CACHE_SECONDS = env.int("A2A_CARD_CACHE_SECONDS", default=300)

# Runs.
RUN_EXECUTOR = env.str("RUN_EXECUTOR", default="inline")
MAX_RUN_STEPS = env.int("MAX_RUN_STEPS", default=10)
MEMORY_CONTEXT_TOKENS = env.int("MEMORY_CONTEXT_TOKENS", default=8000)
# A dead executor's run is noticed within RUN_ORPHAN_AFTER_SECONDS + RUN_RECOVERY_INTERVAL_SECONDS (15 s).
RUN_HEARTBEAT_SECONDS = env.int("RUN_HEARTBEAT_SECONDS", default=3)
RUN_ORPHAN_AFTER_SECONDS = env.int("RUN_ORPHAN_AFTER_SECONDS", default=10)
# Seconds between sweeps for orphaned runs in every process that serves or executes runs (0: only at
# start-up); worker processes also claim queued runs at each sweep.
RUN_RECOVERY_INTERVAL_SECONDS = env.int("RUN_RECOVERY_INTERVAL_SECONDS", default=5)
# Executions of a run whose executor died before any tool call started (API.md, "Runs: never lost").
RUN_MAX_ATTEMPTS = env.int("RUN_MAX_ATTEMPTS", default=3)
# Postgres: a flush of the event writer that holds only events (deltas, tool call progress; never a run's
# start, its messages or its end) commits without waiting for the WAL to reach the disk (`SET LOCAL
# synchronous_commit TO off`): one fsync less on the way to every first token. A crash of the executing
# process loses none of them; a crash of Postgres itself may lose the last few hundred milliseconds of
# such events of unfinished runs (see README, "How runs stay fast"). False: every flush waits for its fsync.
RUN_EVENTS_ASYNC_COMMIT = env.bool("RUN_EVENTS_ASYNC_COMMIT", default=True)
# A call left undecided this long is rejected (reason `timeout`) by the recovery sweep (API.md, approval).
APPROVAL_TIMEOUT_SECONDS = env.int("APPROVAL_TIMEOUT_SECONDS", default=600)
# Runs one process executes at once; queued runs beyond that wait for a free slot (or another worker).
RUN_EXECUTOR_MAX_RUNS = env.int("RUN_EXECUTOR_MAX_RUNS", default=500)
# A tool's output is cut to this many characters before it goes back to the LLM (and into events).
TOOL_OUTPUT_MAX_CHARS = env.int("TOOL_OUTPUT_MAX_CHARS", default=16000)
# Seconds between `: ping` comments on an idle SSE stream (API.md: at least every 10 s).
SSE_PING_SECONDS = min(env.float("SSE_PING_SECONDS", default=8.0), 10.0)
# Frames one websocket may send (a token bucket): over it, error frames; flooding on, a close (4429).
WEBSOCKET_FRAMES_PER_SECOND = env.float("WEBSOCKET_FRAMES_PER_SECOND", default=5.0)
WEBSOCKET_FRAME_BURST = env.int("WEBSOCKET_FRAME_BURST", default=20)
WEBSOCKET_FLOOD_CLOSE_AFTER = env.int("WEBSOCKET_FLOOD_CLOSE_AFTER", default=20)

# Monitoring.
HEALTH_CACHE_SECONDS = env.int("HEALTH_CACHE_SECONDS", default=30)
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# The recent-log store behind /api/monitoring/logs (Redis list with REDIS_URL, else per-process memory).
LOG_STORE_LEVEL = env.str("LOG_STORE_LEVEL", default="INFO").upper()
LOG_STORE_MAX_RECORDS = env.int("LOG_STORE_MAX_RECORDS", default=2000)
CONNECTIVITY_TIMEOUT_SECONDS = env.float("CONNECTIVITY_TIMEOUT_SECONDS", default=10.0)
# What the run engine reports its figures to (`threads.engine.metrics.RunMetrics`): wiring, not an option.
RUN_METRICS = "monitoring.metrics.run_recorder"
# prometheus_client reads this variable itself, and turns multiprocess mode on when it merely exists.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
else:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            "()": "monitoring.logformat.ScrubbingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "monitoring.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout" if LOG_FORMAT == "json" else "ext://sys.stderr",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        },
        "log_store": {"class": "monitoring.logstore.SharedLogHandler", "level": LOG_STORE_LEVEL},
    },
    "root": {"handlers": ["console", "log_store"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Governance: login and token throttling, quotas, the response cache, traces (see governance/).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = "orchestrator_studio.throttle.admin_login_cool_off"
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "orchestrator_studio.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "orchestrator_studio.throttle.admin_lockout_response"
TOKEN_AUTH_FAILURE_LIMIT = env.int("TOKEN_AUTH_FAILURE_LIMIT", default=20)
TOKEN_AUTH_LOCKOUT_SECONDS = env.int("TOKEN_AUTH_LOCKOUT_SECONDS", default=300)
# OpenTelemetry traces (orchestrator_studio.tracing): exported only when an OTLP endpoint is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_EXPORTER_OTLP_PROTOCOL = env.str(
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    default=env.str("OTEL_EXPORTER_OTLP_PROTOCOL", default="http/protobuf"),
)
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="orchestrator-studio")
OTEL_GENAI_CAPTURE_CONTENT = env.bool("OTEL_GENAI_CAPTURE_CONTENT", default=False)
