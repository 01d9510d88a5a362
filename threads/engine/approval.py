"""Human approval, the engine's side (API.md, "Human approval").

A turn's calls of functions that need approval are stored as `ToolCallApproval` rows, each with its
`tool_call.approval_required` event in one transaction; the others run. Then the executor pauses the run:
in one transaction that locks the run row (as a decision does), it sets `requires_action` unless every call
was decided meanwhile (the run then goes on here) or a decision made meanwhile is not announced yet (the
executor announces it first: while it executes the run, only it numbers the run's events). A paused run
holds nothing: the decision that settles its last call queues it again (`threads.approvals`), and whichever
executor claims it resumes it from the stored messages: approved calls run, rejected ones become `ok: false`
answers for the LLM, and the loop goes on.

Every function here is one synchronous database step, run by the loop on a pooled thread.
"""

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Q

from registry.catalog import Catalog
from threads.engine.events import Usage
from threads.engine.governed import RunSpend
from threads.engine.llm import ToolCallRequest, tool_arguments
from threads.models import Message, Run, ToolCallApproval

REJECTED = "Rejected by the user"
# A run option: False for runs started where nobody is there to decide (the OpenAI-compatible door, MCP's
# `ask`); their LLM is not offered the functions that need approval at all.
OFFER_APPROVAL_FUNCTIONS = "offer_approval_functions"


class RunPaused(Exception):
    """The run now waits for a person's decision: its executor lets it go without a terminal event."""


class PauseOutcome(enum.Enum):
    PAUSED = "paused"
    # Every call was decided (and announced) before the pause: the run goes on in this executor.
    DECIDED = "decided"
    # A decision arrived that is not announced yet: announce it, then try again.
    ANNOUNCE = "announce"
    CANCEL = "cancel"
    # The run is not this executor's any more (ended or taken over elsewhere).
    GONE = "gone"


@dataclass(frozen=True)
class DecidedCall:
    call: ToolCallRequest
    approve: bool
    reason: str


def calls_needing_approval(catalog: Catalog | None, calls: list[ToolCallRequest]) -> set[str]:
    """The ids of the calls a person must decide: functions that need approval, called with arguments that
    parse (a call that cannot run anyway fails at once, with no one asked)."""
    if catalog is None:
        return set()
    gated = set()
    for call in calls:
        spec = catalog.functions.get(call.name)
        if spec is not None and spec.requires_approval and tool_arguments(call)[0] is not None:
            gated.add(call.id)
    return gated


def approval_request_store(
    *, run_id: UUID, call: ToolCallRequest, kind: str, arguments: dict[str, Any]
) -> ToolCallApproval:
    return ToolCallApproval.objects.create(
        run_id=run_id, tool_call_id=call.id, name=call.name[:100], kind=kind, arguments=arguments
    )


def approval_required_fields(approval: ToolCallApproval) -> dict[str, Any]:
    return {
        "tool_call_id": approval.tool_call_id,
        "name": approval.name,
        "kind": approval.kind,
        "arguments": approval.arguments,
    }


def approval_decided_fields(approval: ToolCallApproval) -> dict[str, Any]:
    return {
        "tool_call_id": approval.tool_call_id,
        "approve": approval.status == ToolCallApproval.Status.APPROVED,
        "reason": approval.reason or None,
    }


def approvals_unannounced(run_id: UUID) -> list[int]:
    """Decisions stored while this executor still ran the run, whose events it has to publish."""
    return list(
        ToolCallApproval.objects.filter(run_id=run_id, announced=False)
        .exclude(status=ToolCallApproval.Status.PENDING)
        .values_list("pk", flat=True)
    )


def approval_announce(approval_pk: int) -> ToolCallApproval:
    ToolCallApproval.objects.filter(pk=approval_pk).update(announced=True)
    return ToolCallApproval.objects.get(pk=approval_pk)


def run_pause(*, run_id: UUID, worker_id: str, usage: dict[str, Any]) -> PauseOutcome:
    """Let the run go to wait for decisions, unless they are all in already (see the module)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).values("status", "worker_id").first()
        if run is None or run["status"] != Run.Status.IN_PROGRESS or run["worker_id"] != worker_id:
            return PauseOutcome.GONE
        approvals = ToolCallApproval.objects.filter(run_id=run_id)
        decided = ~Q(status=ToolCallApproval.Status.PENDING)
        if approvals.filter(decided, announced=False).exists():
            return PauseOutcome.ANNOUNCE
        if not approvals.filter(status=ToolCallApproval.Status.PENDING).exists():
            return PauseOutcome.DECIDED
        paused = Run.objects.filter(pk=run_id, cancel_requested=False).update(
            status=Run.Status.REQUIRES_ACTION,
            worker_id="",
            heartbeat_at=None,
            usage=usage,
            approval_pauses=F("approval_pauses") + 1,
        )
        return PauseOutcome.PAUSED if paused else PauseOutcome.CANCEL


def calls_decided(run_id: UUID) -> list[DecidedCall]:
    """The decided calls of the run's last turn that have no answer yet, in the order the LLM asked."""
    turn = (
        Message.objects.filter(run_id=run_id, role=Message.Role.ASSISTANT)
        .exclude(tool_calls=[])
        .order_by("-created_at", "-id")
        .first()
    )
    if turn is None:
        return []
    answered = set(
        Message.objects.filter(run_id=run_id, role=Message.Role.TOOL).values_list("tool_call_id", flat=True)
    )
    decisions = {
        approval.tool_call_id: approval
        for approval in ToolCallApproval.objects.filter(run_id=run_id).exclude(
            status=ToolCallApproval.Status.PENDING
        )
    }
    decided = []
    for raw in turn.tool_calls:
        approval = decisions.get(raw.get("id"))
        if approval is None or approval.tool_call_id in answered:
            continue
        function = raw.get("function") or {}
        call = ToolCallRequest(
            id=approval.tool_call_id,
            name=function.get("name", approval.name),
            arguments_json=function.get("arguments", ""),
        )
        approve = approval.status == ToolCallApproval.Status.APPROVED
        decided.append(DecidedCall(call=call, approve=approve, reason=approval.reason))
    return decided


def rejection_error(reason: str) -> str:
    return f"{REJECTED}: {reason}" if reason else f"{REJECTED}."


def usage_restore(stored: dict[str, Any]) -> tuple[Usage, RunSpend]:
    """The tokens and cost a paused run had spent, as its resumed execution goes on counting them."""
    usage: Usage = {
        "prompt_tokens": int(stored.get("prompt_tokens") or 0),
        "completion_tokens": int(stored.get("completion_tokens") or 0),
        "total_tokens": int(stored.get("total_tokens") or 0),
    }
    spend = RunSpend()
    if usage["total_tokens"]:
        cost = stored.get("cost_usd")
        spend.cost = None if cost is None else Decimal(str(cost))
        spend.turns = 1
        spend.cached_turns = int(bool(stored.get("cached")))
    return usage, spend
