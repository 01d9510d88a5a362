"""A websocket frame of deeply nested JSON gets an error frame, never a crashed consumer."""

import pytest

from tests.fakes.openai_server import text
from tests.threads_api.conftest import final_content, initiate, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_deeply_nested_frame_is_a_bad_frame_and_the_socket_stays_open(alice, llm, fake_openai):
    fake_openai.script(text("still here"))
    thread_id = await initiate(alice)
    socket = await open_socket(thread_id, alice.raw_token)
    try:
        await socket.communicator.send_to(text_data="[" * 10_000 + "]" * 10_000)
        assert (await socket.receive())["error"]["code"] == "bad_frame"
        await socket.send({"type": "message", "content": "Still there?", "use_memory": False})
        events = await socket.until_terminal()
    finally:
        await socket.disconnect()
    assert events[-1]["type"] == "run.completed"
    assert final_content(events) == "still here"
