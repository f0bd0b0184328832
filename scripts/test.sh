#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: install everything, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
