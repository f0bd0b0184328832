# SPDX-License-Identifier: Apache-2.0
"""Benchmark: ``tracer watch`` following new blocks against the plain block-range ingest of the same blocks.

Starts a private ``litecoind -regtest -txindex``. Below the range: five suspect seeds each receive
0.5 LTC and split it in two (ten outputs a trace leaves ``held``), and an exchange deposit address is
tagged in the tag library. The range, about 1,000 blocks (printed): :func:`testing.regtest_workload.make_payments`
mines 998 blocks of payments (``--per-block`` each, default 5) after one block splitting its pool of
coins, then one block where the seeds receive again, two held outputs are spent and one of them
reaches the exchange (the alerts: seed_received, held_moved, exchange_reached).

Two fresh cases of one workspace get the blocks below the range (``ingest utxo``), the watched case
its seeds and a forward haircut trace; then, in the same process and over the same heights:

* **ingest**: :func:`jobs.ingest_runs.ingest_utxo` of the range into the first case (the pipeline
  ``tracer ingest utxo`` runs, with its audit bracket);
* **watch**: :func:`jobs.watch.watch_case` with ``once`` on the second case: the same ingest plus
  the watch's polls, the rules on every store load, the tag lookups, and each alert recorded in the
  audit log and appended (fsynced) to an alert file.

``ratio`` = watch seconds / ingest seconds; the target (issue 22) is at most 1.2. ``--repeat N``
measures N pairs (fresh cases each, the order alternating) and reports the median ratio.

    python benchmarks/watch.py --json           # 1,000 blocks of 5 payments (a few minutes, mostly setup)
    python benchmarks/watch.py --quick --json   # 200 blocks of 5 payments
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import print_result  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from jobs.ingest_runs import RangeRequest, ingest_utxo  # noqa: E402
from jobs.session import Session  # noqa: E402
from jobs.settings import load_settings  # noqa: E402
from jobs.watch import WatchRequest, watch_case  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402
from testing.devnodes import LitecoinRegtest  # noqa: E402
from testing.regtest_workload import fund_wallet, make_payments  # noqa: E402

CHAIN = "ltc-regtest"
TARGET = 1.2


def _cli(*args: str) -> Any:
    from cli.app import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"tracer {' '.join(args[:3])} failed: {result.output}")
    return result


def _spend(rpc: Any, inputs: list[tuple[str, int]], outputs: list[tuple[str, str]]) -> str:
    raw = rpc.call("createrawtransaction", [{"txid": t, "vout": v} for t, v in inputs],
                   [{a: Decimal(v)} for a, v in outputs])
    return str(rpc.call("sendrawtransaction", rpc.call("signrawtransactionwithwallet", raw)["hex"]))


def _vout(rpc: Any, txid: str, address: str) -> int:
    for out in rpc.call("getrawtransaction", txid, True)["vout"]:
        script = out["scriptPubKey"]
        if address in ([script["address"]] if "address" in script else script.get("addresses", [])):
            return int(out["n"])
    raise AssertionError(f"{address} not paid by {txid}")


def build_chain(node: LitecoinRegtest, blocks: int, per_block: int, tags_file: Path) -> dict[str, Any]:
    """The suspects' flow below the range, then the range (see the module docstring)."""
    with node.rpc() as rpc:
        rpc.call("createwallet", "bench")
        rpc.call("createwallet", "suspect")
    with node.rpc(wallet="bench", timeout=300) as bench, node.rpc(wallet="suspect") as suspect:
        fund_wallet(bench, 101, min_balance=50 * 10**8)
        mine_to = bench.call("getnewaddress")
        seeds = [str(suspect.call("getnewaddress", "", "bech32")) for _ in range(5)]
        funding = [(str(bench.call("sendtoaddress", s, Decimal("0.5"))), s) for s in seeds]
        bench.call("generatetoaddress", 1, mine_to)
        splits = []
        for txid, seed in funding:
            outs = [(str(suspect.call("getnewaddress", "", "bech32")), "0.3"),
                    (str(suspect.call("getnewaddress", "", "bech32")), "0.1999")]
            splits.append(_spend(suspect, [(txid, _vout(bench, txid, seed))], outs))
        exchange = str(bench.call("getnewaddress", "", "bech32"))
        tags_file.write_text(exchange + "\n")
        bench.call("generatetoaddress", 1, mine_to)
        prefix_top = int(bench.call("getblockcount"))
        # a block splitting the pool of coins, then one block per round of payments
        make_payments(bench, (blocks - 2) * per_block, per_block=per_block)
        for seed in seeds:
            bench.call("sendtoaddress", seed, Decimal("0.01"))
        _spend(suspect, [(splits[0], 0)], [(exchange, "0.2999")])
        _spend(suspect, [(splits[1], 1)], [(str(suspect.call("getnewaddress")), "0.1998")])
        bench.call("generatetoaddress", 1, mine_to)
        tip = int(bench.call("getblockcount"))
    return {"seeds": seeds, "prefix_top": prefix_top, "tip": tip}


def prepare(url: str, chain: dict[str, Any], index: int) -> tuple[str, str]:
    """Two fresh cases holding the blocks below the range; the watched one with seeds and a trace."""
    plain, watched = f"plain-{index}", f"watched-{index}"
    for name in (plain, watched):
        _cli("case", "create", name)
        _cli("ingest", "utxo", "--chain", CHAIN, "--node", url, "--from", "0", "--to", str(chain["prefix_top"]),
             "--case", name, "--json")
    for seed in chain["seeds"]:
        _cli("case", "seed", "add", watched, seed, "--chain", CHAIN)
    _cli("trace", watched, "--model", "haircut", "--json")
    return plain, watched


def measure(session: Session, url: str, chain: dict[str, Any], index: int, directory: Path) -> dict[str, Any]:
    plain, watched = prepare(url, chain, index)

    def ingest() -> tuple[float, int]:
        started = time.perf_counter()
        summary = ingest_utxo(session, RangeRequest(chain=CHAIN, from_height=chain["prefix_top"] + 1,
                                                    to_height=chain["tip"], node=url, case=plain))
        return time.perf_counter() - started, summary.transactions

    def watch() -> tuple[float, Any]:
        started = time.perf_counter()
        outcome = watch_case(session, WatchRequest(case=watched, chain=CHAIN, node=url, once=True,
                                                   alerts=directory / f"alerts-{index}.jsonl"), lambda _: None)
        return time.perf_counter() - started, outcome

    if index % 2:  # alternate the order, so neither side always runs on warmer caches
        (watch_s, outcome), (ingest_s, transactions) = watch(), ingest()
    else:
        (ingest_s, transactions), (watch_s, outcome) = ingest(), watch()
    if outcome.blocks_loaded != chain["tip"] - chain["prefix_top"]:
        raise AssertionError(f"the watch loaded {outcome.blocks_loaded} blocks")
    rules: dict[str, int] = {}
    for line in (directory / f"alerts-{index}.jsonl").read_text().splitlines():
        rule = json.loads(line)["rule"]
        rules[rule] = rules.get(rule, 0) + 1
    return {"ingest_seconds": round(ingest_s, 3), "watch_seconds": round(watch_s, 3),
            "ratio": round(watch_s / ingest_s, 3), "transactions": transactions,
            "ingest_tx_per_s": round(transactions / ingest_s), "watch_tx_per_s": round(transactions / watch_s),
            "alerts": outcome.alerts, "alerts_by_rule": rules}


def run(quick: bool, per_block: int, repeat: int) -> dict[str, Any]:
    blocks = 200 if quick else 1_000
    result: dict[str, Any] = {"quick": quick, "per_block": per_block, "target_ratio": TARGET}
    with tempfile.TemporaryDirectory(prefix="tracer-bench-watch-") as tmp:
        directory = Path(tmp)
        os.environ["TRACER_HOME"] = str(directory / "home")
        os.environ.setdefault("TRACER_ACTOR", "benchmark@localhost")
        node = LitecoinRegtest.start(directory / "litecoind")
        try:
            started = time.perf_counter()
            chain = build_chain(node, blocks, per_block, directory / "exchange.txt")
            _cli("tags", "import", str(directory / "exchange.txt"), "--format", "list", "--chain", CHAIN,
                 "--label", "Exchange Alpha", "--category", "exchange")
            result["setup_seconds"] = round(time.perf_counter() - started, 1)
            result.update(from_height=chain["prefix_top"] + 1, to_height=chain["tip"],
                          blocks=chain["tip"] - chain["prefix_top"])
            settings = load_settings()
            session = Session(settings, Workspace(settings.cases_dir), ["benchmark"])
            runs = [measure(session, node.url, chain, i, directory) for i in range(max(1, repeat))]
            result.update(sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2])
            if len(runs) > 1:
                result["runs"] = [{k: r[k] for k in ("ingest_seconds", "watch_seconds", "ratio")} for r in runs]
            result["within_target"] = result["ratio"] <= TARGET
        finally:
            node.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 blocks instead of 1,000")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--per-block", type=int, default=5, help="payments mined per block (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="measure this many pairs; report the median ratio")
    args = parser.parse_args()
    result = run(args.quick, args.per_block, args.repeat)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
