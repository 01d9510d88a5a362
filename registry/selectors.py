from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from orchestrator_studio.errors import NotFound
from registry.fields import EncryptedTextField
from registry.models import SECRET_SET_SUFFIX, LLMConfig, RegistryEntry


def registry_entries_shown(model: type[RegistryEntry]) -> QuerySet[Any]:
    """Entries as the API shows them. A secret shown only as `<name>_set` (an API key, a token, a DSN's
    password) is neither loaded nor decrypted: the flag comes from whether its stored ciphertext is empty
    (`RegistryEntry.secret_set`). Secrets inside `config`, shown masked with their last characters, are."""
    flagged = [field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]
    flags = {
        name + SECRET_SET_SUFFIX: ExpressionWrapper(~Q(**{name: ""}), output_field=BooleanField())
        for name in flagged
    }
    return model._default_manager.defer(*flagged).annotate(**flags)


_DEFAULT_CONFIG_SQL = f"SELECT * FROM {LLMConfig._meta.db_table} WHERE is_default LIMIT 1"  # noqa: S608


def llm_config_default() -> LLMConfig:
    """The default LLM config (the first one made becomes it). Reading never creates one: the one from the
    environment is made by `migrate` (`llm_config_from_environment`)."""
    # Read at every run's start: plain SQL, without the ORM's query compilation.
    config = next(iter(LLMConfig.objects.raw(_DEFAULT_CONFIG_SQL)), None)
    if config:
        return config
    config = LLMConfig.objects.order_by("created_at").first()
    if config:
        LLMConfig.objects.filter(pk=config.pk).update(is_default=True)
        config.is_default = True
        return config
    raise NotFound(
        "No LLM config yet: add one in the admin or with POST /api/llm/configs/ "
        "(or set OPENAI_API_KEY or OPENAI_BASE_URL and run `manage.py migrate`).",
        code="llm_not_configured",
    )
