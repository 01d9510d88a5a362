"""OpenTelemetry traces of runs (API.md, "Tracing"), following the GenAI semantic conventions.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then every helper here is a no-op that costs a branch.
On, spans go to the OTLP/HTTP exporter through a `BatchSpanProcessor`, whose own thread exports them: the
event loop only ever appends a finished span to a queue. Per run, an `invoke_agent` span
(`gen_ai.conversation.id` = the thread's id), under it a client span `chat <model>` per LLM turn and
`execute_tool <name>` per function call. The trace context of the request that started the run (its
`traceparent`) is stored with the run and becomes the parent of the run's span, in whichever process
executes it; outbound HTTP calls carry the current `traceparent` on. Message content, tool arguments and
results are recorded only with `OTEL_GENAI_CAPTURE_CONTENT=true`.
"""

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware
from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

SUPPORTED_PROTOCOLS = ("http/protobuf",)
OPENAI_HOST = "api.openai.com"
TRACE_CONTEXT_OPTION = "trace_context"

_tracer: Tracer | None = None


def tracing_install(provider: TracerProvider | None) -> None:
    """Send spans to `provider` from now on (None: tracing off). Start-up and tests call this."""
    global _tracer
    _tracer = provider.get_tracer("orchestrator_studio") if provider is not None else None


def tracing_enabled() -> bool:
    return _tracer is not None


def tracing_configure() -> TracerProvider | None:
    """Tracing as the settings say; called once per process at start-up. Returns the provider (None: off)."""
    if not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        tracing_install(None)
        return None
    if settings.OTEL_EXPORTER_OTLP_PROTOCOL not in SUPPORTED_PROTOCOLS:
        raise ImproperlyConfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={settings.OTEL_EXPORTER_OTLP_PROTOCOL!r} is not supported: "
            f"use {', '.join(SUPPORTED_PROTOCOLS)} (or an OpenTelemetry Collector in between)."
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT, ...) itself; the batch
    # processor exports from a thread of its own, so a run only ever queues a finished span.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracing_install(provider)
    return provider


# --- trace context ------------------------------------------------------------------------------------


def trace_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); empty when tracing is off."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Outbound request headers with the current trace context added (unchanged when tracing is off)."""
    carrier = trace_carrier()
    if not carrier:
        return dict(headers) if headers is not None else None
    return {**(headers or {}), **carrier}


def run_trace_options() -> dict[str, Any]:
    """What a new run stores to be traced under the request that started it (nothing when tracing is off)."""
    carrier = trace_carrier()
    return {TRACE_CONTEXT_OPTION: carrier} if carrier else {}


@contextlib.contextmanager
def request_trace_context(headers: Mapping[str, str]) -> Iterator[None]:
    """The incoming request's `traceparent`, made the current context while it is served."""
    if _tracer is None or "traceparent" not in headers:
        yield
        return
    from opentelemetry import context

    token = context.attach(propagate.extract({key.lower(): value for key, value in headers.items()}))
    try:
        yield
    finally:
        context.detach(token)


@sync_and_async_middleware
def trace_context(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    """Middleware: the request's `traceparent` is the current trace context while it is served, so a run
    it starts is traced under the caller's trace."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            with request_trace_context(request.headers):
                return await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        with request_trace_context(request.headers):
            return get_response(request)  # type: ignore[return-value]

    return middleware


def _capture_content() -> bool:
    return bool(settings.OTEL_GENAI_CAPTURE_CONTENT)


def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


# --- spans --------------------------------------------------------------------------------------------


class SpanHandle:
    """What the engine tells a span; a no-op when tracing is off (the span is None)."""

    def __init__(self, span: Span | None) -> None:
        self.span = span
        self._started = time.perf_counter()
        self._first_chunk: float | None = None

    def first_chunk(self) -> None:
        if self.span is not None and self._first_chunk is None:
            self._first_chunk = time.perf_counter() - self._started
            self.span.set_attribute("gen_ai.response.time_to_first_chunk", round(self._first_chunk, 6))

    def llm_finished(
        self,
        *,
        usage: Mapping[str, Any],
        finish_reason: str | None,
        cached: bool,
        content: str = "",
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        if self.span is None:
            return
        self.span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("prompt_tokens") or 0))
        self.span.set_attribute("gen_ai.usage.output_tokens", int(usage.get("completion_tokens") or 0))
        self.span.set_attribute("gen_ai.response.finish_reasons", [finish_reason or "stop"])
        self.span.set_attribute("orchestrator.cache.hit", cached)
        if _capture_content():
            parts: list[dict[str, Any]] = [{"type": "text", "content": content}] if content else []
            parts += [{"type": "tool_call", **call} for call in tool_calls or []]
            output = [{"role": "assistant", "parts": parts, "finish_reason": finish_reason or "stop"}]
            self.span.set_attribute("gen_ai.output.messages", _as_json(output))

    def tool_finished(self, *, ok: bool, error: str | None, output: Any) -> None:
        if self.span is None:
            return
        if not ok:
            self.span.set_status(Status(StatusCode.ERROR, error or "The call failed."))
            self.span.set_attribute("error.type", "tool_error")
        if _capture_content() and output is not None:
            self.span.set_attribute("gen_ai.tool.call.result", _as_json(output))

    def run_finished(self, *, status: str, error_code: str | None = None) -> None:
        if self.span is None:
            return
        self.span.set_attribute("orchestrator.run.status", status)
        if error_code:
            self.span.set_status(Status(StatusCode.ERROR, error_code))
            self.span.set_attribute("error.type", error_code)


@contextlib.contextmanager
def _span(name: str, kind: SpanKind, attributes: dict[str, Any], context: Any = None) -> Iterator[SpanHandle]:
    if _tracer is None:
        yield SpanHandle(None)
        return
    with _tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as span:
        yield SpanHandle(span)


def trace_run(
    *, run_id: Any, thread_id: Any, options: Mapping[str, Any]
) -> contextlib.AbstractContextManager[SpanHandle]:
    """The `invoke_agent` span of one run, a child of the request that started it."""
    carrier = options.get(TRACE_CONTEXT_OPTION) if _tracer is not None else None
    parent = propagate.extract(carrier) if isinstance(carrier, dict) and carrier else None
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "orchestrator-studio",
        "gen_ai.conversation.id": str(thread_id),
        "orchestrator.run.id": str(run_id),
    }
    return _span("invoke_agent", SpanKind.INTERNAL, attributes, parent)


def provider_name(base_url: str | None) -> str:
    """`openai` for OpenAI itself, else the host of the OpenAI-compatible server."""
    host = urlsplit(base_url).hostname if base_url else OPENAI_HOST
    return "openai" if host in (None, OPENAI_HOST) else str(host)


def trace_llm_turn(
    *, base_url: str | None, request: Mapping[str, Any]
) -> contextlib.AbstractContextManager[SpanHandle]:
    """The client span `chat <model>` of one LLM turn (`request`: the completion call's arguments)."""
    if _tracer is None:
        return _span("", SpanKind.CLIENT, {})
    model = str(request.get("model", ""))
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(base_url),
        "gen_ai.request.model": model,
    }
    target = urlsplit(base_url or f"https://{OPENAI_HOST}")
    if target.hostname:
        attributes["server.address"] = target.hostname
    if target.port:
        attributes["server.port"] = target.port
    for option, attribute in (
        ("temperature", "gen_ai.request.temperature"),
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ):
        if request.get(option) is not None:
            attributes[attribute] = request[option]
    if _capture_content():
        attributes["gen_ai.input.messages"] = _as_json(request.get("messages", []))
        attributes["gen_ai.tool.definitions"] = _as_json(request.get("tools", []))
    return _span(f"chat {model}", SpanKind.CLIENT, attributes)


def trace_tool_call(
    *, name: str, call_id: str, kind: str, arguments: Any
) -> contextlib.AbstractContextManager[SpanHandle]:
    """The span `execute_tool <name>` of one function call."""
    if _tracer is None:
        return _span("", SpanKind.INTERNAL, {})
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "orchestrator.tool.kind": kind,
    }
    if _capture_content():
        attributes["gen_ai.tool.call.arguments"] = _as_json(arguments)
    return _span(f"execute_tool {name}", SpanKind.INTERNAL, attributes)
