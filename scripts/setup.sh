#!/usr/bin/env bash
# Create .venv and install the tracer into it (editable).
#   bash scripts/setup.sh           runtime only
#   bash scripts/setup.sh --test    plus test tools and the real nodes the tests start
# Progress goes to stderr, one line per step and per package pip collects.
# Afterwards: `source .venv/bin/activate` (then `tracer --help`), or run .venv/bin/tracer.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
EXTRAS=""
step() { printf '==> %s\n' "$*" >&2; }
# pip's own lines are the progress (Collecting / Downloading / Installing ...); the ones that only
# say a requirement is already there are dropped, so a re-run stays short
pip_install() {
    .venv/bin/python -m pip install --progress-bar off "$@" 2>&1 \
        | { grep -v -E '^(Requirement already satisfied|  Using cached)' || true; } | sed -u 's/^/    /' >&2
}

SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# System packages: Graphviz draws the report's flow graph, Pango lays out its PDF (WeasyPrint),
# the tests also read the report in a real browser (Chromium) and its PDF with poppler's tools.
APT_PACKAGES=""
command -v dot >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES graphviz"
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || APT_PACKAGES="$APT_PACKAGES libpango-1.0-0 libpangoft2-1.0-0"
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || APT_PACKAGES="$APT_PACKAGES fonts-dejavu-core"
# libsodium: ristretto255 for private deconfliction (pysodium calls the system library)
ldconfig -p 2>/dev/null | grep -q 'libsodium.so.23' || APT_PACKAGES="$APT_PACKAGES libsodium23"
if [ "${1:-}" = "--test" ]; then
    command -v chromium >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES chromium"
    command -v pdftotext >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES poppler-utils"
    # Java for the Spark jobs' tests (PySpark runs Spark in a local JVM)
    command -v java >/dev/null 2>&1 || APT_PACKAGES="$APT_PACKAGES default-jre-headless"
fi
if [ -n "$APT_PACKAGES" ]; then
    step "installing system packages (apt):$APT_PACKAGES"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
    EXTRAS="[test]"
    step "installing the nodes the tests run against (litecoind, anvil)"
    bash scripts/install_nodes.sh
fi

if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $PYTHON"
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        step "installing python3-venv (apt)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        "$PYTHON" -m venv .venv
    fi
fi
step "upgrading pip"
pip_install --quiet --upgrade pip
step "installing tracer${EXTRAS} and its dependencies into .venv (first run: about a minute)"
pip_install -e ".${EXTRAS}"
.venv/bin/python -c "import tracer, adapters, graph, jobs, cli" || { echo "installation failed" >&2; exit 1; }
step "done: run 'source .venv/bin/activate' and then 'tracer --help' (or call .venv/bin/tracer directly)"
