"""`/api/composio/`: browse Composio's catalogue and manage users' connected accounts.

Any authenticated user may read the catalogue and the connections; creating and deleting connections needs
staff. Without `COMPOSIO_API_KEY` every endpoint answers 503 with the reason. The connector is async; these
admin endpoints are plain DRF views that wait for it with `async_to_sync`.
"""

from asgiref.sync import async_to_sync
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestrator_studio.auth import IsStaffForWrites
from orchestrator_studio.inputs import validated
from registry.connectors.composio import (
    composio_connection_create,
    composio_connection_delete,
    composio_connections,
    composio_toolkits,
    composio_tools,
)

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
SLUG_OR_EMPTY_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$"


class ComposioErrorSerializer(serializers.Serializer):
    error = serializers.DictField(help_text='{"code", "message", "fields"?}')


class ComposioToolkitSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    logo = serializers.CharField(allow_null=True)
    categories = serializers.ListField(child=serializers.CharField())
    auth_schemes = serializers.ListField(child=serializers.CharField())
    no_auth = serializers.BooleanField(help_text="True when the toolkit needs no connected account.")
    tools_count = serializers.IntegerField()


class ComposioToolkitListSerializer(serializers.Serializer):
    toolkits = ComposioToolkitSerializer(many=True)


class ComposioToolSerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="What a `composio` tool's config names in `slug`.")
    name = serializers.CharField()
    description = serializers.CharField()
    toolkit = serializers.CharField()
    version = serializers.CharField(help_text="The version this schema belongs to.")
    available_versions = serializers.ListField(child=serializers.CharField())
    no_auth = serializers.BooleanField()
    parameters = serializers.DictField(help_text="Input JSON Schema, offered to the LLM.")


class ComposioToolListSerializer(serializers.Serializer):
    tools = ComposioToolSerializer(many=True)


class ComposioToolsQuerySerializer(serializers.Serializer):
    toolkit = serializers.RegexField(SLUG_PATTERN, required=False, allow_blank=True)
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ComposioConnectionSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField()
    toolkit = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="INITIATED until the user completes the link flow, then ACTIVE.")
    auth_config_id = serializers.CharField(allow_null=True)
    created_at = serializers.CharField(allow_null=True)
    updated_at = serializers.CharField(allow_null=True)


class ComposioConnectionListSerializer(serializers.Serializer):
    connections = ComposioConnectionSerializer(many=True)


class ComposioConnectionsQuerySerializer(serializers.Serializer):
    user_id = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ComposioConnectionCreateSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=255)
    toolkit = serializers.RegexField(SLUG_PATTERN)


class ComposioConnectionCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()
    redirect_url = serializers.CharField(help_text="Send the user here to connect their account.")
    status = serializers.CharField()


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    reasons = {
        400: "Invalid input, or Composio rejected it.",
        403: "Staff only.",
        404: "Composio has no such resource.",
        409: "The user already has an active connection for this toolkit.",
        502: "Composio could not be reached or answered with an error.",
        503: "Composio is not configured (COMPOSIO_API_KEY).",
        504: "Composio did not answer in time.",
    }
    return {code: OpenApiResponse(ComposioErrorSerializer, description=reasons[code]) for code in codes}


class ToolkitListView(APIView):
    permission_classes = [IsStaffForWrites]

    @extend_schema(
        summary="Composio toolkits",
        responses={200: ComposioToolkitListSerializer, **_errors(502, 503, 504)},
    )
    def get(self, request: Request) -> Response:
        return Response({"toolkits": async_to_sync(composio_toolkits)()})


class ToolListView(APIView):
    permission_classes = [IsStaffForWrites]

    @extend_schema(
        summary="Composio tools of a toolkit or matching a search, with their parameter schemas",
        parameters=[
            OpenApiParameter(
                "toolkit",
                {"type": "string", "pattern": SLUG_OR_EMPTY_PATTERN},
                description="A toolkit slug, e.g. `github`.",
            ),
            OpenApiParameter(
                "search",
                {"type": "string", "maxLength": 200},
                description="Words to look for in tool names and descriptions.",
            ),
        ],
        responses={200: ComposioToolListSerializer, **_errors(400, 502, 503, 504)},
    )
    def get(self, request: Request) -> Response:
        query = validated(ComposioToolsQuerySerializer, request.query_params)
        tools = async_to_sync(composio_tools)(toolkit=query.get("toolkit"), search=query.get("search"))
        return Response({"tools": tools})


class ConnectionListView(APIView):
    permission_classes = [IsStaffForWrites]

    @extend_schema(
        summary="Composio connected accounts (of one user when `user_id` is given)",
        parameters=[OpenApiParameter("user_id", str, description="Only this user's connected accounts.")],
        responses={200: ComposioConnectionListSerializer, **_errors(400, 502, 503, 504)},
    )
    def get(self, request: Request) -> Response:
        query = validated(ComposioConnectionsQuerySerializer, request.query_params)
        return Response({"connections": async_to_sync(composio_connections)(query.get("user_id"))})

    @extend_schema(
        summary="Start connecting a user's account to a toolkit (Composio's link flow)",
        request=ComposioConnectionCreateSerializer,
        responses={201: ComposioConnectionCreatedSerializer, **_errors(400, 403, 404, 409, 502, 503, 504)},
    )
    def post(self, request: Request) -> Response:
        data = validated(ComposioConnectionCreateSerializer, request.data)
        created = async_to_sync(composio_connection_create)(data["user_id"], data["toolkit"])
        return Response(created, status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    permission_classes = [IsStaffForWrites]

    @extend_schema(
        summary="Delete a connected account",
        responses={204: None, **_errors(403, 404, 502, 503, 504)},
    )
    def delete(self, request: Request, connection_id: str) -> Response:
        async_to_sync(composio_connection_delete)(connection_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
