"""The Cube.js datasource against the Cube.js REST API fake on loopback."""

import json
import logging

import pytest

from registry.connectors.datasources import datasource_probe, datasource_query
from registry.models import DataSource
from tests.fakes.server import free_port
from tests.registry.factories import datasource_create

BY_STATUS = {"measures": ["Orders.count", "Orders.totalAmount"], "dimensions": ["Orders.status"]}


@pytest.fixture
def cube(db, fake_cubejs):
    return datasource_create(
        name="analytics",
        type="cubejs",
        url=fake_cubejs.base_url,
        auth_token=fake_cubejs.token,
        timeout_seconds=5,
    )


def test_test_connection_reads_meta_with_the_raw_token(staff_client, cube, fake_cubejs):
    response = staff_client.post("/api/datasources/analytics/test")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["latency_ms"] > 0
    assert [(r.method, r.path) for r in fake_cubejs.requests] == [("GET", "/cubejs-api/v1/meta")]
    assert fake_cubejs.requests[0].headers["authorization"] == fake_cubejs.token


def test_schema_lists_cubes_with_their_measures_and_dimensions(user_client, cube):
    schema = user_client.get("/api/datasources/analytics/schema")
    tables = user_client.get("/api/datasources/analytics/tables")

    assert schema.status_code == 200
    orders = schema.json()["tables"][0]
    assert orders["name"] == "Orders"
    assert orders["columns"] == [
        {"name": "Orders.count", "type": "number", "kind": "measure"},
        {"name": "Orders.totalAmount", "type": "number", "kind": "measure"},
        {"name": "Orders.status", "type": "string", "kind": "dimension"},
        {"name": "Orders.city", "type": "string", "kind": "dimension"},
    ]
    assert tables.json() == {"tables": ["Orders", "Users"]}


@pytest.mark.parametrize("as_text", [False, True], ids=["object", "json-string"])
def test_query_runs_on_load_and_returns_columns_and_rows(staff_client, cube, fake_cubejs, as_text):
    query = json.dumps(BY_STATUS) if as_text else BY_STATUS

    response = staff_client.post("/api/datasources/analytics/query", {"query": query}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["Orders.status", "Orders.count", "Orders.totalAmount"]
    assert body["rows"] == [["completed", "3", "215"], ["processing", "1", "45"], ["shipped", "1", "300"]]
    assert body["row_count"] == 3
    assert body["truncated"] is False
    load = fake_cubejs.requests[-1]
    assert (load.method, load.path) == ("POST", "/cubejs-api/v1/load")
    assert load.headers["authorization"] == fake_cubejs.token
    assert fake_cubejs.queries[-1]["measures"] == BY_STATUS["measures"]


def test_continue_wait_is_polled_until_the_result_is_ready(staff_client, cube, fake_cubejs):
    fake_cubejs.continue_wait_polls = 2

    response = staff_client.post("/api/datasources/analytics/query", {"query": BY_STATUS}, format="json")

    assert response.status_code == 200
    assert response.json()["row_count"] == 3
    assert len(fake_cubejs.queries) == 3


def test_continue_wait_past_the_timeout_is_a_504(staff_client, db, fake_cubejs):
    datasource_create(
        name="slowcube",
        type="cubejs",
        url=fake_cubejs.base_url,
        auth_token=fake_cubejs.token,
        timeout_seconds=1,
    )
    fake_cubejs.continue_wait_polls = 1_000

    response = staff_client.post("/api/datasources/slowcube/query", {"query": BY_STATUS}, format="json")

    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert "Continue wait" in response.json()["error"]["message"]
    assert len(fake_cubejs.queries) >= 2


def test_rows_are_capped_and_cube_is_asked_for_one_more_than_the_cap(staff_client, db, fake_cubejs):
    datasource_create(
        name="capped",
        type="cubejs",
        url=fake_cubejs.base_url,
        auth_token=fake_cubejs.token,
        config={"max_rows": 2},
    )
    query = {"measures": ["Orders.count"], "dimensions": ["Orders.city", "Orders.status"]}

    response = staff_client.post("/api/datasources/capped/query", {"query": query}, format="json")

    assert response.json()["row_count"] == 2
    assert response.json()["truncated"] is True
    assert fake_cubejs.queries[-1]["limit"] == 3


def test_an_empty_result_names_its_columns_from_the_annotation(staff_client, cube):
    query = {**BY_STATUS, "filters": [{"member": "Orders.status", "operator": "equals", "values": ["lost"]}]}

    response = staff_client.post("/api/datasources/analytics/query", {"query": query}, format="json")

    assert response.json()["rows"] == []
    assert response.json()["columns"] == ["Orders.status", "Orders.count", "Orders.totalAmount"]


def test_a_url_that_already_names_the_api_prefix_works(staff_client, db, fake_cubejs):
    datasource_create(
        name="prefixed",
        type="cubejs",
        url=f"{fake_cubejs.base_url}/cubejs-api/v1/",
        auth_token=fake_cubejs.token,
    )

    assert staff_client.post("/api/datasources/prefixed/test").json()["ok"] is True
    assert fake_cubejs.requests[-1].path == "/cubejs-api/v1/meta"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 5}, "Query should contain either measures, dimensions or timeDimensions"),
        ({"measures": ["Orders.nope"]}, "'Orders.nope' not found"),
        ("SELECT * FROM orders", "The query is not JSON"),
        ("[1, 2]", "The query is not a JSON object"),
    ],
    ids=["rejected-by-cube", "unknown-member", "sql-text", "not-an-object"],
)
def test_a_bad_query_is_a_400_with_the_reason(staff_client, cube, query, message):
    response = staff_client.post("/api/datasources/analytics/query", {"query": query}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_query"
    assert message in response.json()["error"]["message"]


def test_parameters_are_refused_with_a_pointer_to_filters(staff_client, cube):
    response = staff_client.post(
        "/api/datasources/analytics/query", {"query": BY_STATUS, "parameters": {"status": "x"}}, format="json"
    )

    assert response.status_code == 400
    assert "filters" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("mode", "test_error", "query_status"),
    [
        ("error_500", "Cube.js answered HTTP 500: Error: connect ECONNREFUSED", 502),
        ("malformed", "malformed body", 502),
        ("slow", "No answer from", 504),
    ],
)
def test_a_failing_cube_is_ok_false_on_test_and_an_envelope_on_query(
    staff_client, db, fake_cubejs, mode, test_error, query_status
):
    datasource_create(
        name="flaky", type="cubejs", url=fake_cubejs.base_url, auth_token=fake_cubejs.token, timeout_seconds=1
    )
    fake_cubejs.mode, fake_cubejs.delay = mode, 2

    tested = staff_client.post("/api/datasources/flaky/test")
    queried = staff_client.post("/api/datasources/flaky/query", {"query": BY_STATUS}, format="json")
    schema = staff_client.get("/api/datasources/flaky/schema")

    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert test_error in tested.json()["error"]
    assert queried.status_code == query_status
    assert test_error in queried.json()["error"]["message"]
    assert schema.status_code == query_status


def test_a_wrong_token_is_reported_as_refused_credentials(staff_client, db, fake_cubejs):
    datasource_create(
        name="badtoken", type="cubejs", url=fake_cubejs.base_url, auth_token="not-the-token-000"
    )

    tested = staff_client.post("/api/datasources/badtoken/test").json()
    queried = staff_client.post("/api/datasources/badtoken/query", {"query": BY_STATUS}, format="json")

    assert tested["ok"] is False
    assert "refused the credentials (HTTP 403): Invalid token" in tested["error"]
    assert queried.status_code == 502
    assert queried.json()["error"]["code"] == "upstream_auth_failed"


def test_a_refused_connection_is_a_clear_failure(staff_client, db):
    datasource_create(name="down", type="cubejs", url=f"http://127.0.0.1:{free_port()}")

    tested = staff_client.post("/api/datasources/down/test").json()
    queried = staff_client.post("/api/datasources/down/query", {"query": BY_STATUS}, format="json")

    assert tested["ok"] is False
    assert "connection refused" in tested["error"]
    assert queried.status_code == 502
    assert "connection refused" in queried.json()["error"]["message"]


def test_the_token_reaches_cube_but_never_a_response_or_log(staff_client, cube, fake_cubejs, caplog):
    caplog.set_level(logging.DEBUG)
    answers = [
        staff_client.get("/api/datasources/analytics/"),
        staff_client.post("/api/datasources/analytics/test"),
        staff_client.post("/api/datasources/analytics/query", {"query": BY_STATUS}, format="json"),
        staff_client.post("/api/datasources/analytics/query", {"query": {"limit": 1}}, format="json"),
        staff_client.get("/api/datasources/analytics/schema"),
    ]
    fake_cubejs.mode = "error_500"
    answers.append(staff_client.post("/api/datasources/analytics/query", {"query": BY_STATUS}, format="json"))

    assert all(request.headers.get("authorization") == fake_cubejs.token for request in fake_cubejs.requests)
    assert answers[0].json()["auth_token_set"] is True
    for answer in answers:
        assert fake_cubejs.token not in answer.content.decode()
    assert fake_cubejs.token not in caplog.text
    assert all(fake_cubejs.token not in record.getMessage() for record in caplog.records)


async def test_an_echoed_token_is_masked_in_the_error(fake_cubejs):
    fake_cubejs.mode = "error_500"
    datasource = DataSource(name="echo", type="cubejs", url=fake_cubejs.base_url, auth_token="Error: connect")

    result = await datasource_probe(datasource)

    assert result.ok is False
    assert "Error: connect" not in result.error
    assert "****" in result.error


async def test_the_connector_answers_the_engine_directly(fake_cubejs):
    datasource = DataSource(
        name="cube", type="cubejs", url=fake_cubejs.base_url, auth_token=fake_cubejs.token
    )

    result = await datasource_query(datasource, json.dumps({"measures": ["Orders.count"]}))

    assert result["columns"] == ["Orders.count"]
    assert result["rows"] == [["5"]]
