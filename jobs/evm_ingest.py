# SPDX-License-Identifier: Apache-2.0
"""Block-range ingest for EVM chains: node -> ``transactions`` + ``transfers`` -> graph store, resumable.

Orchestration only, the twin of :mod:`cli.utxo_ingest`: the adapter
(:class:`adapters.evm.node.EvmNode`) fetches and maps, the store loads, a
:class:`~cli.checkpoints.Checkpoint` records each batch that landed (so a run killed at any point
resumes where it stopped, and a re-run loads nothing new: store loads are idempotent).

Order of work for ``from..to``:

1. Refuse a range past the node's latest block, a node of another chain (``eth_chainId``), and a
   node without traces unless the caller accepts that internal transfers will be missing.
2. Heights the checkpoint calls done but the store lacks are fetched again (a store wiped or
   replaced; blocks without transactions leave no row, so they are re-read too: cheap).
3. **Reorg repair** by block hash: the hashes of the stored blocks from ``REORG_WINDOW`` below the
   range (or the tip) are compared with the node's chain; from the lowest that differs the stored
   blocks are removed (:meth:`GraphStore.remove_blocks`) and forgotten in the checkpoint.
4. Fetch (one batch ahead, on a second connection) and load the missing heights in batches of
   consecutive blocks; each batch's first block must link to the block below it; checkpoint after
   every batch. Token metadata of the token contracts seen is read once per contract and cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from adapters.evm.completeness import check_balances, touched_addresses
from adapters.evm.node import ChainChangedError, EvmNode, FetchedBlocks, HeightPastTipError
from adapters.evm.tokens import TokenMetadata
from cli.checkpoints import Checkpoint
from cli.utxo_ingest import (
    REORG_WINDOW,
    IngestRates,
    _Batches,
    _Loader,
    _Prefetch,
    forget_what_the_store_lacks,
    load_with_reorg_repair,
    repair_reorg,
)
from cli.utxo_ingest import ChainMoved as _ChainMoved
from graph.base import GraphStore
from tracer.errors import InputError

__all__ = ["EvmIngestSummary", "ingest_evm_range", "verify_balances", "DEFAULT_BATCH_BLOCKS"]

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
    reorgs: list[dict[str, int]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    balance_check: dict[str, Any] | None = None
    seconds: float = 0.0


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
) -> EvmIngestSummary:
    """Ingest blocks ``from_height..to_height`` (inclusive); see the module docstring.

    ``progress(blocks, transactions)`` is called after every loaded batch.

    Raises
    ------
    HeightPastTipError, WrongNetworkError, TracesUnavailableError
        Bad input, before anything is written.
    """
    if from_height < 0 or to_height < from_height:
        raise InputError(f"invalid block range {from_height}..{to_height}")
    started = time.perf_counter()
    chain = node.chain.key
    summary = EvmIngestSummary(chain=chain, source=node.source, from_height=from_height, to_height=to_height)
    node.check_network()
    tip = node.tip_height()
    if to_height > tip:
        raise HeightPastTipError(f"{node.client.url}: --to {to_height} is past the node's latest block {tip}")
    caps = node.capabilities()
    summary.node = caps.as_dict()
    if caps.traces is None:
        if not allow_missing_traces:
            node.require_traces()
        summary.missing.append("internal")
    forget_what_the_store_lacks(store, checkpoint, chain, from_height, to_height)  # EVM blocks may be empty
    repair = repair_reorg(node, store, checkpoint, min(from_height, tip) - REORG_WINDOW)
    if repair:
        summary.reorgs.append(repair)
    summary.blocks_already_done = (to_height - from_height + 1) - len(checkpoint.missing(from_height, to_height))
    loaded: dict[int, _Loaded] = {}
    contracts: set[str] = set()
    fetcher = node.twin()
    try:
        load_with_reorg_repair(
            lambda: _load_batches(node, fetcher, store, checkpoint, summary, loaded, contracts,
                                  checkpoint.missing(from_height, to_height), batch_blocks, progress),
            lambda below: repair_reorg(node, store, checkpoint, below), summary.reorgs, loaded,
        )
    finally:
        fetcher.close()
    if tokens is not None and contracts:
        try:
            infos = tokens.get(contracts)
        finally:
            tokens.save()
        summary.tokens = [{"contract": c, "symbol": i.symbol, "name": i.name, "decimals": i.decimals}
                          for c, i in sorted(infos.items())]
    summary.blocks_loaded = len(loaded)
    summary.transactions = sum(v.transactions for v in loaded.values())
    for v in loaded.values():
        for kind, count in v.transfers.items():
            summary.transfers[kind] = summary.transfers.get(kind, 0) + count
        summary.skipped_transfer_logs += v.skipped_logs
        summary.reverted_traces += v.reverted_traces
    summary.transfers = dict(sorted(summary.transfers.items()))
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Loaded:
    """What one loaded block contributed (kept per height so a reorg can take it back out)."""

    transactions: int
    transfers: dict[str, int] = field(default_factory=dict)
    skipped_logs: int = 0
    reverted_traces: int = 0


def _load_batches(
    node: EvmNode,
    fetcher: EvmNode,
    store: GraphStore,
    checkpoint: Checkpoint,
    summary: EvmIngestSummary,
    loaded: dict[int, _Loaded],
    contracts: set[str],
    todo: list[int],
    batch_blocks: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    chain = node.chain.key
    first = batch_blocks
    if todo:  # size the first batch from the first block's transaction count (a header is cheap)
        header = node.client.call("eth_getBlockByNumber", hex(todo[0]), False) or {}
        first = max(1, 2_500 // max(1, len(header.get("transactions") or [])))
    batches = _Batches(todo, first_size=min(first, batch_blocks), max_size=batch_blocks)
    loader = _Loader()
    prefetch = _Prefetch(fetcher.fetch_raw)
    heights = batches.next()
    if heights:
        prefetch.start(heights)
    last: tuple[int, str] | None = None
    try:
        while heights:
            try:
                raw = prefetch.result()
            except ChainChangedError as changed:
                raise _ChainMoved(changed.height) from None
            current = heights
            heights = batches.next()
            if heights:
                prefetch.start(heights)
            fetched = node.frames_of(raw)
            if last is not None and last[0] == current[0] - 1:
                linked = fetched.parent_hash == last[1]
            else:
                loader.wait()
                below = store.block_hashes(chain, current[0] - 1, current[0] - 1)
                linked = not below.height or str(below["block_hash"][0]).lower() == fetched.parent_hash
            if not linked:
                raise _ChainMoved(current[0])
            contracts.update(fetched.token_contracts)
            batches.learn(len(current), fetched.frames.transactions.height)
            loader.wait()
            loader.start(_loading(store, checkpoint, summary, loaded, fetched, current, progress))
            last = (current[-1], fetched.hashes[-1])
        loader.wait()
    finally:
        loader.join_quietly()


def _loading(
    store: GraphStore,
    checkpoint: Checkpoint,
    summary: EvmIngestSummary,
    loaded: dict[int, _Loaded],
    fetched: FetchedBlocks,
    heights: list[int],
    progress: Callable[[int, int], None] | None,
) -> Callable[[], None]:
    def work() -> None:
        report = store.load(fetched.frames)
        checkpoint.add(heights[0], heights[-1])
        checkpoint.save()
        frames = fetched.frames
        txs = dict(frames.transactions.group_by("block_height").agg(pl.len()).iter_rows())
        kinds: dict[int, dict[str, int]] = {}
        for height, kind, count in frames.transfers.group_by("block_height", "kind").agg(pl.len()).iter_rows():
            kinds.setdefault(height, {})[kind] = count
        for height in heights:
            loaded[height] = _Loaded(txs.get(height, 0), kinds.get(height, {}))
        loaded[heights[0]].skipped_logs = fetched.stats.skipped_transfer_logs
        loaded[heights[0]].reverted_traces = fetched.stats.reverted_traces
        for name, count in report.created.items():
            summary.created[name] = summary.created.get(name, 0) + count
        if progress:
            progress(len(heights), frames.transactions.height)

    return work


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
