from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _llm_config_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    from registry.services import llm_config_from_environment

    llm_config_from_environment()


class RegistryConfig(AppConfig):
    name = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registry.catalog import catalog_tables_rewritten

        # Once per `migrate` (sent for every app: only registry's own signal is handled).
        post_migrate.connect(_llm_config_after_migrate, sender=self, dispatch_uid="registry_llm_from_env")
        post_migrate.connect(catalog_tables_rewritten, sender=self, dispatch_uid="catalog_tables_rewritten")
