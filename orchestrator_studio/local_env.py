"""The `.env` that `make run` writes, so that every `manage.py` command of the checkout, in any new shell,
runs on the same settings as the server: `DEBUG`, a generated `SECRET_KEY` and `FIELD_ENCRYPTION_KEYS`,
and the SQLite database. Written once (never over an existing file), readable by its owner only.

A variable already set in the environment is left out: the environment wins over `.env` anyway, and its
value may be a secret of the user's.
"""

import base64
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings


def development_key(secret_key: str) -> str:
    """The Fernet key used with DEBUG and no FIELD_ENCRYPTION_KEYS: derived from SECRET_KEY."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode()


HEADER = """\
# Written by `make run` for local development on this checkout (git-ignored; never use it in production).
# Every manage.py command reads it. Delete it (and db.sqlite3) to start over; see .env.example for the rest.
"""


def local_env_values(*, environ: Mapping[str, str], database_exists: bool) -> dict[str, str]:
    values: dict[str, str] = {
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{Path(settings.BASE_DIR) / 'db.sqlite3'}",
    }
    keys = [Fernet.generate_key().decode()]
    if database_exists:
        # Secrets stored before this file existed were encrypted with the key derived from the old
        # SECRET_KEY: it stays second, for reading only (`manage.py rotate_secrets` re-encrypts them).
        keys.append(development_key(environ.get("SECRET_KEY") or settings.DEVELOPMENT_SECRET_KEY))
    values["FIELD_ENCRYPTION_KEYS"] = ",".join(keys)
    return {name: value for name, value in values.items() if name not in environ or name == "DEBUG"}


def local_env_write(*, path: Path, environ: Mapping[str, str] = os.environ) -> bool:
    """Writes `path` unless it exists; True when it did."""
    database_exists = (Path(settings.BASE_DIR) / "db.sqlite3").exists()
    values = local_env_values(environ=environ, database_exists=database_exists)
    body = HEADER + "".join(f"{name}={value}\n" for name, value in values.items())
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(body)
    return True
