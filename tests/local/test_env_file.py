"""The `.env` that `make run` writes: the README's follow-up commands then work in a new shell, with nothing
but that file (no DEBUG, no keys in the environment)."""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

from orchestrator_studio.local_env import local_env_values, local_env_write

REPO = Path(django_settings.BASE_DIR)


def _fresh_shell(env_file: Path) -> dict[str, str]:
    """What a new terminal has: no DEBUG, SECRET_KEY, DATABASE_URL or keys; only the file's name."""
    return {"PATH": os.environ["PATH"], "HOME": str(env_file.parent), "ENV_FILE": str(env_file)}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def env_file(tmp_path, settings) -> Path:
    settings.BASE_DIR = tmp_path  # the database the file names is this test's own
    path = tmp_path / ".env"
    assert local_env_write(path=path, environ={})
    return path


def test_the_file_holds_the_defaults_make_run_uses(env_file, tmp_path):
    values = dict(
        line.split("=", 1) for line in env_file.read_text().splitlines() if not line.startswith("#")
    )

    assert values["DEBUG"] == "true"
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert len(values["SECRET_KEY"]) >= 50
    Fernet(values["FIELD_ENCRYPTION_KEYS"].encode())  # one valid key
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_an_existing_file_is_never_overwritten(env_file):
    before = env_file.read_text()

    assert not local_env_write(path=env_file, environ={})

    assert env_file.read_text() == before


def test_variables_set_in_the_environment_are_left_out(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    values = local_env_values(
        environ={"SECRET_KEY": "mine", "DATABASE_URL": "postgresql://db/x", "DEBUG": "true"},
        database_exists=False,
    )

    assert set(values) == {"DEBUG", "FIELD_ENCRYPTION_KEYS"}
    assert "mine" not in str(values)


def test_secrets_stored_before_the_file_stay_readable(settings, tmp_path):
    """A database used before `.env` existed has secrets under the key derived from the default SECRET_KEY."""
    settings.BASE_DIR = tmp_path
    from orchestrator_studio.local_env import development_key

    keys = local_env_values(environ={}, database_exists=True)["FIELD_ENCRYPTION_KEYS"].split(",")

    assert keys[1] == development_key(django_settings.DEVELOPMENT_SECRET_KEY)


def test_readme_follow_up_commands_work_in_a_new_shell(env_file, tmp_path):
    shell = _fresh_shell(env_file)
    python = [sys.executable, "manage.py"]

    migrated = _run([*python, "migrate", "--noinput"], shell)
    assert migrated.returncode == 0, migrated.stderr
    issued = _run([*python, "issue_token", "bob", "--create"], shell)
    assert issued.returncode == 0, issued.stderr
    assert re.fullmatch(r"os_[\w-]+", issued.stdout.strip())
    made = _run(["make", "-s", "token", "USER=alice", "STAFF=1"], shell)
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"os_[\w-]+", made.stdout.strip())  # the token and nothing else: TOKEN=$(make ...)

    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        users = dict(database.execute("SELECT username, is_staff FROM auth_user").fetchall())
    assert users == {"bob": 0, "alice": 1}


def test_make_token_without_a_user_says_how(env_file):
    result = _run(["make", "-s", "token"], _fresh_shell(env_file))

    assert result.returncode != 0
    assert "usage: make token USER=alice [STAFF=1]" in result.stderr
