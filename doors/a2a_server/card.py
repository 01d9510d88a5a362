"""The assistant's A2A v1.0 agent card: who it is (settings), what it can do (a skill per enabled agent,
tool and datasource), where to call it (`<server>/a2a`, JSON-RPC) and how (a bearer API token)."""

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from django.conf import settings

from orchestrator_studio import __version__
from registry.catalog import Catalog

PROTOCOL_VERSION = "1.0"
JSONRPC_PATH = "/a2a"
SECURITY_SCHEME = "bearer"
TEXT = ["text/plain"]


def agent_card_build(*, base_url: str, catalog: Catalog) -> AgentCard:
    skills = [
        AgentSkill(
            id="ask",
            name="Ask the assistant",
            description=settings.ASSISTANT_DESCRIPTION,
            tags=["assistant"],
        )
    ]
    skills += [
        AgentSkill(
            id=spec.function_name, name=spec.resource_name, description=spec.description, tags=[spec.kind]
        )
        for spec in catalog.functions.values()
    ]
    return AgentCard(
        name=settings.ASSISTANT_NAME,
        description=settings.ASSISTANT_DESCRIPTION,
        version=__version__,
        supported_interfaces=[
            AgentInterface(
                url=base_url.rstrip("/") + JSONRPC_PATH,
                protocol_binding="JSONRPC",
                protocol_version=PROTOCOL_VERSION,
            )
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False, extended_agent_card=False),
        security_schemes={
            SECURITY_SCHEME: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer", description="An Orchestrator Studio API token."
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={SECURITY_SCHEME: StringList()})],
        default_input_modes=TEXT,
        default_output_modes=TEXT,
        skills=skills,
    )
