"""Every error on the OpenAI-compatible paths is in OpenAI's shape, `{"error": {"message", "type", "code",
"param"}}`, whoever answers it: the door's views, the body limit in front of them, the URL resolver and the
quota check. The `openai` SDK turns each into its own exception class. (Token guessing throttled to 429
is in tests/governance/test_throttle.py, from an address of its own.)"""

import httpx
import openai
import pytest

from governance.models import Quota
from tests.fakes.openai_server import text
from threads.models import Thread

pytestmark = pytest.mark.django_db(transaction=True)

OPENAI_KEYS = {"message", "type", "code", "param"}


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= OPENAI_KEYS
    return error


@pytest.fixture
def bearer(user_client) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_client.raw_token}"}


def test_a_body_over_the_limit_is_413_before_anything_is_stored(server, bearer, settings, llm, fake_openai):
    settings.MAX_REQUEST_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    big = {"model": "fake", "messages": [{"role": "user", "content": "x" * 5_000}]}

    declared = httpx.post(f"{server}/v1/chat/completions", json=big, headers=bearer)
    error = _error(declared, 413)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "request_too_large",
        None,
    )

    # Sent in chunks, with no Content-Length: measured as it is read, refused the same way.
    def chunks():
        body = httpx.Request("POST", server, json=big).content
        for start in range(0, len(body), 1_000):
            yield body[start : start + 1_000]

    chunked = httpx.post(
        f"{server}/v1/chat/completions",
        content=chunks(),
        headers={**bearer, "Content-Type": "application/json"},
    )
    assert _error(chunked, 413)["code"] == "request_too_large"
    assert Thread.objects.count() == 0
    assert fake_openai.chat_requests == []


def test_unknown_paths_and_methods_are_404_and_405(server, bearer, llm):
    missing = _error(httpx.post(f"{server}/v1/embeddings", json={}, headers=bearer), 404)
    assert (missing["type"], missing["code"]) == ("invalid_request_error", "not_found")
    assert _error(httpx.get(f"{server}/v1/models/fake/extra", headers=bearer), 404)["code"] == "not_found"

    wrong = httpx.get(f"{server}/v1/chat/completions", headers=bearer)
    assert _error(wrong, 405)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    assert (
        _error(httpx.delete(f"{server}/v1/models/fake", headers=bearer), 405)["code"] == "method_not_allowed"
    )


def test_the_projects_own_v1_chat_keeps_the_projects_envelope(server, bearer, llm):
    response = httpx.post(f"{server}/v1/chat", json={}, headers=bearer)
    assert response.status_code == 400
    assert "type" not in response.json()["error"]


def test_bad_values_are_400_naming_the_parameter(server, bearer, llm, fake_openai):
    cases = [
        ({"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "temperature": 3}, "temperature"),
        ({"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": "yes"}, "stream"),
        ({"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": "Hi"}]}, "model"),
        ({"model": "fake", "messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ]
    for body, param in cases:
        error = _error(httpx.post(f"{server}/v1/chat/completions", json=body, headers=bearer), 400)
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert Thread.objects.count() == 0
    assert fake_openai.chat_requests == []


def test_a_run_over_the_users_quota_is_429_and_leaves_no_thread(server, user_client, user, llm, fake_openai):
    Quota.objects.create(user=user, runs_per_minute=1)
    fake_openai.script(text("First."))
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=user_client.raw_token, max_retries=0)
    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "One"}])

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(
            model="fake",
            messages=[
                {"role": "user", "content": "Two"},
                {"role": "assistant", "content": "Hm"},
                {"role": "user", "content": "Three"},
            ],
        )

    assert (refused.value.code, refused.value.body["type"]) == ("quota_exceeded", "rate_limit_error")
    assert refused.value.body["limit"] == "runs_per_minute"
    assert int(refused.value.response.headers["retry-after"]) > 0
    assert Thread.objects.count() == 1
    assert len(fake_openai.chat_requests) == 1
