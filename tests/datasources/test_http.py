"""The HTTP datasource (the seed's protocol) against its fake on loopback."""

import logging

import pytest

from tests.fakes.server import free_port
from tests.registry.factories import datasource_create


@pytest.fixture
def service(db, fake_datasource):
    return datasource_create(
        name="crm",
        type="http",
        url=fake_datasource.base_url,
        auth_token=fake_datasource.token,
        timeout_seconds=5,
    )


def test_test_connection_gets_health_with_the_bearer_token(staff_client, service, fake_datasource):
    response = staff_client.post("/api/datasources/crm/test")

    assert response.json()["ok"] is True
    request = fake_datasource.requests[-1]
    assert (request.method, request.path) == ("GET", "/health")
    assert request.headers["authorization"] == f"Bearer {fake_datasource.token}"


def test_query_posts_query_and_parameters_and_returns_a_table(staff_client, service, fake_datasource):
    response = staff_client.post(
        "/api/datasources/crm/query", {"query": "customers", "parameters": {"plan": "pro"}}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["id", "name", "plan", "mrr", "churned"]
    assert body["rows"] == [[1, "Ada", "pro", 49.5, None], [3, "Grace", "pro", 49.5, True]]
    assert body["row_count"] == 2
    assert body["truncated"] is False
    assert fake_datasource.requests[-1].json() == {"query": "customers", "parameters": {"plan": "pro"}}


def test_rows_are_capped_at_max_rows(staff_client, db, fake_datasource):
    datasource_create(
        name="events", type="http", url=fake_datasource.base_url, auth_token=fake_datasource.token
    )

    body = staff_client.post("/api/datasources/events/query", {"query": "events"}, format="json").json()

    assert body["row_count"] == 1000
    assert body["rows"][-1] == [1000, "logout"]
    assert body["truncated"] is True


def test_schema_and_tables(user_client, service):
    schema = user_client.get("/api/datasources/crm/schema").json()
    tables = user_client.get("/api/datasources/crm/tables").json()

    assert schema["tables"][1] == {
        "name": "events",
        "columns": [{"name": "id", "type": "integer"}, {"name": "kind", "type": "text"}],
    }
    assert tables == {"tables": ["customers", "events"]}


def test_schema_is_served_from_the_cache_within_the_ttl(user_client, service, fake_datasource):
    first = user_client.get("/api/datasources/crm/schema").json()
    fake_datasource.mode = "error_500"
    second = user_client.get("/api/datasources/crm/schema")

    assert second.status_code == 200
    assert second.json() == first
    assert [r.path for r in fake_datasource.requests] == ["/schema"]


def test_a_query_the_service_refuses_is_a_400_with_its_reason(staff_client, service):
    response = staff_client.post("/api/datasources/crm/query", {"query": "invoices"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_query",
        "message": "The HTTP datasource refused the query (HTTP 400): Unknown table 'invoices'.",
    }


@pytest.mark.parametrize(
    ("mode", "error", "status"),
    [
        ("error_500", "The HTTP datasource answered HTTP 500.", 502),
        ("error_401", "refused the credentials (HTTP 401): Invalid or missing bearer token", 502),
        ("malformed", "malformed body (not JSON)", 502),
        ("slow", "No answer from http://127.0.0.1", 504),
    ],
)
def test_a_failing_service_is_ok_false_on_test_and_an_envelope_elsewhere(
    staff_client, db, fake_datasource, mode, error, status
):
    datasource_create(
        name="flaky",
        type="http",
        url=fake_datasource.base_url,
        auth_token=fake_datasource.token,
        timeout_seconds=1,
    )
    fake_datasource.mode, fake_datasource.delay = mode, 2

    tested = staff_client.post("/api/datasources/flaky/test")
    queried = staff_client.post("/api/datasources/flaky/query", {"query": "customers"}, format="json")
    tables = staff_client.get("/api/datasources/flaky/tables")

    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert error in tested.json()["error"]
    assert queried.status_code == status
    assert error in queried.json()["error"]["message"]
    assert tables.status_code == status
    assert "<html>" not in queried.json()["error"]["message"]


def test_an_unhealthy_status_fails_the_test(staff_client, service, fake_datasource):
    fake_datasource.mode = "unhealthy"

    result = staff_client.post("/api/datasources/crm/test").json()

    assert result["ok"] is False
    assert "reports its status as 'unhealthy'" in result["error"]


def test_a_refused_connection_is_a_clear_failure(staff_client, db):
    datasource_create(name="down", type="http", url=f"http://127.0.0.1:{free_port()}")

    tested = staff_client.post("/api/datasources/down/test").json()
    queried = staff_client.post("/api/datasources/down/query", {"query": "customers"}, format="json")

    assert tested["ok"] is False
    assert "connection refused" in tested["error"]
    assert queried.status_code == 502


def test_private_addresses_are_refused_before_any_request_when_the_block_is_on(
    staff_client, service, fake_datasource, settings
):
    settings.BLOCK_PRIVATE_NETWORKS = True

    tested = staff_client.post("/api/datasources/crm/test").json()
    queried = staff_client.post("/api/datasources/crm/query", {"query": "customers"}, format="json")

    assert tested["ok"] is False
    assert "loopback" in tested["error"]
    assert queried.status_code == 403
    assert queried.json()["error"]["code"] == "egress_refused"
    assert fake_datasource.requests == []


def test_the_token_reaches_the_service_but_never_a_response_or_log(
    staff_client, service, fake_datasource, caplog
):
    caplog.set_level(logging.DEBUG)
    answers = [
        staff_client.post("/api/datasources/crm/test"),
        staff_client.post("/api/datasources/crm/query", {"query": "customers"}, format="json"),
        staff_client.post("/api/datasources/crm/query", {"query": "nope"}, format="json"),
        staff_client.get("/api/datasources/crm/schema"),
        staff_client.get("/api/datasources/crm/"),
    ]

    assert all(
        r.headers["authorization"] == f"Bearer {fake_datasource.token}" for r in fake_datasource.requests
    )
    for answer in answers:
        assert fake_datasource.token not in answer.content.decode()
    assert fake_datasource.token not in caplog.text
    assert all(fake_datasource.token not in record.getMessage() for record in caplog.records)
