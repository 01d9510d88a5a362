"""A fake OpenTelemetry collector: OTLP/HTTP (`POST /v1/traces`, protobuf) on loopback, decoded with the
OpenTelemetry protobuf classes. `.spans` lists what arrived as `(name, {attribute: value})`."""

import asyncio
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.fakes.server import Receive, Scope, Send, read_request, send_bytes

TRACES_PATH = "/v1/traces"


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class FakeCollector:
    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Any]]] = []
        self.content_types: list[str] = []
        self.received = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        if request.method != "POST" or request.path != TRACES_PATH:
            await send_bytes(send, 404, b"")
            return
        self.content_types.append(request.headers.get("content-type", ""))
        export = ExportTraceServiceRequest()
        export.ParseFromString(request.body)
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {item.key: _value(item.value) for item in span.attributes}
                    self.spans.append((span.name, attributes))
        body = ExportTraceServiceResponse().SerializeToString()
        await send_bytes(send, 200, body, content_type="application/x-protobuf")
