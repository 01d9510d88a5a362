"""The OpenAI wire format the fake server speaks: chunk and answer shapes, usage, error bodies."""

import itertools
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FINGERPRINT = "fp_fake_0001"
DONE = b"data: [DONE]\n\n"
_WORD = re.compile(r"\S+")
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes

    @property
    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def count_words(value: Any) -> int:
    if isinstance(value, str):
        return len(_WORD.findall(value))
    if isinstance(value, list):
        return sum(count_words(part.get("text")) for part in value if isinstance(part, dict))
    return 0


def message_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


def split_text(value: str, pieces: int) -> list[str]:
    """`value` in up to `pieces` non-empty parts of near-equal length that concatenate back to it."""
    count = min(pieces, len(value))
    if count <= 1:
        return [value] if value else []
    size, extra = divmod(len(value), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(value[start:end])
        start = end
    return parts


def truncate_words(content: str, limit: int) -> str | None:
    """`content` cut after `limit` words, or None when it is not longer than that."""
    matches = list(itertools.islice(_WORD.finditer(content), limit + 1))
    return content[: matches[limit - 1].end()] if len(matches) > limit else None


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


@dataclass
class Completion:
    """What every chunk (or the JSON answer) of one chat completion repeats."""

    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _head(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

    def __post_init__(self) -> None:
        # A stream's chunks differ only in their delta: encode the rest once (it holds 1000s of streams).
        head = json.dumps(self._head("chat.completion.chunk"), separators=(",", ":"))
        self._chunk_start = f'data: {head[:-1]},"choices":[{{"index":0,"delta":'.encode()
        self._chunk_end = b"}\n\n" if not self.include_usage else b',"usage":null}\n\n'

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        reason = b"null" if finish_reason is None else json.dumps(finish_reason).encode()
        end = b',"logprobs":null,"finish_reason":' + reason + b"}]"
        return self._chunk_start + json.dumps(delta, separators=(",", ":")).encode() + end + self._chunk_end

    def usage_chunk(self, usage: dict[str, Any]) -> bytes:
        return sse({**self._head("chat.completion.chunk"), "choices": [], "usage": usage})

    def answer(self, message: dict[str, Any], finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        return {**self._head("chat.completion"), "choices": [choice], "usage": usage}

    def usage(self, completion_tokens: int, override: Mapping[str, int] | None) -> dict[str, Any]:
        prompt = self.prompt_tokens
        if override:
            prompt = override.get("prompt_tokens", prompt)
            completion_tokens = override.get("completion_tokens", completion_tokens)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def missing_key_body() -> dict[str, Any]:
    return {"error": {"message": _NO_KEY, "type": "invalid_request_error", "param": None, "code": None}}


def invalid_url_body(method: str, path: str) -> dict[str, Any]:
    message = f"Invalid URL ({method} {path})"
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def chat_request_problem(body: Any) -> dict[str, Any] | None:
    """OpenAI's 400 body for a chat completion request it would refuse before generating, else None."""

    def problem(message: str, param: str | None, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}

    if not isinstance(body, dict):
        return problem("We could not parse the JSON body of your request.", None, None)
    if not isinstance(body.get("model"), str) or not body["model"]:
        return problem("you must provide a model parameter", None, None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return problem("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if "stream" in body and not isinstance(body["stream"], bool):
        return problem("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    return None
