"""Errors in OpenAI's shape on the OpenAI-compatible paths: the envelope plus `type` and `param`,
`{"error": {"message", "type", "code", "param"}}`, which OpenAI's SDKs turn into their own exceptions."""

from typing import Any

from django.http import JsonResponse

from orchestrator_studio.errors import DomainError

_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


class OpenAIRequestError(DomainError):
    """A request this door refuses, naming the parameter at fault."""

    def __init__(self, message: str, *, code: str, param: str | None = None, status_code: int = 400):
        super().__init__(message, code=code)
        self.param = param
        self.status_code = status_code


def error_type(status_code: int) -> str:
    if status_code >= 500:
        return "server_error"
    return _TYPES.get(status_code, "invalid_request_error")


def openai_error(message: str, *, code: str, status_code: int, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status_code), "code": code, "param": param}}


def openai_error_response(
    status_code: int, message: str, *, code: str, param: str | None = None
) -> JsonResponse:
    response = JsonResponse(
        openai_error(message, code=code, status_code=status_code, param=param), status=status_code
    )
    if status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def domain_error_response(exc: DomainError) -> JsonResponse:
    """Any service's error, in OpenAI's shape (its first invalid field, if any, as `param`)."""
    param = getattr(exc, "param", None) or next(iter(exc.fields or {}), None)
    message = exc.message
    if exc.fields:
        details = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.fields.items())
        message = f"{message} {details}"
    body = openai_error(message, code=exc.code, status_code=exc.status_code, param=param)
    body["error"] = {**exc.details, **body["error"]}  # a quota's limit, limit_value, resets_at
    response = JsonResponse(body, status=exc.status_code)
    for header, value in exc.headers.items():
        response[header] = value  # Retry-After of a 429
    return response
