# SPDX-License-Identifier: Apache-2.0
"""Benchmark: EVM block-range ingest (node -> canonical frames -> embedded store) against raw RPC.

Starts a private ``anvil``, deploys a ``TestToken`` (ERC-20, fixtures/contracts) and creates
``--transfers`` transactions (10,000 by default, 1,000 with ``--quick``), half plain ETH payments,
half ERC-20 ``transfer`` calls, from the ten dev accounts to a pool of fresh addresses, in blocks of
``--per-block`` (500): automine off, :func:`testing.devcontracts.send_many` batches, then
``evm_mine``. Then, in the same run and over the same block heights:

* **raw**: exactly the JSON-RPC the ingest sends for these blocks, and nothing else: for every
  block ``eth_getBlockByNumber(n, true)`` + ``eth_getBlockReceipts(n)`` + ``trace_block(n)`` (anvil
  answers both, so the ingest reads receipts per block and internal transfers from the trace
  module), one batch per ingest batch, with the ingest's own batch sizes
  (:class:`jobs.block_ingest.Batches`: about 2,500 transactions per batch, at most
  ``--batch-blocks``), replies decoded from JSON and thrown away: the floor any RPC ingest pays;
* **ingest**: :func:`jobs.evm_ingest.ingest_evm_range` into a fresh
  :class:`~graph.embedded.EmbeddedStore`: the same fetch (one batch ahead, on a second connection),
  plus the receipt and linkage checks, mapping (native, token, internal and fee rows) and
  ``store.load``, checkpointed per batch. Token metadata is not read (one ``eth_call`` per
  contract, not a per-block cost).

``ratio`` is ``ingest_per_s / raw_per_s`` (transactions per second; 1.0 would mean ingest costs
nothing beyond the RPC; the target is >= 0.5). The raw fetch is timed right before and right after
the ingest and averaged (other processes may share the cores). ``breakdown`` gives ``map``
(:meth:`EvmNode.frames_of` in the main thread), ``load`` (:meth:`EmbeddedStore.load`, in the
loader thread, overlapping the next batch's mapping) and ``rest`` = total - map - load (waiting
for the prefetch thread's RPC, reorg check, checkpoint writes; negative when loads overlap
mapping). A raw pass runs untimed first. ``--repeat 3`` measures three times (fresh store each)
and reports the median ratio plus every run.

    python benchmarks/ingest_evm.py --json           # 10,000 transfers (about a minute)
    python benchmarks/ingest_evm.py --quick --json   # 1,000 transfers (seconds)

``--quick`` is a smoke test: its 1,000 transactions fit in one ingest batch (about 2,500
transactions), so nothing overlaps the fetch and its ratio (about 0.43) says little.
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

from adapters.evm.node import TRACE_BLOCK, EvmNode  # noqa: E402
from adapters.jsonrpc import Call, JsonRpcClient  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from jobs.block_ingest import TARGET_TX_PER_LOAD, Batches  # noqa: E402
from jobs.checkpoints import Checkpoint  # noqa: E402
from jobs.evm_ingest import DEFAULT_BATCH_BLOCKS, ingest_evm_range  # noqa: E402
from testing import devcontracts as dc  # noqa: E402
from testing.devnodes import Anvil  # noqa: E402
from tracer.chains import default_registry  # noqa: E402

CHAIN = "eth-devnet"
#: fresh recipient addresses (reused across the workload, as real counterparties are)
RECIPIENTS = 2_000


def transfer_data(to: str, value: int) -> str:
    """ABI call data of ERC-20 ``transfer(to, value)`` (selector ``0xa9059cbb``; encoded by hand: the
    workload builds thousands)."""
    return f"0xa9059cbb{int(to, 16):064x}{value:064x}"


def make_workload(rpc: JsonRpcClient, transfers: int, per_block: int) -> tuple[int, int]:
    """Deploy a token, spread it over the dev accounts, then ``transfers`` transactions (half native,
    half ERC-20) in blocks of ``per_block``; return the first and last height of those blocks."""
    acc = dc.accounts(rpc)
    token = dc.deploy(rpc, "TestToken", ["Bench Token", "BEN", 18, 10**30], sender=acc[0])
    for other in acc[1:]:
        dc.receipt(rpc, dc.transact(rpc, "TestToken", token, "transfer", [other, 10**28], sender=acc[0]))
    recipients = [f"0x{(0xBE0000 + i):040x}" for i in range(RECIPIENTS)]
    first = int(rpc.call("eth_blockNumber"), 16) + 1
    dc.automine(rpc, False)
    try:
        made = 0
        while made < transfers:
            txs: list[dict[str, Any]] = []
            for k in range(min(per_block, transfers - made)):
                i = made + k
                sender, to = acc[i % len(acc)], recipients[(i * 7919) % RECIPIENTS]
                if i % 2 == 0:
                    txs.append({"from": sender, "to": to, "value": 10**12 + i, "gas": 21_000})
                else:
                    txs.append({"from": sender, "to": token, "gas": 60_000, "data": transfer_data(to, 10**15 + i)})
            dc.send_many(rpc, txs)
            last = dc.mine(rpc)
            mined = len(rpc.call("eth_getBlockByNumber", hex(last), False)["transactions"])
            if mined != len(txs):
                raise RuntimeError(f"block {last} holds {mined} of {len(txs)} transactions: lower --per-block")
            made += len(txs)
    finally:
        dc.automine(rpc, True)
    return first, last


def ingest_schedule(node: EvmNode, heights: Sequence[int], batch_blocks: int) -> list[list[int]]:
    """The batches :func:`ingest_evm_range` fetches for ``heights``: the first sized from the first
    block's transaction count, the next from what the previous batch held (``Batches``)."""
    header = node.client.call("eth_getBlockByNumber", hex(heights[0]), False)
    first = max(1, TARGET_TX_PER_LOAD // max(1, len(header.get("transactions") or [])))
    counts = {h: len(b["transactions"]) for h, b in zip(
        heights, node.client.batch([Call("eth_getBlockByNumber", (hex(h), False)) for h in heights]), strict=True)}
    plan = Batches(list(heights), first_size=min(first, batch_blocks), max_size=batch_blocks)
    out: list[list[int]] = []
    while batch := plan.next():
        out.append(batch)
        plan.learn(len(batch), sum(counts[h] for h in batch))
    return out


def raw_fetch(node: EvmNode, schedule: Sequence[Sequence[int]]) -> tuple[float, int]:
    """Seconds to send the ingest's JSON-RPC batches (blocks with transactions, block receipts,
    ``trace_block``) and decode the replies; the transactions seen."""
    caps = node.capabilities()
    if not caps.block_receipts or caps.traces != TRACE_BLOCK:
        raise RuntimeError(f"the node must answer eth_getBlockReceipts and trace_block: {caps}")
    started = time.perf_counter()
    transactions = 0
    for batch in schedule:
        calls = [Call("eth_getBlockByNumber", (hex(h), True)) for h in batch]
        calls += [Call("eth_getBlockReceipts", (hex(h),)) for h in batch]
        calls += [Call(TRACE_BLOCK, (hex(h),)) for h in batch]
        results = node.client.batch(calls)
        transactions += sum(len(b["transactions"]) for b in results[: len(batch)])
    return time.perf_counter() - started, transactions


def full_ingest(url: str, heights: Sequence[int], batch_blocks: int, directory: Path) -> dict[str, Any]:
    """Ingest ``heights`` into a fresh store with ``ingest_evm_range`` (a fresh node connection, so
    its capability detection is part of the time, as in the CLI); time it and its parts."""
    directory.mkdir(parents=True)
    with EvmNode(url, default_registry().get(CHAIN), timeout=300) as node, \
            EmbeddedStore.open(directory / "graph.lbug") as store:
        load = Timer(store.load)
        mapping = Timer(node.frames_of)
        store.load = load  # type: ignore[method-assign]
        node.frames_of = mapping  # type: ignore[method-assign]
        checkpoint = Checkpoint(directory / "checkpoint.json", CHAIN)
        started = time.perf_counter()
        summary = ingest_evm_range(node, store, checkpoint, heights[0], heights[-1], batch_blocks=batch_blocks)
        seconds = time.perf_counter() - started
        stored = store.stats()["Transaction"]
    if stored != summary.transactions:
        raise AssertionError(f"store holds {stored} transactions, the ingest reported {summary.transactions}")
    return {"seconds": seconds, "transactions": summary.transactions, "transfers": summary.transfers,
            "map_seconds": mapping.seconds, "load_seconds": load.seconds}


def measure(node: EvmNode, heights: Sequence[int], batch_blocks: int, directory: Path) -> dict[str, Any]:
    """Raw fetch and full ingest of the same heights with the same batches; the raw fetch runs right
    before and right after the ingest and its mean is used."""
    schedule = ingest_schedule(node, heights, batch_blocks)
    before, raw_tx = raw_fetch(node, schedule)
    ingest = full_ingest(node.client.url, heights, batch_blocks, directory)
    after, _ = raw_fetch(node, schedule)
    raw_seconds = (before + after) / 2
    if ingest["transactions"] != raw_tx:
        raise AssertionError(f"raw fetch saw {raw_tx} transactions, the ingest {ingest['transactions']}")
    raw_rate = raw_tx / raw_seconds
    ingest_rate = ingest["transactions"] / ingest["seconds"]
    return {
        "batch_blocks": batch_blocks,
        "batches": [len(b) for b in schedule],
        "raw_seconds": round(raw_seconds, 3),
        "raw_seconds_before_after": [round(before, 3), round(after, 3)],
        "raw_per_s": round(raw_rate),
        "ingest_seconds": round(ingest["seconds"], 3),
        "ingest_per_s": round(ingest_rate),
        "ratio": round(ingest_rate / raw_rate, 3),
        "breakdown": {
            "map_seconds": round(ingest["map_seconds"], 3),
            "load_seconds": round(ingest["load_seconds"], 3),
            "rest_seconds": round(ingest["seconds"] - ingest["map_seconds"] - ingest["load_seconds"], 3),
        },
        "transfers": ingest["transfers"],
    }


def run(quick: bool, transfers: int | None, per_block: int, batch_blocks: int, repeat: int = 1) -> dict[str, Any]:
    n = transfers if transfers is not None else (1_000 if quick else 10_000)
    result: dict[str, Any] = {"quick": quick, "transfers_created": n, "per_block": per_block,
                              "unit": "transactions per second",
                              "raw_calls": "eth_getBlockByNumber(full) + eth_getBlockReceipts + trace_block"}
    anvil = Anvil.start()
    try:
        started = time.perf_counter()
        with anvil.rpc(timeout=300) as rpc:
            low, high = make_workload(rpc, n, per_block)
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        heights = list(range(low, high + 1))
        result.update(from_height=low, to_height=high, blocks=len(heights))
        with EvmNode(anvil.url, default_registry().get(CHAIN), timeout=300) as node, \
                tempfile.TemporaryDirectory(prefix="tracer-bench-evm-") as tmp:
            schedule = ingest_schedule(node, heights, batch_blocks)
            _, result["transactions"] = raw_fetch(node, schedule)  # warm-up
            runs = [measure(node, heights, batch_blocks, Path(tmp) / f"run-{i}") for i in range(max(1, repeat))]
            result.update(sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2])
            if len(runs) > 1:
                result["runs"] = [{k: r[k] for k in ("raw_per_s", "ingest_per_s", "ratio", "breakdown")}
                                  for r in runs]
    finally:
        anvil.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 transfers instead of 10,000 (seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--transfers", type=int, default=None, help="transactions to create (overrides --quick)")
    parser.add_argument("--per-block", type=int, default=500, help="transactions per block (default 500)")
    parser.add_argument("--batch-blocks", type=int, default=DEFAULT_BATCH_BLOCKS,
                        help=f"at most this many blocks per fetch and load (default {DEFAULT_BATCH_BLOCKS}, the CLI's)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure raw and ingest this many times (fresh store each); report the median ratio")
    args = parser.parse_args()
    result = run(args.quick, args.transfers, args.per_block, args.batch_blocks, args.repeat)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
