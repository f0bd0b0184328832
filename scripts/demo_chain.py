# SPDX-License-Identifier: Apache-2.0
"""Main-job helper: a private Litecoin regtest chain with known money flows, then the tracer
commands an investigator would run on it (ingest a block range, expand the seeds, look at the
graph, export it for Neo4j), each printed before it runs.

Usage: python scripts/demo_chain.py TRACER_EXE CASE WORKDIR
The node runs on 127.0.0.1 with a throw-away data directory under WORKDIR and is stopped at the end.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from adapters.bitcoin.regtest_workload import build_scenarios
from adapters.devnodes import LitecoinRegtest


def run(tracer: str, *args: str, secret: str | None = None) -> None:
    shown = " ".join(shlex.quote(a if secret is None else a.replace(secret, "***")) for a in args)
    print(f"\n$ tracer {shown}", flush=True)
    subprocess.run([tracer, *args], check=True)


def main() -> int:
    tracer, case, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    node = LitecoinRegtest.start(workdir / "litecoind")
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "miner")
        with node.rpc(wallet="miner") as wallet:
            scenarios = build_scenarios(wallet)
        suspect = scenarios.peel_chain[0].inputs[0].address
        assert suspect is not None
        tip = max(scenarios.block_heights)
        print(f"regtest chain ready: {tip + 1} blocks; the suspect wallet starts a 6-step peel chain", flush=True)
        run(tracer, "case", "seed", "add", case, suspect, "--chain", "ltc-regtest", "--label", "peel chain start",
            "--note", "demo: address that funded the peel chain")
        # the unit-wide chain store: every block of the range, from our own node (no third party)
        run(tracer, "ingest", "utxo", "--chain", "ltc-regtest", "--node", node.url, "--from", "0", "--to", str(tip),
            secret=node.password)
        chain_store = workdir / "graph.lbug"
        run(tracer, "ingest", "seeds", case, "--from-store", str(chain_store), "--hops", "2")
        run(tracer, "graph", "stats", case)
        run(tracer, "graph", "query", case,
            "MATCH (t:`Transaction`)-[o:HAS_OUTPUT]->(:Output)-[:LOCKED_TO]->(a:Address) WHERE a.address = $a "
            "RETURN t.txid AS txid, t.block_height AS block, o.value AS litoshi ORDER BY block",
            "--param", f"a={suspect}")
        run(tracer, "graph", "export", case, "--format", "neo4j-admin", "--out", str(workdir / "export-neo4j"))
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
