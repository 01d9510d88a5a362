"""An anchor in the same run (`--anchor litellm`): the LiteLLM proxy in front of the same instant fake LLM,
measured the way our round trip and first token are, so the table can state the ratio.

LiteLLM lives in a virtualenv of its own, `bench/.litellm` (made by `make bench ANCHOR=litellm`, never the
project's `.venv`). It is started as `litellm --config` with one model and no database, on the servers'
CPUs when pinned. Anything that keeps it from running becomes the reason printed in the table.
"""

import json
import os
import subprocess
from typing import Any

import openai

from bench.scenarios import paired, sdk_completion, sdk_first_token
from bench.services import ROOT, Stack, free_port, wait_ready

LITELLM_VENV = ROOT / "bench" / ".litellm"
LITELLM_BIN = LITELLM_VENV / "bin" / "litellm"
INSTALL_LOG = LITELLM_VENV / "install.log"
STARTUP_TIMEOUT_SECONDS = 180
# Only what a process needs to run: the project's DATABASE_URL would make the proxy reach for Postgres.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")


class AnchorUnavailable(Exception):
    """Why the anchor could not be measured (printed in the table; the benchmark goes on)."""


def litellm_version() -> str:
    stamps = sorted(LITELLM_VENV.glob(".installed-*"))
    return stamps[-1].name.removeprefix(".installed-") if stamps else "?"


def litellm_start(stack: Stack, *, llm_url: str, model: str, master_key: str) -> tuple[str, subprocess.Popen]:
    """Start the LiteLLM proxy in front of `llm_url`, requests authenticated by `master_key`; its base URL
    (ending in /v1) and process."""
    if not LITELLM_BIN.exists():
        reason = "not installed: `make bench ANCHOR=litellm` installs it into bench/.litellm"
        if INSTALL_LOG.exists():
            lines = INSTALL_LOG.read_text(errors="replace").splitlines()
            errors = [line for line in lines if line.startswith("ERROR")] or ["see the log"]
            reason = f"installing it failed ({INSTALL_LOG.relative_to(ROOT)}): {errors[-1][:200]}"
        raise AnchorUnavailable(reason)
    config = stack.log_dir / "litellm-config.yaml"
    # JSON is YAML: one model, the fake's URL, nothing else.
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": model,
                        "litellm_params": {
                            "model": f"openai/{model}",
                            "api_base": llm_url,
                            "api_key": "sk-bench",
                        },
                    }
                ],
                "litellm_settings": {"telemetry": False, "drop_params": True},
            },
            indent=2,
        )
    )
    port = free_port()
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
    env |= {
        # It refuses to start without a key; requests then carry it, as ours carry an API token.
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    process = stack.start(
        "litellm",
        ["--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env,
        measured=True,
        program=str(LITELLM_BIN),
        inherit_env=False,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(
            f"{base_url}/health/liveliness", process, "litellm", stack.log_dir, STARTUP_TIMEOUT_SECONDS
        )
    except RuntimeError as exc:
        stack.stop(process)
        raise AnchorUnavailable(f"did not start: {exc}") from exc
    return f"{base_url}/v1", process


async def litellm_measure(
    llm: openai.AsyncOpenAI, proxy_url: str, *, master_key: str, model: str, samples: int, warmup: int
) -> dict[str, Any]:
    """Added round trip and first token of the proxy, each against direct SDK calls to the same fake."""
    async with openai.AsyncOpenAI(base_url=proxy_url, api_key=master_key, max_retries=0) as proxy:
        round_trip = await paired(
            sdk_completion(llm, model),
            sdk_completion(proxy, model),
            name="anchor round trip",
            samples=samples,
            warmup=warmup,
        )
        first_token = await paired(
            sdk_first_token(llm, model),
            sdk_first_token(proxy, model),
            name="anchor first token",
            samples=samples,
            warmup=warmup,
        )
    return {
        "name": f"LiteLLM proxy {litellm_version()}",
        "round_trip": round_trip,
        "first_token": first_token,
    }
