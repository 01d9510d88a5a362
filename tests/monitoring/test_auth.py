import pytest
from django.test import override_settings

MONITORING_PATHS = [
    "/api/monitoring/health",
    "/api/monitoring/metrics",
    "/api/monitoring/status",
    "/api/monitoring/connectivity",
    "/api/monitoring/logs",
]


@pytest.mark.parametrize("path", MONITORING_PATHS)
def test_monitoring_needs_a_token(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("path", MONITORING_PATHS)
def test_monitoring_is_staff_only(user_client, path):
    response = user_client.get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("path", MONITORING_PATHS)
def test_monitoring_is_read_only(staff_client, path):
    response = staff_client.post(path, {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@override_settings(METRICS_PUBLIC=False)
def test_prometheus_metrics_need_staff_unless_public(anon_client, user_client, staff_client):
    assert anon_client.get("/metrics").status_code == 401
    assert user_client.get("/metrics").status_code == 403
    response = staff_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


@override_settings(METRICS_PUBLIC=True)
def test_prometheus_metrics_public_when_configured(anon_client):
    response = anon_client.get("/metrics", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    assert b"orchestrator_http_requests_total" in response.content
