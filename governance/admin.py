"""Admin of quotas (written through the services, so each change is audited) and the read-only audit log."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from governance.models import Quota
from governance.services import quota_delete, quota_save
from orchestrator_studio.audit import actor_of
from orchestrator_studio.models import AuditRecord


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "tokens_per_day",
        "cost_usd_per_month",
        "runs_per_minute",
        "max_concurrent_runs",
    ]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Quota, form: Any, change: bool) -> None:
        quota_save(instance=obj, data={}, actor=actor_of(request.user))

    def delete_model(self, request: HttpRequest, obj: Quota) -> None:
        quota_delete(instance=obj, actor=actor_of(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Quota]) -> None:
        for quota in queryset:
            quota_delete(instance=quota, actor=actor_of(request.user))


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_name"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_name", "actor"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor", "action", "object_type", "object_name", "changes"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
