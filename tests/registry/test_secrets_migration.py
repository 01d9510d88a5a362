"""Entries saved before issue 11 kept some secrets in plain text; the data migration moves them."""

import importlib

import pytest
from django.apps import apps

from registry.models import DataSource, Tool

migration = importlib.import_module("registry.migrations.0004_hidden_secrets_to_secret_fields")

pytestmark = pytest.mark.django_db


def test_plain_text_header_values_and_query_string_passwords_move_into_the_secret_fields():
    Tool.objects.create(
        name="crm",
        type="http",
        config={
            "base_url": "https://crm.example.com",
            "headers": {"X-Auth": "old-xauth-secret", "Accept": "a"},
        },
        secret_config={"headers.Authorization": "Bearer kept-secret"},
    )
    DataSource.objects.create(
        name="warehouse",
        type="postgres",
        url="postgresql://reader@db.example.com/dw?password=old-qs-pw&sslmode=require",
    )

    migration.move_hidden_secrets(apps, None)

    tool = Tool.objects.get(name="crm")
    assert tool.config == {"base_url": "https://crm.example.com", "headers": {}}
    assert tool.full_config["headers"] == {
        "X-Auth": "old-xauth-secret",
        "Accept": "a",
        "Authorization": "Bearer kept-secret",
    }
    datasource = DataSource.objects.get(name="warehouse")
    assert datasource.url == "postgresql://reader@db.example.com/dw?sslmode=require"
    assert datasource.url_password == "old-qs-pw"
    assert datasource.masked_url == "postgresql://reader:****@db.example.com/dw?sslmode=require"
