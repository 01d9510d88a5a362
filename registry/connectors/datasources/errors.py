"""Errors of datasource calls, and the one place that keeps a datasource's secrets out of their messages."""

from orchestrator_studio.errors import DomainError, ValidationFailed
from orchestrator_studio.http import OutboundError
from registry.connectors.scrub import scrub
from registry.models import DataSource


class DatasourceTimeout(OutboundError):
    """The datasource did not answer within its `timeout_seconds` (the query was cancelled)."""

    status_code = 504
    code = "upstream_timeout"


class InvalidQuery(ValidationFailed):
    """The datasource refused the query itself (bad SQL, a write in a read-only transaction, ...)."""

    code = "invalid_query"


def secrets_of(datasource: DataSource) -> list[str]:
    return [datasource.url_password, datasource.auth_token, *_config_secrets(datasource)]


def _config_secrets(datasource: DataSource) -> list[str]:
    return [value for value in (datasource.secret_config or {}).values() if isinstance(value, str)]


def scrubbed(exc: DomainError, datasource: DataSource) -> DomainError:
    """`exc` with every secret of `datasource` masked in its message (outside systems may echo them)."""
    clean = scrub(exc.message, secrets_of(datasource))
    if clean != exc.message:
        exc.message = clean
        exc.args = (clean,)
    return exc
