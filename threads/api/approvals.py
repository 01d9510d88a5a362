"""`POST /api/runs/{run_id}/approve` (API.md, "Human approval"): a plain async view, so that with the inline
executor the run a decision resumes is a task of the server's event loop."""

from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_POST

from orchestrator_studio.errors import ValidationFailed
from threads import services
from threads.api.streaming import async_api_view, json_body, visible_run
from threads.approvals import decisions_parse


@async_api_view
@require_POST
async def run_approve(request: HttpRequest, run_id: UUID) -> HttpResponseBase:
    run = await sync_to_async(visible_run)(request.user, run_id)
    body = json_body(request)
    unknown = sorted(set(body) - {"decisions"})
    if unknown:
        raise ValidationFailed("Invalid decisions.", fields={key: ["Unknown field."] for key in unknown})
    decisions = decisions_parse(body.get("decisions"))
    applied = await services.arun_approve(run=run, user=request.user, decisions=decisions)
    return JsonResponse(
        {
            "run_id": str(run.id),
            "status": applied.status,
            "decided": len(decisions),
            "resumed": applied.resumed,
        },
        status=202,
    )
