"""Reads of governance: the quota in force for a user, and the audit log."""

from datetime import datetime

from django.db.models import QuerySet

from governance.models import Quota
from orchestrator_studio.models import AuditRecord

# Read at every run's start: plain SQL, without the ORM's query compilation.
_QUOTAS_SQL = f"SELECT * FROM {Quota._meta.db_table} WHERE user_id = %s OR user_id IS NULL"  # noqa: S608


def quota_for_user(user_id: int) -> Quota | None:
    """The user's own quota, else the default one, else None (no limits)."""
    quotas = {quota.user_id: quota for quota in Quota.objects.raw(_QUOTAS_SQL, [user_id])}
    return quotas.get(user_id) or quotas.get(None)


def audit_records(*, since: datetime | None = None, **filters: str) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.filter(**{key: value for key, value in filters.items() if value})
    if since is not None:
        records = records.filter(at__gte=since)
    return records.order_by("-at", "-id")
