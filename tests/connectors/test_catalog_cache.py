"""The catalogue keeps the registry rows between runs, and a registry change reaches the very next run."""

from asgiref.sync import async_to_sync

from registry.catalog import Catalog, catalog_build
from registry.models import Tool
from registry.services import registry_entry_delete, registry_entry_save
from tests.connectors import factories


def build() -> Catalog:
    return async_to_sync(catalog_build)()


def test_an_unchanged_registry_is_not_read_again(transactional_db, django_assert_num_queries):
    # Committed rows: inside a transaction (the plain `db` fixture) the catalogue always reads afresh.
    factories.agent(save=True, name="billing")
    assert set(build().functions) == {"agent__billing"}

    with django_assert_num_queries(0):
        again = build()

    assert set(again.functions) == {"agent__billing"}


def test_saving_or_deleting_through_the_service_shows_in_the_next_catalogue(db):
    agent = factories.agent(save=True, name="billing")
    assert set(build().functions) == {"agent__billing"}

    factories.tool(save=True, name="api")
    assert set(build().functions) == {"agent__billing", "tool__api"}

    registry_entry_save(instance=agent, data={"description": "Bills and refunds."})
    assert build().functions["agent__billing"].description == "Bills and refunds."

    registry_entry_save(instance=agent, data={"enabled": False})
    assert set(build().functions) == {"tool__api"}

    registry_entry_delete(instance=Tool.objects.get(name="api"))
    assert build().functions == {}
