"""Who may use the datasource endpoints, what bad requests get, and the health of all of them at once."""

import pytest

from tests.fakes.server import free_port
from tests.registry.factories import datasource_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm(fake_datasource):
    return datasource_create(
        name="crm", type="http", url=fake_datasource.base_url, auth_token=fake_datasource.token
    )


def test_query_and_test_are_for_staff_only(user_client, crm, fake_datasource):
    queried = user_client.post("/api/datasources/crm/query", {"query": "customers"}, format="json")
    tested = user_client.post("/api/datasources/crm/test")

    assert queried.status_code == 403
    assert tested.status_code == 403
    assert queried.json()["error"]["code"] == "permission_denied"
    assert fake_datasource.requests == []


def test_schema_tables_and_health_are_readable_by_any_user(user_client, crm):
    assert user_client.get("/api/datasources/crm/schema").status_code == 200
    assert user_client.get("/api/datasources/crm/tables").status_code == 200
    assert user_client.get("/api/datasources/health/all").status_code == 200


def test_nothing_without_a_token(anon_client, crm):
    for response in (
        anon_client.get("/api/datasources/crm/schema"),
        anon_client.post("/api/datasources/crm/query", {"query": "customers"}, format="json"),
        anon_client.get("/api/datasources/health/all"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_datasource_is_a_404(staff_client):
    for response in (
        staff_client.post("/api/datasources/missing/test"),
        staff_client.post("/api/datasources/missing/query", {"query": "x"}, format="json"),
        staff_client.get("/api/datasources/missing/schema"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "query"), ({"query": ""}, "query"), ({"query": "customers", "parameters": [1, 2]}, "parameters")],
    ids=["no-query", "empty-query", "parameters-not-an-object"],
)
def test_a_malformed_query_request_is_a_400_and_reaches_no_datasource(
    staff_client, crm, fake_datasource, body, field
):
    response = staff_client.post("/api/datasources/crm/query", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert fake_datasource.requests == []


def test_malformed_json_is_a_400(staff_client, crm):
    response = staff_client.post(
        "/api/datasources/crm/query", data="{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_health_all_checks_every_enabled_datasource(user_client, crm, fake_cubejs):
    datasource_create(name="cube", type="cubejs", url=fake_cubejs.base_url, auth_token="wrong-token-123")
    datasource_create(name="down", type="http", url=f"http://127.0.0.1:{free_port()}")
    datasource_create(name="off", type="http", url=f"http://127.0.0.1:{free_port()}", enabled=False)

    body = user_client.get("/api/datasources/health/all").json()

    assert body["total"] == 3
    assert body["healthy"] == 1
    by_name = {entry["name"]: entry for entry in body["datasources"]}
    assert list(by_name) == ["crm", "cube", "down"]
    assert by_name["crm"]["ok"] is True
    assert "error" not in by_name["crm"]
    assert by_name["crm"]["type"] == "http"
    assert "refused the credentials" in by_name["cube"]["error"]
    assert "connection refused" in by_name["down"]["error"]
    assert all(entry["latency_ms"] >= 0 for entry in body["datasources"])


def test_a_datasource_named_health_keeps_its_own_endpoints(staff_client, fake_datasource):
    datasource_create(
        name="health", type="http", url=fake_datasource.base_url, auth_token=fake_datasource.token
    )

    detail = staff_client.get("/api/datasources/health/")
    tested = staff_client.post("/api/datasources/health/test")
    everything = staff_client.get("/api/datasources/health/all")

    assert detail.json()["name"] == "health"
    assert tested.json()["ok"] is True
    assert everything.json()["datasources"][0]["name"] == "health"


def test_health_all_with_no_datasources(user_client):
    assert user_client.get("/api/datasources/health/all").json() == {
        "total": 0,
        "healthy": 0,
        "datasources": [],
    }
