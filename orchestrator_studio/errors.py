"""One error type for the domain, and the API's error envelope: `{"error": {"code", "message", "fields"?}}`
(see API.md, Conventions). Plain Python and Django: the engine and the connectors raise these too, so no
DRF here (DRF's views turn them into responses in `exception_handler`).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse


class DomainError(Exception):
    """An error a service raises on purpose; its message is safe to show (never holds a secret)."""

    status_code: int = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields


class ValidationFailed(DomainError):
    code = "validation_error"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(
    status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status_code)


def domain_error_response(exc: DomainError) -> JsonResponse:
    """The envelope of a `DomainError` outside DRF (plain Django views: async API views, the console)."""
    return error_response(exc.status_code, exc.code, exc.message, exc.fields)


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}
