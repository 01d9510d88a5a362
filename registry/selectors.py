from django.conf import settings
from django.db import IntegrityError

from registry.models import LLMConfig


def llm_config_default() -> LLMConfig:
    """The default LLM config; with none in the database, one is made from the environment."""
    config = LLMConfig.objects.filter(is_default=True).first()
    if config:
        return config
    config = LLMConfig.objects.order_by("created_at").first()
    if config:
        LLMConfig.objects.filter(pk=config.pk).update(is_default=True)
        config.is_default = True
        return config
    try:
        return LLMConfig.objects.create(
            name="default",
            model=settings.LLM_DEFAULT_MODEL,
            base_url=settings.OPENAI_BASE_URL or None,
            api_key=settings.OPENAI_API_KEY,
            is_default=True,
            description="Made from the environment (OPENAI_API_KEY, OPENAI_BASE_URL, LLM_DEFAULT_MODEL).",
        )
    except IntegrityError:
        return LLMConfig.objects.get(is_default=True)
