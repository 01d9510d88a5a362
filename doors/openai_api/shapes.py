"""The response objects of the Chat Completions and Models APIs, as OpenAI's SDKs parse them."""

from typing import Any

import orjson

from doors.transcript import RunTranscript
from registry.models import LLMConfig
from threads.models import Run

OWNED_BY = "orchestrator-studio"
SSE_DONE = b"data: [DONE]\n\n"
SSE_PING = b": ping\n\n"


def model_object(config: LLMConfig) -> dict[str, Any]:
    return {
        "id": config.name,
        "object": "model",
        "created": int(config.created_at.timestamp()),
        "owned_by": OWNED_BY,
    }


def completion_id(run: Run) -> str:
    return f"chatcmpl-{run.id.hex}"


def finish_reason(transcript: RunTranscript) -> str:
    """`length` when the run hit its step limit before a final answer; otherwise `stop`."""
    return "length" if transcript.step_limit_reached else "stop"


def chat_completion(run: Run, model: str, transcript: RunTranscript) -> dict[str, Any]:
    return {
        "id": completion_id(run),
        "object": "chat.completion",
        "created": int(run.created_at.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": transcript.answer, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(transcript),
            }
        ],
        "usage": transcript.token_usage(),
        "system_fingerprint": None,
        "orchestrator": transcript.summary(),
    }


class ChunkWriter:
    """`chat.completion.chunk` SSE frames of one streamed completion."""

    def __init__(self, run: Run, model: str, *, include_usage: bool):
        self.base = {
            "id": completion_id(run),
            "object": "chat.completion.chunk",
            "created": int(run.created_at.timestamp()),
            "model": model,
            "system_fingerprint": None,
        }
        self.include_usage = include_usage

    @staticmethod
    def frame(payload: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(payload, default=str) + b"\n\n"

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        if self.include_usage:
            payload["usage"] = None
        return self.frame(payload)

    def usage(self, transcript: RunTranscript) -> bytes:
        return self.frame({**self.base, "choices": [], "usage": transcript.token_usage()})
