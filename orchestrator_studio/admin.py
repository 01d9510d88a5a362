"""The admin of API tokens: issue one (its value shown once, on the page that answers the form), rename,
set an expiry, revoke. Only the hash is stored, so a lost token cannot be shown again: issue a new one."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from orchestrator_studio.audit import actor_of
from orchestrator_studio.models import ApiToken
from orchestrator_studio.services import api_token_delete, api_token_issue, api_token_revoke, api_token_update

admin.site.site_header = "Orchestrator Studio"
admin.site.site_title = "Orchestrator Studio"
admin.site.index_title = "Administration"
admin.site.site_url = "/playground/"  # the admin's "View site": the operator's pages


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["hint", "user", "name", "status", "created_at", "expires_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "name", "hint"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "name", "expires_at")
        return ("user", "name", "expires_at", "hint", "status", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return []
        return ["user", "hint", "status", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        return "active" if obj.is_usable else "expired"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool) -> None:
        if change:
            api_token_update(token=obj, actor=actor_of(request.user))
            return
        token, raw = api_token_issue(
            user=obj.user, name=obj.name, expires_at=obj.expires_at, actor=actor_of(request.user)
        )
        obj.pk, obj.hint, obj.created_at = token.pk, token.hint, token.created_at
        request._issued_api_token = raw  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> Any:
        """The token's one showing: rendered into this response, never stored (no message, no session)."""
        raw = getattr(request, "_issued_api_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API token issued",
            "token": obj,
            "raw_token": raw,
        }
        response: HttpResponse = TemplateResponse(
            request, "admin/orchestrator_studio/apitoken/issued.html", context
        )
        return response

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        api_token_delete(token=obj, actor=actor_of(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_delete(token=token, actor=actor_of(request.user))

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=actor_of(request.user))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.", messages.SUCCESS)
