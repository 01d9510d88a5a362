"""DRF's EXCEPTION_HANDLER: every error raised under a DRF view leaves as the API's envelope."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orchestrator_studio.errors import DomainError, django_validation_fields, error_body
from orchestrator_studio.outages import outage_error

logger = logging.getLogger(__name__)


def _flatten_drf_detail(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error raised under a DRF view leaves as the envelope."""
    outage = outage_error(exc)
    if outage is not None:
        logger.warning("%s (%s): %s", outage.code, type(exc).__name__, context["request"].path)
        exc = outage
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_error()}, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        fields = django_validation_fields(exc)
        return Response(error_body("validation_error", "Invalid input.", fields), status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "Request body is too large."), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", "Invalid input.", _flatten_drf_detail(exc.detail))
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        response.data = error_body(code, str(detail))
    return response
