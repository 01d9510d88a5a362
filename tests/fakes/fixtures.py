"""Pytest fixtures that start the fakes of this package (registered in tests/conftest.py)."""

import contextlib
import secrets

import pytest

from tests.fakes.a2a_agent import FakeA2AAgent
from tests.fakes.agent_server import FakeAgent
from tests.fakes.composio_server import FakeComposio
from tests.fakes.cubejs_server import FakeCubejs
from tests.fakes.datasource_server import FakeDatasource
from tests.fakes.mcp_server import FakeMcpServer
from tests.fakes.openai_server import FakeOpenAI, FakeOpenAIHost
from tests.fakes.redirect_server import CrossOriginRedirect
from tests.fakes.search_server import FakeSearch
from tests.fakes.server import serve


@pytest.fixture
def fake_composio(settings):
    """Composio's REST API on loopback; the settings point the real SDK at it with its API key."""
    fake = FakeComposio(api_key=f"cmp_test_{secrets.token_hex(12)}")
    with serve(fake) as base_url:
        fake.base_url = base_url
        settings.COMPOSIO_API_KEY = fake.api_key
        settings.COMPOSIO_BASE_URL = base_url
        yield fake
        fake.delay = 0


@pytest.fixture(scope="session")
def fake_openai_host():
    """One loopback server for the whole session; every test mounts fakes of its own on it."""
    host = FakeOpenAIHost()
    with serve(host) as root_url:
        host.root_url = root_url
        yield host


@pytest.fixture
def fake_openai(fake_openai_host):
    """An OpenAI-compatible API for this test only: `.base_url` (ends in /v1), `.script()`, `.requests`."""
    with fake_openai_host.mount(FakeOpenAI()) as fake:
        yield fake


@pytest.fixture
def make_fake_openai(fake_openai_host):
    """More OpenAI-compatible APIs in one test: `make_fake_openai(api_key="sk-x", models=["m"])`."""
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(fake_openai_host.mount(FakeOpenAI(**options)))


@pytest.fixture
def fake_agent():
    """An external agent on loopback with a Bearer token: `.base_url`, `.token`, `.script()`, `.requests`."""
    agent = FakeAgent(token=f"agent-token-{secrets.token_hex(12)}")
    with serve(agent) as base_url:
        agent.base_url = base_url
        yield agent


@pytest.fixture
def fake_search():
    """SearXNG, Tavily and Brave style search APIs on loopback: `.searxng_url`, `.tavily_url`,
    `.brave_url`, `.api_key`, `.script()`, `.requests`."""
    search = FakeSearch(api_key=f"search-key-{secrets.token_hex(12)}")
    with serve(search) as base_url:
        search.base_url = base_url
        yield search


@pytest.fixture
def fake_cubejs():
    """A Cube.js REST API on loopback: `.base_url`, `.token` (raw, as Cube.js expects it), `.mode`,
    `.continue_wait_polls`, `.requests`, `.queries`."""
    cube = FakeCubejs(token=f"cube-token-{secrets.token_hex(12)}")
    with serve(cube) as base_url:
        cube.base_url = base_url
        yield cube


@pytest.fixture
def fake_datasource():
    """An HTTP datasource (the seed's /query, /schema, /tables, /health) on loopback with a Bearer token:
    `.base_url`, `.token`, `.mode`, `.requests`."""
    datasource = FakeDatasource(token=f"ds-token-{secrets.token_hex(12)}")
    with serve(datasource) as base_url:
        datasource.base_url = base_url
        yield datasource


@pytest.fixture
def fake_mcp():
    """An MCP tool server (the official SDK's MCPServer) on loopback, requiring a Bearer token: `.url`
    (streamable HTTP), `.sse_url`, `.token`, `.add_tool()`, `.remove_tool()`, `.headers_seen`."""
    server = FakeMcpServer(token=f"mcp-token-{secrets.token_hex(12)}")
    with serve(server, lifespan="on") as base_url:
        server.base_url = base_url
        yield server


@pytest.fixture
def make_fake_a2a():
    """A2A agents (a2a-sdk's server routes) on loopback, each requiring its own Bearer token:
    `make_fake_a2a(streaming=False, legacy_card=True)` → `.base_url`, `.token`, `.cancelled`, `.started`,
    `.context_ids`, `.task_ids`."""
    with contextlib.ExitStack() as stack:

        def make(**options) -> FakeA2AAgent:
            agent = FakeA2AAgent(token=f"a2a-token-{secrets.token_hex(12)}", **options)
            agent.base_url = stack.enter_context(serve(agent, lifespan="on"))
            return agent

        yield make


@pytest.fixture
def fake_a2a(make_fake_a2a):
    """An A2A agent whose card says it streams."""
    return make_fake_a2a()


@pytest.fixture
def cross_origin_redirect():
    """A server redirecting every request to another origin (`.target`, which records what reaches it)."""
    redirect = CrossOriginRedirect()
    with serve(redirect.target) as target_url, serve(redirect) as url:
        redirect.target.url, redirect.url = target_url, url
        yield redirect
