"""Writes of governance: quotas, each with its audit record."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from governance.models import Quota
from orchestrator_studio.audit import (
    SYSTEM_ACTOR,
    audit_deleted,
    audit_saved,
    audit_snapshot,
    audit_stored_snapshot,
)
from orchestrator_studio.errors import ValidationFailed, django_validation_fields


def _taken_message(quota: Quota) -> str:
    if quota.user_id is None:
        return "There is a default quota already; change that one."
    return "This user has a quota already; change that one."


def quota_save(*, instance: Quota, data: dict[str, Any], actor: str = SYSTEM_ACTOR) -> Quota:
    """Create or change a quota (`data`: `user`, and the limits; None = unlimited) with its audit record."""
    before = audit_stored_snapshot(instance)
    for key, value in data.items():
        setattr(instance, key, value)
    try:
        instance.full_clean(validate_constraints=False)
        with transaction.atomic():
            instance.save()
            audit_saved(actor=actor, instance=instance, before=before)
    except ValidationError as exc:
        raise ValidationFailed("Invalid quota.", fields=django_validation_fields(exc)) from exc
    except IntegrityError as exc:
        raise ValidationFailed("Invalid quota.", fields={"user": [_taken_message(instance)]}) from exc
    return instance


def quota_delete(*, instance: Quota, actor: str = SYSTEM_ACTOR) -> None:
    before = audit_snapshot(instance)
    with transaction.atomic():
        instance.delete()
        audit_deleted(actor=actor, instance=instance, before=before)
