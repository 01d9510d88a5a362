"""The audit log's writes: what changed in an object of the configuration, by whom.

Called by the services that write registry entries, LLM configs, quotas and API tokens (never by signals,
which bulk paths skip). A secret is never written here: a changed one shows as `"changed"`.
"""

import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from orchestrator_studio.models import AuditRecord

SYSTEM_ACTOR = "system"
HIDDEN_CHANGE = "changed"
# Bookkeeping columns: they change on every save and say nothing about what was changed.
_SKIPPED_FIELDS = frozenset({"id", "created_at", "updated_at", "last_used_at", "key_hash"})
_OBJECT_TYPES = {
    "registry.llmconfig": "llm_config",
    "registry.externalagent": "agent",
    "registry.tool": "tool",
    "registry.datasource": "datasource",
    "governance.quota": "quota",
    "orchestrator_studio.apitoken": "api_token",
}

Snapshot = dict[str, Any]


def actor_of(user: AbstractBaseUser | AnonymousUser | None) -> str:
    """The audit name of whoever made a change through a request."""
    if user is None or not user.is_authenticated:
        return SYSTEM_ACTOR
    return user.get_username()


def object_type_of(instance: models.Model) -> str:
    return _OBJECT_TYPES[instance._meta.label_lower]


def object_name_of(instance: models.Model) -> str:
    name = getattr(instance, "audit_name", None) or getattr(instance, "name", None) or str(instance)
    return str(name)[:200]


def _is_secret(field: models.Field) -> bool:
    """Secret columns say so themselves (the encrypted fields of `registry.fields`)."""
    return bool(getattr(field, "is_secret", False))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def audit_snapshot(instance: models.Model) -> Snapshot:
    """The instance's fields as they are now; secrets stay in memory only, to tell whether they changed."""
    snapshot: Snapshot = {}
    for field in instance._meta.concrete_fields:
        if field.name in _SKIPPED_FIELDS:
            continue
        if field.is_relation:
            related = getattr(instance, field.name, None)
            if related is not None:
                related = related.get_username() if hasattr(related, "get_username") else str(related)
            snapshot[field.name] = related
            continue
        value = field.value_from_object(instance)
        if _is_secret(field) and isinstance(value, dict):
            for key, secret in value.items():
                snapshot[f"config.{key}"] = _Secret(secret)
        elif _is_secret(field):
            snapshot[field.name] = _Secret(value)
        else:
            snapshot[field.name] = _plain(value)
    return snapshot


class _Secret:
    """A secret value that compares by content and is written to the log only as `"changed"`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self.value))


def _empty(value: Any) -> bool:
    return value in (None, "", {}, []) or (isinstance(value, _Secret) and not value.value)


def audit_changes(before: Snapshot | None, after: Snapshot | None) -> dict[str, Any]:
    """`{field: [old, new]}` of what differs (a create: the values set; a delete: the values it had)."""
    old, new = before or {}, after or {}
    changes: dict[str, Any] = {}
    for name in [*old, *(key for key in new if key not in old)]:
        old_value, new_value = old.get(name), new.get(name)
        if old_value == new_value or (_empty(old_value) and _empty(new_value)):
            continue
        if isinstance(old_value, _Secret) or isinstance(new_value, _Secret):
            changes[name] = HIDDEN_CHANGE
        else:
            changes[name] = [old_value, new_value]
    return changes


def audit_record(
    *,
    actor: str,
    action: str,
    instance: models.Model,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
) -> AuditRecord | None:
    """Write one record of `action` on `instance`. An update that changed nothing writes none."""
    changes = audit_changes(before, after)
    if action == AuditRecord.Action.UPDATE and not changes:
        return None
    return AuditRecord.objects.create(
        actor=actor[:200] or SYSTEM_ACTOR,
        action=action,
        object_type=object_type_of(instance),
        object_name=object_name_of(instance),
        changes=changes,
    )


def audit_saved(*, actor: str, instance: models.Model, before: Snapshot | None) -> AuditRecord | None:
    """The record of a save: a create when there was nothing before, else an update."""
    action = AuditRecord.Action.CREATE if before is None else AuditRecord.Action.UPDATE
    after = audit_snapshot(instance)
    return audit_record(actor=actor, action=action, instance=instance, before=before, after=after)


def audit_deleted(*, actor: str, instance: models.Model, before: Snapshot) -> AuditRecord | None:
    return audit_record(actor=actor, action=AuditRecord.Action.DELETE, instance=instance, before=before)


def audit_stored_snapshot(instance: models.Model) -> Snapshot | None:
    """The snapshot of the instance's row as stored (None for an instance not saved yet): the admin and
    the API change the instance in memory before the service saves it."""
    if instance.pk is None:
        return None
    stored = type(instance)._default_manager.filter(pk=instance.pk).first()
    return audit_snapshot(stored) if stored is not None else None


def audit_secrets_reencrypted(*, actor: str, instance: models.Model) -> AuditRecord | None:
    """The record of a key rotation: every secret of `instance` was written again under the newest key.
    Objects outside the audited configuration (none today) are left out."""
    if instance._meta.label_lower not in _OBJECT_TYPES:
        return None
    secrets = {name: value for name, value in audit_snapshot(instance).items() if isinstance(value, _Secret)}
    changes = {name: HIDDEN_CHANGE for name, secret in secrets.items() if secret.value}
    if not changes:
        return None
    return AuditRecord.objects.create(
        actor=actor,
        action=AuditRecord.Action.UPDATE,
        object_type=object_type_of(instance),
        object_name=object_name_of(instance),
        changes=changes,
    )
