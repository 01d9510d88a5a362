"""The LLM: an `AsyncOpenAI` client per config (any OpenAI-compatible server), the options its model
family takes, a probe, the provider's model list and readable errors.

The SDK's own error messages can quote parts of the API key, so they are never passed on: `llm_error_message`
builds a sentence from the status code and error type only. Every request the SDK sends goes through the
project's guarded HTTP stack (`orchestrator_studio.http`): the egress guard on each hop, and no redirect
to another origin, so the API key never leaves for a host it was not meant for.
"""

import asyncio
import hashlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx2  # the HTTP library the openai SDK is built on (a dependency of the pinned openai)
import openai
from django.conf import settings
from django.core.cache import cache

from orchestrator_studio.egress import EgressRefused
from orchestrator_studio.http import connection_failure_reason, guarded_async_client_httpx2, origin_of
from orchestrator_studio.timing import elapsed_ms
from registry.connectors.results import ProbeResult
from registry.models import LLMConfig

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# The probe answers within this, whatever the config's own (longer) timeout for real completions.
PROBE_TIMEOUT_SECONDS = 15.0
PROBE_PROMPT = "ping"
DEFAULT_TEST_PROMPT = "Reply with the single word: pong"
MAX_TEST_ANSWER_CHARS = 4000


class LLMEgressRefused(openai.OpenAIError):
    """Raised inside the SDK's transport; an `OpenAIError`, so the SDK passes it on without retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LLMUnavailable(openai.OpenAIError):
    """The config cannot make a client (no API key for OpenAI itself)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refused(exc: EgressRefused) -> LLMEgressRefused:
    return LLMEgressRefused(exc.message)


# An OpenAI-compatible server that takes no key (a local Ollama or vLLM) gets no Authorization header at
# all: the SDK insists on a key, so it holds this one, and a request hook takes the header off every request
# before it is sent. It never leaves the process.
KEYLESS_PLACEHOLDER = "no-api-key"


async def _without_authorization(request: httpx2.Request) -> None:
    request.headers.pop("Authorization", None)


# --- model families -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFamily:
    function_calling: bool
    reasoning_effort: bool  # accepts `reasoning_effort`
    reasoning: bool  # takes `max_completion_tokens` and no `temperature`
    lowest_effort: str | None = None


_CHAT = ModelFamily(function_calling=True, reasoning_effort=False, reasoning=False)
_GPT5 = ModelFamily(function_calling=True, reasoning_effort=True, reasoning=True, lowest_effort="minimal")
_O_SERIES = ModelFamily(function_calling=True, reasoning_effort=True, reasoning=True, lowest_effort="low")
_O1_EARLY = ModelFamily(function_calling=False, reasoning_effort=False, reasoning=True)

MODEL_FAMILIES: dict[str, ModelFamily] = {
    "gpt-4o": _CHAT,
    "gpt-4o-mini": _CHAT,
    "gpt-4-turbo": _CHAT,
    "gpt-4": _CHAT,
    "gpt-4.1": _CHAT,
    "gpt-4.1-mini": _CHAT,
    "gpt-4.1-nano": _CHAT,
    "gpt-3.5-turbo": _CHAT,
    "gpt-5": _GPT5,
    "gpt-5-mini": _GPT5,
    "gpt-5-nano": _GPT5,
    "gpt-5-chat": _CHAT,
    "o1": _O_SERIES,
    "o1-mini": _O1_EARLY,
    "o1-preview": _O1_EARLY,
    "o3": _O_SERIES,
    "o3-mini": _O_SERIES,
    "o3-pro": _O_SERIES,
    "o4-mini": _O_SERIES,
}


def model_family(model_id: str) -> ModelFamily | None:
    """The known family of `model_id` (dated snapshots and `provider/` prefixes included), or None."""
    name = model_id.rsplit("/", 1)[-1].lower()
    best: str | None = None
    for prefix in MODEL_FAMILIES:
        if (name == prefix or name.startswith((prefix + "-", prefix + "."))) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    return MODEL_FAMILIES[best] if best else None


def model_capabilities(model_id: str) -> dict[str, bool]:
    """`{"function_calling", "reasoning_effort"}`; a model outside the table is assumed to call functions
    (OpenAI-compatible servers mostly do) and not to take a reasoning effort."""
    family = model_family(model_id) or _CHAT
    return {"function_calling": family.function_calling, "reasoning_effort": family.reasoning_effort}


def _is_reasoning(config: LLMConfig) -> bool:
    family = model_family(config.model)
    return family.reasoning if family else bool(config.reasoning_effort)


def llm_completion_options(config: LLMConfig) -> dict[str, Any]:
    """The keyword arguments of `chat.completions.create` this config's model family takes."""
    options: dict[str, Any] = {"model": config.model}
    if _is_reasoning(config):
        family = model_family(config.model)
        if config.max_tokens:
            options["max_completion_tokens"] = config.max_tokens
        if config.reasoning_effort and (family is None or family.reasoning_effort):
            options["reasoning_effort"] = config.reasoning_effort
    else:
        options["temperature"] = config.temperature
        if config.max_tokens:
            options["max_tokens"] = config.max_tokens
    return options


def _probe_options(config: LLMConfig) -> dict[str, Any]:
    """One token, reasoning as low as the family allows, so the probe costs next to nothing."""
    family = model_family(config.model)
    if _is_reasoning(config):
        options: dict[str, Any] = {"max_completion_tokens": 1}
        if family and family.lowest_effort:
            options["reasoning_effort"] = family.lowest_effort
        return options
    return {"max_tokens": 1}


# --- clients --------------------------------------------------------------------------------------

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, tuple[tuple[Any, ...], openai.AsyncOpenAI]]]" = (  # noqa: E501
    weakref.WeakKeyDictionary()
)


def _base_url(config: LLMConfig) -> str:
    return config.base_url or settings.OPENAI_BASE_URL or OPENAI_BASE_URL


def _api_key(config: LLMConfig) -> str:
    return config.api_key or settings.OPENAI_API_KEY


def _fingerprint(config: LLMConfig, *, timeout: float, max_retries: int) -> tuple[Any, ...]:
    key_hash = hashlib.sha256(_api_key(config).encode()).hexdigest()[:16]
    return (config.updated_at, _base_url(config), key_hash, timeout, max_retries)


def _new_client(config: LLMConfig, *, timeout: float, max_retries: int) -> openai.AsyncOpenAI:
    api_key = _api_key(config)
    base_url = _base_url(config)
    if not api_key and base_url.rstrip("/") == OPENAI_BASE_URL:
        raise LLMUnavailable(
            f"The LLM config '{config.name}' has no API key: set its api_key or OPENAI_API_KEY."
        )
    http_client = guarded_async_client_httpx2(timeout=timeout, raise_as=_refused)
    if not api_key:
        http_client.event_hooks = {"request": [_without_authorization], "response": []}
    return openai.AsyncOpenAI(
        api_key=api_key or KEYLESS_PLACEHOLDER,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        http_client=http_client,
    )


def llm_client(
    config: LLMConfig, *, timeout: float | None = None, max_retries: int | None = None
) -> openai.AsyncOpenAI:
    """The `AsyncOpenAI` of `config`, reused per event loop until the config (or the key it falls back on)
    changes. Call it inside a running event loop."""
    timeout = float(config.timeout_seconds if timeout is None else timeout)
    max_retries = int(config.max_retries if max_retries is None else max_retries)
    if config.pk is None:
        return _new_client(config, timeout=timeout, max_retries=max_retries)
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    fingerprint = _fingerprint(config, timeout=timeout, max_retries=max_retries)
    cache_key = hash((config.pk, timeout, max_retries))
    cached = per_loop.get(cache_key)
    if cached and cached[0] == fingerprint:
        return cached[1]
    client = _new_client(config, timeout=timeout, max_retries=max_retries)
    per_loop[cache_key] = (fingerprint, client)
    return client


# --- errors ---------------------------------------------------------------------------------------

_STATUS_HINTS = {
    400: "the request was refused as invalid",
    401: "the API key was refused",
    403: "access was denied",
    404: "the model or endpoint was not found",
    408: "the provider timed out",
    409: "the request conflicted",
    413: "the request was too large",
    422: "the request was refused as invalid",
    429: "rate limited or out of quota",
}


def _error_type(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        inner = error if isinstance(error, dict) else body
        for key in ("type", "code"):
            value = inner.get(key)
            if (
                isinstance(value, str)
                and value.replace("_", "").replace("-", "").isalnum()
                and len(value) < 60
            ):
                return value
    return None


def llm_error_message(exc: BaseException, config: LLMConfig) -> str:
    """A sentence about what went wrong talking to the LLM, built from facts only (never the SDK's text)."""
    where = origin_of(_base_url(config))
    if isinstance(exc, LLMEgressRefused | LLMUnavailable):
        return exc.message
    if isinstance(exc, openai.APIStatusError):
        kind = _error_type(exc.body)
        status = exc.status_code
        hint = _STATUS_HINTS.get(status, "the provider failed" if status >= 500 else "the request failed")
        if status == 404:
            hint = f"the model '{config.model}' or the endpoint was not found"
        return (
            f"The LLM provider at {where} answered HTTP {status}"
            + (f" ({kind})" if kind else "")
            + f": {hint}."
        )
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return f"No answer from the LLM provider at {where} in time."
    if isinstance(exc, openai.APIConnectionError):
        return f"Cannot connect to the LLM provider at {where}: {connection_failure_reason(exc)}."
    if isinstance(exc, openai.APIResponseValidationError | ValueError | IndexError):
        return f"The LLM provider at {where} answered a malformed response."
    return f"The LLM call to {where} failed ({type(exc).__name__})."


def _failure(exc: BaseException, config: LLMConfig) -> str:
    """`llm_error_message`, logging what is not an expected way for a provider to fail (a bug of ours)."""
    if not isinstance(exc, openai.OpenAIError | ValueError | IndexError | TimeoutError):
        logger.error("Unexpected %s talking to LLM config %r", type(exc).__name__, config.name, exc_info=exc)
    return llm_error_message(exc, config)


# --- probe, test, models --------------------------------------------------------------------------


async def llm_probe(config: LLMConfig) -> ProbeResult:
    """`GET /models`, then a one-token completion with reasoning off, within a hard timeout. Any error
    status is a failure."""
    started = time.perf_counter()
    timeout = min(float(config.timeout_seconds), PROBE_TIMEOUT_SECONDS)
    detail: dict[str, Any] = {"model": config.model}
    try:
        client = llm_client(config, timeout=timeout, max_retries=0)
        async with asyncio.timeout(timeout):
            page = await client.models.list()
            listed = {model.id for model in page.data}
            completion = await client.chat.completions.create(
                model=config.model,
                messages=[{"role": "user", "content": PROBE_PROMPT}],
                **_probe_options(config),
            )
            if not completion.choices:
                raise ValueError("no choices")
    except Exception as exc:
        return ProbeResult(
            ok=False, latency_ms=elapsed_ms(started), error=_failure(exc, config), detail=detail
        )
    note = "" if config.model in listed else f" ('{config.model}' is not in the provider's list)"
    detail["detail"] = f"Listed {len(listed)} models{note}; a 1-token completion answered."
    return ProbeResult(ok=True, latency_ms=elapsed_ms(started), detail=detail)


async def llm_answer(config: LLMConfig, prompt: str | None) -> dict[str, Any]:
    """A real completion of `prompt` with the config's own options: what the test shortcut shows."""
    started = time.perf_counter()
    result: dict[str, Any] = {"model": config.model}
    try:
        client = llm_client(config)
        async with asyncio.timeout(float(config.timeout_seconds)):
            completion = await client.chat.completions.create(
                messages=[{"role": "user", "content": prompt or DEFAULT_TEST_PROMPT}],
                **llm_completion_options(config),
            )
            answer = completion.choices[0].message.content or ""
    except Exception as exc:
        return {"ok": False, "latency_ms": elapsed_ms(started), **result, "error": _failure(exc, config)}
    usage = completion.usage
    return {
        "ok": True,
        "latency_ms": elapsed_ms(started),
        **result,
        "response": answer[:MAX_TEST_ANSWER_CHARS],
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
        },
    }


def builtin_models() -> list[dict[str, Any]]:
    return [{"id": model_id, **model_capabilities(model_id)} for model_id in MODEL_FAMILIES]


def _models_cache_key(config: LLMConfig) -> str:
    fingerprint = _fingerprint(config, timeout=0, max_retries=0)
    return "llm-models:" + hashlib.sha256(repr((config.pk, fingerprint)).encode()).hexdigest()[:32]


async def llm_models(config: LLMConfig) -> dict[str, Any]:
    """`{"models": [{"id", "function_calling", "reasoning_effort"}], "source"}`: the provider's list
    (cached for CACHE_TTL_SECONDS), or the built-in table with `error` when the provider cannot answer."""
    key = _models_cache_key(config)
    cached = await cache.aget(key)
    if cached is not None:
        return cached
    timeout = min(float(config.timeout_seconds), PROBE_TIMEOUT_SECONDS)
    try:
        client = llm_client(config, timeout=timeout, max_retries=0)
        async with asyncio.timeout(timeout):
            page = await client.models.list()
        ids = sorted({model.id for model in page.data if isinstance(model.id, str)})
    except Exception as exc:
        return {"models": builtin_models(), "source": "builtin", "error": _failure(exc, config)}
    result = {
        "models": [{"id": model_id, **model_capabilities(model_id)} for model_id in ids],
        "source": "provider",
    }
    await cache.aset(key, result, settings.CACHE_TTL_SECONDS)
    return result


async def llm_health(config: LLMConfig) -> dict[str, Any]:
    """The default config's probe, cached for HEALTH_CACHE_SECONDS so frequent checks cost no tokens."""
    key = "llm-health:" + _models_cache_key(config).split(":", 1)[1]
    cached = await cache.aget(key)
    if cached is not None:
        return cached
    result = {"config": config.name, **(await llm_probe(config)).as_dict()}
    await cache.aset(key, result, settings.HEALTH_CACHE_SECONDS)
    return result
