"""A fake remote A2A agent, built with a2a-sdk's own server routes (JSON-RPC binding), over real HTTP.

Its card is public at `/.well-known/agent-card.json`; its JSON-RPC interface at `/a2a` refuses any request
without `Authorization: Bearer <token>`. What it does depends on the task's text:
- `steps N ...` → N status updates "step i of N" (a moment apart), then the artifact "done: <task>";
- `hang ...` → works until cancelled (a `CancelTask` is recorded in `cancelled`);
- `ask ...` → stops in `input-required`, asking "Which account?";
- `whoami` → an artifact echoing the bearer token it was called with (to prove it is scrubbed);
- `numbers` → an artifact of a text part and a data part;
- `fail ...` → the task fails; anything else → the artifact "done: <task>", completed.
`streaming` sets the card's capability; `legacy_card` serves a card with only A2A 0.3 fields;
`interface_url` makes the card name another JSON-RPC address than its own.
`context_ids` and `task_ids` record what every message carried; `started` is set when a task works.
"""

import asyncio
import threading
from typing import Any

from a2a.helpers import new_data_part, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import Receive, Scope, Send, send_json

STEP_PAUSE_SECONDS = 0.05


class _Executor(AgentExecutor):
    def __init__(self, fake: "FakeA2AAgent") -> None:
        self.fake = fake

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        text = context.get_user_input().strip()
        self.fake.record(context_id=task.context_id, task_id=task.id)
        words = text.split()
        if words[:1] == ["steps"]:
            count = int(words[1])
            for step in range(1, count + 1):
                await updater.start_work(
                    updater.new_agent_message([new_text_part(f"step {step} of {count}")])
                )
                await asyncio.sleep(STEP_PAUSE_SECONDS)
        elif words[:1] == ["hang"]:
            await updater.start_work(updater.new_agent_message([new_text_part("working on it")]))
            self.fake.started.set()
            await asyncio.Event().wait()
        elif words[:1] == ["ask"]:
            await updater.requires_input(updater.new_agent_message([new_text_part("Which account?")]))
            return
        elif words[:1] == ["numbers"]:
            await updater.add_artifact(
                [new_text_part("Q3 numbers"), new_data_part({"q3": 42, "regions": ["north", None]})],
                name="table",
            )
            await updater.complete()
            return
        elif words[:1] == ["fail"]:
            await updater.failed(updater.new_agent_message([new_text_part("the research failed")]))
            return
        answer = f"called with Bearer {self.fake.last_token}" if text == "whoami" else f"done: {text}"
        await updater.add_artifact([new_text_part(answer)], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.fake.cancelled.append(context.task_id or "")
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


class FakeA2AAgent:
    def __init__(
        self, *, token: str, streaming: bool = True, legacy_card: bool = False, interface_url: str = ""
    ) -> None:
        self.token = token
        self.interface_url = interface_url
        self.streaming = streaming
        self.legacy_card = legacy_card
        self.base_url = ""
        self.started = threading.Event()
        self.cancelled: list[str] = []
        self.last_token = ""
        self._lock = threading.Lock()
        self._seen: list[tuple[str, str]] = []
        self._app: Starlette | None = None
        self._handler: DefaultRequestHandler | None = None
        self._forgotten: list[DefaultRequestHandler] = []

    @property
    def context_ids(self) -> list[str]:
        with self._lock:
            return [context_id for context_id, _ in self._seen]

    @property
    def task_ids(self) -> list[str]:
        with self._lock:
            return [task_id for _, task_id in self._seen]

    def record(self, *, context_id: str, task_id: str) -> None:
        with self._lock:
            self._seen.append((context_id, task_id))

    def restart(self) -> None:
        """Forget every task, as an agent restarted without a durable task store does. The old handler's
        tasks are drained on the server's own loop before the next request (`aclose`): dropped while
        suspended, they would be closed by the garbage collector in whatever thread it runs, and their
        queue's shutdown can then wait forever on a lock."""
        if self._handler is not None:
            self._forgotten.append(self._handler)
        self._app = None
        self._handler = None

    async def _drain_forgotten(self) -> None:
        while self._forgotten:
            await self._forgotten.pop().aclose()

    def card(self) -> AgentCard:
        return AgentCard(
            name="Research agent",
            description="Finds things out.",
            version="2.0.0",
            supported_interfaces=[
                AgentInterface(
                    url=self.interface_url or f"{self.base_url}/a2a",
                    protocol_binding="JSONRPC",
                    protocol_version="1.0",
                )
            ],
            capabilities=AgentCapabilities(streaming=self.streaming),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=[
                AgentSkill(id="research", name="Research", description="Looks things up.", tags=["search"]),
                AgentSkill(id="summarise", name="Summarise", description="Sums up a text.", tags=["text"]),
            ],
        )

    def _legacy_card(self) -> dict[str, Any]:
        """The same agent described with A2A 0.3 fields only."""
        return {
            "name": "Research agent",
            "description": "Finds things out.",
            "version": "2.0.0",
            "url": f"{self.base_url}/a2a",
            "preferredTransport": "JSONRPC",
            "protocolVersion": "0.3.0",
            "capabilities": {"streaming": self.streaming},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "research", "name": "Research", "description": "Looks things up.", "tags": []}],
        }

    def _build(self) -> Starlette:
        card = self.card()
        handler = DefaultRequestHandler(
            agent_executor=_Executor(self), task_store=InMemoryTaskStore(), agent_card=card
        )
        self._handler = handler
        routes: list[Any] = create_jsonrpc_routes(handler, "/a2a", enable_v0_3_compat=self.legacy_card)
        if self.legacy_card:
            legacy = self._legacy_card()

            async def legacy_card(_: Any) -> JSONResponse:
                return JSONResponse(legacy)

            routes.append(Route("/.well-known/agent-card.json", legacy_card, methods=["GET"]))
        else:
            routes.extend(create_agent_card_routes(card))
        return Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._drain_forgotten()
        if self._app is None:
            self._app = self._build()
        if scope["path"].startswith("/a2a"):
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            authorization = headers.get("authorization", "")
            if authorization != f"Bearer {self.token}":
                await send_json(send, 401, {"error": "unauthorized"})
                return
            self.last_token = authorization.removeprefix("Bearer ")
        await self._app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """At shutdown, every task still open (an input-required one, say) is drained on this loop."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.restart()
                await self._drain_forgotten()
                await send({"type": "lifespan.shutdown.complete"})
                return
