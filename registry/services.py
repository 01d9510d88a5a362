"""Writes to the registry. The API, the admin's forms, the import command and tests all come through here."""

from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from orchestrator_studio.audit import (
    SYSTEM_ACTOR,
    audit_deleted,
    audit_saved,
    audit_snapshot,
    audit_stored_snapshot,
)
from orchestrator_studio.errors import ValidationFailed, django_validation_fields
from registry import secrets, tool_types
from registry.catalog import catalog_version_bump
from registry.models import DataSource, LLMConfig, RegistryEntry, Tool

SECRET_FIELDS = ("api_key", "auth_token")
Entry = TypeVar("Entry", bound=RegistryEntry)
# Who made the LLM config the environment describes (after `migrate`).
ENVIRONMENT_ACTOR = "environment"


def _apply(instance: RegistryEntry, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in SECRET_FIELDS:
            if not secrets.is_mask(value):
                setattr(instance, key, value or "")
        elif key == "config":
            public, incoming = secrets.split_config(value or {})
            instance.config = public  # type: ignore[attr-defined]
            instance.secret_config = secrets.merge_secrets(instance.secret_config, incoming)  # type: ignore[attr-defined]
        elif key == "type" and isinstance(instance, Tool) and "parameters" not in data:
            # Parameters still at the old type's default follow the new type's (set again in clean()).
            old_type = tool_types.TOOL_TYPES.get(instance.type)
            if old_type and instance.parameters == old_type.default_parameters:
                instance.parameters = {}
            instance.type = value
        elif key == "url" and isinstance(instance, DataSource):
            url, password = secrets.split_dsn(value)
            instance.url = url
            if password and not secrets.is_mask(password):
                instance.url_password = password
        else:
            setattr(instance, key, value)


def registry_entry_save(*, instance: Entry, data: dict[str, Any], actor: str = SYSTEM_ACTOR) -> Entry:
    """Apply `data` to a new or existing entry, validate it whole, and save it in one transaction with its
    audit record (`actor`: who asked, a username or a command's name).

    Secrets left out of `data`, or sent back as their mask, keep their stored value.
    """
    before = audit_stored_snapshot(instance)
    _apply(instance, data)
    try:
        instance.full_clean()
        with transaction.atomic():
            if isinstance(instance, LLMConfig):
                _settle_default_before_save(instance)
            instance.save()
            audit_saved(actor=actor, instance=instance, before=before)
            catalog_version_bump()
    except ValidationError as exc:
        raise ValidationFailed("Invalid input.", fields=django_validation_fields(exc)) from exc
    except IntegrityError as exc:
        raise ValidationFailed(
            "Invalid input.",
            fields={"name": [f"A {instance._meta.verbose_name} with this name already exists."]},
        ) from exc
    return instance


def _settle_default_before_save(config: LLMConfig) -> None:
    """Exactly one default: setting the flag moves it; the first config becomes the default."""
    others = LLMConfig.objects.select_for_update().exclude(pk=config.pk)
    if config.is_default:
        others.filter(is_default=True).update(is_default=False)
    elif not others.filter(is_default=True).exists():
        config.is_default = True


def registry_entry_delete(*, instance: RegistryEntry, actor: str = SYSTEM_ACTOR) -> None:
    before = audit_snapshot(instance)
    with transaction.atomic():
        instance.delete()
        audit_deleted(actor=actor, instance=instance, before=before)
        catalog_version_bump()
        if isinstance(instance, LLMConfig) and instance.is_default:
            successor = LLMConfig.objects.filter(enabled=True).order_by("created_at").first()
            if successor:
                LLMConfig.objects.filter(pk=successor.pk).update(is_default=True)


def llm_config_from_environment() -> LLMConfig | None:
    """With no LLM config at all, the one the environment describes (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
    `LLM_DEFAULT_MODEL`) becomes the default; run after every `migrate`. Without a key or a server in the
    environment there is nothing to describe, and nothing is made (a config without either cannot work)."""
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        return None
    with transaction.atomic():
        if LLMConfig.objects.select_for_update().exists():
            return None
        try:
            with transaction.atomic():
                config = LLMConfig.objects.create(
                    name="default",
                    model=settings.LLM_DEFAULT_MODEL,
                    base_url=settings.OPENAI_BASE_URL or None,
                    api_key=settings.OPENAI_API_KEY,
                    is_default=True,
                    description=(
                        "Made from the environment (OPENAI_API_KEY, OPENAI_BASE_URL, LLM_DEFAULT_MODEL)."
                    ),
                )
                audit_saved(actor=ENVIRONMENT_ACTOR, instance=config, before=None)
                return config
        except IntegrityError:
            return None  # another process made one at the same moment
