from orchestrator_studio import __version__
from registry.models import DataSource, ExternalAgent, LLMConfig

SECRETS = ("sk-status-secret-0123456789", "agent-status-token-0123", "pg-status-password")


def test_status_summarises_without_secrets(staff_client):
    LLMConfig.objects.all().delete()
    LLMConfig.objects.create(name="main", api_key=SECRETS[0])
    ExternalAgent.objects.create(name="one", url="http://127.0.0.1:9/", auth_token=SECRETS[1])
    ExternalAgent.objects.create(name="two", url="http://127.0.0.1:9/", enabled=False)
    DataSource.objects.create(
        name="warehouse", type="postgres", url="postgresql://reader@127.0.0.1:9/dw", url_password=SECRETS[2]
    )

    response = staff_client.get("/api/monitoring/status")

    assert response.status_code == 200
    body = response.json()
    assert body["version"] == __version__
    assert body["uptime_seconds"] > 0
    assert body["database"]["vendor"] in {"sqlite", "postgresql"}
    assert body["channel_layer"] in {"InMemoryChannelLayer", "RedisChannelLayer"}
    assert body["cache"] in {"LocMemCache", "RedisCache"}
    assert body["run_executor"]
    assert body["log_store"]["backend"] == ("redis" if body["redis_configured"] else "memory")
    assert body["registry"]["llm_configs"] == {"total": 1, "enabled": 1}
    assert body["registry"]["agents"] == {"total": 2, "enabled": 1}
    assert body["registry"]["datasources"] == {"total": 1, "enabled": 1}
    assert body["registry"]["tools"]["total"] >= 0
    assert body["threads"] >= 0
    text = response.content.decode()
    for secret in SECRETS:
        assert secret not in text
    assert "://" not in text
