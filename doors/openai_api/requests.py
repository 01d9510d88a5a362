"""Reading a Chat Completions request into what a run needs: the LLM config, the conversation before the
task, the task (the last user message), the system prompt and the sampling options. User messages may
carry image parts; whether the model takes them is the LLM config's `accepts_images` (see the view).

Parameters OpenAI clients commonly send and that do not change the answer's meaning (`top_p`, `seed`,
`presence_penalty`, ...) are accepted and left to the LLM config; ones this door cannot honour are refused
with `unsupported_parameter`: client-side `tools` (the orchestrator runs its own functions), `n` > 1.
"""

from dataclasses import dataclass, field
from typing import Any

from doors.openai_api.errors import OpenAIRequestError
from doors.services import EarlierMessage
from orchestrator_studio.errors import DomainError
from orchestrator_studio.json_limits import loads_bounded
from threads.engine.approval import OFFER_APPROVAL_FUNCTIONS
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
    task_parts: list[dict[str, Any]] | None = None
    # Where the request's image parts are (`messages[i].content[j]`), for a model that takes none.
    image_params: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    user: str | None = None

    def run_options(self) -> dict[str, Any]:
        """`run_start` options: a fresh thread holds the whole conversation, so memory is exactly it; the
        functions that need approval are left out."""
        parameters: dict[str, Any] = {}
        if self.system_prompt:
            parameters["system_prompt"] = self.system_prompt
        if self.temperature is not None:
            parameters["temperature"] = self.temperature
        if self.max_tokens is not None:
            parameters["max_tokens"] = self.max_tokens
        options: dict[str, Any] = {
            "llm_config": self.model,
            "use_tools": True,
            "use_memory": True,
            # Nobody is there to approve a call: such functions are not offered (API.md).
            OFFER_APPROVAL_FUNCTIONS: False,
        }
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


IMAGE_PART = "image_url"
IMAGE_DETAILS = ("auto", "low", "high")
IMAGE_URL_SCHEMES = ("https://", "http://", "data:image/")


@dataclass
class Content:
    """A message's text, and its parts when it has images (None otherwise)."""

    text: str
    parts: list[dict[str, Any]] | None = None
    image_params: list[str] = field(default_factory=list)


def _image_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    image = part.get("image_url")
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        raise _invalid("An image part needs 'image_url': {'url': ...}.", f"{param}.image_url")
    url = image["url"]
    if not url.startswith(IMAGE_URL_SCHEMES):
        raise _invalid(
            "An image's 'url' must be an http(s) URL or a data:image/... URL.", f"{param}.image_url.url"
        )
    detail = image.get("detail")
    if detail is not None and detail not in IMAGE_DETAILS:
        raise _invalid(f"'detail' must be one of {', '.join(IMAGE_DETAILS)}.", f"{param}.image_url.detail")
    return {"type": IMAGE_PART, "image_url": {"url": url} | ({"detail": detail} if detail else {})}


def _content_of(content: Any, param: str, *, images: bool) -> Content:
    """A message's content: a string, or a list of text parts and (where `images`) image parts. Other parts
    (audio, files) are refused: the orchestrator's LLM configs take text and, some of them, images."""
    if isinstance(content, str):
        return Content(text=content)
    if not isinstance(content, list):
        raise _invalid("Message content must be a string or a list of content parts.", param)
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    image_params: list[str] = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _invalid("Each content part must be an object with a 'type'.", part_param)
        if part["type"] == IMAGE_PART and images:
            parts.append(_image_part(part, part_param))
            image_params.append(part_param)
            continue
        if part["type"] != "text":
            allowed = "text and image_url parts" if images else "text parts"
            raise OpenAIRequestError(
                f"Content parts of type '{part['type']}' are not supported here: this message takes "
                f"{allowed}.",
                code="unsupported_content",
                param=part_param,
            )
        if not isinstance(part.get("text"), str):
            raise _invalid("A text part needs a 'text' string.", f"{part_param}.text")
        texts.append(part["text"])
        parts.append({"type": "text", "text": part["text"]})
    return Content(text="\n".join(texts), parts=parts if image_params else None, image_params=image_params)


def _conversation(messages: Any) -> tuple[str | None, list[EarlierMessage], EarlierMessage, list[str]]:
    """(system prompt from the leading system/developer messages, earlier messages, the task, the params of
    every image part). Only user messages may carry images."""
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list.", "messages")
    system: list[str] = []
    earlier: list[EarlierMessage] = []
    image_params: list[str] = []
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
        for name in ("tool_calls", "function_call"):
            if message.get(name) not in (None, []):
                raise _unsupported("Client-side tool calls are not supported.", f"{param}.{name}")
        raw = message.get("content")
        if raw is None and role == "assistant":
            content = Content(text="")
        else:
            content = _content_of(raw, f"{param}.content", images=role == "user")
        image_params += content.image_params
        if role in SYSTEM_ROLES and not earlier:
            system.append(content.text)
        elif role in SYSTEM_ROLES:
            earlier.append(EarlierMessage(role="system", content=content.text))
        else:
            earlier.append(EarlierMessage(role=role, content=content.text, parts=content.parts))
    if not earlier or earlier[-1].role != "user":
        raise _invalid("The last message must be the user's: it is what the assistant answers.", "messages")
    task = earlier.pop()
    last = f"messages[{len(messages) - 1}].content"
    if not task.content.strip() and not task.parts:
        raise _invalid("The last user message is empty.", last)
    if len(task.content) > MAX_TASK_CHARS:
        raise _invalid(f"The last user message is longer than {MAX_TASK_CHARS} characters.", last)
    prompt = "\n\n".join(text for text in system if text.strip()) or None
    return prompt, earlier, task, image_params


def _number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _invalid(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    )


def _max_tokens(data: dict[str, Any]) -> int | None:
    values = {}
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if not _whole(value) or value < 1:
            raise _invalid(f"'{name}' must be a positive integer.", name)
        values[name] = int(value)
    return next(iter(values.values()), None)


def _flag(data: dict[str, Any], name: str, *, param: str | None = None) -> bool:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise _invalid(f"'{name}' must be a boolean.", param or name)
    return bool(value)


def _refuse_unsupported(data: dict[str, Any]) -> None:
    for name in ("tools", "functions"):
        if data.get(name) not in (None, []):
            raise _unsupported(
                f"Client-side '{name}' are not supported: the orchestrator offers the LLM its own functions "
                "(tools, agents, datasources), runs them, and reports them under 'orchestrator.tool_calls'.",
                name,
            )
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise _unsupported("Only one choice per request ('n': 1) is supported.", "n")


def chat_completion_request(data: dict[str, Any]) -> ChatCompletionRequest:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' must be the name of an LLM config (see GET /v1/models).", "model")
    _refuse_unsupported(data)
    system_prompt, earlier, task, image_params = _conversation(data.get("messages"))
    stream = _flag(data, "stream")
    stream_options = data.get("stream_options")
    if stream_options is None:
        stream_options = {}
    if not isinstance(stream_options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    include_usage = _flag(stream_options, "include_usage", param="stream_options.include_usage")
    user = data.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > USER_ID_MAX_CHARS):
        raise _invalid(f"'user' must be a string of at most {USER_ID_MAX_CHARS} characters.", "user")
    return ChatCompletionRequest(
        model=model,
        task=task.content,
        task_parts=task.parts,
        image_params=image_params,
        earlier=earlier,
        system_prompt=system_prompt,
        stream=stream,
        include_usage=include_usage,
        temperature=_number(data, "temperature", 0, 2),
        max_tokens=_max_tokens(data),
        user=user or None,
    )
