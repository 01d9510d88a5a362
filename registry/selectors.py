from orchestrator_studio.errors import NotFound
from registry.models import LLMConfig


def llm_config_default() -> LLMConfig:
    """The default LLM config (the first one made becomes it). Reading never creates one: the one from the
    environment is made by `migrate` (`llm_config_from_environment`)."""
    config = LLMConfig.objects.filter(is_default=True).first()
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
