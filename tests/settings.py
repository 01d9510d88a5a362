"""Settings for the test suite: the project's settings with fixed test keys (never used elsewhere)."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "qM3nQn0C2oQ8bq2s0d3mU0mI7dYw8bq2C7qv3p6b9XU=,1VdWQ4o6hQz3QyqE6uY8C8jH2kq8L5m0x3b7dN2cV1s=",
)
# Importing the ASGI app must not import a developer's registry files into the test database.
os.environ["AGENTS_CONFIG_PATH"] = ""
os.environ["TOOLS_CONFIG_PATH"] = ""
os.environ["DATASOURCES_CONFIG_PATH"] = ""
# Nor may `migrate` make an LLM config from a developer's environment in the test database.
os.environ["OPENAI_API_KEY"] = ""
os.environ["OPENAI_BASE_URL"] = ""
# Recording a token's last use writes from a background thread outside the test's transaction; the tests
# of that feature turn it on (tests/core/test_tokens.py).
os.environ["TOKEN_LAST_USED_INTERVAL_SECONDS"] = "0"

from orchestrator_studio.settings import *  # noqa: F403
from orchestrator_studio.settings import BASE_DIR, DATABASES

# Users with passwords are made in most tests; the production hasher would cost ~0.4 s each.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads of one test (a real server, the run executor) share the test database, which an
    # in-memory SQLite database refuses ("table is locked"): use a file.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".local" / "test-db.sqlite3")}
    (BASE_DIR / ".local").mkdir(exist_ok=True)

# Many tests send wrong tokens on purpose from the test client's one address; the throttle's own tests
# lower the limit again (tests/governance/test_throttle.py).
TOKEN_AUTH_FAILURE_LIMIT = 100_000
