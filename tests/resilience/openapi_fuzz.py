"""Run by test_openapi_fuzz.py inside a network namespace of its own (nothing but its own loopback): serves
the project on loopback and runs `schemathesis run --checks all` against its OpenAPI document with a staff
token (FUZZ_TOKEN), a fixed seed and a bounded number of examples; exits with schemathesis' status."""

import os
import subprocess
import sys
from pathlib import Path

import django

EXAMPLES_PER_OPERATION = 15
SEED = 20261201
CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from orchestrator_studio.asgi import application
    from tests.fakes.server import serve

    schemathesis = Path(sys.executable).with_name("schemathesis")
    with serve(application) as base_url:
        command = [
            str(schemathesis),
            "--config-file",
            str(CONFIG_FILE),
            "run",
            f"{base_url}/api/schema/?format=json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--header",
            f"Authorization: Bearer {os.environ['FUZZ_TOKEN']}",
            "--no-color",
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
