"""The OpenAPI document is the API: the token authentication's description, the error envelope, and the
schema class that documents every error an operation can answer (drf-spectacular picks extensions up on
import; `REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]` names `ApiAutoSchema`)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import permissions, serializers

from orchestrator_studio.auth import IsStaff, IsStaffForWrites


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "orchestrator_studio.auth.BearerTokenAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>` (or `Token <token>`); `manage.py issue_token`.",
        }


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = inline_serializer(
        "ErrorBody",
        {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()), required=False
            ),
        },
    )

    class Meta:
        ref_name = "ErrorEnvelope"


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorEnvelopeSerializer, description=description)


_PERMISSIONS_ANY_USER = (permissions.IsAuthenticated, permissions.AllowAny)

# `extend_schema(extensions=BODY_REQUIRED)`: the request body is required although none of its fields is
# (a partial update that refuses a request with no body at all).
BODY_REQUIRED = {"x-body-required": True}


class ApiAutoSchema(AutoSchema):
    """Adds, to what a view documents itself, the errors the project's plumbing answers on its behalf:
    400 (bad parameters or body), 401 (no or bad token), 403 (staff only), 404 (unknown object, or a
    page past the end), 413 and 415 (body too large, not JSON), 429 (token guessing throttled, a run over
    its quota: orchestrator_studio.throttle, threads.quotas), and 503 (the database, the cache or an
    outside system it needs is unavailable: see orchestrator_studio/outages.py)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        if operation.pop("x-body-required", False):
            operation["requestBody"]["required"] = True
        responses = operation["responses"]
        for code, description in self._plumbing_errors(operation).items():
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(description), code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _plumbing_errors(self, operation: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        if has_body or any(p["in"] in ("query", "header") for p in parameters):
            errors["400"] = "Invalid input: `fields` says which."
        if operation.get("security") and {} not in operation["security"]:
            errors["401"] = "Missing or invalid token."
            errors["429"] = "Too many invalid tokens from this address, or a quota used up (`Retry-After`)."
        if self._staff_only():
            errors["403"] = "Staff only."
        if any(p["in"] == "path" for p in parameters):
            errors["404"] = "Unknown object (or one of another user's)."
        elif any(p["in"] == "query" and p["name"] == "page" for p in parameters):
            errors["404"] = "A page past the last one."
        if has_body:
            errors["413"] = "The body is larger than MAX_REQUEST_BODY_BYTES."
            errors["415"] = "The body is not JSON."
        errors["503"] = "The database, the cache or an outside system this needs is unavailable."
        return errors

    def _staff_only(self) -> bool:
        for permission in self.view.get_permissions():
            if isinstance(permission, IsStaff):
                return True
            if isinstance(permission, IsStaffForWrites):
                if self.method not in permissions.SAFE_METHODS:
                    return True
            elif not isinstance(permission, _PERMISSIONS_ANY_USER):
                return True
        return False
