"""Decisions on calls that wait for a person (API.md, "Human approval"), from the API, the websocket or the
timeout sweep. The engine's side is `threads.engine.approval`.

A decision locks the run row (the executor's pause does too), so a decision and a pause never cross:
- while the run still executes (the turn's other calls are running), the decision is only stored: its
  executor announces it (`tool_call.approval_decided`) before it pauses, since it numbers the run's events;
- once the run is `requires_action`, nobody executes it: the decision's event is stored here, and the one
  that settles the turn's last pending call queues the run again, for the executor (`threads.services`).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestrator_studio.errors import Conflict, ValidationFailed
from threads.engine.approval import approval_decided_fields
from threads.engine.db import connection_release
from threads.engine.events import TOOL_CALL_APPROVAL_DECIDED, Event
from threads.engine.publisher import event_append
from threads.models import Run, ToolCallApproval

TIMEOUT_REASON = "timeout"
REASON_MAX_CHARS = 2000
MAX_DECISIONS = 128


@dataclass(frozen=True)
class Decision:
    tool_call_id: str
    approve: bool
    reason: str = ""


@dataclass
class DecisionsApplied:
    """What a set of decisions did: the events to broadcast, and whether the run was queued to resume."""

    run_id: UUID
    # The run's status once they are stored: `queued` when they resumed it.
    status: str
    events: list[Event] = field(default_factory=list)
    resumed: bool = False


def decisions_parse(raw: Any) -> list[Decision]:
    """`[{"tool_call_id", "approve", "reason"?}]` as sent by a client; `ValidationFailed` (400) otherwise."""
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(
            "Invalid decisions.",
            fields={"decisions": ["A non-empty list of {tool_call_id, approve, reason?}."]},
        )
    if len(raw) > MAX_DECISIONS:
        raise ValidationFailed("Invalid decisions.", fields={"decisions": [f"At most {MAX_DECISIONS}."]})
    problems: list[str] = []
    decisions: list[Decision] = []
    for index, item in enumerate(raw):
        where = f"decisions[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object.")
            continue
        unknown = set(item) - {"tool_call_id", "approve", "reason"}
        call_id, approve, reason = item.get("tool_call_id"), item.get("approve"), item.get("reason")
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}.")
        if not isinstance(call_id, str) or not 1 <= len(call_id) <= 100:
            problems.append(f"{where}.tool_call_id: a string of 1 to 100 characters.")
        if not isinstance(approve, bool):
            problems.append(f"{where}.approve: true or false.")
        if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX_CHARS):
            problems.append(f"{where}.reason: a string of at most {REASON_MAX_CHARS} characters.")
        if not problems and isinstance(call_id, str) and isinstance(approve, bool):
            decisions.append(Decision(tool_call_id=call_id, approve=approve, reason=(reason or "").strip()))
    ids = [decision.tool_call_id for decision in decisions]
    if not problems and len(set(ids)) != len(ids):
        problems.append("Each tool_call_id at most once.")
    if problems:
        raise ValidationFailed("Invalid decisions.", fields={"decisions": problems})
    return decisions


def decisions_apply(
    *, run_id: UUID, decisions: list[Decision], decided_by_id: int | None
) -> DecisionsApplied:
    """Store the decisions, all or none: `Conflict` (409) when the run waits for none of them, or one of
    them is not waiting (unknown, or decided already)."""
    try:
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).values("status", "thread_id").first()
            if run is None or run["status"] not in (Run.Status.IN_PROGRESS, Run.Status.REQUIRES_ACTION):
                raise Conflict("This run is not waiting for a decision.", code="not_waiting")
            waiting = {
                approval.tool_call_id: approval
                for approval in ToolCallApproval.objects.filter(
                    run_id=run_id,
                    status=ToolCallApproval.Status.PENDING,
                    tool_call_id__in=[decision.tool_call_id for decision in decisions],
                )
            }
            not_waiting = [d.tool_call_id for d in decisions if d.tool_call_id not in waiting]
            if not_waiting:
                raise Conflict(
                    f"Not waiting for a decision: {', '.join(not_waiting)} (unknown, or decided already).",
                    code="not_waiting",
                )
            return _store(run_id, run["thread_id"], run["status"], decisions, waiting, decided_by_id)
    finally:
        connection_release()


def _store(
    run_id: UUID,
    thread_id: UUID,
    status: str,
    decisions: list[Decision],
    waiting: dict[str, ToolCallApproval],
    decided_by_id: int | None,
) -> DecisionsApplied:
    now = timezone.now()
    paused = status == Run.Status.REQUIRES_ACTION
    applied = DecisionsApplied(run_id=run_id, status=status)
    for decision in decisions:
        approval = waiting[decision.tool_call_id]
        approval.status = (
            ToolCallApproval.Status.APPROVED if decision.approve else ToolCallApproval.Status.REJECTED
        )
        approval.reason = decision.reason
        approval.decided_by_id = decided_by_id
        approval.decided_at = now
        # A paused run's decisions are announced here; a running one's by its executor.
        approval.announced = paused
        approval.save(update_fields=["status", "reason", "decided_by", "decided_at", "announced"])
        if paused:
            applied.events.append(
                event_append(
                    run_id=run_id,
                    thread_id=thread_id,
                    type=TOOL_CALL_APPROVAL_DECIDED,
                    fields=approval_decided_fields(approval),
                )
            )
    if (
        paused
        and not ToolCallApproval.objects.filter(
            run_id=run_id, status=ToolCallApproval.Status.PENDING
        ).exists()
    ):
        # Every call of the turn is decided: the run goes back to the queue, for any executor to resume.
        applied.resumed = bool(
            Run.objects.filter(pk=run_id, status=Run.Status.REQUIRES_ACTION).update(status=Run.Status.QUEUED)
        )
        if applied.resumed:
            applied.status = Run.Status.QUEUED
    return applied


def _expired_cutoff(now: datetime | None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.APPROVAL_TIMEOUT_SECONDS)


def approvals_expire(*, now: datetime | None = None) -> list[DecisionsApplied]:
    """Reject, with reason `timeout`, every call of a paused run left undecided past
    `APPROVAL_TIMEOUT_SECONDS`. A call of a run still executing waits for its pause."""
    try:
        expired = (
            ToolCallApproval.objects.filter(
                status=ToolCallApproval.Status.PENDING,
                requested_at__lt=_expired_cutoff(now),
                run__status=Run.Status.REQUIRES_ACTION,
            )
            .order_by("run_id", "requested_at")
            .values_list("run_id", "tool_call_id")
        )
        by_run: dict[UUID, list[Decision]] = {}
        for run_id, call_id in expired:
            by_run.setdefault(run_id, []).append(Decision(call_id, approve=False, reason=TIMEOUT_REASON))
        applied = []
        for run_id, decisions in by_run.items():
            try:
                applied.append(decisions_apply(run_id=run_id, decisions=decisions, decided_by_id=None))
            except Conflict:
                continue  # decided or cancelled meanwhile
        return applied
    finally:
        connection_release()
