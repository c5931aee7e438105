#!/usr/bin/env bash
# Every check that runs offline: lint, format, types, then the test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k gold`).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
export GX_ANALYTICS_ENABLED=false
export UV_PYTHON="${UV_PYTHON:-3.11}"
# The run command installs without the dev group (`uv run --no-dev`, or UV_NO_DEV=1); the checks
# need it, so this sync (exact: it adds what is missing) always includes it.
unset UV_NO_DEV

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on the machine the
# suite is measured on), every Python process would otherwise compile each module it imports
# from source, on every start (`import great_expectations` 11.6 s -> 4.3 s of CPU, an aws CLI
# call 1.5 s -> 0.6 s); an up-to-date environment is checked in about a second.
uv sync --frozen --compile-bytecode
echo "== ruff"; uv run --frozen ruff check .
uv run --frozen ruff format --check .
echo "== mypy"; uv run --frozen mypy
# Two workers: one runs every test on Spark, the other the rest meanwhile (tests/conftest.py).
echo "== pytest"; uv run --frozen pytest -n 2 "$@"
