from django.contrib import admin

from orchestrator_studio.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["hint", "user", "name", "created_at", "last_used_at"]
    search_fields = ["user__username", "name", "hint"]
    readonly_fields = ["hint", "created_at", "last_used_at"]
    fields = ["user", "name", "hint", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # tokens are issued with `manage.py issue_token`, which shows the raw value once
