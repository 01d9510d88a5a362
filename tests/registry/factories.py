"""Registry entries for tests, made through the same service the API and the admin use."""

from typing import Any

from registry.models import DataSource, ExternalAgent, LLMConfig, Tool
from registry.services import registry_entry_save


def llm_config_create(**data: Any) -> LLMConfig:
    values = {"name": "main-llm", "model": "gpt-4o", "base_url": "https://llm.example.com/v1", **data}
    return registry_entry_save(instance=LLMConfig(), data=values)  # type: ignore[return-value]


def agent_create(**data: Any) -> ExternalAgent:
    values = {"name": "billing-agent", "url": "https://agent.example.com", **data}
    return registry_entry_save(instance=ExternalAgent(), data=values)  # type: ignore[return-value]


def tool_create(**data: Any) -> Tool:
    values = {
        "name": "search",
        "type": "web_search",
        "config": {"provider": "searxng", "endpoint": "https://search.example.com"},
        **data,
    }
    return registry_entry_save(instance=Tool(), data=values)  # type: ignore[return-value]


def datasource_create(**data: Any) -> DataSource:
    values = {"name": "warehouse", "type": "cubejs", "url": "https://cube.example.com", **data}
    return registry_entry_save(instance=DataSource(), data=values)  # type: ignore[return-value]
