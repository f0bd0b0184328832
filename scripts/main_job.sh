#!/usr/bin/env bash
# The main job: an investigator opens a case, records validated seed addresses, pulls a real
# chain (a private Litecoin regtest node with known money flows, started here on 127.0.0.1)
# into the embedded graph store, expands the seeds two hops, looks at the graph and exports it
# for Neo4j. No server besides the throw-away node; workspace ./demo-home, recreated each run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_nodes.sh
bash scripts/setup.sh
export TRACER_HOME="$PWD/demo-home"
rm -rf "$TRACER_HOME"
T=.venv/bin/tracer

$T case create op-demo --description "Demo: proceeds of darknet drug sales (public example addresses)"
# Seeds are checked against their chain's checksum rules and normalized:
$T case seed add op-demo 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa --chain btc --label "genesis coinbase" \
    --note "public example address"
$T case seed add op-demo BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ --chain btc --label "vendor payout" \
    --note "upper-case bech32 is normalized to lower case"
$T case seed add op-demo 0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359 --chain eth --label "broker" \
    --note "lower-case hex is normalized to its EIP-55 checksum"
# A mistyped address is refused with exit code 2 and nothing is written:
if $T case seed add op-demo 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb --chain btc; then
    echo "a bad checksum was accepted" >&2; exit 1
fi
$T case show op-demo
$T case verify op-demo

# A real chain: ingest a block range from our own node, then the seeds' neighbourhood
.venv/bin/python scripts/demo_chain.py "$T" op-demo "$TRACER_HOME"
$T case verify op-demo
