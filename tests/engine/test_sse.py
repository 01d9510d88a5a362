"""The LLM stream's server-sent events, parsed from raw bytes however the network cuts them."""

import pytest

from threads.engine.llm import sse_data

STREAM = (
    b": a comment\r\n"
    b"event: ignored\r\n"
    b'data: {"a": 1}\r\n'
    b"\r\n"
    b'data: {"b":\n'
    b"data: 2}\n"
    b"\n"
    b"\n"
    b"id: 7\n"
    b'data:{"c": 3}\r'
    b"\r"
    b"data: [DONE]\n\n"
    b'data: {"after": "done"}\n\n'
)
EXPECTED = [b'{"a": 1}', b'{"b":\n2}', b'{"c": 3}']


async def parsed(pieces):
    async def raw():
        for piece in pieces:
            yield piece

    return [data async for data in sse_data(raw())]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
async def test_events_are_the_same_however_the_bytes_are_cut(size):
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert await parsed(pieces) == EXPECTED


async def test_an_event_the_stream_ends_without_its_blank_line_still_counts():
    assert await parsed([b'data: {"x": 1}\n\ndata: {"y": 2}']) == [b'{"x": 1}', b'{"y": 2}']
    assert await parsed([b'data: {"x": 1}\n\ndata: [DONE]']) == [b'{"x": 1}']
    assert await parsed([b": only a comment\n"]) == []
