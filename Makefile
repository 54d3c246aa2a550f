# Everything a fresh machine needs is installed by these targets: uv (from PyPI), the Python
# workspace (uv sync) and the devnet's npm packages (npm ci against the committed lock file).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --locked
PYTEST_ARGS ?=

.PHONY: install uv python node redis chromium lint format typecheck pytest test test-lowest demo bench devnet clean

install: python node redis chromium

# redis-server for the Redis state-store tests: installed with apt-get as root (or with sudo); without either
# the step is skipped and those tests skip, saying why.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; } || \
				echo "could not install redis-server: the Redis state tests will skip"; \
		elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then \
			sudo apt-get install -y -q redis-server >/dev/null 2>&1 || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q redis-server >/dev/null; } || \
				echo "could not install redis-server: the Redis state tests will skip"; \
		else echo "redis-server not installed (needs root or sudo): the Redis state tests will skip"; fi; }

# Chromium and its driver for the Web UI's browser tests (Debian's packages: nothing is downloaded at test time),
# installed like redis-server; without them those tests skip, saying why.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } || \
				echo "could not install chromium: the Web UI browser tests will skip"; \
		elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then \
			sudo apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q chromium chromium-driver >/dev/null; } || \
				echo "could not install chromium: the Web UI browser tests will skip"; \
		else echo "chromium not installed (needs root or sudo): the Web UI browser tests will skip"; fi; }

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet --disable-pip-version-check uv

# link-mode = "copy" (pyproject.toml [tool.uv]): nltk refuses hard-linked data files. A venv made before that
# setting still has llama-index-core's nltk data hard-linked from uv's cache: reinstall it as copies.
python: uv
	$(UV) sync --locked --all-packages
	@if [ -n "$$(find .venv -path '*/_static/nltk_cache/*' -type f -links +1 -print -quit 2>/dev/null)" ]; then \
		$(UV) sync --locked --all-packages --reinstall-package llama-index-core; fi

node: node_modules/.zerog-installed

node_modules/.zerog-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The sync resources are generated from the async ones (tools/gen_sync.py): lint checks, format regenerates.
# lint-imports checks the import rules in pyproject.toml [tool.importlinter].
lint: python
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) python tools/gen_sync.py --check
	$(RUN) python tools/sync_npm_lock.py --check
	$(RUN) lint-imports

format: python
	$(RUN) python tools/gen_sync.py
	$(RUN) python tools/sync_npm_lock.py
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: python
	$(RUN) mypy packages/core/src packages/devnet/src packages/langchain/src packages/llamaindex/src tools

# pytest exit code 5 means "no tests ran": treat it as the failure it is.
pytest: install
	$(RUN) pytest $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test: install lint typecheck pytest test-lowest

# The adapter suites (and the devnet they start) against the LOWEST versions the packages declare
# (`--resolution lowest-direct`: every direct requirement at its floor, so langchain-core and llama-index-core at
# the floors of the adapters' pyproject.toml), in their own virtualenv; the main .venv and uv.lock stay untouched.
# The langchain-tests standard suites are left out: langchain-tests needs a newer langchain-core than our floor.
LOWEST_VENV := .venv-lowest
LOWEST_TESTS := tests/llamaindex tests/langchain \
	--ignore=tests/langchain/test_standard_unit.py --ignore=tests/langchain/test_standard_integration.py
test-lowest: node
	UV_LINK_MODE=copy $(UV) venv -q --allow-existing $(LOWEST_VENV)
	UV_LINK_MODE=copy $(UV) pip install -q -p $(LOWEST_VENV) --resolution lowest-direct \
		-e packages/core[cli,proxy,redis] -e packages/langchain -e packages/llamaindex -e packages/devnet \
		langchain-core llama-index-core "langchain>=1.0" \
		"pytest>=8.3" "pytest-timeout>=2.3" "pytest-asyncio>=1.3" "hypothesis>=6.100"
	$(LOWEST_VENV)/bin/python tools/check_lowest.py
	$(LOWEST_VENV)/bin/python -m pytest -p no:cacheprovider -q $(LOWEST_TESTS)

demo: install
	$(RUN) python examples/demo.py

bench: install
	$(RUN) python bench/devnet_startup.py
	$(RUN) python bench/verify_throughput.py
	$(RUN) python bench/overhead.py
	$(RUN) python bench/state_overhead.py

devnet: install
	$(RUN) zerog-devnet up

clean:
	rm -rf .venv .venv-lowest node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
