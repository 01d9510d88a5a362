"""How registry lists are read: `<secret>_set` from the stored ciphertext (never decrypted for it), rows shown
through readers that give DRF's own JSON, and a page read with its count in one query."""

import io
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers as drf_serializers

from orchestrator_studio.representation import ReadersMixin
from registry import serializers
from registry.models import ExternalAgent, RegistryEntry
from registry.selectors import registry_entries_shown
from tests.registry import factories

pytestmark = pytest.mark.django_db

SECRET_CASES = [
    # (path, make the entry with its secret, the secret's field in a request, its flag)
    (
        "llm/configs",
        lambda: factories.llm_config_create(name="entry", api_key="sk-live-Aa11Bb22Cc33"),
        "api_key",
        "api_key_set",
    ),
    (
        "agents",
        lambda: factories.agent_create(name="entry", auth_token="agent-Dd44Ee55Ff66"),
        "auth_token",
        "auth_token_set",
    ),
    (
        "datasources",
        lambda: factories.datasource_create(name="entry", auth_token="cube-Gg77Hh88Ii99"),
        "auth_token",
        "auth_token_set",
    ),
]
SECRET_IDS = [case[0] for case in SECRET_CASES]


def _flag_everywhere(client: Any, path: str, flag: str) -> tuple[bool, bool]:
    """The flag as the list shows it and as the entry's own page shows it."""
    listed = client.get(f"/api/{path}/").json()["results"]
    shown = client.get(f"/api/{path}/entry/").json()
    return next(entry[flag] for entry in listed if entry["name"] == "entry"), shown[flag]


@pytest.mark.parametrize(("path", "make", "field", "flag"), SECRET_CASES, ids=SECRET_IDS)
def test_the_set_flag_follows_the_secret_through_set_clear_and_rotation(
    staff_client, settings, path, make, field, flag
):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    make()
    assert _flag_everywhere(staff_client, path, flag) == (True, True)

    assert staff_client.patch(f"/api/{path}/entry/", {field: None}, format="json").json()[flag] is False
    assert _flag_everywhere(staff_client, path, flag) == (False, False)

    assert staff_client.patch(f"/api/{path}/entry/", {field: "again-Jj00Kk11"}, format="json").json()[flag]
    assert _flag_everywhere(staff_client, path, flag) == (True, True)

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_secrets", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert _flag_everywhere(staff_client, path, flag) == (True, True)


def test_the_list_shows_a_dsn_password_as_its_mask(staff_client):
    factories.datasource_create(
        name="with-password", type="postgres", url="postgresql://reader:pw-Ll22Mm33@db.example.com/dw"
    )
    factories.datasource_create(name="without", type="postgres", url="postgresql://reader@db.example.com/dw")

    listed = staff_client.get("/api/datasources/").json()["results"]

    assert [entry["url"] for entry in listed] == [
        "postgresql://reader:****@db.example.com/dw",
        "postgresql://reader@db.example.com/dw",
    ]


def test_a_list_answers_from_the_ciphertext_even_when_no_key_can_read_a_secret(staff_client, settings):
    """The flag needs no key: listing agents works while a secret waits for its key to come back."""
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    factories.agent_create(name="entry", auth_token="agent-Nn44Oo55Pp66")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = staff_client.get("/api/agents/")

    assert response.status_code == 200
    assert response.json()["results"][0]["auth_token_set"] is True


def _entries() -> list[tuple[type[drf_serializers.ModelSerializer], RegistryEntry]]:
    """Entries with every kind of field: secrets, masked config, prices set and not, nulls, non-ASCII."""
    return [
        (
            serializers.LLMConfigSerializer,
            factories.llm_config_create(
                name="priced", api_key="sk-Qq66Rr77Ss88", input_price_per_mtok="1.25", description="Ünï ✓"
            ),
        ),
        (
            serializers.LLMConfigSerializer,
            factories.llm_config_create(name="bare", model="unknown-model", reasoning_effort="high"),
        ),
        (
            serializers.ExternalAgentSerializer,
            factories.agent_create(name="a2a", protocol="a2a", metadata={"team": {"n": [1, 2.5, None, "x"]}}),
        ),
        (serializers.ExternalAgentSerializer, factories.agent_create(name="http", auth_token="ag-Tt99Uu00")),
        (
            serializers.ToolSerializer,
            factories.tool_create(
                name="search",
                config={"provider": "brave", "endpoint": "https://s.example.com", "api_key": "s-Ww22Xx33"},
            ),
        ),
        (
            serializers.DataSourceSerializer,
            factories.datasource_create(
                name="pg",
                type="postgres",
                url="postgresql://r:pw-Yy44@db.example.com/dw",
                auth_token="t-Zz55Aa66Bb77",
                config={"max_rows": 10},
            ),
        ),
    ]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Asia/Kolkata"])
def test_the_readers_give_exactly_what_drf_gives(zone):
    entries = _entries()
    with timezone.override(zone):
        for serializer_class, instance in entries:
            for row in (instance, type(instance).objects.get(pk=instance.pk)):
                serializer = serializer_class()
                assert ReadersMixin.to_representation(serializer, row) == (
                    drf_serializers.Serializer.to_representation(serializer, row)
                )


PAGES = [
    # (query, names on the page, count, has a next page, has a previous page)
    ("?page_size=2", ["a0", "a1"], 5, True, False),
    ("?page_size=2&page=2", ["a2", "a3"], 5, True, True),
    ("?page_size=2&page=3", ["a4"], 5, False, True),
    ("?page_size=2&page=last", ["a4"], 5, False, True),
    ("?page_size=10&ordering=-name", ["a4", "a3", "a2", "a1", "a0"], 5, False, False),
    ("?enabled=false", [], 0, False, False),
]


@pytest.mark.parametrize(("query", "names", "count", "has_next", "has_previous"), PAGES)
def test_pages_and_counts(user_client, query, names, count, has_next, has_previous):
    for index in range(5):
        factories.agent_create(name=f"a{index}")

    body = user_client.get(f"/api/agents/{query}").json()

    assert [entry["name"] for entry in body["results"]] == names
    assert body["count"] == count
    assert bool(body["next"]) is has_next
    assert bool(body["previous"]) is has_previous


@pytest.mark.parametrize("page", ["4", "0", "x", "", "1152921504606846976"])
def test_a_page_that_does_not_exist_is_a_404_envelope(user_client, page):
    for index in range(5):
        factories.agent_create(name=f"a{index}")

    response = user_client.get(f"/api/agents/?page_size=2&page={page}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("agents", lambda i: factories.agent_create(name=f"a{i}")),
        ("tools", lambda i: factories.tool_create(name=f"t{i}")),
        ("llm/configs", lambda i: factories.llm_config_create(name=f"l{i}")),
        ("datasources", lambda i: factories.datasource_create(name=f"d{i}")),
    ],
)
def test_a_page_is_read_with_its_count_in_one_query(user_client, path: str, make: Callable[[int], Any]):
    for index in range(3):
        make(index)
    user_client.get(f"/api/{path}/")  # the token is cached from here on

    with CaptureQueriesContext(connection) as queries:
        body = user_client.get(f"/api/{path}/?page_size=2&page=2").json()

    assert body["count"] == 3
    assert len(body["results"]) == 1
    registry_queries = [q["sql"] for q in queries.captured_queries if "registry_" in q["sql"]]
    assert len(registry_queries) == 1, registry_queries


def _fields_built(monkeypatch) -> list[type]:
    built: list[type] = []
    original = drf_serializers.Serializer.fields.func

    def spy(serializer):
        built.append(type(serializer))
        return original(serializer)

    monkeypatch.setattr(drf_serializers.Serializer, "fields", cached_property(spy), raising=False)
    drf_serializers.Serializer.fields.__set_name__(drf_serializers.Serializer, "fields")
    return built


def test_a_list_builds_no_fields_when_the_plan_knows_every_value(monkeypatch):
    for index in range(3):
        factories.agent_create(name=f"a{index}", auth_token="tok" if index else "")
    agents = list(registry_entries_shown(ExternalAgent).order_by("name"))  # as a list reads them
    assert serializers.ExternalAgentSerializer(agents, many=True).data  # the class's plan is made here
    built = _fields_built(monkeypatch)

    data = serializers.ExternalAgentSerializer(agents, many=True).data

    assert built == []
    assert [row["auth_token_set"] for row in data] == [False, True, True]
    assert data == [
        drf_serializers.Serializer.to_representation(serializers.ExternalAgentSerializer(), a) for a in agents
    ]


def test_a_method_field_is_the_serializers_own_method_with_its_own_context():
    class Labelled(serializers.ExternalAgentSerializer):
        label = drf_serializers.SerializerMethodField()

        class Meta(serializers.ExternalAgentSerializer.Meta):
            fields = ["name", "label"]

        def get_label(self, obj):
            return f"{self.context['prefix']}:{obj.name}"

    agent = factories.agent_create(name="helper")
    first = Labelled([agent], many=True, context={"prefix": "one"}).data
    second = Labelled([agent], many=True, context={"prefix": "two"}).data

    assert first == [{"name": "helper", "label": "one:helper"}]
    assert second == [{"name": "helper", "label": "two:helper"}]


def test_a_value_the_plan_does_not_know_takes_drfs_path_with_the_serializers_fields(monkeypatch):
    agent = factories.agent_create(name="helper")
    assert serializers.ExternalAgentSerializer([agent], many=True).data  # the class's plan is made here
    built = _fields_built(monkeypatch)
    agent.created_at = timezone.make_naive(agent.created_at)  # not an aware datetime: DRF's own path

    row = serializers.ExternalAgentSerializer([agent], many=True).data[0]

    assert built == [serializers.ExternalAgentSerializer]
    assert row == drf_serializers.Serializer.to_representation(serializers.ExternalAgentSerializer(), agent)
