"""Reads of governance: the quota in force for a user, and the audit log."""

from datetime import datetime

from django.db.models import Q, QuerySet

from governance.models import Quota
from orchestrator_studio.models import AuditRecord


def quota_for_user(user_id: int) -> Quota | None:
    """The user's own quota, else the default one, else None (no limits)."""
    quotas = {
        quota.user_id: quota for quota in Quota.objects.filter(Q(user_id=user_id) | Q(user__isnull=True))
    }
    return quotas.get(user_id) or quotas.get(None)


def audit_records(*, since: datetime | None = None, **filters: str) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.filter(**{key: value for key, value in filters.items() if value})
    if since is not None:
        records = records.filter(at__gte=since)
    return records.order_by("-at", "-id")
