# SPDX-License-Identifier: Apache-2.0
"""Benchmark: UTXO block-range ingest (node -> canonical frames -> embedded store) against raw RPC.

Starts a private ``litecoind -regtest -txindex``, creates payment transactions with
:func:`testing.regtest_workload.make_payments` (1-3 inputs, 2 outputs, address reuse
over a key pool), then, in the same run and over the same block heights and batch size:

* **raw**: fetch the blocks over JSON-RPC and throw them away
  (:meth:`BitcoinNode.block_hashes` + :meth:`BitcoinNode.raw_blocks` per batch): the floor any
  RPC ingest pays;
* **ingest**: :func:`jobs.utxo_ingest.ingest_block_range` into a fresh
  :class:`~graph.embedded.EmbeddedStore`: the same fetch, plus mapping, previous-output
  resolution (batch, store, node) and ``store.load``, checkpointed per batch.

``ratio`` is ``ingest_tx_per_s / raw_tx_per_s`` (1.0 would mean ingest costs nothing beyond the
RPC). The raw fetch is timed right before and right after the ingest and averaged (other
processes may share the cores). ``breakdown`` gives ``map`` (:meth:`BitcoinNode.frames_of` in
the main thread: mapping and prevout resolution incl. the store lookup), ``load``
(:meth:`EmbeddedStore.load`, in the loader thread, overlapping the next fetches' mapping) and
``rest`` = total - map - load (waiting for the prefetch threads' RPC, reorg check, checkpoint
writes; negative when loads overlap mapping). A raw pass runs untimed first so the timed passes
read blocks the node already has in its caches. ``--repeat 3`` measures three times (fresh
store each) and reports the median ratio plus every run; ``--sweep 5,10,20,50`` repeats the
measurement for other batch sizes.

    python benchmarks/ingest_utxo.py --json           # 5,000 payments (a few minutes, mostly setup)
    python benchmarks/ingest_utxo.py --quick --json   # 500 payments (seconds)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Timer, print_result  # noqa: E402

from adapters.bitcoin.node import BitcoinNode  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from jobs.checkpoints import Checkpoint  # noqa: E402
from jobs.utxo_ingest import ingest_block_range  # noqa: E402
from testing.devnodes import LitecoinRegtest  # noqa: E402
from testing.regtest_workload import make_payments  # noqa: E402
from tracer.chains import default_registry  # noqa: E402

CHAIN = "ltc-regtest"
#: the CLI's ``--batch-blocks`` default
DEFAULT_BATCH_BLOCKS = 200


def batches(heights: Sequence[int], size: int) -> list[list[int]]:
    """``heights`` (consecutive) cut into runs of at most ``size``, as the ingest cuts them."""
    return [list(heights[i : i + size]) for i in range(0, len(heights), size)]


def raw_fetch(node: BitcoinNode, heights: Sequence[int], batch_blocks: int) -> tuple[float, int]:
    """Seconds to fetch the blocks (``getblockhash`` + ``getblock <hash> 2`` batches) and the transactions seen."""
    started = time.perf_counter()
    transactions = 0
    for batch in batches(heights, batch_blocks):
        blocks = node.raw_blocks(node.block_hashes(batch))
        transactions += sum(len(b["tx"]) for b in blocks)
    return time.perf_counter() - started, transactions


def full_ingest(node: BitcoinNode, heights: Sequence[int], batch_blocks: int, directory: Path) -> dict[str, Any]:
    """Ingest ``heights`` into a fresh store with ``ingest_block_range``; time it and its parts."""
    directory.mkdir(parents=True)
    with EmbeddedStore.open(directory / "graph.lbug") as store:
        load = Timer(store.load)
        fetch = Timer(node.frames_of)
        store.load = load  # type: ignore[method-assign]
        node.frames_of = fetch  # type: ignore[method-assign]
        try:
            checkpoint = Checkpoint(directory / "checkpoint.json", CHAIN)
            started = time.perf_counter()
            summary = ingest_block_range(node, store, checkpoint, heights[0], heights[-1], batch_blocks=batch_blocks)
            seconds = time.perf_counter() - started
        finally:
            del node.frames_of  # back to the class's method
        stored = store.stats()["Transaction"]
    if stored != summary.transactions:
        raise AssertionError(f"store holds {stored} transactions, the ingest reported {summary.transactions}")
    return {
        "seconds": seconds,
        "transactions": summary.transactions,
        "inputs": summary.inputs,
        "outputs": summary.outputs,
        "prevouts_from_node": summary.prevouts_from_node,
        "prevouts_from_store": summary.prevouts_from_store,
        "fetch_seconds": fetch.seconds,
        "load_seconds": load.seconds,
    }


def measure(node: BitcoinNode, heights: Sequence[int], batch_blocks: int, directory: Path) -> dict[str, Any]:
    """Raw fetch and full ingest of the same heights with the same batch size. The raw fetch runs
    right before and right after the ingest and its mean is used, so a change in the machine's
    load (other processes share the cores) moves both sides of the ratio alike."""
    before, raw_tx = raw_fetch(node, heights, batch_blocks)
    ingest = full_ingest(node, heights, batch_blocks, directory / f"store-{batch_blocks}")
    after, _ = raw_fetch(node, heights, batch_blocks)
    raw_seconds = (before + after) / 2
    if ingest["transactions"] != raw_tx:
        raise AssertionError(f"raw fetch saw {raw_tx} transactions, the ingest {ingest['transactions']}")
    raw_rate = raw_tx / raw_seconds
    ingest_rate = ingest["transactions"] / ingest["seconds"]
    other = ingest["seconds"] - ingest["fetch_seconds"] - ingest["load_seconds"]
    return {
        "batch_blocks": batch_blocks,
        "raw_seconds": round(raw_seconds, 3),
        "raw_tx_per_s": round(raw_rate),
        "ingest_seconds": round(ingest["seconds"], 3),
        "ingest_tx_per_s": round(ingest_rate),
        "ratio": round(ingest_rate / raw_rate, 3),
        "breakdown": {
            "map_seconds": round(ingest["fetch_seconds"], 3),
            "load_seconds": round(ingest["load_seconds"], 3),
            "rest_seconds": round(other, 3),
        },
        "inputs": ingest["inputs"],
        "outputs": ingest["outputs"],
        "prevouts_from_node": ingest["prevouts_from_node"],
        "prevouts_from_store": ingest["prevouts_from_store"],
    }


def run(quick: bool, batch_blocks: int, per_block: int, sweep: Sequence[int], repeat: int = 1) -> dict[str, Any]:
    n_tx = 500 if quick else 5_000
    result: dict[str, Any] = {"quick": quick, "payments": n_tx, "per_block": per_block}
    with tempfile.TemporaryDirectory(prefix="tracer-bench-ingest-") as tmp:
        directory = Path(tmp)
        regtest = LitecoinRegtest.start(directory / "litecoind")
        try:
            started = time.perf_counter()
            with regtest.rpc() as rpc:
                rpc.call("createwallet", "bench")
            with regtest.rpc(wallet="bench", timeout=300) as wallet:
                txids = make_payments(wallet, n_tx, per_block=per_block)
                first, last = (wallet.call("getrawtransaction", t, True)["blockhash"] for t in (txids[0], txids[-1]))
                low, high = (int(wallet.call("getblockheader", h)["height"]) for h in (first, last))
            result["setup_seconds"] = round(time.perf_counter() - started, 1)
            heights = list(range(low, high + 1))
            result.update(from_height=low, to_height=high, blocks=len(heights))
            with BitcoinNode(regtest.url, default_registry().get(CHAIN), timeout=300) as node:
                _, transactions = raw_fetch(node, heights, batch_blocks)  # warm-up: page the blocks in
                result["transactions"] = transactions
                runs = [measure(node, heights, batch_blocks, directory / f"run-{i}") for i in range(max(1, repeat))]
                # the run with the median ratio is the headline; all runs are listed when repeated
                result.update(sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2])
                if len(runs) > 1:
                    result["runs"] = [{k: r[k] for k in ("raw_tx_per_s", "ingest_tx_per_s", "ratio", "breakdown")}
                                      for r in runs]
                if sweep:
                    result["sweep"] = [
                        {k: v for k, v in measure(node, heights, size, directory / "sweep").items()
                         if k in ("batch_blocks", "raw_tx_per_s", "ingest_tx_per_s", "ratio", "breakdown")}
                        for size in sweep
                    ]
        finally:
            regtest.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 payments instead of 5,000 (seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-blocks", type=int, default=DEFAULT_BATCH_BLOCKS,
                        help=f"blocks per fetch and load (default {DEFAULT_BATCH_BLOCKS}, the CLI's)")
    parser.add_argument("--per-block", type=int, default=100, help="payments mined per block (default 100)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure raw and ingest this many times (fresh store each); report the median ratio")
    parser.add_argument("--sweep", default="", help="also measure these batch sizes, e.g. 1,5,10,20,50")
    args = parser.parse_args()
    sweep = [int(s) for s in args.sweep.split(",") if s.strip()]
    result = run(args.quick, args.batch_blocks, args.per_block, sweep, args.repeat)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
