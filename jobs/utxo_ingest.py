# SPDX-License-Identifier: Apache-2.0
"""Block-range ingest of a Bitcoin-family chain: what the one pipeline (:mod:`jobs.block_ingest`)
needs to know of UTXO blocks.

The node adapter (:class:`adapters.bitcoin.node.BitcoinNode`) fetches and maps; every input's
previous output is resolved from the run itself, from the outputs of the runs just mapped
(:class:`RecentOutputs`), from the store (one query per run) or, last, from the node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from adapters.bitcoin.mappers import BIP30_OVERWRITTEN, Outpoint, Prevouts
from adapters.bitcoin.node import BitcoinNode, FetchedBlocks
from adapters.errors import HeightPastTipError
from graph.base import GraphStore
from jobs.block_ingest import IngestRates, OnLoad, ingest_range
from jobs.checkpoints import Checkpoint

__all__ = ["IngestSummary", "UtxoIngest", "ingest_block_range", "store_prevout_lookup", "UTXO_TX_PER_LOAD",
           "TARGET_TX_PER_FETCH", "FETCHES_AHEAD"]

#: transactions per store load of the UTXO ingest (up to twice as many, so that no small load is
#: left for the end of the range). A load has a fixed cost (a dozen statements; into an empty
#: table one COPY per table, cheaper than appends): measured on 5,000 regtest payments, 2 cores,
#: one load of all of them ~0.35-0.5 s wall and ~0.5 s CPU, the same rows in two loads ~0.7 s
#: CPU, in three ~0.75 s wall. On a busy machine the ingest is CPU-bound, so fewer loads win over
#: more overlap. Loads run in a thread while the next blocks are fetched and mapped. Mainnet
#: blocks hold ~2,000-4,000 transactions: a load is then one to three blocks.
UTXO_TX_PER_LOAD = 5_000
#: transactions per fetch (one ``getblock`` batch, mapped as soon as it arrives while the next
#: ones are fetched): several fetches fill one load, so the RPC, the mapping and the previous
#: load overlap. Smaller fetches overlap more but pay more round trips; 500-2,000 measured alike
#: within the noise of a shared 2-core machine.
TARGET_TX_PER_FETCH = 1_000
#: fetches in flight at once, each on its own connection, so the node serves them on parallel
#: RPC threads (measured: 2 clearly better than 1, 3 no better than 2 on 2 cores)
FETCHES_AHEAD = 2


@dataclass
class IngestSummary(IngestRates):
    chain: str
    source: str
    from_height: int
    to_height: int
    blocks_loaded: int = 0
    blocks_already_done: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    prevouts_from_store: int = 0
    prevouts_from_node: int = 0
    reorgs: list[dict[str, int]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def store_prevout_lookup(store: GraphStore, chain: str, counter: list[int]) -> Callable[[Sequence[Outpoint]], Prevouts]:
    """Resolve previous outputs from transactions already in the store (one query per batch)."""

    def lookup(outpoints: Sequence[Outpoint]) -> Prevouts:
        txids = sorted({txid for txid, _ in outpoints})
        outputs = store.transactions(chain, txids).outputs
        if outputs.height == 0:
            return {}
        wanted = pl.DataFrame({"txid": [o[0] for o in outpoints], "index": [o[1] for o in outpoints]},
                              schema={"txid": pl.String, "index": pl.Int64})
        rows = outputs.join(wanted, on=["txid", "index"], how="semi").select("txid", "index", "address", "value")
        found = {(t, i): (a, v) for t, i, a, v in rows.iter_rows()}
        counter[0] += len(found)
        return found

    return lookup


class UtxoIngest:
    """The UTXO side of :func:`jobs.block_ingest.ingest_range`."""

    fetch_target = TARGET_TX_PER_FETCH
    fetches_ahead = FETCHES_AHEAD
    load_target = UTXO_TX_PER_LOAD
    may_be_empty = frozenset(height for _, height in BIP30_OVERWRITTEN)

    def __init__(self, node: BitcoinNode, store: GraphStore) -> None:
        self.node = node
        self.store_hits = [0]
        #: inputs resolved from the outputs of the runs just mapped (neither store nor node asked)
        self.from_recent = 0
        self.lookup = store_prevout_lookup(store, node.chain.key, self.store_hits)
        self.recent = RecentOutputs()

    def prepare(self, to_height: int) -> int:
        tip = self.node.tip_height()
        if to_height > tip:
            raise HeightPastTipError(f"{self.node.client.url}: --to {to_height} is past the node's tip {tip}")
        self.node.check_network()
        return tip

    def first_block_transactions(self, height: int) -> int:
        header = self.node.client.call("getblockheader", self.node.block_hashes([height])[0])
        return int(header.get("nTx", 1))

    def map(self, raw: list[Any], store_idle: Callable[[], None]) -> FetchedBlocks:
        def resolve(outpoints: Sequence[Outpoint]) -> Prevouts:
            found = self.recent.get(outpoints)
            missing = [o for o in outpoints if o not in found]
            if missing:
                store_idle()  # the store is used by one thread at a time
                found.update(self.lookup(missing))
            self.from_recent += len(outpoints) - len(missing)
            return found

        # not conformed here: store.load validates the joined frames (in the loader thread)
        fetched = self.node.frames_of(raw, lookup=resolve, check=False)
        self.recent.add(fetched.frames.outputs)
        return fetched

    def tally(self, fetched: FetchedBlocks, heights: list[int]) -> dict[int, Counter[str]]:
        frames = fetched.frames
        height_of = frames.transactions.select("txid", "block_height")
        txs = dict(frames.transactions.group_by("block_height").agg(pl.len()).iter_rows())
        ins = dict(frames.inputs.join(height_of, on="txid").group_by("block_height").agg(pl.len()).iter_rows())
        outs = dict(frames.outputs.join(height_of, on="txid").group_by("block_height").agg(pl.len()).iter_rows())
        tallies = {h: Counter({"transactions": txs.get(h, 0), "inputs": ins.get(h, 0), "outputs": outs.get(h, 0)})
                   for h in heights}
        tallies[heights[0]]["prevouts_from_node"] = fetched.fetched_prevouts
        return tallies


def ingest_block_range(
    node: BitcoinNode,
    store: GraphStore,
    checkpoint: Checkpoint,
    from_height: int,
    to_height: int,
    *,
    batch_blocks: int = 200,
    progress: Callable[[int, int], None] | None = None,
    on_load: OnLoad | None = None,
) -> IngestSummary:
    """Ingest blocks ``from_height..to_height`` (inclusive) of a UTXO chain (see :mod:`jobs.block_ingest`).

    Blocks are fetched in runs of about ``TARGET_TX_PER_FETCH`` transactions (the next runs on
    other connections while this one is mapped) and loaded in batches of about
    ``UTXO_TX_PER_LOAD`` transactions and at most ``batch_blocks`` blocks; ``on_load``: see
    :func:`jobs.block_ingest.ingest_range`.
    """
    kind = UtxoIngest(node, store)
    run = ingest_range(kind, store, checkpoint, from_height, to_height, batch_blocks=batch_blocks,
                       progress=progress, on_load=on_load)
    return IngestSummary(
        chain=node.chain.key, source=node.source, from_height=from_height, to_height=to_height,
        blocks_loaded=len(run.loaded), blocks_already_done=run.blocks_already_done,
        transactions=run.total("transactions"), inputs=run.total("inputs"), outputs=run.total("outputs"),
        prevouts_from_store=kind.from_recent + kind.store_hits[0], prevouts_from_node=run.total("prevouts_from_node"),
        reorgs=run.reorgs, created=run.created, seconds=run.seconds,
    )


class RecentOutputs:
    """Outputs of the runs just mapped, so the next run's inputs that spend them need neither
    the store (busy loading) nor the node. Bounded: the oldest runs are forgotten first."""

    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self.entries: dict[Outpoint, tuple[str | None, int]] = {}
        self.batches: list[list[Outpoint]] = []

    def add(self, outputs: pl.DataFrame) -> None:
        keys: list[Outpoint] = list(zip(outputs["txid"].to_list(), outputs["index"].to_list(), strict=True))
        values = zip(outputs["address"].to_list(), outputs["value"].to_list(), strict=True)
        self.entries.update(zip(keys, values, strict=True))
        self.batches.append(keys)
        while len(self.entries) > self.capacity and len(self.batches) > 1:
            for key in self.batches.pop(0):
                self.entries.pop(key, None)

    def get(self, outpoints: Sequence[Outpoint]) -> dict[Outpoint, tuple[str | None, int]]:
        return {o: self.entries[o] for o in outpoints if o in self.entries}
