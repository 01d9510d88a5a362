"""`/api/composio/*` against the Composio stand-in, reached by the real `composio` SDK over loopback."""

import json
import logging

import httpx
import pytest

from tests.fakes.server import free_port

pytestmark = pytest.mark.django_db


def _assert_no_key(response, fake_composio):
    assert fake_composio.api_key not in response.content.decode()


def test_toolkits_list_the_catalogue_with_the_key_sent_to_composio(user_client, fake_composio):
    response = user_client.get("/api/composio/toolkits")

    assert response.status_code == 200
    toolkits = {t["slug"]: t for t in response.json()["toolkits"]}
    assert set(toolkits) == {"github", "hackernews"}
    assert toolkits["github"]["name"] == "GitHub"
    assert toolkits["github"]["auth_schemes"] == ["OAUTH2"]
    assert toolkits["hackernews"]["no_auth"] is True
    assert toolkits["github"]["tools_count"] == 2
    sent = fake_composio.api_requests("GET", "/api/v3.1/toolkits")
    assert sent
    assert all(r.headers["x-api-key"] == fake_composio.api_key for r in sent)
    _assert_no_key(response, fake_composio)


def test_toolkits_are_collected_across_pages(user_client, fake_composio):
    fake_composio.page_size_cap = 1

    response = user_client.get("/api/composio/toolkits")

    assert [t["slug"] for t in response.json()["toolkits"]] == ["github", "hackernews"]
    assert len(fake_composio.api_requests("GET", "/api/v3.1/toolkits")) == 2


def test_second_toolkit_list_is_served_from_the_cache(user_client, fake_composio):
    first = user_client.get("/api/composio/toolkits")
    calls = len(fake_composio.api_requests())
    second = user_client.get("/api/composio/toolkits")

    assert second.status_code == 200
    assert second.json() == first.json()
    assert len(fake_composio.api_requests()) == calls


def test_tools_of_a_toolkit_come_with_their_parameter_schemas(user_client, fake_composio):
    response = user_client.get("/api/composio/tools", {"toolkit": "github"})

    assert response.status_code == 200
    tools = {t["slug"]: t for t in response.json()["tools"]}
    assert set(tools) == {"GITHUB_CREATE_AN_ISSUE", "GITHUB_STAR_A_REPOSITORY"}
    issue = tools["GITHUB_CREATE_AN_ISSUE"]
    assert issue["toolkit"] == "github"
    assert issue["version"] == "20251001_00"
    assert issue["available_versions"] == ["20250901_00", "20251001_00"]
    assert issue["parameters"]["required"] == ["owner", "repo", "title"]
    assert "labels" in issue["parameters"]["properties"]
    _assert_no_key(response, fake_composio)


def test_tools_can_be_searched(user_client, fake_composio):
    response = user_client.get("/api/composio/tools", {"toolkit": "", "search": "issue"})

    assert [t["slug"] for t in response.json()["tools"]] == ["GITHUB_CREATE_AN_ISSUE"]
    assert fake_composio.api_requests("GET", "/api/v3.1/tools")[0].query["query"] == ["issue"]


def test_tools_need_a_toolkit_or_a_search(user_client, fake_composio):
    response = user_client.get("/api/composio/tools", {"toolkit": "", "search": " "})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not fake_composio.api_requests()


def test_connection_lifecycle(staff_client, fake_composio):
    created = staff_client.post(
        "/api/composio/connections", {"user_id": "user-42", "toolkit": "github"}, format="json"
    )

    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "redirect_url", "status"}
    assert body["status"] == "INITIATED"
    assert body["redirect_url"].startswith(fake_composio.base_url)
    link = fake_composio.api_requests("POST", "/api/v3.1/connected_accounts/link")[0].json()
    assert link["user_id"] == "user-42"
    assert link["auth_config_id"].startswith("ac_")

    listed = staff_client.get("/api/composio/connections", {"user_id": "user-42"}).json()["connections"]
    assert [(c["id"], c["status"], c["toolkit"]) for c in listed] == [(body["id"], "INITIATED", "github")]

    # The user completes the flow in their browser.
    assert httpx.get(body["redirect_url"]).status_code == 200
    listed = staff_client.get("/api/composio/connections", {"user_id": "user-42"})
    assert listed.json()["connections"][0]["status"] == "ACTIVE"
    account = fake_composio.accounts[body["id"]]
    assert account["access_token"] not in listed.content.decode()
    _assert_no_key(listed, fake_composio)

    deleted = staff_client.delete(f"/api/composio/connections/{body['id']}")
    assert deleted.status_code == 204
    assert staff_client.get("/api/composio/connections", {"user_id": "user-42"}).json()["connections"] == []
    again = staff_client.delete(f"/api/composio/connections/{body['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


def test_connections_list_only_the_given_user(user_client, fake_composio):
    fake_composio.add_account(user_id="alice", toolkit="github")
    fake_composio.add_account(user_id="bob", toolkit="github")

    response = user_client.get("/api/composio/connections", {"user_id": "alice"})

    assert [c["user_id"] for c in response.json()["connections"]] == ["alice"]
    everyone = user_client.get("/api/composio/connections").json()["connections"]
    assert sorted(c["user_id"] for c in everyone) == ["alice", "bob"]


def test_connecting_an_already_connected_user_is_a_conflict(staff_client, fake_composio):
    fake_composio.add_account(user_id="user-42", toolkit="github")

    response = staff_client.post(
        "/api/composio/connections", {"user_id": "user-42", "toolkit": "github"}, format="json"
    )

    assert response.status_code == 409
    assert "already has an active github connection" in response.json()["error"]["message"]


def test_connecting_a_toolkit_without_auth_reports_composios_reason(staff_client, fake_composio):
    response = staff_client.post(
        "/api/composio/connections", {"user_id": "u", "toolkit": "hackernews"}, format="json"
    )

    assert response.status_code == 400
    assert "needs no authentication" in response.json()["error"]["message"]


def test_connection_create_validates_its_body(staff_client, fake_composio):
    response = staff_client.post("/api/composio/connections", {"toolkit": "git hub"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"user_id", "toolkit"}
    assert not fake_composio.api_requests()


def test_connection_writes_need_staff(user_client, fake_composio):
    created = user_client.post(
        "/api/composio/connections", {"user_id": "u", "toolkit": "github"}, format="json"
    )
    deleted = user_client.delete("/api/composio/connections/ca_000001")

    assert created.status_code == 403
    assert deleted.status_code == 403
    assert not fake_composio.api_requests()


def test_composio_endpoints_need_a_token(anon_client, fake_composio):
    assert anon_client.get("/api/composio/toolkits").status_code == 401
    assert not fake_composio.api_requests()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/composio/toolkits", None),
        ("get", "/api/composio/tools?toolkit=github", None),
        ("get", "/api/composio/connections?user_id=u", None),
        ("post", "/api/composio/connections", {"user_id": "u", "toolkit": "github"}),
        ("delete", "/api/composio/connections/ca_1", None),
    ],
)
def test_without_an_api_key_every_endpoint_is_503_with_the_reason(staff_client, settings, method, path, body):
    settings.COMPOSIO_API_KEY = ""

    response = getattr(staff_client, method)(path, body, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "composio_not_configured"
    assert "COMPOSIO_API_KEY" in error["message"]


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code", "message"),
    [
        (
            500,
            b'{"error": {"message": "database is down"}}',
            "application/json",
            "composio_error",
            "HTTP 500",
        ),
        (503, b"<html>Bad gateway</html>", "text/html", "composio_error", "HTTP 503"),
        (200, b"this is not json", "text/plain", "composio_error", "not valid JSON"),
        (
            401,
            b'{"error": {"message": "Invalid API key"}}',
            "application/json",
            "composio_auth_failed",
            "API key",
        ),
    ],
)
def test_a_failing_composio_is_a_clear_error_never_a_500(
    user_client, fake_composio, status, body, content_type, code, message
):
    fake_composio.failure = (status, body, content_type)

    response = user_client.get("/api/composio/toolkits")

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"]
    _assert_no_key(response, fake_composio)


def test_a_wrong_api_key_is_reported_without_echoing_it(user_client, fake_composio, settings):
    settings.COMPOSIO_API_KEY = "cmp_wrong_key_0123456789"

    response = user_client.get("/api/composio/tools", {"toolkit": "github"})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "composio_auth_failed"
    assert "cmp_wrong_key_0123456789" not in response.content.decode()
    assert fake_composio.api_requests()[0].headers["x-api-key"] == "cmp_wrong_key_0123456789"


def test_an_unreachable_composio_is_a_clear_error(user_client, settings):
    settings.COMPOSIO_API_KEY = "cmp_key_for_nowhere"
    settings.COMPOSIO_BASE_URL = f"http://127.0.0.1:{free_port()}"

    response = user_client.get("/api/composio/toolkits")

    assert response.status_code == 502
    assert "Could not reach Composio" in response.json()["error"]["message"]


def test_private_composio_address_is_refused_when_private_networks_are_blocked(
    user_client, fake_composio, settings
):
    settings.BLOCK_PRIVATE_NETWORKS = True

    response = user_client.get("/api/composio/toolkits")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "egress_refused"
    assert not fake_composio.requests


def test_the_api_key_is_never_logged_even_with_the_sdk_at_debug(staff_client, fake_composio, caplog):
    staff_client.get("/api/composio/toolkits")  # the SDK sets its logger's level when first used
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="composio")
    fake_composio.add_account(user_id="u", toolkit="github")

    staff_client.get("/api/composio/connections", {"user_id": "u"})
    staff_client.post("/api/composio/connections", {"user_id": "u", "toolkit": "github"}, format="json")
    fake_composio.failure = (500, json.dumps({"error": {"message": "boom"}}).encode(), "application/json")
    staff_client.get("/api/composio/tools", {"toolkit": "github"})

    assert any(r.name == "composio" for r in caplog.records)
    assert fake_composio.api_key not in caplog.text
