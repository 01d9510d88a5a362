"""The LLM response cache: an LLM turn whose request equals one answered within the config's
`cache_ttl_seconds` is answered from here, without calling the provider.

The key covers everything that changes the answer: where the request goes (base URL, model) and the whole
request (messages, offered functions with their schemas, temperature, token limits, reasoning effort and
any other option). The entry keeps the answer's deltas as they streamed, its tool calls, finish reason and
usage, so that a cached turn streams like a live one. Entries live in the default cache (Redis with
`REDIS_URL`, shared by every process; this process's memory otherwise). Emptying a config's cache moves
its generation on: older entries are never read again and expire by themselves.

With a TTL set the admin has chosen to cache that config's turns, whatever their temperature; without
one nothing is cached.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import BaseCache

from orchestrator_studio.cache import shared_cache
from orchestrator_studio.errors import ServiceUnavailable
from registry.models import LLMConfig

logger = logging.getLogger(__name__)

KEY_PREFIX = "llm-cache:"
KEY_VERSION = 1
# Options of the streamed call that change its transport, not its answer.
TRANSPORT_OPTIONS = frozenset({"stream", "stream_options"})


@dataclass
class CachedAnswer:
    deltas: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def content(self) -> str:
        return "".join(self.deltas)


def _cache() -> BaseCache:
    return shared_cache()


def cache_enabled(config: LLMConfig) -> bool:
    return bool(config.cache_ttl_seconds)


def _generation_key(config: LLMConfig) -> str:
    return f"{KEY_PREFIX}generation:{config.pk}"


def cache_key(config: LLMConfig, request: dict[str, Any], generation: int = 0) -> str:
    """The entry's key: the config, its generation and a digest of the request as the provider gets it."""
    material = {
        "v": KEY_VERSION,
        "base_url": config.base_url or "",
        "request": {key: value for key, value in request.items() if key not in TRANSPORT_OPTIONS},
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{KEY_PREFIX}{config.pk}:{generation}:{digest}"


def _generation(config: LLMConfig) -> int:
    return int(_cache().get(_generation_key(config)) or 0)


def _lookup(config: LLMConfig, request: dict[str, Any]) -> CachedAnswer | None:
    stored = _cache().get(cache_key(config, request, _generation(config)))
    return CachedAnswer(**stored) if isinstance(stored, dict) else None


def _store(config: LLMConfig, request: dict[str, Any], answer: CachedAnswer) -> None:
    _cache().set(cache_key(config, request, _generation(config)), asdict(answer), config.cache_ttl_seconds)


async def cache_lookup(config: LLMConfig, request: dict[str, Any]) -> CachedAnswer | None:
    """The cached answer to `request` (the keyword arguments of the completion call); None when the config
    has no cache, nothing is cached, or the cache cannot be read (the turn then goes live). The caller
    counts hits and misses."""
    if not cache_enabled(config):
        return None
    try:
        answer = await sync_to_async(_lookup, thread_sensitive=False)(config, request)
    except Exception as exc:
        logger.warning("The LLM response cache could not be read: %s", type(exc).__name__)
        return None
    return answer


async def cache_store(config: LLMConfig, request: dict[str, Any], answer: CachedAnswer) -> None:
    """Keep a complete answer for the config's TTL; a cache that cannot be written is only logged."""
    if not cache_enabled(config):
        return
    try:
        await sync_to_async(_store, thread_sensitive=False)(config, request, answer)
    except Exception as exc:
        logger.warning("The LLM response cache could not be written: %s", type(exc).__name__)


def _generation_next(config: LLMConfig) -> None:
    cache = _cache()
    key = _generation_key(config)
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=None)


def cache_clear(config: LLMConfig) -> None:
    """Forget every answer cached for `config` (in every process: the generation lives in the cache).
    `ServiceUnavailable` when the cache cannot be reached."""
    try:
        _generation_next(config)
    except Exception as exc:
        logger.warning("The LLM response cache could not be emptied: %s", type(exc).__name__)
        raise ServiceUnavailable("The response cache cannot be reached; nothing was emptied.") from exc
