"""Reading a Chat Completions request into what a run needs: the LLM config, the conversation before the
task, the task (the last user message), the system prompt and the sampling options.

Parameters OpenAI clients commonly send and that do not change the answer's meaning (`top_p`, `seed`,
`presence_penalty`, ...) are accepted and left to the LLM config; ones this door cannot honour are refused
with `unsupported_parameter`: client-side `tools` (the orchestrator runs its own functions), `n` > 1.
"""

from dataclasses import dataclass
from typing import Any

from doors.openai_api.errors import OpenAIRequestError
from doors.services import EarlierMessage
from orchestrator_studio.errors import DomainError
from orchestrator_studio.json_limits import loads_bounded
from threads.inputs import MAX_TASK_CHARS

SYSTEM_ROLES = ("system", "developer")
CONVERSATION_ROLES = ("user", "assistant")
USER_ID_MAX_CHARS = 200


@dataclass
class ChatCompletionRequest:
    model: str
    task: str
    earlier: list[EarlierMessage]
    system_prompt: str | None
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    user: str | None = None

    def run_options(self) -> dict[str, Any]:
        """`run_start` options: a fresh thread holds the whole conversation, so memory is exactly it."""
        parameters: dict[str, Any] = {}
        if self.system_prompt:
            parameters["system_prompt"] = self.system_prompt
        if self.temperature is not None:
            parameters["temperature"] = self.temperature
        if self.max_tokens is not None:
            parameters["max_tokens"] = self.max_tokens
        options: dict[str, Any] = {"llm_config": self.model, "use_tools": True, "use_memory": True}
        if parameters:
            options["parameters"] = parameters
        return options


def request_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if content_type not in ("application/json", ""):
        raise OpenAIRequestError(
            f"Send JSON with 'Content-Type: application/json', not '{content_type}'.",
            code="unsupported_media_type",
            status_code=415,
        )
    try:
        data = loads_bounded(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise OpenAIRequestError(f"Malformed JSON: {exc}", code="malformed_request") from None
    if not isinstance(data, dict):
        raise OpenAIRequestError("The body must be a JSON object.", code="malformed_request")
    return data


def _invalid(message: str, param: str) -> DomainError:
    return OpenAIRequestError(message, code="invalid_value", param=param)


def _unsupported(message: str, param: str) -> DomainError:
    return OpenAIRequestError(message, code="unsupported_parameter", param=param)


def _text_of(content: Any, param: str) -> str:
    """A message's text: a string, or a list of text parts. Any other part (image, audio, file) is
    refused: a run's messages carry text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid("Message content must be a string or a list of content parts.", param)
    texts = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _invalid("Each content part must be an object with a 'type'.", part_param)
        if part["type"] != "text":
            raise OpenAIRequestError(
                f"Content parts of type '{part['type']}' are not supported: the orchestrator passes text "
                "to its LLM configs, so send the message as text.",
                code="unsupported_content",
                param=part_param,
            )
        if not isinstance(part.get("text"), str):
            raise _invalid("A text part needs a 'text' string.", f"{part_param}.text")
        texts.append(part["text"])
    return "\n".join(texts)


def _conversation(messages: Any) -> tuple[str | None, list[EarlierMessage], str]:
    """(system prompt from the leading system/developer messages, earlier messages, the task)."""
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list.", "messages")
    system: list[str] = []
    earlier: list[EarlierMessage] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid("Each message must be an object.", param)
        role = message.get("role")
        if role not in (*SYSTEM_ROLES, *CONVERSATION_ROLES):
            if role in ("tool", "function"):
                raise _unsupported(
                    "Messages of client-side tools are not supported: the orchestrator runs its own "
                    "functions and reports them under 'orchestrator.tool_calls'.",
                    f"{param}.role",
                )
            raise _invalid("'role' must be one of system, developer, user, assistant.", f"{param}.role")
        if message.get("tool_calls") or message.get("function_call"):
            raise _unsupported("Client-side tool calls are not supported.", f"{param}.tool_calls")
        content = message.get("content")
        text = "" if content is None and role == "assistant" else _text_of(content, f"{param}.content")
        if role in SYSTEM_ROLES and not earlier:
            system.append(text)
        elif role in SYSTEM_ROLES:
            earlier.append(EarlierMessage(role="system", content=text))
        else:
            earlier.append(EarlierMessage(role=role, content=text))
    if not earlier or earlier[-1].role != "user":
        raise _invalid("The last message must be the user's: it is what the assistant answers.", "messages")
    task = earlier.pop().content
    if not task.strip():
        raise _invalid("The last user message is empty.", f"messages[{len(messages) - 1}].content")
    if len(task) > MAX_TASK_CHARS:
        raise _invalid(
            f"The last user message is longer than {MAX_TASK_CHARS} characters.",
            f"messages[{len(messages) - 1}].content",
        )
    prompt = "\n\n".join(text for text in system if text.strip()) or None
    return prompt, earlier, task


def _number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _invalid(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _max_tokens(data: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _invalid(f"'{name}' must be a positive integer.", name)
        return value
    return None


def _refuse_unsupported(data: dict[str, Any]) -> None:
    for name in ("tools", "functions"):
        if data.get(name):
            raise _unsupported(
                f"Client-side '{name}' are not supported: the orchestrator offers the LLM its own functions "
                "(tools, agents, datasources), runs them, and reports them under 'orchestrator.tool_calls'.",
                name,
            )
    n = data.get("n")
    if n is not None and n != 1:
        raise _unsupported("Only one choice per request ('n': 1) is supported.", "n")


def chat_completion_request(data: dict[str, Any]) -> ChatCompletionRequest:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' must be the name of an LLM config (see GET /v1/models).", "model")
    _refuse_unsupported(data)
    system_prompt, earlier, task = _conversation(data.get("messages"))
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise _invalid("'stream' must be a boolean.", "stream")
    stream_options = data.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    user = data.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > USER_ID_MAX_CHARS):
        raise _invalid(f"'user' must be a string of at most {USER_ID_MAX_CHARS} characters.", "user")
    return ChatCompletionRequest(
        model=model,
        task=task,
        earlier=earlier,
        system_prompt=system_prompt,
        stream=stream,
        include_usage=bool(stream_options.get("include_usage")),
        temperature=_number(data, "temperature", 0, 2),
        max_tokens=_max_tokens(data),
        user=user or None,
    )
