"""Quotas: their CRUD (staff), and the limits checked when a run starts."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from governance.models import Quota
from governance.selectors import quota_for_user
from orchestrator_studio.models import AuditRecord
from tests.governance.factories import run_create
from threads.models import Run
from threads.quotas import (
    QuotaExceeded,
    periods,
    quota_check_start,
    quota_token_budget,
    quota_token_overrun,
)


def test_staff_manage_quotas_and_each_change_is_audited(staff_client, user):
    default = staff_client.post("/api/quotas/", {"user": None, "runs_per_minute": 10}, format="json")
    own = staff_client.post(
        "/api/quotas/", {"user": "alice", "tokens_per_day": 5000, "cost_usd_per_month": 12.5}, format="json"
    )
    changed = staff_client.patch(
        f"/api/quotas/{own.json()['id']}/", {"max_concurrent_runs": 2}, format="json"
    )
    listed = staff_client.get("/api/quotas/")
    deleted = staff_client.delete(f"/api/quotas/{default.json()['id']}/")

    assert default.status_code == 201
    assert default.json()["user"] is None
    assert own.status_code == 201
    assert changed.json() | {"created_at": None, "updated_at": None} == {
        "id": own.json()["id"],
        "user": "alice",
        "tokens_per_day": 5000,
        "cost_usd_per_month": 12.5,
        "runs_per_minute": None,
        "max_concurrent_runs": 2,
        "created_at": None,
        "updated_at": None,
    }
    assert listed.json()["count"] == 2
    assert deleted.status_code == 204
    records = list(AuditRecord.objects.filter(object_type="quota").order_by("id"))
    assert [(r.action, r.object_name, r.actor) for r in records] == [
        ("create", "default", "staff"),
        ("create", "alice", "staff"),
        ("update", "alice", "staff"),
        ("delete", "default", "staff"),
    ]
    assert records[2].changes == {"max_concurrent_runs": [None, 2]}


def test_quota_input_errors(staff_client, user_client, user):
    staff_client.post("/api/quotas/", {"user": None}, format="json")
    staff_client.post("/api/quotas/", {"user": "alice"}, format="json")

    second_default = staff_client.post("/api/quotas/", {"user": None, "runs_per_minute": 1}, format="json")
    second_own = staff_client.post("/api/quotas/", {"user": "alice"}, format="json")
    nobody = staff_client.post("/api/quotas/", {"user": "nobody"}, format="json")
    negative = staff_client.post("/api/quotas/", {"user": None, "runs_per_minute": -1}, format="json")
    not_staff = user_client.get("/api/quotas/")

    for response in (second_default, second_own, nobody):
        assert response.status_code == 400
        assert "user" in response.json()["error"]["fields"]
    assert negative.status_code == 400
    assert "runs_per_minute" in negative.json()["error"]["fields"]
    assert not_staff.status_code == 403
    assert Quota.objects.count() == 2


def _check(user) -> QuotaExceeded | None:
    try:
        with transaction.atomic():
            quota_check_start(user_id=user.pk)
    except QuotaExceeded as exc:
        return exc
    return None


def test_without_a_quota_nothing_is_limited(user):
    for _ in range(3):
        run_create(owner=user, status=Run.Status.IN_PROGRESS, prompt_tokens=10**9)

    assert _check(user) is None
    assert quota_token_budget(user_id=user.pk, quota=quota_for_user(user.pk)) is None


def test_the_default_quota_applies_to_users_without_their_own(user, other_user):
    Quota.objects.create(user=None, max_concurrent_runs=1)
    Quota.objects.create(user=other_user, max_concurrent_runs=5)
    run_create(owner=user, status=Run.Status.IN_PROGRESS)
    run_create(owner=other_user, status=Run.Status.IN_PROGRESS)

    refused = _check(user)

    assert refused is not None
    assert refused.details["limit"] == "max_concurrent_runs"
    assert refused.headers["Retry-After"] == "5"
    assert _check(other_user) is None


def test_runs_per_minute_resets_when_the_oldest_run_is_a_minute_old(user):
    Quota.objects.create(user=user, runs_per_minute=2)
    oldest = timezone.now() - timedelta(seconds=50)
    run_create(owner=user, created_at=oldest)
    run_create(owner=user, created_at=timezone.now() - timedelta(seconds=5))
    run_create(owner=user, created_at=timezone.now() - timedelta(seconds=90))  # outside the minute

    refused = _check(user)

    assert refused is not None
    assert refused.details["limit"] == "runs_per_minute"
    assert refused.details["limit_value"] == 2
    assert 1 <= refused.retry_after <= 10
    assert refused.details["resets_at"] == (oldest + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")


def test_tokens_per_day_count_today_only_and_reset_at_midnight(user):
    Quota.objects.create(user=user, tokens_per_day=1000)
    today = periods()
    run_create(owner=user, prompt_tokens=5000, created_at=today.day_start - timedelta(minutes=1))
    run_create(owner=user, prompt_tokens=600, completion_tokens=100)

    assert _check(user) is None
    assert quota_token_budget(user_id=user.pk, quota=quota_for_user(user.pk)) == 300

    run_create(owner=user, prompt_tokens=250, completion_tokens=50)
    refused = _check(user)

    assert refused is not None
    assert refused.details["limit"] == "tokens_per_day"
    assert refused.details["resets_at"] == today.next_day.isoformat().replace("+00:00", "Z")
    assert quota_token_budget(user_id=user.pk, quota=quota_for_user(user.pk)) == 0


def test_cost_per_month_counts_priced_runs_of_this_month(user):
    Quota.objects.create(user=user, cost_usd_per_month="1.00")
    month = periods()
    run_create(owner=user, cost_usd=50.0, created_at=month.month_start - timedelta(minutes=1))
    run_create(owner=user, cost_usd=0.6)
    run_create(owner=user, cost_usd=None, prompt_tokens=10**6)

    assert _check(user) is None

    run_create(owner=user, cost_usd=0.4)
    refused = _check(user)

    assert refused is not None
    assert refused.details["limit"] == "cost_usd_per_month"
    assert refused.details["resets_at"] == month.next_month.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("budget", "used", "over"), [(None, 10**9, False), (100, 100, False), (100, 101, True)]
)
def test_a_run_is_over_its_token_budget_only_past_it(budget, used, over):
    error = quota_token_overrun(budget=budget, used=used)

    assert (error is not None) == over
    if error is not None:
        assert error.as_run_error()["code"] == "quota_exceeded"
