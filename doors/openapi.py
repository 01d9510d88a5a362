"""The doors in the OpenAPI document (/docs): the OpenAI-compatible paths and the A2A card and JSON-RPC
endpoint as operations, and what `/mcp` is in the document's description (MCP's transport is a protocol of
its own, not a set of operations). None of them is a DRF view (plain async views, the SDKs' ASGI apps), so
a postprocessing hook (`SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`) adds them, written as the JSON Schema
they are: the wire formats are OpenAI's and A2A's, not serializers of ours."""

from typing import Any

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# --- OpenAI-compatible ----------------------------------------------------------------------------------

OPENAI_ERROR = {
    "type": "object",
    "description": "OpenAI's error shape (the API's envelope plus `type` and `param`).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code", "param"],
            "properties": {
                "message": {"type": "string"},
                "type": {
                    "type": "string",
                    "description": "invalid_request_error, authentication_error, permission_error, "
                    "rate_limit_error or server_error.",
                },
                "code": NULLABLE_STRING,
                "param": {**NULLABLE_STRING, "description": "The request parameter at fault, if one is."},
            },
        }
    },
}


def _openai_error(description: str) -> dict[str, Any]:
    return _json(_ref("OpenAIError"), description)


OPENAI_AUTH_ERRORS = {
    "401": _openai_error("Missing or invalid API token (`invalid_api_key`)."),
    "429": _openai_error(
        "Too many invalid tokens from this address, or a run over its quota (`Retry-After`)."
    ),
    "503": _openai_error("The database, the cache, the LLM or a run worker is unavailable."),
}
MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string", "description": "An enabled LLM config's name."},
        "object": {"const": "model"},
        "created": {"type": "integer", "description": "Unix seconds."},
        "owned_by": {"const": "orchestrator-studio"},
    },
}
MODEL_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("OpenAIModel")}},
}
EMPTY_LIST = {
    "type": ["array", "null"],
    "maxItems": 0,
    "description": "Not supported: the orchestrator runs its own functions (400 `unsupported_parameter`).",
}
TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
}
IMAGE_PART = {
    "type": "object",
    "description": "Taken when the model's LLM config has `accepts_images`; otherwise 400 "
    "`unsupported_content` with `param` naming the part.",
    "required": ["type", "image_url"],
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^(https?://|data:image/)"},
                "detail": {"enum": ["auto", "low", "high", None]},
            },
        },
    },
}


def _message(roles: list[str], content: dict[str, Any], *, content_required: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["role", "content"] if content_required else ["role"],
        "properties": {
            "role": {"enum": roles},
            "content": content,
            "tool_calls": EMPTY_LIST,
            "function_call": {"type": "null", "description": "Not supported."},
        },
    }


TEXT_CONTENT = {"oneOf": [{"type": "string"}, {"type": "array", "items": _ref("ChatTextPart")}]}
CHAT_MESSAGE = {
    "oneOf": [
        _message(["system", "developer"], TEXT_CONTENT),
        _message(
            ["user"],
            {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"oneOf": [_ref("ChatTextPart"), _ref("ChatImagePart")]}},
                ]
            },
        ),
        _message(
            ["assistant"],
            {
                "oneOf": [
                    {"type": "string"},
                    {"type": "null"},
                    {"type": "array", "items": _ref("ChatTextPart")},
                ]
            },
            content_required=False,
        ),
    ],
}
CHAT_REQUEST = {
    "type": "object",
    "description": "The Chat Completions request. Other OpenAI parameters (`top_p`, `seed`, ...) are "
    "accepted and left to the LLM config. The last message must be the user's (it is the run's task, "
    "at most 100000 characters); leading system/developer messages replace the default system prompt.",
    "required": ["model", "messages"],
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "An enabled LLM config's name (404 otherwise).",
        },
        "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {
            "type": ["object", "null"],
            "properties": {"include_usage": {"type": ["boolean", "null"]}},
        },
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
        "user": {
            "type": ["string", "null"],
            "maxLength": 200,
            "description": "Stored as the thread's user_id.",
        },
        "n": {"enum": [1, None], "description": "One choice per request."},
        "tools": EMPTY_LIST,
        "functions": EMPTY_LIST,
    },
}
ORCHESTRATOR = {
    "type": "object",
    "description": "What the orchestrator did: its thread and run, and the functions it ran (never returned "
    "as `tool_calls`, which a client would run again).",
    "required": ["thread_id", "run_id", "status", "tool_calls"],
    "properties": {
        "thread_id": {"type": "string", "format": "uuid"},
        "run_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string"},
        "tool_calls": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "arguments", "ok", "output"],
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "arguments": {},
                    "ok": {"type": ["boolean", "null"]},
                    "output": {},
                    "error": {"type": "string"},
                },
            },
        },
    },
}
USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {
        name: {"type": "integer"} for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    },
}


def _completion_head(object: str, id_description: str | None = None) -> dict[str, Any]:
    """The first properties of a completion and of each chunk of a streamed one."""
    id_schema: dict[str, Any] = {"type": "string"}
    if id_description:
        id_schema["description"] = id_description
    return {
        "id": id_schema,
        "object": {"const": object},
        "created": {"type": "integer"},
        "model": {"type": "string"},
    }


def _choices(part: str, schema: dict[str, Any], finish_reason: dict[str, Any]) -> dict[str, Any]:
    """`choices`: each its `index`, the message (a completion's) or the delta (a chunk's) as `part`, and its
    `finish_reason`."""
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["index", part, "finish_reason"],
            "properties": {"index": {"type": "integer"}, part: schema, "finish_reason": finish_reason},
        },
    }


CHAT_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices", "usage", "orchestrator"],
    "properties": {
        **_completion_head("chat.completion", "`chatcmpl-` and the run's id."),
        "choices": _choices(
            "message",
            {
                "type": "object",
                "required": ["role", "content"],
                "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}},
            },
            {"enum": ["stop", "length"], "description": "`length` when the run hit its step limit."},
        ),
        "usage": _ref("ChatUsage"),
        "system_fingerprint": {"type": "null"},
        "orchestrator": _ref("OrchestratorRun"),
    },
}
CHAT_CHUNK = {
    "type": "object",
    "description": "One `data:` frame of a streamed completion. The first chunk's delta is the role; then a "
    "chunk per piece of the answer as the run produces it; a last chunk with `finish_reason` and "
    "`orchestrator`; with `stream_options.include_usage` a chunk with no choices and the `usage`; then "
    '`data: [DONE]`. A run that fails sends a frame `{"error": {...}, "orchestrator"}` instead, and no '
    "[DONE].",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        **_completion_head("chat.completion.chunk"),
        "choices": _choices(
            "delta",
            {"type": "object", "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}}},
            {"enum": ["stop", "length", None]},
        ),
        "usage": {"oneOf": [_ref("ChatUsage"), {"type": "null"}]},
        "orchestrator": _ref("OrchestratorRun"),
    },
}
CHUNK_FRAME = {
    "type": "object",
    "description": "A server-sent event: `data: <chunk JSON>` or `data: [DONE]`; `: ping` comments keep "
    "the connection open.",
    "required": ["data"],
    "properties": {
        "data": {
            "oneOf": [
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _ref("ChatCompletionChunk"),
                },
                {"const": "[DONE]"},
            ]
        }
    },
}
MODEL_ID = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "An LLM config's name.",
}


def _openai_paths() -> dict[str, Any]:
    tags = ["openai"]
    return {
        "/v1/models": {
            "get": {
                "operationId": "openai_models_list",
                "summary": "The models: the enabled LLM configs",
                "tags": tags,
                "security": BEARER,
                "responses": {
                    "200": _json(_ref("OpenAIModelList"), "The enabled LLM configs."),
                    **OPENAI_AUTH_ERRORS,
                },
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "operationId": "openai_models_retrieve",
                "summary": "One model (an enabled LLM config)",
                "tags": tags,
                "security": BEARER,
                "parameters": [MODEL_ID],
                "responses": {
                    "200": _json(_ref("OpenAIModel"), "The model."),
                    **OPENAI_AUTH_ERRORS,
                    "404": _openai_error("No enabled LLM config of that name (`model_not_found`)."),
                },
            }
        },
        "/v1/chat/completions": {
            "post": {
                "operationId": "openai_chat_completions",
                "summary": "Chat Completions: a full run of the orchestrator, as if it were a model",
                "description": "Any OpenAI SDK or chat client works with `base_url = <server>/v1` and an API "
                "token as its key. The request's `messages` are the run's whole context; the run offers the "
                "LLM every registered function that needs no approval and reports the calls under "
                "`orchestrator`. The request is stored as a thread of the token's user. With `stream: "
                "true` the answer is server-sent `chat.completion.chunk` frames, each sent as it is "
                "produced.",
                "tags": tags,
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "The completion (JSON), or with `stream: true` its chunks (SSE).",
                        "content": {
                            "application/json": {"schema": _ref("ChatCompletion")},
                            "text/event-stream": {"schema": CHUNK_FRAME},
                        },
                    },
                    "400": _openai_error(
                        "Invalid request: `param` names the part at fault (`invalid_value`, "
                        "`unsupported_parameter`, `unsupported_content`, `malformed_request`)."
                    ),
                    **OPENAI_AUTH_ERRORS,
                    "404": _openai_error("No enabled LLM config named `model` (`model_not_found`)."),
                    "413": _openai_error("The body is larger than MAX_REQUEST_BODY_BYTES."),
                    "415": _openai_error("The body is not JSON."),
                },
            }
        },
    }


# --- A2A and MCP ----------------------------------------------------------------------------------------

JSONRPC_REQUEST = {
    "type": "object",
    "description": "A JSON-RPC 2.0 request.",
    "required": ["jsonrpc", "method"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer", "null"]},
        "method": {"type": "string"},
        "params": {"type": "object"},
    },
}
JSONRPC_RESPONSE = {
    "type": "object",
    "description": "A JSON-RPC 2.0 response: `result`, or `error` `{code, message, data?}` (a request the "
    "server cannot take is answered so, with HTTP 200).",
    "required": ["jsonrpc"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer", "null"]},
        "result": {},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
AGENT_CARD = {
    "type": "object",
    "description": "An A2A v1.0 agent card (protobuf JSON names).",
    "required": ["name", "description", "version", "supportedInterfaces", "capabilities", "skills"],
    "properties": {
        "name": {"type": "string", "description": "ASSISTANT_NAME."},
        "description": {"type": "string", "description": "ASSISTANT_DESCRIPTION."},
        "version": {"type": "string"},
        "supportedInterfaces": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "`<server>/a2a`."},
                    "protocolBinding": {"const": "JSONRPC"},
                    "protocolVersion": {"const": "1.0"},
                },
            },
        },
        "capabilities": {"type": "object", "properties": {"streaming": {"const": True}}},
        "securitySchemes": {"type": "object"},
        "skills": {
            "type": "array",
            "description": "`ask`, and one per enabled agent, tool and datasource.",
            "items": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                },
            },
        },
    },
}


def _envelope(description: str) -> dict[str, Any]:
    return _json(ENVELOPE, description)


def _protocol_paths() -> dict[str, Any]:
    auth_errors = {
        "401": _envelope("Missing or invalid API token, answered before the body is read."),
        "429": _envelope("Too many invalid tokens from this address (`Retry-After`)."),
    }
    return {
        "/.well-known/agent-card.json": {
            "get": {
                "operationId": "a2a_agent_card",
                "summary": "The assistant's A2A agent card",
                "tags": ["a2a"],
                "security": [{}],
                "responses": {
                    "200": _json(_ref("A2AAgentCard"), "The card."),
                    "503": _envelope("The database or the cache (which the skills are read from) is down."),
                },
            }
        },
        "/a2a": {
            "post": {
                "operationId": "a2a_jsonrpc",
                "summary": "A2A v1.0 JSON-RPC: the orchestrator as an agent",
                "description": "Methods `SendMessage`, `SendStreamingMessage`, `GetTask`, `ListTasks`, "
                "`CancelTask`, `SubscribeToTask` (send the `A2A-Version: 1.0` header). A task is a run and a "
                "context is a thread. The streaming methods answer `text/event-stream`, each `data:` a "
                "JSON-RPC response carrying a task, status update or artifact update.",
                "tags": ["a2a"],
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("JsonRpcRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "The JSON-RPC response, or (streaming methods) its events.",
                        "content": {
                            "application/json": {"schema": _ref("JsonRpcResponse")},
                            "text/event-stream": {
                                "schema": {"type": "object", "properties": {"data": {"type": "string"}}}
                            },
                        },
                    },
                    "400": _envelope("An invalid Content-Length header."),
                    **auth_errors,
                    "413": _envelope("The body is larger than MAX_REQUEST_BODY_BYTES."),
                    "415": _envelope("The body is not `application/json`."),
                    "503": _envelope("The database or the cache is unavailable."),
                },
            }
        },
    }


MCP_DESCRIPTION = """

**MCP server** at `/mcp` (not an operation of this document: it is the Model Context Protocol, served by
the official `mcp` SDK). Streamable HTTP in stateless mode (any process answers any call; no session):
POST JSON-RPC messages with `Authorization: Bearer <API token>` and `Accept: application/json,
text/event-stream`. Tools: `ask` (`{"task", "thread_id"?, "llm_config"?}` → the run's answer as text and
`{"thread_id", "run_id", "status", "tool_calls"}` as structured content) for every user, and for staff
tokens every registry function that needs no approval, called through the same connectors and guards as
in a run. A missing or invalid token is 401 (the API's envelope) before the body is read; a body over
MAX_REQUEST_BODY_BYTES is 413; the database down is 503. Errors of the protocol itself are JSON-RPC error
objects."""


COMPONENTS = {
    "OpenAIError": OPENAI_ERROR,
    "OpenAIModel": MODEL,
    "OpenAIModelList": MODEL_LIST,
    "ChatTextPart": TEXT_PART,
    "ChatImagePart": IMAGE_PART,
    "ChatMessage": CHAT_MESSAGE,
    "ChatCompletionRequest": CHAT_REQUEST,
    "ChatUsage": USAGE,
    "OrchestratorRun": ORCHESTRATOR,
    "ChatCompletion": CHAT_COMPLETION,
    "ChatCompletionChunk": CHAT_CHUNK,
    "JsonRpcRequest": JSONRPC_REQUEST,
    "JsonRpcResponse": JSONRPC_RESPONSE,
    "A2AAgentCard": AGENT_CARD,
}


def add_door_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the doors' operations and their schemas."""
    result["paths"].update(_openai_paths())
    result["paths"].update(_protocol_paths())
    info = result.setdefault("info", {})
    info["description"] = info.get("description", "") + MCP_DESCRIPTION
    result["paths"] = dict(sorted(result["paths"].items()))
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return result
