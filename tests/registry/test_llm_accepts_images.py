"""`accepts_images` on an LLM config: over the API (a strict boolean, false by default) and through
`registry_export` / `registry_import`, so the OpenAI-compatible door knows which models take images."""

import io
import json

import pytest
from django.core.management import call_command

from registry.models import LLMConfig

pytestmark = pytest.mark.django_db


def test_the_api_sets_and_shows_it(staff_client):
    created = staff_client.post("/api/llm/configs/", {"name": "vision", "model": "gpt-4o"}, format="json")
    assert created.status_code == 201
    assert created.json()["accepts_images"] is False

    changed = staff_client.patch("/api/llm/configs/vision/", {"accepts_images": True}, format="json")
    assert (changed.status_code, changed.json()["accepts_images"]) == (200, True)
    refused = staff_client.patch("/api/llm/configs/vision/", {"accepts_images": 1}, format="json")
    assert refused.status_code == 400
    assert "accepts_images" in refused.json()["error"]["fields"]
    assert LLMConfig.objects.get(name="vision").accepts_images is True


def test_export_and_import_keep_it(tmp_path):
    LLMConfig.objects.create(name="vision", model="gpt-4o", accepts_images=True)
    path = tmp_path / "registry.json"
    call_command("registry_export", "--output", str(path), stdout=io.StringIO())
    exported = json.loads(path.read_text())
    [entry] = [e for e in exported["llm_configs"] if e["name"] == "vision"]
    assert entry["accepts_images"] is True

    LLMConfig.objects.filter(name="vision").update(accepts_images=False)
    call_command("registry_import", str(path), stdout=io.StringIO())
    assert LLMConfig.objects.get(name="vision").accepts_images is True
