"""Registry entries for connector tests, saved through the service (secrets split and encrypted), or built
unsaved for connector calls that need no database."""

from typing import Any

from registry import secrets
from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from registry.services import registry_entry_save


def llm_config(*, save: bool = False, **fields: Any) -> LLMConfig:
    data = {"name": "main", "model": "gpt-4o", "timeout_seconds": 10.0, "max_retries": 0, **fields}
    if save:
        return registry_entry_save(instance=LLMConfig(), data=data)
    return LLMConfig(**data)


def agent(*, save: bool = False, **fields: Any) -> ExternalAgent:
    data = {"name": "billing", "url": "http://127.0.0.1:9", "timeout_seconds": 5, **fields}
    if save:
        return registry_entry_save(instance=ExternalAgent(), data=data)
    return ExternalAgent(**data)


def tool(*, save: bool = False, **fields: Any) -> Tool:
    data = {"name": "api", "type": "http", "config": {"base_url": "http://127.0.0.1:9"}, **fields}
    if save:
        return registry_entry_save(instance=Tool(), data=data)
    config = data.pop("config")
    public, secret = secrets.split_config(config)
    entry = Tool(config=public, secret_config=secret, **data)
    entry.clean()
    return entry


def datasource(*, save: bool = True, **fields: Any) -> DataSource:
    data = {"name": "sales", "type": "http", "url": "http://127.0.0.1:9", **fields}
    return registry_entry_save(instance=DataSource(), data=data)
