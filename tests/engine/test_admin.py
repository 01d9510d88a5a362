"""The admin shows threads, runs and their events read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from threads import services
from threads.models import Run, RunEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    admin = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    return client


def test_threads_runs_and_events_are_listed_and_shown_read_only(admin_client, llm, thread):
    run = services.run_create(thread=thread, task="show me in the admin", options={})

    for url in (
        "/admin/threads/thread/",
        f"/admin/threads/thread/{thread.id}/change/",
        "/admin/threads/run/",
        f"/admin/threads/run/{run.id}/change/",
        "/admin/threads/runevent/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    detail = admin_client.get(f"/admin/threads/run/{run.id}/change/").content.decode()
    assert "show me in the admin" in detail
    assert "run.created" in detail
    assert 'name="_save"' not in detail

    assert admin_client.get("/admin/threads/run/add/").status_code == 403
    admin_client.post(f"/admin/threads/run/{run.id}/change/", {"status": "completed"})
    assert Run.objects.get(pk=run.pk).status == "queued"
    assert RunEvent.objects.filter(run=run).count() == 1
