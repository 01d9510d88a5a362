"""A fake OpenAI-compatible server, spoken to over real HTTP by the real `openai` SDK.

It answers `GET /v1/models`, `GET /v1/models/{id}` and `POST /v1/chat/completions` (JSON, or SSE when
`"stream": true`, ending with a usage chunk when `stream_options.include_usage` is set), in the shapes the
SDK parses: `chat.completion`, `chat.completion.chunk`, tool call deltas, usage and `{"error": {...}}` bodies.
Any other path gets OpenAI's 404 "Invalid URL" body.

In tests, take the `fake_openai` fixture (a fake of the test's own, at a URL of its own) and point the client
at its `base_url`, which ends in `/v1` (`make_fake_openai(**settings)` gives more fakes in one test):

    client = AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)

Script the next answers: each chat completion request takes the next step; once the script is used up,
every request gets the default answer "You said: <last user message>" (or `reply`), in `chunks` pieces:

    from tests.fakes.openai_server import call, error, hang, malformed, text, tool_call, tool_calls

    fake_openai.script(
        text("Hello there", chunks=5),                      # an answer in 5 content deltas
        tool_call("agent__x", {"task": "t"}),               # one tool call (finish_reason "tool_calls")
        tool_calls(call("a", {"q": 1}), call("b", "{}")),   # parallel calls, arguments split over deltas
        text("slow", ttft=0.5, chunk_delay=0.1),            # a slow stream (seconds)
        text("cut short", hang_after=1),                    # one delta, then the stream stalls
        text("broken", fail_after=1),                       # one delta, then an error event; no [DONE]
        error(429),                                         # an HTTP error with OpenAI's error body
        malformed(),                                        # 200 with a body that is not valid JSON
        hang(),                                             # no answer at all (timeout, cancel tests)
    )
    fake_openai.script_models(error(500))                   # the same for GET /v1/models

Every step takes `times=N` to answer N requests in a row. The SDK retries 408/409/429/5xx (`max_retries`, 2
by default) and every attempt takes a step: use `max_retries=0`, or `error(500, times=3)`, or
`error(429, headers={"retry-after-ms": "1"})` to make its retries quick. Text is split into chunks of
near-equal length by characters (at most one per character); `call()` arguments given as a mapping are sent
as compact JSON, a string is sent as is (so it can be broken JSON). `hang_after`/`fail_after` apply to
streamed requests; a non-streamed request waits as long as the stream would have taken, then gets the JSON.

Assert what was sent with `fake_openai.requests` / `.chat_requests` (`RecordedRequest`: `method`, `path`,
`query`, `headers` with lower-case names, `body` as parsed JSON, `raw`, `bearer`), `.pending` (steps not
used yet) and `await fake_openai.wait_for_requests(n)`. Settings are plain attributes: `api_key` (when set,
a missing or wrong bearer gets 401), `models`, `ttft`, `chunk_delay` (seconds), `chunks`, `reply`.
`reset()` restores the settings, forgets scripts and requests and ends answers still running (a hang then
gets a 503, a stream ends early); the fixture does the same when the test ends.

Usage counts whitespace-separated words: prompt = words of the messages' text; completion = words of the
answer plus, per tool call, one for its name and the words of its arguments (`usage={...}` overrides).
`max_tokens` (or `max_completion_tokens`) cuts a text answer to that many words, finish_reason "length".

Outside pytest, `with start_fake_openai(ttft=0.2) as fake:` serves one on a free port. Standalone, for
benchmarks (prints its base URL, then serves until killed; `--port 0` picks a free port):

    python -m tests.fakes.openai_server --port 8100 --ttft-ms 200 --chunk-delay-ms 50 --chunks 20
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Self

import uvicorn

from tests.fakes.openai_protocol import (
    DONE,
    Completion,
    RecordedRequest,
    chat_request_problem,
    count_words,
    invalid_url_body,
    message_text,
    missing_key_body,
    parse_json,
    split_text,
    sse,
    truncate_words,
)
from tests.fakes.openai_script import (
    Call,
    Hang,
    HTTPError,
    Malformed,
    Step,
    Text,
    ToolCalls,
    call,
    error,
    hang,
    malformed,
    text,
    tool_call,
    tool_calls,
)
from tests.fakes.server import Receive, Request, Scope, Send, read_request, serve

__all__ = [
    "Call",
    "FakeOpenAI",
    "FakeOpenAIHost",
    "RecordedRequest",
    "Step",
    "call",
    "error",
    "hang",
    "malformed",
    "start_fake_openai",
    "text",
    "tool_call",
    "tool_calls",
]

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-5", "o3-mini")
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_CREATED = 1_715_367_049
_SSE_HEADERS = {"cache-control": "no-cache"}


# ------------------------------------------------------------------------------------------- exchange


class _Exchange:
    """One request being answered: what was sent, and whether the client left or the fake let go of it.

    A watcher waits for the client's disconnect and then cancels the answering task, so a hang or a slow
    stream ends as soon as nobody listens (and never holds up the server's shutdown).
    """

    def __init__(self, send: Send, receive: Receive) -> None:
        self._send = send
        self.started = self.finished = self.gone = self.released = False
        self._task = asyncio.current_task()
        self._watcher = asyncio.create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.gone = True
            self._cancel()

    def release(self) -> None:
        if not self.finished:
            self.released = True
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._watcher.cancel()

    async def start(self, status: int, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        raw = [
            (b"content-type", content_type.encode()),
            (b"x-request-id", f"req_{secrets.token_hex(16)}".encode()),
        ]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self, data: bytes = b"") -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def respond(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        await self.start(status, content_type, {**(headers or {}), "content-length": str(len(body))})
        await self.finish(body)

    async def json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        await self.respond(status, json.dumps(payload).encode(), "application/json", headers)

    async def abort(self) -> None:
        """End an answer the fake was told to drop, cleanly, so the client sees it end."""
        if not self.started:
            await self.json(503, error(503, "The fake server stopped answering this request.").body())
        elif not self.finished:
            await self.finish()


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


# ----------------------------------------------------------------------------------------------- fake


class FakeOpenAI:
    """The ASGI app of one fake OpenAI-compatible server, with its script and its record of requests."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        ttft: float = 0.0,
        chunk_delay: float = 0.0,
        chunks: int = 4,
        reply: str | None = None,
        record: bool = True,
    ) -> None:
        self._settings = {
            "api_key": api_key,
            "models": list(models),
            "ttft": ttft,
            "chunk_delay": chunk_delay,
            "chunks": chunks,
            "reply": reply,
            "record": record,
        }
        self.base_url = ""
        self._lock = threading.Lock()
        self._chat_script: deque[Step] = deque()
        self._models_script: deque[Step] = deque()
        self._requests: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active: set[_Exchange] = set()
        self._apply_settings()

    def _apply_settings(self) -> None:
        settings = self._settings
        self.api_key: str | None = settings["api_key"]
        self.models: list[str] = list(settings["models"])
        self.ttft: float = settings["ttft"]
        self.chunk_delay: float = settings["chunk_delay"]
        self.chunks: int = settings["chunks"]
        self.reply: str | None = settings["reply"]
        self.record: bool = settings["record"]

    # -- the test's side

    def script(self, *steps: Step) -> Self:
        """Queue answers for the next chat completion requests, in order."""
        self._enqueue(self._chat_script, steps)
        return self

    def script_models(self, *steps: Step) -> Self:
        """Queue answers for the next `GET /v1/models` requests (error, malformed or hang steps)."""
        if any(isinstance(step, Text | ToolCalls) for step in steps):
            raise TypeError("GET /v1/models answers with the model list, an error, malformed() or hang()")
        self._enqueue(self._models_script, steps)
        return self

    def _enqueue(self, queue: deque[Step], steps: Iterable[Step]) -> None:
        with self._lock:
            for step in steps:
                if not isinstance(step, Step):
                    raise TypeError(f"not a script step: {step!r}")
                queue.extend([step] * step.times)

    @property
    def pending(self) -> int:
        """Scripted chat completion answers not used yet."""
        return len(self._chat_script)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == CHAT_PATH]

    async def wait_for_requests(
        self, count: int = 1, *, path: str = CHAT_PATH, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Wait until `count` requests to `path` arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [r for r in self.requests if r.path == path]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(matching)} of {count} requests to {path} arrived within {timeout}s")
            await asyncio.sleep(0.01)

    def reset(self) -> None:
        """Forget scripts and requests, restore the settings given at construction, end running answers."""
        with self._lock:
            self._chat_script.clear()
            self._models_script.clear()
            self._requests.clear()
        self._apply_settings()
        self.release()

    def release(self) -> None:
        """End every answer still running (hangs, slow streams); safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._release_now()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release_now)

    def _release_now(self) -> None:
        for exchange in list(self._active):
            exchange.release()

    # -- the server's side

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        self._loop = asyncio.get_running_loop()
        if self.record:
            recorded = RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                body=parse_json(request.body),
                raw=request.body,
            )
            with self._lock:
                self._requests.append(recorded)
        exchange = _Exchange(send, receive)
        self._active.add(exchange)
        try:
            await self._route(request, exchange)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not (exchange.gone or exchange.released) or task is None:
                raise
            task.uncancel()
            if exchange.released and not exchange.gone:
                await exchange.abort()
        finally:
            exchange.close()
            self._active.discard(exchange)

    def _pop(self, queue: deque[Step]) -> Step | None:
        with self._lock:
            return queue.popleft() if queue else None

    async def _route(self, request: Request, exchange: _Exchange) -> None:
        if self.api_key is not None:
            header = request.headers.get("authorization", "")
            if not header:
                await exchange.json(401, missing_key_body())
                return
            if not secrets.compare_digest(header.encode(), f"Bearer {self.api_key}".encode()):
                await exchange.json(401, error(401).body())
                return
        if request.method == "POST" and request.path == CHAT_PATH:
            await self._chat(request, exchange)
        elif request.method == "GET" and request.path == MODELS_PATH:
            await self._models(exchange)
        elif request.method == "GET" and request.path.startswith(MODELS_PATH + "/"):
            await self._model(request.path.removeprefix(MODELS_PATH + "/"), exchange)
        else:
            await exchange.json(404, invalid_url_body(request.method, request.path))

    def _model_object(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}

    async def _models(self, exchange: _Exchange) -> None:
        step = self._pop(self._models_script)
        if step is not None:
            await self._answer_failure(step, exchange, stream=False)
            return
        await exchange.json(200, {"object": "list", "data": [self._model_object(m) for m in self.models]})

    async def _model(self, model_id: str, exchange: _Exchange) -> None:
        if model_id in self.models:
            await exchange.json(200, self._model_object(model_id))
        else:
            message = f"The model `{model_id}` does not exist or you do not have access to it."
            await exchange.json(404, error(404, message).body())

    async def _answer_failure(self, step: Step, exchange: _Exchange, *, stream: bool) -> None:
        if isinstance(step, HTTPError):
            await exchange.json(step.status, step.body(), step.headers)
        elif isinstance(step, Malformed) and stream:
            await exchange.start(step.status, "text/event-stream; charset=utf-8", _SSE_HEADERS)
            await exchange.finish(b"data: " + step.body + b"\n\n")
        elif isinstance(step, Malformed):
            await exchange.respond(step.status, step.body, step.content_type)
        elif isinstance(step, Hang):
            await _forever()

    async def _chat(self, request: Request, exchange: _Exchange) -> None:
        body = parse_json(request.body)
        problem = chat_request_problem(body)
        if problem is not None:
            await exchange.json(400, problem)
            return
        stream = body.get("stream") is True
        options = body.get("stream_options") or {}
        completion = Completion(
            model=body["model"],
            stream=stream,
            include_usage=stream and isinstance(options, dict) and bool(options.get("include_usage")),
            prompt_tokens=sum(count_words(m.get("content")) for m in body["messages"] if isinstance(m, dict)),
        )
        step = self._pop(self._chat_script) or text(self.reply or self._echo(body["messages"]))
        if isinstance(step, Text):
            await self._text(step, completion, body, exchange)
        elif isinstance(step, ToolCalls):
            await self._tool_calls(step, completion, exchange)
        else:
            await self._answer_failure(step, exchange, stream=stream)

    @staticmethod
    def _echo(messages: list[Any]) -> str:
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return f"You said: {message_text(users[-1].get('content')) if users else ''}"

    async def _text(
        self, step: Text, completion: Completion, body: dict[str, Any], exchange: _Exchange
    ) -> None:
        content, finish_reason = step.content, step.finish_reason
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and finish_reason == "stop":
            cut = truncate_words(content, limit)
            if cut is not None:
                content, finish_reason = cut, "length"
        usage = completion.usage(count_words(content), step.usage)
        pieces = split_text(content, step.chunks or self.chunks)
        if not completion.stream:
            await self._wait_generation(step.ttft, step.chunk_delay, len(pieces))
            message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
            await exchange.json(200, completion.answer(message, finish_reason, usage))
            return
        deltas = [{"role": "assistant", "content": "", "refusal": None}] + [{"content": p} for p in pieces]
        cut_after = step.fail_after if step.hang_after is None else step.hang_after
        await self._stream(
            exchange,
            completion,
            deltas,
            finish_reason,
            usage,
            ttft=step.ttft,
            chunk_delay=step.chunk_delay,
            burst=2,
            stop_at=None if cut_after is None else 1 + cut_after,
            fail=step.fail_after is not None,
        )

    async def _tool_calls(self, step: ToolCalls, completion: Completion, exchange: _Exchange) -> None:
        calls = [(c, c.id or f"call_{secrets.token_hex(12)}") for c in step.calls]
        content_words = count_words(step.content)
        usage = completion.usage(
            content_words + sum(1 + count_words(c.arguments) for c, _ in calls), step.usage
        )
        if not completion.stream:
            await self._wait_generation(step.ttft, step.chunk_delay, len(calls) * step.chunks)
            message = {
                "role": "assistant",
                "content": step.content,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {"id": cid, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c, cid in calls
                ],
            }
            await exchange.json(200, completion.answer(message, "tool_calls", usage))
            return
        deltas: list[dict[str, Any]] = []
        if step.content:
            deltas.append({"role": "assistant", "content": "", "refusal": None})
            deltas += [{"content": p} for p in split_text(step.content, step.chunks)]
        for index, (c, cid) in enumerate(calls):
            head = {
                "index": index,
                "id": cid,
                "type": "function",
                "function": {"name": c.name, "arguments": ""},
            }
            if deltas:
                deltas.append({"tool_calls": [head]})
            else:
                deltas.append({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                for part in split_text(c.arguments, step.chunks)
            ]
        await self._stream(
            exchange,
            completion,
            deltas,
            "tool_calls",
            usage,
            ttft=step.ttft,
            chunk_delay=step.chunk_delay,
            burst=2 if step.content else 1,
        )

    async def _wait_generation(self, ttft: float | None, chunk_delay: float | None, pieces: int) -> None:
        """A non-streamed answer takes as long as the stream would have."""
        delay = self.chunk_delay if chunk_delay is None else chunk_delay
        await _sleep((self.ttft if ttft is None else ttft) + delay * max(0, pieces - 1))

    async def _stream(
        self,
        exchange: _Exchange,
        completion: Completion,
        deltas: list[dict[str, Any]],
        finish_reason: str,
        usage: dict[str, Any],
        *,
        ttft: float | None,
        chunk_delay: float | None,
        burst: int,
        stop_at: int | None = None,
        fail: bool = False,
    ) -> None:
        """Send `deltas` as SSE chunks: the first `burst` after the time to first token, then one per delay.

        Chunks due at the same moment go out in one write, so an instant stream costs a single send.
        """
        delay = self.chunk_delay if chunk_delay is None else chunk_delay
        await exchange.start(200, "text/event-stream; charset=utf-8", _SSE_HEADERS)
        await _sleep(self.ttft if ttft is None else ttft)
        pending: list[bytes] = []
        for index, delta in enumerate(deltas):
            if index == stop_at:
                break
            if index >= burst and delay > 0:
                await exchange.write(b"".join(pending))
                pending.clear()
                await asyncio.sleep(delay)
            pending.append(completion.chunk(delta))
        if stop_at is not None:
            if fail:
                pending.append(sse(error(500).body()))
                await exchange.finish(b"".join(pending))
            else:
                await exchange.write(b"".join(pending))
                await _forever()
            return
        pending.append(completion.chunk({}, finish_reason))
        if completion.include_usage:
            pending.append(completion.usage_chunk(usage))
        pending.append(DONE)
        await exchange.finish(b"".join(pending))


# ----------------------------------------------------------------------------------------------- serving


class FakeOpenAIHost:
    """One server for many fakes: each mounted fake answers under its own prefix, `<root>/<name>/v1/...`.

    The test suite runs one host for the whole session and mounts a fresh fake per test, so no script,
    request or late answer of one test reaches another, and no test waits for a server to start.
    """

    def __init__(self) -> None:
        self.root_url = ""
        self._fakes: dict[str, FakeOpenAI] = {}
        self._names = itertools.count(1)

    @contextlib.contextmanager
    def mount(self, fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
        name = f"openai-{next(self._names)}"
        self._fakes[name] = fake
        fake.base_url = f"{self.root_url}/{name}/v1"
        try:
            yield fake
        finally:
            del self._fakes[name]
            fake.release()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/", 2)
        fake = self._fakes.get(parts[1]) if len(parts) > 1 else None
        if fake is None:
            body = json.dumps(invalid_url_body(scope["method"], scope["path"])).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        name, path = parts[1], "/" + (parts[2] if len(parts) > 2 else "")
        inner = {
            **scope,
            "path": path,
            "raw_path": path.encode(),
            "root_path": f"{scope.get('root_path', '')}/{name}",
        }
        await fake(inner, receive, send)


@contextlib.contextmanager
def start_fake_openai(**options: Any) -> Iterator[FakeOpenAI]:
    """Serve one `FakeOpenAI(**options)` on a free loopback port until the block ends."""
    fake = FakeOpenAI(**options)
    with serve(fake) as root:
        fake.base_url = f"{root}/v1"
        try:
            yield fake
        finally:
            fake.release()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible API until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between streamed chunks")
    parser.add_argument("--chunks", type=int, default=4, help="content chunks per default answer")
    parser.add_argument("--reply", default=None, help="fixed default answer instead of 'You said: ...'")
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model ids")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        api_key=args.api_key,
        models=[m for m in args.models.split(",") if m],
        ttft=args.ttft_ms / 1000,
        chunk_delay=args.chunk_delay_ms / 1000,
        chunks=args.chunks,
        reply=args.reply,
        record=False,  # a benchmark sends far more requests than anyone will read back
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    fake.base_url = f"http://{args.host}:{sock.getsockname()[1]}/v1"
    print(fake.base_url, flush=True)
    config = uvicorn.Config(
        fake,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        lifespan="off",
        backlog=4096,
        timeout_keep_alive=60,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
