"""Turning a door's request into an ordinary thread and run: the same `threads.services` every other entry
point uses (REST, websocket, /v1/chat), so a run that came through a door is streamed, cancellable,
recorded and counted like any other.
"""

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from orchestrator_studio.errors import DomainError, NotFound
from registry.models import LLMConfig
from threads import services as thread_services
from threads.engine.events import Event
from threads.follow import RunFollower
from threads.models import Message, Run, Thread
from threads.selectors import threads_visible_to

TITLE_CHARS = 80
EARLIER_ROLES = (Message.Role.USER, Message.Role.ASSISTANT, Message.Role.SYSTEM)


@dataclass(frozen=True)
class EarlierMessage:
    """A message of the conversation before the request's task, as a client sent it."""

    role: str
    content: str
    # Its content parts when it has images (sent to the LLM as its content list).
    parts: list[dict[str, Any]] | None = None


def _title(task: str) -> str:
    return " ".join(task.split())[:TITLE_CHARS]


def door_thread_create(
    *,
    owner: User,
    task: str,
    user_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    earlier: list[EarlierMessage] | None = None,
) -> Thread:
    """A new thread of `owner`, holding the conversation a client sent before its task (in order), so that
    the run's context is exactly that conversation and it shows in the thread like any other."""
    earlier = earlier or []
    with transaction.atomic():
        thread = thread_services.thread_create(
            owner=owner, user_id=user_id, title=_title(task), metadata=metadata or {}
        )
        rows = Message.objects.bulk_create(
            Message(thread=thread, role=message.role, content=message.content, parts=message.parts or [])
            for message in earlier
        )
        # One clock reading per row could tie (and ties order by the random id): spread them a microsecond
        # apart, all before the task's message that `run_start` stores next.
        start = timezone.now() - timedelta(microseconds=len(rows) + 1)
        for index, row in enumerate(rows):
            row.created_at = start + timedelta(microseconds=index)
        Message.objects.bulk_update(rows, ["created_at"])
    return thread


def door_llm_config(name: str) -> LLMConfig | None:
    """The enabled LLM config a door's request names (a door checks it before it stores anything)."""
    return LLMConfig.objects.filter(name=name, enabled=True).first()


CLIENT_CONTEXT_KEY = "client_context_id"


def door_thread_of_client_context(
    *, owner: User, context_id: str, task: str, metadata: dict[str, Any]
) -> Thread:
    """The owner's thread a client names with its own conversation id (A2A clients may choose the
    `contextId`), kept in the thread's metadata; a new thread on its first use."""
    thread = Thread.objects.filter(owner=owner, **{f"metadata__{CLIENT_CONTEXT_KEY}": context_id}).first()
    if thread is not None:
        return thread
    return door_thread_create(owner=owner, task=task, metadata={**metadata, CLIENT_CONTEXT_KEY: context_id})


def client_context_id(thread: Thread) -> str:
    """The id a client knows the thread by: its own conversation id if it chose one, else the thread's."""
    return str(thread.metadata.get(CLIENT_CONTEXT_KEY) or thread.id)


def door_thread_of(*, user: User, thread_id: UUID) -> Thread:
    """One of the user's threads (staff: anyone's), else 404."""
    thread = threads_visible_to(user).filter(pk=thread_id).first()
    if thread is None:
        raise NotFound("Thread not found.")
    return thread


async def door_run_start(
    *,
    thread: Thread,
    task: str,
    options: dict[str, Any],
    thread_is_new: bool = False,
    parts: list[dict[str, Any]] | None = None,
) -> Run:
    """The run of a door's request (`parts`: the task's content parts when it has images). A thread made
    for this request (`thread_is_new`) goes again when the run is refused (over a quota, a run already
    active), so that a refused request leaves nothing."""
    try:
        return await thread_services.run_start(thread=thread, task=task, options=options, parts=parts)
    except DomainError:
        if thread_is_new:
            await Thread.objects.filter(pk=thread.pk).adelete()
        raise


async def door_run_events(run: Run, *, after_seq: int = 0) -> AsyncIterator[Event | None]:
    """The run's events from `after_seq` on, each once and in order, ending with the terminal one; `None`
    whenever a keep-alive is due."""
    follower = RunFollower(thread_id=run.thread_id, run_id=run.id, after_seq=after_seq)
    async with aclosing(follower.__aiter__()) as items:
        async for item in items:
            yield item


async def door_run_cancel(*, run: Run) -> Run:
    return await thread_services.arun_cancel(run=run)
