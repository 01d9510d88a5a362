"""One error type for the domain, and the API's error envelope: `{"error": {"code", "message", "fields"?}}`
(see API.md, Conventions). Plain Python and Django: the engine and the connectors raise these too, so no
DRF here (DRF's views turn them into responses in `exception_handler`).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse


class DomainError(Exception):
    """An error a service raises on purpose; its message is safe to show (never holds a secret).

    `details` are further keys of the envelope's `error` object; `headers` go on the response."""

    status_code: int = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields
        self.details = details or {}
        self.headers = headers or {}

    def as_error(self) -> dict[str, Any]:
        """The envelope's `error` object."""
        return error_body(self.code, self.message, self.fields, self.details)["error"]


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


class TooManyRequests(DomainError):
    """429: a limit was reached; `retry_after` seconds go out as the `Retry-After` header."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, **details: Any):
        super().__init__(
            message,
            code=code,
            details={**details, "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def error_body(
    code: str, message: str, fields: dict[str, Any] | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if details:
        error.update(details)
    return {"error": error}


def error_response(
    status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status_code)


def domain_error_response(exc: DomainError) -> JsonResponse:
    """The envelope of a `DomainError` outside DRF (plain Django views: async API views, the console), with
    its details and headers (a 429's `Retry-After`)."""
    return JsonResponse({"error": exc.as_error()}, status=exc.status_code, headers=exc.headers)


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}
