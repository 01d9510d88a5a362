"""`last_used_at` of API tokens: written at most once per `TOKEN_LAST_USED_INTERVAL_SECONDS` per token, by a
background thread, so that authenticating a request never waits for a database write.

Each process remembers when it last noted a token; once the interval has passed it hands the token to the
writer thread, which first claims the interval in the shared cache (Redis with REDIS_URL): of all the
processes that saw the token in that interval, only one writes. Notes still queued when the process exits
are lost, which only makes `last_used_at` a little older than the truth.
"""

import logging
import queue
import threading
import time
from datetime import datetime

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.utils import timezone

logger = logging.getLogger(__name__)

_CLAIM_PREFIX = "auth:token-used:"
# Past this many remembered tokens, the ones older than the interval are forgotten.
_MAX_REMEMBERED = 10_000

_lock = threading.Lock()
_noted_at: dict[str, float] = {}
_pending: "queue.SimpleQueue[tuple[str, datetime] | threading.Event]" = queue.SimpleQueue()
_writer: threading.Thread | None = None


def token_use_note(key_hash: str) -> None:
    """Called on every authentication: costs a dictionary lookup unless the token is due a write."""
    interval = settings.TOKEN_LAST_USED_INTERVAL_SECONDS
    if interval <= 0:
        return
    now = time.monotonic()
    with _lock:
        last = _noted_at.get(key_hash)
        if last is not None and now - last < interval:
            return
        _noted_at[key_hash] = now
        if len(_noted_at) > _MAX_REMEMBERED:
            for stale in [key for key, at in _noted_at.items() if now - at >= interval]:
                del _noted_at[stale]
        _ensure_writer()
    _pending.put((key_hash, timezone.now()))


def token_use_flush() -> None:
    """Wait until every use noted so far is written (tests read `last_used_at` after it)."""
    with _lock:
        _ensure_writer()
    done = threading.Event()
    _pending.put(done)
    done.wait()


def token_use_forget() -> None:
    """Forget which tokens this process noted (tests start from a clean slate)."""
    with _lock:
        _noted_at.clear()


def _ensure_writer() -> None:
    global _writer
    if _writer is None or not _writer.is_alive():
        _writer = threading.Thread(target=_write_forever, name="token-last-used", daemon=True)
        _writer.start()


def _write_forever() -> None:
    while True:
        item = _pending.get()
        if isinstance(item, threading.Event):
            item.set()
            continue
        key_hash, used_at = item
        try:
            _write(key_hash, used_at)
        except Exception:
            logger.warning("Could not record the last use of an API token", exc_info=True)
        finally:
            connections.close_all()


def _write(key_hash: str, used_at: datetime) -> None:
    from orchestrator_studio.models import ApiToken

    interval = settings.TOKEN_LAST_USED_INTERVAL_SECONDS
    if not caches["default"].add(_CLAIM_PREFIX + key_hash, 1, interval):
        return  # another process wrote it within the interval
    ApiToken.objects.filter(key_hash=key_hash).update(last_used_at=used_at)
