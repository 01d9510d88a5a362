"""What connectors answer: a probe (is it reachable?) and a call (what did it return?).

Neither ever carries a secret; `error` is a sentence a person can act on.
"""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ProbeResult:
    ok: bool
    latency_ms: float
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {"ok": self.ok, "latency_ms": self.latency_ms, **self.detail}
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass
class CallResult:
    ok: bool
    output: Any
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgentCallResult:
    ok: bool
    status_code: int | None
    latency_ms: float
    response: Any
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "ok": self.ok,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "response": self.response,
        }
        if self.error is not None:
            data["error"] = self.error
        return data
