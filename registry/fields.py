"""Model fields whose value is encrypted in the database (see `registry.crypto`)."""

import json
from typing import Any

from django.db import models

from registry import crypto


class EncryptedTextField(models.TextField):
    """A string stored as a Fernet token. Empty means no secret."""

    _pyi_private_set_type: str
    _pyi_private_get_type: str

    is_secret = True  # the audit log writes a change of it as "changed" only

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        return crypto.decrypt(value) if value else ""

    def get_prep_value(self, value: Any) -> str:
        return crypto.encrypt(str(value)) if value else ""


class EncryptedJSONField(models.Field):
    """A JSON object stored as one Fernet token (in a text column)."""

    _pyi_private_set_type: dict[str, Any]
    _pyi_private_get_type: dict[str, Any]

    is_secret = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", dict)
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "TextField"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict[str, Any]:
        return json.loads(crypto.decrypt(value)) if value else {}

    def to_python(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        return json.loads(value) if value else {}

    def get_prep_value(self, value: Any) -> str:
        return crypto.encrypt(json.dumps(value, sort_keys=True)) if value else ""
