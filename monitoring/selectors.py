"""What monitoring reads from the registry: its size (runs are read through `threads.selectors`)."""

from django.db.models import Count, Q

from registry.models import DataSource, ExternalAgent, LLMConfig, Tool


def registry_counts() -> dict[str, dict[str, int]]:
    counts = {}
    for name, model in (
        ("llm_configs", LLMConfig),
        ("agents", ExternalAgent),
        ("tools", Tool),
        ("datasources", DataSource),
    ):
        counts[name] = model.objects.order_by().aggregate(
            total=Count("id"), enabled=Count("id", filter=Q(enabled=True))
        )
    return counts
