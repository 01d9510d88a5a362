import logging

import pytest
from django.test import override_settings

pytestmark = pytest.mark.usefixtures("empty_log_store")


def get_logs(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/monitoring/logs{query}")
    assert response.status_code == 200, response.content
    return response.json()["logs"]


def test_a_warning_logged_in_a_request_is_returned(staff_client, user_client):
    # Django logs every 404 as a warning of `django.request`; here the path carries an API key.
    assert user_client.get("/api/monitoring-typo/sk-proj-AbCdEf0123456789xyz").status_code == 404

    logs = get_logs(staff_client, "?level=warning")

    matching = [entry for entry in logs if "/api/monitoring-typo/" in entry["message"]]
    assert len(matching) == 1
    entry = matching[0]
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "django.request"
    assert entry["time"].endswith("+00:00")
    assert "sk-proj-AbCdEf0123456789xyz" not in entry["message"]
    assert "sk-****" in entry["message"]


def test_secrets_in_messages_are_scrubbed(staff_client):
    raw_token = staff_client.raw_token
    logger = logging.getLogger("registry.connectors.test")
    logger.error(
        "call failed: Authorization: Bearer %s, dsn postgresql://app:hunter2pass@db:5432/app, api_key=%s",
        raw_token,
        "k-9f8e7d6c5b4a",
    )
    try:
        raise RuntimeError("password=swordfish-77 rejected")
    except RuntimeError:
        logger.exception("datasource crashed")

    body = staff_client.get("/api/monitoring/logs?logger=registry").content.decode()

    for secret in (raw_token, "hunter2pass", "k-9f8e7d6c5b4a", "swordfish-77"):
        assert secret not in body
    messages = [entry["message"] for entry in get_logs(staff_client, "?logger=registry")]
    assert any("postgresql://app:****@db:5432/app" in message for message in messages)
    assert any("datasource crashed" in message and "RuntimeError" in message for message in messages)


def test_filters_by_level_logger_and_limit(staff_client):
    logging.getLogger("threads.engine").info("engine info")
    logging.getLogger("threads.engine").warning("engine warning")
    logging.getLogger("threadsafety").warning("not a child of threads")
    logging.getLogger("registry").error("registry error")

    warnings = [entry["message"] for entry in get_logs(staff_client, "?level=WARNING&logger=threads")]
    assert warnings == ["engine warning"]

    everything = [entry["message"] for entry in get_logs(staff_client, "?level=info")]
    assert everything[:4] == ["registry error", "not a child of threads", "engine warning", "engine info"]

    assert [entry["message"] for entry in get_logs(staff_client, "?limit=1")] == ["registry error"]


@pytest.mark.parametrize(
    ("query", "field"), [("?level=loud", "level"), ("?limit=0", "limit"), ("?limit=many", "limit")]
)
def test_bad_queries_are_refused(staff_client, query, field):
    response = staff_client.get(f"/api/monitoring/logs{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@override_settings(LOG_STORE_MAX_RECORDS=5)
def test_the_store_is_bounded(staff_client):
    for number in range(12):
        logging.getLogger("bounded").warning("record %d", number)

    messages = [entry["message"] for entry in get_logs(staff_client, "?logger=bounded&limit=100")]
    assert messages == [f"record {number}" for number in range(11, 6, -1)]
