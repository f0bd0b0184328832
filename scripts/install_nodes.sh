#!/usr/bin/env bash
# Install the real node software the tests run against (shared design notes §1):
#   - Litecoin Core (litecoind 0.21, Debian package) for the UTXO adapter, in -regtest;
#   - Foundry anvil (npm package, binary inside) for the Ethereum adapter.
# Idempotent: does nothing for what is already installed. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

ANVIL_VERSION="${ANVIL_VERSION:-1.7.1}"
# solc-js compiles fixtures/contracts/*.sol (only to re-create the committed bytecode; tests do not need it)
SOLC_VERSION="${SOLC_VERSION:-0.8.37}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v litecoind >/dev/null 2>&1; then
    echo "installing litecoind (apt)..." >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends litecoind >/dev/null
fi

ANVIL_BIN=".nodes/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [ ! -x "$ANVIL_BIN" ] && ! command -v anvil >/dev/null 2>&1; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "installing npm (apt)..." >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
    fi
    echo "installing anvil ${ANVIL_VERSION} (npm)..." >&2
    mkdir -p .nodes
    (cd .nodes && npm install --silent --no-audit --no-fund "@foundry-rs/anvil-linux-amd64@${ANVIL_VERSION}" >/dev/null)
fi

SOLCJS_BIN=".nodes/node_modules/.bin/solcjs"
if [ ! -x "$SOLCJS_BIN" ] && command -v npm >/dev/null 2>&1; then
    echo "installing solc-js ${SOLC_VERSION} (npm)..." >&2
    mkdir -p .nodes
    (cd .nodes && npm install --silent --no-audit --no-fund "solc@${SOLC_VERSION}" >/dev/null)
fi

# Real DeFi contracts (their published build artifacts: ABI + bytecode; nothing is compiled) for the
# conversion tests (issue 19): Uniswap V2 core + periphery and the canonical WETH9.
DEFI_PACKAGES=("@uniswap/v2-core@1.0.1" "@uniswap/v2-periphery@1.1.0-beta.0" "canonical-weth@1.4.0")
if [ ! -f ".nodes/node_modules/canonical-weth/package.json" ] && command -v npm >/dev/null 2>&1; then
    echo "installing DeFi contract artifacts (npm): ${DEFI_PACKAGES[*]}" >&2
    mkdir -p .nodes
    (cd .nodes && npm install --silent --no-audit --no-fund --ignore-scripts "${DEFI_PACKAGES[@]}" >/dev/null)
fi

# Across Protocol contracts (issue 19, bridges): the published build artifacts (ABI + bytecode, nothing is
# compiled) of the SpokePool, its ERC1967 proxy and WETH9 for the two-anvil deposit/fill test, and
# dist/broadcast/deployed-addresses.json, the source of the mainnet SpokePool addresses in tracer/bridges.py.
ACROSS_VERSION="${ACROSS_VERSION:-5.0.27}"
if [ ! -f ".nodes/node_modules/@across-protocol/contracts/package.json" ] && command -v npm >/dev/null 2>&1; then
    echo "installing Across contract artifacts (npm): @across-protocol/contracts@${ACROSS_VERSION}" >&2
    mkdir -p .nodes
    (cd .nodes && npm install --silent --no-audit --no-fund --ignore-scripts \
        "@across-protocol/contracts@${ACROSS_VERSION}" >/dev/null)
fi

echo "litecoind: $(command -v litecoind)" >&2
if [ -x "$ANVIL_BIN" ]; then echo "anvil: $ANVIL_BIN" >&2; else echo "anvil: $(command -v anvil)" >&2; fi
