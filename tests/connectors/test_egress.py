"""The egress guard: refused targets are named with the reason, and nothing is sent to them."""

import pytest

from orchestrator_studio.egress import EgressRefused
from orchestrator_studio.http import http_request
from registry.connectors.agents import agent_call, agent_probe
from tests.connectors import factories
from tests.fakes.scripted_reply import redirect_reply


async def test_cloud_metadata_address_is_refused():
    with pytest.raises(EgressRefused, match="cloud metadata"):
        await http_request("GET", "http://169.254.169.254/latest/meta-data/", timeout_seconds=2)


async def test_ipv6_link_local_address_is_refused():
    with pytest.raises(EgressRefused, match="link-local"):
        await http_request("GET", "http://[fe80::1]/", timeout_seconds=2)


async def test_redirect_to_metadata_address_is_refused_after_the_first_hop(fake_agent):
    fake_agent.script(redirect_reply("http://169.254.169.254/latest/meta-data/iam/"))
    with pytest.raises(EgressRefused, match=r"another origin \(http://169.254.169.254\)"):
        await http_request(
            "GET",
            f"{fake_agent.base_url}/go",
            timeout_seconds=2,
            headers={"Authorization": f"Bearer {fake_agent.token}"},
        )
    assert [r.path for r in fake_agent.requests] == ["/go"]


async def test_agent_redirecting_to_metadata_gives_clear_failure(fake_agent):
    fake_agent.script(redirect_reply("http://169.254.169.254/", status=307))
    result = await agent_call(
        factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token), {"task": "x"}
    )
    assert not result.ok
    assert "another origin (http://169.254.169.254)" in result.error
    assert [r.path for r in fake_agent.requests] == ["/execute"]


async def test_loopback_refused_when_private_networks_are_blocked(fake_agent, settings):
    settings.BLOCK_PRIVATE_NETWORKS = True
    result = await agent_probe(factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token))
    assert not result.ok
    assert "loopback" in result.error
    assert "BLOCK_PRIVATE_NETWORKS" in result.error
    assert fake_agent.requests == []


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://192.168.0.10/", "http://100.64.0.1/"])
async def test_private_addresses_refused_when_blocked(url, settings):
    settings.BLOCK_PRIVATE_NETWORKS = True
    with pytest.raises(EgressRefused, match="private address"):
        await http_request("GET", url, timeout_seconds=2)


async def test_private_addresses_reachable_by_default(fake_agent):
    result = await agent_probe(factories.agent(url=fake_agent.base_url, auth_token=fake_agent.token))
    assert result.ok
    assert len(fake_agent.requests) == 1


def test_agent_test_endpoint_reports_refusal_as_ok_false(staff_client):
    factories.agent(save=True, name="meta", url="http://169.254.169.254")
    response = staff_client.post("/api/agents/meta/test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert "cloud metadata" in body["error"]
    assert body["status_code"] is None
