"""What each user and model costs: prices of LLM configs, and the usage report."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from registry.models import LLMConfig
from registry.pricing import builtin_prices, llm_prices, usage_cost
from tests.governance.factories import run_create


@pytest.mark.parametrize(
    ("model", "prices"),
    [
        ("gpt-4o", (Decimal("2.5"), Decimal("10.0"))),
        ("gpt-4o-2024-08-06", (Decimal("2.5"), Decimal("10.0"))),
        ("openai/gpt-4o-mini", (Decimal("0.15"), Decimal("0.6"))),
        ("o3-mini", (Decimal("1.1"), Decimal("4.4"))),
        ("llama3.1:8b", None),
    ],
)
def test_the_builtin_table_prices_well_known_models_by_family(model, prices):
    assert builtin_prices(model) == prices


def test_a_config_price_wins_and_an_unknown_model_has_no_cost():
    priced = LLMConfig(name="a", model="gpt-4o", input_price_per_mtok=Decimal("1"))
    unpriced = LLMConfig(name="b", model="llama3.1:8b")
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000}

    assert usage_cost(priced, usage) == Decimal("6")  # 1 M x $1 + 0.5 M x $10 (the table's output price)
    assert llm_prices(priced).source == "config"
    assert usage_cost(unpriced, usage) is None
    assert usage_cost(priced, {**usage, "cached": True}) == 0


def test_llm_configs_show_their_prices_and_take_new_ones(staff_client):
    staff_client.post("/api/llm/configs/", {"name": "main", "model": "gpt-4o-mini"}, format="json")
    staff_client.post("/api/llm/configs/", {"name": "local", "model": "llama3.1"}, format="json")

    builtin = staff_client.get("/api/llm/configs/main/").json()
    unknown = staff_client.get("/api/llm/configs/local/").json()
    changed = staff_client.patch(
        "/api/llm/configs/local/",
        {"input_price_per_mtok": 0.2, "output_price_per_mtok": 0.4, "cache_ttl_seconds": 600},
        format="json",
    )
    negative = staff_client.patch("/api/llm/configs/local/", {"input_price_per_mtok": -1}, format="json")

    assert (builtin["input_price_per_mtok"], builtin["output_price_per_mtok"]) == (0.15, 0.6)
    assert builtin["price_source"] == "builtin"
    assert builtin["cache_ttl_seconds"] is None
    assert (unknown["input_price_per_mtok"], unknown["price_source"]) == (None, None)
    assert changed.status_code == 200
    body = changed.json()
    assert (body["input_price_per_mtok"], body["output_price_per_mtok"]) == (0.2, 0.4)
    assert (body["price_source"], body["cache_ttl_seconds"]) == ("config", 600)
    assert negative.status_code == 400
    assert "input_price_per_mtok" in negative.json()["error"]["fields"]


@pytest.fixture
def spending(user, other_user):
    day = datetime(2026, 11, 2, 10, tzinfo=UTC)
    run_create(
        owner=user, model="gpt-4o", prompt_tokens=100, completion_tokens=20, cost_usd=0.5, created_at=day
    )
    run_create(
        owner=user,
        model="llama3",
        prompt_tokens=40,
        completion_tokens=10,
        created_at=day + timedelta(days=1),
    )
    run_create(
        owner=other_user,
        model="gpt-4o",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.25,
        created_at=day + timedelta(days=1),
    )


def test_usage_grouped_by_user_model_and_day(staff_client, spending):
    window = {"from": "2026-11-01", "to": "2026-11-30"}

    by_user = staff_client.get("/api/usage", {"group_by": "user", **window}).json()
    by_model = staff_client.get("/api/usage", {"group_by": "model", **window}).json()
    by_day = staff_client.get("/api/usage", {"group_by": "day", **window}).json()

    assert by_user["rows"] == [
        {"key": "alice", "runs": 2, "prompt_tokens": 140, "completion_tokens": 30, "cost_usd": 0.5},
        {"key": "bob", "runs": 1, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.25},
    ]
    assert by_model["rows"] == [
        {"key": "gpt-4o", "runs": 2, "prompt_tokens": 110, "completion_tokens": 25, "cost_usd": 0.75},
        {"key": "llama3", "runs": 1, "prompt_tokens": 40, "completion_tokens": 10, "cost_usd": None},
    ]
    assert [(row["key"], row["runs"]) for row in by_day["rows"]] == [("2026-11-02", 1), ("2026-11-03", 2)]
    assert by_user["from"] == "2026-11-01T00:00:00Z"
    assert by_user["to"] == "2026-12-01T00:00:00Z"


def test_usage_window_and_its_errors(staff_client, spending):
    only_first_day = staff_client.get("/api/usage", {"from": "2026-11-02", "to": "2026-11-02"}).json()
    bad_group = staff_client.get("/api/usage", {"group_by": "colour"})
    bad_date = staff_client.get("/api/usage", {"from": "last week"})
    backwards = staff_client.get("/api/usage", {"from": "2026-11-05", "to": "2026-11-01"})

    assert [(row["key"], row["runs"]) for row in only_first_day["rows"]] == [("alice", 1)]
    assert bad_group.status_code == 400
    assert "group_by" in bad_group.json()["error"]["fields"]
    assert bad_date.status_code == 400
    assert "from" in bad_date.json()["error"]["fields"]
    assert backwards.status_code == 400


def test_a_user_sees_only_their_own_usage(user_client, spending):
    rows = user_client.get("/api/usage", {"group_by": "model", "from": "2026-11-01", "to": "2026-11-30"})

    assert rows.status_code == 200
    assert [(row["key"], row["runs"]) for row in rows.json()["rows"]] == [("gpt-4o", 1), ("llama3", 1)]
