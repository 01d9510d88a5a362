"""API token lifecycle: issue (the raw value returned once), revoke, and re-issue under a name. Every change
is written to the audit log as done by `actor` (a username, or the command's name)."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.utils import timezone

from orchestrator_studio.audit import (
    SYSTEM_ACTOR,
    audit_deleted,
    audit_saved,
    audit_snapshot,
    audit_stored_snapshot,
)
from orchestrator_studio.models import ApiToken


@transaction.atomic
def api_token_issue(
    *, user: AbstractBaseUser, name: str = "", expires_at: datetime | None = None, actor: str = SYSTEM_ACTOR
) -> tuple[ApiToken, str]:
    """A new token and its raw value, which is not stored and cannot be shown again."""
    token, raw = ApiToken.issue(user=user, name=name, expires_at=expires_at)
    audit_saved(actor=actor, instance=token, before=None)
    return token, raw


@transaction.atomic
def api_token_update(*, token: ApiToken, actor: str = SYSTEM_ACTOR) -> ApiToken:
    """Save a token's new name or expiry."""
    before = audit_stored_snapshot(token)
    token.save()
    audit_saved(actor=actor, instance=token, before=before)
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: str = SYSTEM_ACTOR) -> ApiToken:
    """Refused from the next request on (the save signal drops its cached user); kept for the record."""
    if token.revoked_at is None:
        before = audit_snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_saved(actor=actor, instance=token, before=before)
    return token


@transaction.atomic
def api_token_delete(*, token: ApiToken, actor: str = SYSTEM_ACTOR) -> None:
    before = audit_snapshot(token)
    token.delete()
    audit_deleted(actor=actor, instance=token, before=before)


@transaction.atomic
def api_token_reissue(*, user: User, name: str, actor: str = SYSTEM_ACTOR) -> tuple[ApiToken, str]:
    """Revokes the user's tokens with this name, then issues a new one: one valid token per name."""
    for token in ApiToken.objects.select_for_update().filter(user=user, name=name, revoked_at__isnull=True):
        api_token_revoke(token=token, actor=actor)
    return api_token_issue(user=user, name=name, actor=actor)
