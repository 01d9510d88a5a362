# `make run` serves on the embedded defaults; `make test` is exactly what CI runs (see .ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run token sandbox serve test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# The first run writes .env (DEBUG, generated keys, the SQLite path): every manage.py command then works.
run: install sandbox
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py local_env
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py bootstrap_local --url http://$(HOST):$(PORT)/
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The code executor runs code only inside bubblewrap: install it when we may, else say what is missing.
sandbox:
	@command -v bwrap >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -qq bubblewrap >/dev/null; } \
	  || echo "make: bubblewrap (bwrap) is not installed, so code_executor tools refuse to run:" \
	    "install the 'bubblewrap' package." >&2

# make token USER=alice [STAFF=1]: prints a new API token for alice (made if missing; staff with STAFF=1).
token: install
	@test "$(origin USER)" = "command line" || { echo "usage: make token USER=alice [STAFF=1]" >&2; exit 2; }
	@$(BIN)/python manage.py issue_token "$(USER)" --create $(if $(filter 1 true yes,$(STAFF)),--staff)

# Production-style, the layout README.md recommends and `make bench` measures: one uvicorn worker per core,
# runs executed inline (set DATABASE_URL, REDIS_URL, SECRET_KEY, ...).
serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/uvicorn orchestrator_studio.asgi:application --host $(HOST) --port $(PORT) --workers $${WORKERS:-$$(nproc)} --loop uvloop --http httptools

# Style, types (mypy with the Django and DRF plugins) and the layer contracts (import-linter, see
# pyproject.toml), before any test runs.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# make bench [PIN=1] [ANCHOR=litellm] [BENCH_ARGS="--quick ..."]: see README.md, "Benchmarks".
# ANCHOR=litellm installs the LiteLLM proxy into bench/.litellm (its own virtualenv, git-ignored, never .venv);
# when that fails the bench says why and measures the rest.
LITELLM_VERSION := 1.108.7
LITELLM_VENV := bench/.litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

$(LITELLM_STAMP):
	rm -rf $(LITELLM_VENV) && mkdir -p $(LITELLM_VENV)
	( $(PYTHON) -m venv $(LITELLM_VENV) \
	  && $(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)' \
	  && touch $(LITELLM_STAMP) ) > $(LITELLM_VENV)/install.log 2>&1 \
	  || echo "make: installing litellm[proxy]==$(LITELLM_VERSION) failed; see $(LITELLM_VENV)/install.log" >&2

bench: install $(if $(filter litellm,$(ANCHOR)),$(LITELLM_STAMP))
	$(BIN)/python -m bench $(if $(filter 1 true yes,$(PIN)),--pin) $(if $(ANCHOR),--anchor $(ANCHOR)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
