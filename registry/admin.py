"""Admin for the four registries. Secrets are password inputs: left blank, the stored value is kept."""

import asyncio
import json
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from orchestrator_studio.audit import actor_of
from registry import secrets
from registry.connectors.a2a import a2a_card_cached
from registry.connectors.probes import probe_entry
from registry.connectors.results import ProbeResult
from registry.connectors.tools.mcp import is_allowed, mcp_tools_cached, needs_approval
from registry.models import (
    AgentProtocol,
    DataSource,
    DataSourceType,
    ExternalAgent,
    LLMConfig,
    RegistryEntry,
    Tool,
)
from registry.services import registry_entry_delete, registry_entry_save
from registry.tool_types import ToolType

KEEP_HELP = "Write-only. Leave blank to keep the stored value."


class PrettyJSONField(forms.JSONField):
    widget = forms.Textarea(attrs={"rows": 8, "cols": 80, "style": "font-family: monospace"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, sort_keys=True)


def _form_field(db_field: Any, **kwargs: Any) -> Any:
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class RegistryEntryForm(forms.ModelForm):
    """Keeps stored secrets when their input is blank or still shows the mask."""

    class Meta:
        formfield_callback = _form_field

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            stored = getattr(self.instance, name, "")
            self.fields[name] = forms.CharField(
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=f"{KEEP_HELP} Currently {'set' if stored else 'not set'}.",
            )
        if "config" in self.fields:
            self.initial["config"] = secrets.join_config(
                self.instance.config, self.instance.secret_config, masked=True
            )
            self.fields[
                "config"
            ].help_text = "Secret keys show masked; leave a mask as it is to keep the value."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.secret_fields:
            if not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name, "")
        if isinstance(cleaned.get("config"), dict):
            public, incoming = secrets.split_config(cleaned["config"])
            cleaned["config"] = public
            self.instance.secret_config = secrets.merge_secrets(self.instance.secret_config, incoming)
        return cleaned


async def _probe_all(entries: list[RegistryEntry]) -> list[ProbeResult]:
    return await asyncio.gather(*(probe_entry(entry) for entry in entries))


def _report(request: HttpRequest, entry: RegistryEntry, result: ProbeResult) -> None:
    latency = f"{result.latency_ms:g} ms"
    if result.ok:
        messages.success(request, f"Connection to “{entry}” OK ({latency}).")
    else:
        messages.error(request, f"Connection to “{entry}” failed ({latency}): {result.error}")


class RegistryAdmin(admin.ModelAdmin):
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {}
    actions = ["test_connection"]
    change_form_template = "admin/registry/registry_change_form.html"

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        entries = list(queryset)
        for entry, result in zip(entries, async_to_sync(_probe_all)(entries), strict=True):
            _report(request, entry, result)

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        test_view = self.admin_site.admin_view(require_POST(self.test_connection_view))
        return [
            path("<path:object_id>/test/", test_view, name=f"{opts.app_label}_{opts.model_name}_test"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """The change page's "Test connection" button: probe, report as a message, go back."""
        entry = self.get_object(request, object_id)
        if entry is None:
            raise Http404
        if not self.has_change_permission(request, entry):
            raise PermissionDenied
        _report(request, entry, async_to_sync(probe_entry)(entry))
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[entry.pk])
        )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.get_internal_type() == "JSONField":
            kwargs["form_class"] = PrettyJSONField
        elif isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: RegistryEntry, form: Any, change: bool) -> None:
        registry_entry_save(instance=obj, data={}, actor=actor_of(request.user))

    def delete_model(self, request: HttpRequest, obj: RegistryEntry) -> None:
        registry_entry_delete(instance=obj, actor=actor_of(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            registry_entry_delete(instance=obj, actor=actor_of(request.user))


class LLMConfigForm(RegistryEntryForm):
    secret_fields = ("api_key",)

    class Meta(RegistryEntryForm.Meta):
        model = LLMConfig
        fields = [
            "name",
            "description",
            "enabled",
            "is_default",
            "model",
            "base_url",
            "api_key",
            "temperature",
            "max_tokens",
            "timeout_seconds",
            "max_retries",
            "reasoning_effort",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "cache_ttl_seconds",
            "accepts_images",
        ]


@admin.register(LLMConfig)
class LLMConfigAdmin(RegistryAdmin):
    form = LLMConfigForm
    list_display = ["name", "model", "base_url", "is_default", "enabled", "updated_at"]
    list_filter = ["enabled", "is_default", "model"]
    search_fields = ["name", "model", "base_url", "description"]


class ExternalAgentForm(RegistryEntryForm):
    secret_fields = ("auth_token",)

    class Meta(RegistryEntryForm.Meta):
        model = ExternalAgent
        fields = [
            "name",
            "description",
            "enabled",
            "url",
            "protocol",
            "auth_token",
            "endpoint",
            "health_path",
            "timeout_seconds",
            "metadata",
            "input_schema",
            "requires_approval",
        ]


@admin.register(ExternalAgent)
class ExternalAgentAdmin(RegistryAdmin):
    form = ExternalAgentForm
    list_display = [
        "name", "url", "protocol", "endpoint", "timeout_seconds", "requires_approval", "enabled",
        "updated_at",
    ]  # fmt: skip
    list_filter = ["enabled", "protocol", "requires_approval"]
    readonly_fields = [*RegistryAdmin.readonly_fields, "agent_card"]

    @admin.display(description="Agent card")
    def agent_card(self, obj: ExternalAgent) -> str | SafeString:
        """An A2A agent's card as the last connection test read it."""
        if obj.protocol != AgentProtocol.A2A or obj.pk is None:
            return "-"
        card = a2a_card_cached(obj)
        if card is None:
            return "Not read yet: use “Test connection” to read the agent's card."
        skills = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ((skill["id"], skill["name"], skill["description"]) for skill in card["skills"]),
        )
        return format_html(
            "<p><strong>{}</strong> {} — {} (streaming: {})</p><table><thead><tr><th>Skill</th><th>Name</th>"
            "<th>Description</th></tr></thead><tbody>{}</tbody></table>",
            card["name"],
            card["version"],
            card["description"],
            "yes" if card["streaming"] else "no",
            skills,
        )

    search_fields = ["name", "url", "description"]


class ToolForm(RegistryEntryForm):
    class Meta(RegistryEntryForm.Meta):
        model = Tool
        fields = ["name", "description", "enabled", "type", "config", "parameters", "requires_approval"]


@admin.register(Tool)
class ToolAdmin(RegistryAdmin):
    form = ToolForm
    list_display = ["name", "type", "requires_approval", "enabled", "updated_at"]
    list_filter = ["type", "enabled", "requires_approval"]
    readonly_fields = [*RegistryAdmin.readonly_fields, "server_tools"]

    @admin.display(description="Server tools")
    def server_tools(self, obj: Tool) -> str | SafeString:
        """An MCP server's tools as its last listing (a connection test) showed them."""
        if obj.type != ToolType.MCP or obj.pk is None:
            return "-"
        listing = mcp_tools_cached(obj)
        if listing is None:
            return "Not listed yet: use “Test connection” to list the server's tools."
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    tool.name,
                    tool.description,
                    "yes" if is_allowed(obj, tool.name) else "no",
                    "yes" if needs_approval(obj, tool.name) else "no",
                )
                for tool in listing.tools
            ),
        )
        server = f"{listing.server.get('name', '')} {listing.server.get('version', '')}".strip()
        return format_html(
            "<p>{}</p><table><thead><tr><th>Name</th><th>Description</th><th>Allowed</th>"
            "<th>Needs approval</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            server,
            rows,
        )


class DataSourceForm(RegistryEntryForm):
    secret_fields = ("auth_token",)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="DSN password",
        help_text="PostgreSQL datasources only. " + KEEP_HELP,
    )

    class Meta(RegistryEntryForm.Meta):
        model = DataSource
        fields = [
            "name",
            "description",
            "enabled",
            "type",
            "url",
            "password",
            "auth_token",
            "timeout_seconds",
            "config",
            "requires_approval",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        url, password = secrets.split_dsn(cleaned.get("url") or "")
        cleaned["url"] = url
        new_password = cleaned.get("password") or (password if not secrets.is_mask(password) else "")
        if new_password:
            self.instance.url_password = new_password
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(RegistryAdmin):
    form = DataSourceForm
    list_display = [
        "name",
        "type",
        "masked_url",
        "timeout_seconds",
        "requires_approval",
        "enabled",
        "updated_at",
    ]
    list_filter = ["type", "enabled", "requires_approval"]
    search_fields = ["name", "url", "description"]

    def get_fields(self, request: HttpRequest, obj: DataSource | None = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and obj.type != DataSourceType.POSTGRES:
            fields.remove("password")  # a Cube.js or HTTP datasource has no DSN
        return fields

    @admin.display(description="URL")
    def masked_url(self, obj: DataSource) -> str:
        return obj.masked_url
