"""The OpenAI-compatible door, used by the official `openai` SDK exactly as an application would:
`base_url=<server>/v1`, `api_key=<API token>`."""

from uuid import UUID

import httpx
import openai
import pytest

from registry.models import LLMConfig
from tests.conftest import FAKE_LLM_API_KEY
from tests.fakes.openai_server import error, text, tool_call
from threads.models import Message, Run, Thread

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "Paris is the capital of France, and it streams in word by word."


@pytest.fixture
def client(server, user_client) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=user_client.raw_token, max_retries=0, timeout=20)


def test_models_lists_the_enabled_llm_configs(client, llm, fake_openai):
    LLMConfig.objects.create(name="reasoner", model="o3-mini", base_url=fake_openai.base_url)
    LLMConfig.objects.create(name="retired", model="gpt-4", base_url=fake_openai.base_url, enabled=False)

    models = client.models.list()

    assert [m.id for m in models.data] == ["fake", "reasoner"]
    assert {m.owned_by for m in models.data} == {"orchestrator-studio"}
    assert all(m.created > 1_600_000_000 for m in models.data)
    assert client.models.retrieve("reasoner").id == "reasoner"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("retired")
    assert missing.value.code == "model_not_found"


def test_plain_completion_is_a_stored_run_of_the_tokens_user(client, user, llm, fake_openai):
    fake_openai.script(text(ANSWER))

    completion = client.chat.completions.create(
        model="fake",
        messages=[
            {"role": "system", "content": "You answer geography questions in one sentence."},
            {"role": "user", "content": "Capital of Italy?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": [{"type": "text", "text": "And of France?"}]},
        ],
        temperature=0.2,
        max_tokens=50,
        user="end-user-7",
    )

    assert completion.object == "chat.completion"
    assert completion.model == "fake"
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert completion.usage.completion_tokens == len(ANSWER.split())
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    extra = completion.model_extra["orchestrator"]
    run = Run.objects.get(pk=extra["run_id"])
    assert (run.status, str(run.thread_id), extra["tool_calls"]) == ("completed", extra["thread_id"], [])
    assert run.usage["total_tokens"] == completion.usage.total_tokens
    thread = Thread.objects.get(pk=extra["thread_id"])
    assert (thread.owner, thread.user_id) == (user, "end-user-7")
    # The whole conversation is the run's context: the client's system prompt, then every turn.
    sent = fake_openai.chat_requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You answer geography questions in one sentence."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "user", "content": "And of France?"},
    ]
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 50)
    # ... and it is an ordinary thread, visible through the REST API.
    stored = list(Message.objects.filter(thread=thread).order_by("created_at").values_list("role", "content"))
    assert stored == [
        ("user", "Capital of Italy?"),
        ("assistant", "Rome."),
        ("user", "And of France?"),
        ("assistant", ANSWER),
    ]


def test_streamed_chunks_concatenate_to_the_stored_answer(client, llm, fake_openai):
    fake_openai.script(text(ANSWER, chunks=8, chunk_delay=0.1))

    stream = client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "Tell me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, status_at_first_content = [], None
    for chunk in stream:
        chunks.append(chunk)
        if status_at_first_content is None and chunk.choices and chunk.choices[0].delta.content:
            status_at_first_content = Run.objects.get(pk=UUID(chunk.id.removeprefix("chatcmpl-"))).status

    # Chunks are flushed as the run produces them, not when it ends.
    assert status_at_first_content == "in_progress"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    assert final.choices[0].finish_reason == "stop"
    run_id = final.model_extra["orchestrator"]["run_id"]
    assert streamed == Message.objects.get(run_id=run_id, role="assistant").content == ANSWER
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == len(ANSWER.split())
    assert Run.objects.get(pk=run_id).usage["total_tokens"] == usage_chunk.usage.total_tokens
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage_chunk(client, llm, fake_openai):
    fake_openai.script(text("Short."))

    chunks = list(
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )

    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_functions_the_orchestrator_ran_are_reported_apart_from_tool_calls(
    client, llm, fake_openai, crm, fake_datasource
):
    fake_openai.script(
        tool_call("datasource__crm", {"query": "customers"}),
        text("Ada and Grace are on the pro plan."),
    )

    completion = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "Who pays for pro?"}]
    )

    message = completion.choices[0].message
    assert message.content == "Ada and Grace are on the pro plan."
    assert message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    [call] = completion.model_extra["orchestrator"]["tool_calls"]
    assert (call["name"], call["arguments"], call["ok"]) == ("datasource__crm", {"query": "customers"}, True)
    assert [row[1] for row in call["output"]["rows"]] == ["Ada", "Linus", "Grace"]
    assert fake_datasource.requests[-1].json()["query"] == "customers"
    # The LLM saw the datasource's rows before answering.
    assert "Grace" in fake_openai.chat_requests[-1].body["messages"][-1]["content"]


def test_streamed_tool_run_reports_the_calls_on_the_final_chunk(client, llm, fake_openai, crm):
    fake_openai.script(tool_call("datasource__crm", {"query": "customers"}), text("Three customers."))

    chunks = list(
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "How many?"}], stream=True
        )
    )

    assert all(c.choices[0].delta.tool_calls is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Three customers."
    [call] = chunks[-1].model_extra["orchestrator"]["tool_calls"]
    assert (call["name"], call["ok"]) == ("datasource__crm", True)


def test_unknown_model_is_404_in_openais_shape(client, llm):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.code == "model_not_found"
    assert missing.value.body["param"] == "model"
    assert missing.value.body["type"] == "invalid_request_error"
    assert Thread.objects.count() == 0


def test_no_or_wrong_token_is_401_in_openais_shape(server, llm):
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.body["code"] == "invalid_api_key"
    assert set(refused.value.body) == {"message", "type", "code", "param"}

    for path in ("/v1/models", "/v1/chat/completions"):
        response = httpx.post(f"{server}{path}", json={}) if "chat" in path else httpx.get(f"{server}{path}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "authentication_error",
            "invalid_api_key",
            None,
        )


def test_client_side_tools_are_refused(client, llm, fake_openai):
    weather = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "Weather?"}], tools=[weather]
        )
    assert (refused.value.code, refused.value.body["param"]) == ("unsupported_parameter", "tools")
    assert Thread.objects.count() == 0
    assert fake_openai.chat_requests == []


@pytest.mark.parametrize(
    ("messages", "code", "param"),
    [
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ],
            "unsupported_content",
            "messages[0].content[1]",
        ),
        ([{"role": "assistant", "content": "Hello"}], "invalid_value", "messages"),
        ([], "invalid_value", "messages"),
        (
            [{"role": "tool", "content": "42", "tool_call_id": "c1"}],
            "unsupported_parameter",
            "messages[0].role",
        ),
    ],
)
def test_requests_a_run_cannot_take_are_400(client, llm, fake_openai, messages, code, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="fake", messages=messages)
    assert (refused.value.code, refused.value.body["param"]) == (code, param)
    assert Thread.objects.count() == 0


PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


def test_images_reach_a_model_that_takes_them_as_content_parts(client, llm, fake_openai):
    LLMConfig.objects.filter(pk=llm.pk).update(accepts_images=True)
    fake_openai.script(text("A single pixel, after a dog."))
    earlier_image = {"type": "image_url", "image_url": {"url": "https://images.example.com/dog.png"}}
    image = {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}

    completion = client.chat.completions.create(
        model="fake",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "What is this?"}, earlier_image]},
            {"role": "assistant", "content": "A dog."},
            {"role": "user", "content": [{"type": "text", "text": "And this?"}, image]},
        ],
    )

    assert completion.choices[0].message.content == "A single pixel, after a dog."
    sent = fake_openai.chat_requests[-1].body["messages"]
    assert sent[1:] == [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, earlier_image]},
        {"role": "assistant", "content": "A dog."},
        {"role": "user", "content": [{"type": "text", "text": "And this?"}, image]},
    ]
    thread = completion.model_extra["orchestrator"]["thread_id"]
    stored = Message.objects.filter(thread_id=thread).order_by("created_at")
    assert [(m.role, m.content, len(m.parts)) for m in stored] == [
        ("user", "What is this?", 2),
        ("assistant", "A dog.", 0),
        ("user", "And this?", 2),
        ("assistant", "A single pixel, after a dog.", 0),
    ]


def test_images_to_a_model_that_takes_none_are_400_at_the_image(client, llm, fake_openai):
    image = {"type": "image_url", "image_url": {"url": PIXEL}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="fake",
            messages=[
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]},
            ],
        )
    assert (refused.value.code, refused.value.body["param"]) == (
        "unsupported_content",
        "messages[2].content[1]",
    )
    assert "accepts_images" in refused.value.body["message"]
    assert Thread.objects.count() == 0
    assert fake_openai.chat_requests == []


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "messages[0].content[0]"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]},
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": PIXEL, "detail": "max"}}],
            },
            "messages[0].content[0].image_url.detail",
        ),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": PIXEL}}]},
            "messages[0].content[0]",
        ),
    ],
)
def test_parts_even_a_vision_model_cannot_take_are_400(client, llm, fake_openai, message, param):
    LLMConfig.objects.filter(pk=llm.pk).update(accepts_images=True)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="fake", messages=[message, {"role": "user", "content": "Hi"}])
    assert refused.value.body["param"] == param
    assert Thread.objects.count() == 0


def test_malformed_json_is_400_in_openais_shape(server, user_client, llm):
    response = httpx.post(
        f"{server}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {user_client.raw_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_failing_llm_is_503_and_the_run_is_recorded_failed(client, llm, fake_openai):
    fake_openai.script(error(500))
    with pytest.raises(openai.InternalServerError) as failure:
        client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "Hi"}])
    assert failure.value.status_code == 503
    assert failure.value.code == "llm_server_error"
    assert FAKE_LLM_API_KEY not in failure.value.response.text
    assert Run.objects.get().status == "failed"


def test_each_chunk_is_flushed_as_the_llm_produces_it(client, llm, fake_openai):
    # The fake LLM sends its first words, then stalls until the test lets it go.
    fake_openai.script(text("First half. Second half.", chunks=2, hang_after=1))

    stream = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "Go"}], stream=True
    )
    first = next(chunk for chunk in stream if chunk.choices and chunk.choices[0].delta.content)

    # Read while the LLM is still holding back the rest: nothing was buffered.
    assert first.choices[0].delta.content == "First half. "
    assert Run.objects.get(pk=UUID(first.id.removeprefix("chatcmpl-"))).status == "in_progress"
    fake_openai.release()
    [*_, last] = list(stream)
    assert last.choices[0].finish_reason == "stop"
    run_id = last.model_extra["orchestrator"]["run_id"]
    assert Message.objects.get(run_id=run_id, role="assistant").content == "First half. "


def test_functions_that_need_approval_are_not_offered(client, llm, fake_openai, crm, payroll):
    fake_openai.script(text("Only the CRM here."))

    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "What can you read?"}])

    offered = [tool["function"]["name"] for tool in fake_openai.chat_requests[-1].body["tools"]]
    assert offered == ["datasource__crm"]
