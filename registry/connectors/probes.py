"""One probe for any registry entry: what the admin's "Test connection" and the monitoring checks use."""

import logging
import time

from orchestrator_studio.timing import elapsed_ms
from registry.connectors.agents import agent_probe
from registry.connectors.llm import llm_probe
from registry.connectors.results import ProbeResult
from registry.connectors.tools import tool_probe
from registry.models import DataSource, ExternalAgent, LLMConfig, RegistryEntry, Tool

logger = logging.getLogger(__name__)


async def probe_entry(entry: RegistryEntry) -> ProbeResult:
    """Probe an LLMConfig, ExternalAgent, Tool or DataSource. Never raises: a failure is `ok=False`."""
    started = time.perf_counter()
    try:
        if isinstance(entry, LLMConfig):
            return await llm_probe(entry)
        if isinstance(entry, ExternalAgent):
            return await agent_probe(entry)
        if isinstance(entry, Tool):
            return await tool_probe(entry)
        if isinstance(entry, DataSource):
            from registry.connectors.datasources import datasource_probe

            return await datasource_probe(entry)
        error = f"Nothing to probe for a {type(entry).__name__}."
    except Exception as exc:
        logger.exception("Probing %s %r failed unexpectedly", type(entry).__name__, entry.name)
        error = f"The probe failed unexpectedly ({type(exc).__name__})."
    return ProbeResult(ok=False, latency_ms=elapsed_ms(started), error=error)
