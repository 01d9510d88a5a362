def test_root_links_to_docs_and_admin(anon_client):
    body = anon_client.get("/").json()
    assert body["name"] == "Orchestrator Studio"
    assert body["links"]["docs"].endswith("/docs")
