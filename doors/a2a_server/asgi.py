"""`/a2a` as an ASGI application: the SDK's JSON-RPC routes (A2A v1.0 methods, SSE for the streaming
ones) with the run-backed request handler, behind the token check."""

from a2a.server.context import ServerCallContext
from a2a.server.routes import DefaultServerCallContextBuilder, create_jsonrpc_routes
from starlette.applications import Starlette
from starlette.requests import Request

from doors.a2a_server.card import JSONRPC_PATH
from doors.a2a_server.handler import DjangoUser, RunRequestHandler
from doors.auth import SCOPE_USER_KEY, ASGIApp, token_required


class TokenUserContextBuilder(DefaultServerCallContextBuilder):
    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.user = DjangoUser(request.scope[SCOPE_USER_KEY])
        return context


def a2a_door() -> ASGIApp:
    routes = create_jsonrpc_routes(
        RunRequestHandler(), JSONRPC_PATH, context_builder=TokenUserContextBuilder()
    )
    return token_required(Starlette(routes=routes), json_only=True)
