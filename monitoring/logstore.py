"""The recent-log store behind `/api/monitoring/logs`, fed by a logging handler in every process.

With `REDIS_URL` the records go to one capped Redis list that every server and worker process shares (pushed
by this process's background writer, so logging never waits on Redis); otherwise to a capped in-memory deque
of this process. Messages are scrubbed of secrets before they are stored.
"""

import json
import logging
import os
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from monitoring.redis_link import background_writer, redis_client, redis_enabled
from monitoring.scrub import scrub_secrets

REDIS_KEY = "orchestrator:monitoring:logs"
READ_FLUSH_SECONDS = 0.5
MAX_MESSAGE_CHARS = 8_000

LogEntry = dict[str, Any]


def level_number(name: str) -> int | None:
    value = logging.getLevelName(name.upper())
    return value if isinstance(value, int) else None


def _matches(entry: LogEntry, min_level: int, logger: str) -> bool:
    if (level_number(entry.get("level", "")) or 0) < min_level:
        return False
    name = entry.get("logger", "")
    return not logger or name == logger or name.startswith(logger + ".")


class MemoryLogStore:
    def __init__(self, max_records: int) -> None:
        self._records: deque[LogEntry] = deque(maxlen=max_records)
        self._lock = threading.Lock()

    def append(self, entry: LogEntry) -> None:
        with self._lock:
            self._records.append(entry)

    def recent(self, *, min_level: int, logger: str, limit: int) -> list[LogEntry]:
        with self._lock:
            newest_first = list(reversed(self._records))
        return [entry for entry in newest_first if _matches(entry, min_level, logger)][:limit]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class RedisLogStore:
    def __init__(self, max_records: int) -> None:
        self.max_records = max_records

    def append(self, entry: LogEntry) -> None:
        payload = json.dumps(entry)
        max_records = self.max_records

        def write(pipe) -> None:
            pipe.lpush(REDIS_KEY, payload)
            pipe.ltrim(REDIS_KEY, 0, max_records - 1)

        background_writer().submit(write)

    def recent(self, *, min_level: int, logger: str, limit: int) -> list[LogEntry]:
        # Records this process logged just before are still on their way: let them arrive first.
        background_writer().flush(READ_FLUSH_SECONDS)
        matching = []
        for raw in redis_client().lrange(REDIS_KEY, 0, self.max_records - 1):
            entry = json.loads(raw)
            if _matches(entry, min_level, logger):
                matching.append(entry)
                if len(matching) >= limit:
                    break
        return matching

    def clear(self) -> None:
        background_writer().flush(READ_FLUSH_SECONDS)
        redis_client().delete(REDIS_KEY)


_store: MemoryLogStore | RedisLogStore | None = None
_store_config: tuple[str, int] | None = None
_store_lock = threading.Lock()


def log_store() -> MemoryLogStore | RedisLogStore:
    """The store for the current settings (kept per process; rebuilt if the settings change)."""
    global _store, _store_config
    config = (settings.REDIS_URL, settings.LOG_STORE_MAX_RECORDS)
    with _store_lock:
        if _store is None or _store_config != config:
            _store = RedisLogStore(config[1]) if redis_enabled() else MemoryLogStore(config[1])
            _store_config = config
        return _store


def log_entry(record: logging.LogRecord) -> LogEntry:
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        message += "\n" + record.exc_text
    return {
        "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
        "level": record.levelname,
        "logger": record.name,
        "message": scrub_secrets(message[:MAX_MESSAGE_CHARS]),
        "process": os.getpid(),
    }


class SharedLogHandler(logging.Handler):
    """Adds every record it receives to the shared store; cheap, and silent about its own failures."""

    _busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        # A record logged while storing a record (by Django, redis, ...) would loop back here.
        if getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            log_store().append(log_entry(record))
        except Exception:
            self.handleError(record)
        finally:
            self._busy.active = False
