"""`GET /.well-known/agent-card.json` (public): the card, with this server's address in it."""

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from doors.a2a_server.card import agent_card_build
from orchestrator_studio.errors import error_response
from registry.catalog import catalog_build

READ_METHODS = ("GET", "HEAD")


@csrf_exempt  # nothing to forge: it only reads; any other method is a JSON 405, not a CSRF page
async def agent_card(request: HttpRequest) -> HttpResponseBase:
    if request.method not in READ_METHODS:
        refused = error_response(405, "method_not_allowed", f"Method {request.method} is not allowed here.")
        refused["Allow"] = ", ".join(READ_METHODS)
        return refused
    card = agent_card_build(base_url=request.build_absolute_uri("/"), catalog=await catalog_build())
    return JsonResponse(agent_card_to_dict(card))
