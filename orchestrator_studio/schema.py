"""OpenAPI description of the token authentication (drf-spectacular picks extensions up on import)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "orchestrator_studio.auth.BearerTokenAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>` (or `Token <token>`); `manage.py issue_token`.",
        }
