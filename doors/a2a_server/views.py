"""`GET /.well-known/agent-card.json` (public): the card, with this server's address in it."""

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_GET

from doors.a2a_server.card import agent_card_build
from registry.catalog import catalog_build


@require_GET
async def agent_card(request: HttpRequest) -> HttpResponseBase:
    card = agent_card_build(base_url=request.build_absolute_uri("/"), catalog=await catalog_build())
    return JsonResponse(agent_card_to_dict(card))
