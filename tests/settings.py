"""Settings for the test suite: the project's settings with fixed test keys (never used elsewhere)."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "qM3nQn0C2oQ8bq2s0d3mU0mI7dYw8bq2C7qv3p6b9XU=,1VdWQ4o6hQz3QyqE6uY8C8jH2kq8L5m0x3b7dN2cV1s=",
)

from orchestrator_studio.settings import *  # noqa: F403
