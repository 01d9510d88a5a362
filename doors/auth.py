"""The API token of a door's request, read from the `Authorization` header as everywhere else."""

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser

from orchestrator_studio.auth import token_from_header, user_for_token


async def door_user(authorization: str) -> AbstractBaseUser | None:
    """The active user of `Authorization: Bearer <token>` (or `Token <token>`), None for anything else."""
    raw = token_from_header(authorization) if authorization else None
    if raw is None:
        return None
    return await sync_to_async(user_for_token)(raw)


def asgi_header(scope: dict, name: bytes) -> str:
    """One header of an ASGI HTTP scope (`name` in lower case), or ''."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""
