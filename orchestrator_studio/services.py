"""API token lifecycle: issue (the raw value returned once), revoke, and re-issue under a name."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.utils import timezone

from orchestrator_studio.models import ApiToken


def api_token_issue(
    *, user: AbstractBaseUser, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token and its raw value, which is not stored and cannot be shown again."""
    return ApiToken.issue(user=user, name=name, expires_at=expires_at)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Refused from the next request on (the save signal drops its cached user); kept for the record."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@transaction.atomic
def api_token_reissue(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Revokes the user's tokens with this name, then issues a new one: one valid token per name."""
    for token in ApiToken.objects.select_for_update().filter(user=user, name=name, revoked_at__isnull=True):
        api_token_revoke(token=token)
    return api_token_issue(user=user, name=name)
