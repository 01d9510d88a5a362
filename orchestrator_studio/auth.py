"""Token authentication: `Authorization: Bearer <token>` or `Token <token>`; tokens are stored hashed."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from orchestrator_studio.models import ApiToken, hash_token

KEYWORDS = ("bearer", "token")


def user_for_token(raw: str) -> AbstractBaseUser | None:
    """The active user a raw token belongs to, or None. Shared by DRF, SSE views and websockets."""
    if not raw:
        return None
    token = ApiToken.objects.active().select_related("user").filter(key_hash=hash_token(raw)).first()
    return token.user if token else None


def token_from_header(header: str) -> str | None:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in KEYWORDS:
        return None
    return parts[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        raw = token_from_header(header)
        if raw is None:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        user = user_for_token(raw)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class IsStaffForWrites(permissions.BasePermission):
    """Any authenticated user may read; only staff may change anything."""

    message = "Only staff users may change the registry."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or bool(user.is_staff)


class IsStaff(permissions.BasePermission):
    message = "Staff only."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
