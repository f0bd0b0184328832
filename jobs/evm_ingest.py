# SPDX-License-Identifier: Apache-2.0
"""Block-range ingest of an EVM chain: what the one pipeline (:mod:`jobs.block_ingest`) needs to
know of account-model blocks, and the balance completeness check.

The adapter (:class:`adapters.evm.node.EvmNode`) fetches blocks, receipts and traces and maps them
to ``transactions`` + ``transfers``. Before anything is written the node must serve the chain asked
for (``eth_chainId``) and offer traces, unless the caller accepts that internal transfers will be
missing. EVM blocks may hold no transaction (and leave no row): heights the checkpoint calls done
but the store lacks are simply re-read (cheap). Token metadata of the token contracts seen is read
once per contract and cached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from adapters.errors import HeightPastTipError
from adapters.evm.completeness import check_balances, touched_addresses
from adapters.evm.node import EvmNode, FetchedBlocks
from adapters.evm.tokens import TokenMetadata
from graph.base import GraphStore
from jobs.block_ingest import TARGET_TX_PER_LOAD, IngestRates, OnLoad, ingest_range
from jobs.checkpoints import Checkpoint

__all__ = ["EvmIngestSummary", "EvmIngest", "ingest_evm_range", "verify_balances", "DEFAULT_BATCH_BLOCKS"]

DEFAULT_BATCH_BLOCKS = 50


@dataclass
class EvmIngestSummary(IngestRates):
    chain: str
    source: str
    from_height: int
    to_height: int
    node: dict[str, Any] = field(default_factory=dict)
    #: kinds of rows this run could not see (``internal`` when the node has no trace API)
    missing: list[str] = field(default_factory=list)
    blocks_loaded: int = 0
    blocks_already_done: int = 0
    transactions: int = 0
    transfers: dict[str, int] = field(default_factory=dict)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    skipped_transfer_logs: int = 0
    reverted_traces: int = 0
    #: swaps and wrapping decoded (conversions) and bridge deposits / releases, per kind
    conversions: dict[str, int] = field(default_factory=dict)
    bridge_events: dict[str, int] = field(default_factory=dict)
    #: events that stated a conversion or a bridge hop but gave no complete row (txid and why); this run's
    warnings: list[str] = field(default_factory=list)
    reorgs: list[dict[str, int]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    balance_check: dict[str, Any] | None = None
    seconds: float = 0.0


class EvmIngest:
    """The EVM side of :func:`jobs.block_ingest.ingest_range`: one fetch in flight, each fetch loaded
    on its own (a fetch of ~2,500 transactions with receipts and traces is already a full load)."""

    fetch_target = TARGET_TX_PER_LOAD
    fetches_ahead = 1
    load_target = 0
    may_be_empty: frozenset[int] = frozenset()

    def __init__(self, node: EvmNode, summary: EvmIngestSummary, *, allow_missing_traces: bool) -> None:
        self.node = node
        self.summary = summary
        self.allow_missing_traces = allow_missing_traces
        #: token contracts seen in ``Transfer`` logs (their metadata is read once, after the load)
        self.contracts: set[str] = set()
        self.warnings: list[str] = []

    def prepare(self, to_height: int) -> int:
        self.node.check_network()
        tip = self.node.tip_height()
        if to_height > tip:
            raise HeightPastTipError(f"{self.node.client.url}: --to {to_height} is past the node's latest block {tip}")
        caps = self.node.capabilities()
        self.summary.node = caps.as_dict()
        if caps.traces is None:
            if not self.allow_missing_traces:
                self.node.require_traces()
            self.summary.missing.append("internal")
        return tip

    def first_block_transactions(self, height: int) -> int:
        header = self.node.client.call("eth_getBlockByNumber", hex(height), False) or {}
        return len(header.get("transactions") or [])

    def map(self, raw: list[Any], store_idle: Callable[[], None]) -> FetchedBlocks:
        fetched = self.node.frames_of(raw)
        self.contracts.update(fetched.token_contracts)
        self.warnings += [f"conversion: {w}" for w in fetched.stats.conversion_warnings]
        self.warnings += [f"bridge: {w.txid} log {w.log_index} ({w.bridge} {w.event}): {w.reason}"
                          for w in fetched.bridge_stats.warnings]
        return fetched

    def tally(self, fetched: FetchedBlocks, heights: list[int]) -> dict[int, Counter[str]]:
        frames = fetched.frames
        txs = dict(frames.transactions.group_by("block_height").agg(pl.len()).iter_rows())
        tallies = {h: Counter({"transactions": txs.get(h, 0)}) for h in heights}
        for height, kind, count in frames.transfers.group_by("block_height", "kind").agg(pl.len()).iter_rows():
            tallies[height][f"transfers:{kind}"] = count
        for height, protocol, count in frames.conversions.group_by("block_height", "protocol").agg(
                pl.len()).iter_rows():
            tallies[height][f"conversions:{protocol}"] = count
        for height, role, count in frames.bridge_events.group_by("block_height", "role").agg(pl.len()).iter_rows():
            tallies[height][f"bridge_events:{role}"] = count
        tallies[heights[0]]["skipped_logs"] = fetched.stats.skipped_transfer_logs
        tallies[heights[0]]["reverted_traces"] = fetched.stats.reverted_traces
        return tallies


def ingest_evm_range(
    node: EvmNode,
    store: GraphStore,
    checkpoint: Checkpoint,
    from_height: int,
    to_height: int,
    *,
    batch_blocks: int = DEFAULT_BATCH_BLOCKS,
    allow_missing_traces: bool = False,
    tokens: TokenMetadata | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_load: OnLoad | None = None,
) -> EvmIngestSummary:
    """Ingest blocks ``from_height..to_height`` (inclusive) of an EVM chain (see :mod:`jobs.block_ingest`).

    ``progress(blocks, transactions)`` is called after every loaded batch; ``on_load``: see
    :func:`jobs.block_ingest.ingest_range`.

    Raises
    ------
    HeightPastTipError, WrongNetworkError, TracesUnavailableError
        Bad input, before anything is written.
    """
    summary = EvmIngestSummary(chain=node.chain.key, source=node.source, from_height=from_height,
                               to_height=to_height)
    kind = EvmIngest(node, summary, allow_missing_traces=allow_missing_traces)
    run = ingest_range(kind, store, checkpoint, from_height, to_height, batch_blocks=batch_blocks,
                       progress=progress, on_load=on_load)
    if tokens is not None and kind.contracts:
        try:
            infos = tokens.get(kind.contracts)
        finally:
            tokens.save()
        summary.tokens = [{"contract": c, "symbol": i.symbol, "name": i.name, "decimals": i.decimals}
                          for c, i in sorted(infos.items())]
    summary.blocks_loaded = len(run.loaded)
    summary.blocks_already_done = run.blocks_already_done
    summary.transactions = run.total("transactions")
    transfers: Counter[str] = Counter()
    for tally in run.loaded.values():
        transfers.update({k.removeprefix("transfers:"): v for k, v in tally.items() if k.startswith("transfers:")})
    summary.transfers = dict(sorted(transfers.items()))
    for name in ("conversions", "bridge_events"):
        found: Counter[str] = Counter()
        for tally in run.loaded.values():
            found.update({k.split(":", 1)[1]: v for k, v in tally.items() if k.startswith(f"{name}:")})
        setattr(summary, name, dict(sorted(found.items())))
    summary.warnings = kind.warnings
    summary.skipped_transfer_logs = run.total("skipped_logs")
    summary.reverted_traces = run.total("reverted_traces")
    summary.reorgs = run.reorgs
    summary.created = run.created
    summary.seconds = run.seconds
    return summary


def verify_balances(node: EvmNode, store: GraphStore, from_height: int, to_height: int) -> dict[str, Any]:
    """The completeness check (shared notes §5) over the stored transfers of ``from_height..to_height``:
    every address they touch must have changed balance on the node by exactly what they say.

    Needs the node's state at ``from_height - 1`` and ``to_height`` (an archive node for old blocks).
    """
    transfers = store.read_frames(node.chain.key).transfers.filter(
        pl.col("block_height").is_between(from_height, to_height)
    )
    addresses = touched_addresses(transfers)
    before = node.balances(addresses, max(0, from_height - 1))
    after = node.balances(addresses, to_height)
    mismatches = check_balances(transfers, before, after)
    return {
        "from_height": from_height,
        "to_height": to_height,
        "addresses": len(addresses),
        "mismatches": [m.as_dict() for m in mismatches],
    }
