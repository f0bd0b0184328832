# SPDX-License-Identifier: Apache-2.0
"""Address-seeded expansion: the transactions of a case's seeds (and, hop by hop, of their
counterparties) from a source that can answer "transactions of this address".

Sources (UTXO chains):

* :class:`adapters.bitcoin.esplora.EsploraSource` — a self-hosted Esplora / electrs REST server
  (a public explorer only when the user opts in: it would learn the suspect addresses);
* :class:`StoreTxSource` — a graph store already filled by a block-range ingest (for example a
  unit-wide chain store), copied into the case's own store.

Sources (account chains):

* :class:`adapters.evm.address_source.EvmAddressSource` — the node itself (``eth_getLogs`` plus the
  Otterscan API or ``trace_filter``);
* :class:`StoreTransferSource` — a chain store filled by ``tracer ingest evm``: whole transactions
  (every transfer row, not only those touching the address) copied into the case's store;
* :class:`adapters.evm.etherscan.EtherscanSource` — an Etherscan-compatible API, only when the user
  allows a third party.

Expansion is breadth-first: hop 0 queries the seeds, hop k the addresses first seen at hop
k-1. Limits are explicit and reported (never silent): at most ``max_addresses`` addresses per
hop and ``max_txs_per_address`` transactions per address; an address over the limit is an
exchange-sized entity and is reported as such rather than stalling the expansion (shared
design notes §5, "large entities").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import polars as pl

from graph.base import GraphStore
from tracer.frontier import Direction
from tracer.schema import FrameSet

__all__ = ["AddressTxSource", "StoreTxSource", "StoreTransferSource", "HopReport", "expand_seeds"]


class AddressTxSource(Protocol):
    """Anything that lists an address's transactions and returns complete transactions as frames."""

    source: str

    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]: ...

    def transactions(self, txids: Iterable[str]) -> FrameSet: ...


class StoreTxSource:
    """A graph store as a source of address histories (one chain)."""

    def __init__(self, store: GraphStore, chain: str) -> None:
        self.store = store
        self.chain = chain
        self.source = f"store:{store.location}"

    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]:
        flows = self.store.address_flows(self.chain, [address])
        txids = flows.sort(["block_height", "txid"], descending=True, nulls_last=True)["txid"].unique(
            maintain_order=True
        ).to_list()
        return txids if limit is None else txids[:limit]

    def transactions(self, txids: Iterable[str]) -> FrameSet:
        frames = self.store.transactions(self.chain, list(txids))
        return FrameSet(transactions=frames.transactions, inputs=frames.inputs, outputs=frames.outputs)


class StoreTransferSource:
    """A graph store as a source of account-chain address histories (one chain).

    :meth:`address_txids` lists the transactions with a transfer row from or to the address (native,
    token, internal, and the fees it pays; not the fees a block producer receives, which would make
    every miner an entity of every transaction in its blocks), newest first. :meth:`transactions`
    returns their ``transactions`` rows and *every* transfer row of them
    (:meth:`GraphStore.transfers_of`), so the case's store holds whole transactions.
    """

    def __init__(self, store: GraphStore, chain: str) -> None:
        self.store = store
        self.chain = chain
        self.source = f"store:{store.location}"

    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]:
        sent = self.store.transfers(self.chain, [address], Direction.FORWARD)
        received = self.store.transfers(self.chain, [address], Direction.BACKWARD).filter(pl.col("kind") != "fee")
        rows = pl.concat([sent.select("txid", "block_height", "tx_index"),
                          received.select("txid", "block_height", "tx_index")], how="vertical")
        txids = rows.sort(["block_height", "tx_index", "txid"], descending=True, nulls_last=True)["txid"].unique(
            maintain_order=True
        ).to_list()
        return txids if limit is None else txids[:limit]

    def transactions(self, txids: Iterable[str]) -> FrameSet:
        wanted = list(dict.fromkeys(txids))
        return FrameSet(transactions=self.store.transactions(self.chain, wanted).transactions,
                        transfers=self.store.transfers_of(self.chain, wanted))


@dataclass
class HopReport:
    hop: int
    addresses_queried: int
    transactions_loaded: int
    new_counterparties: int
    #: addresses not queried because the hop already had ``max_addresses``
    addresses_deferred: int = 0
    #: addresses with more transactions than ``max_txs_per_address`` (only that many were loaded)
    large_entities: list[str] = field(default_factory=list)
    #: counterparties not expanded because they carry a tag (an attributed entity: serve process there)
    stopped_at_tagged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_seeds(
    source: AddressTxSource,
    store: GraphStore,
    chain: str,
    seeds: list[str],
    *,
    hops: int = 0,
    max_addresses: int = 200,
    max_txs_per_address: int = 1_000,
    progress: Callable[[int, int], None] | None = None,
) -> list[HopReport]:
    """Load the transactions of ``seeds`` and of their counterparties up to ``hops`` hops away.

    ``progress(addresses_done, transactions_loaded)`` is called after each address.
    Returns one :class:`HopReport` per hop actually run.
    """
    reports: list[HopReport] = []
    visited: set[str] = set()
    seen_txids: set[str] = set()  # across hops: a transaction is fetched once per run
    frontier = sorted(dict.fromkeys(seeds))
    for hop in range(hops + 1):
        todo = [a for a in frontier if a not in visited]
        if not todo:
            break
        queried, deferred = todo[:max_addresses], todo[max_addresses:]
        report = HopReport(hop=hop, addresses_queried=len(queried), transactions_loaded=0, new_counterparties=0,
                           addresses_deferred=len(deferred))
        loaded: list[FrameSet] = []
        for address in queried:
            txids = source.address_txids(address, limit=max_txs_per_address + 1)
            is_large = len(txids) > max_txs_per_address
            if is_large:
                report.large_entities.append(address)
                txids = txids[:max_txs_per_address]
            fresh = [t for t in txids if t not in seen_txids]
            seen_txids.update(fresh)
            if fresh:
                frames = source.transactions(fresh)
                store.load(frames)
                if not is_large:  # an entity's customers are not the suspect's counterparties
                    loaded.append(frames)
                report.transactions_loaded += frames.transactions.height
            if progress:
                progress(1, report.transactions_loaded)
        visited.update(queried)
        if loaded:
            batch = FrameSet.concat(loaded)
            moved = batch.transfers.filter(pl.col("kind") != "fee")  # account chains; a fee goes to the miner
            counterparts = pl.concat(
                [batch.inputs.select("address"), batch.outputs.select("address"),
                 moved.select(pl.col("from_address").alias("address")),
                 moved.select(pl.col("to_address").alias("address"))], how="vertical"
            ).drop_nulls()["address"].unique().sort().to_list()
        else:
            counterparts = []
        large = set(report.large_entities)
        frontier = [a for a in counterparts if a not in visited and a not in large]
        tagged = set(store.tags(chain, frontier)["address"].to_list()) if frontier else set()
        report.stopped_at_tagged = sorted(tagged)
        frontier = [a for a in frontier if a not in tagged]
        report.new_counterparties = len(frontier)
        reports.append(report)
    return reports
