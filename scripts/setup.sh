#!/usr/bin/env bash
# Create .venv and install the tracer into it (editable).
#   bash scripts/setup.sh           runtime only
#   bash scripts/setup.sh --test    plus test tools and the real nodes the tests start
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
EXTRAS=""
if [ "${1:-}" = "--test" ]; then
    EXTRAS="[test]"
    bash scripts/install_nodes.sh
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        echo "installing python3-venv (apt)..." >&2
        SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        "$PYTHON" -m venv .venv
    fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${EXTRAS}"
.venv/bin/python -c "import tracer, adapters, graph, jobs, cli" || { echo "installation failed" >&2; exit 1; }
