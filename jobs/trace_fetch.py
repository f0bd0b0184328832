# SPDX-License-Identifier: Apache-2.0
"""``tracer trace --fetch``: a frontier that pulls what the store lacks from the case's sources first.

The trace engine asks one batched question per hop; before the store answers it, this wrapper
asks an address source (a self-hosted Esplora, or a chain store from a block-range ingest —
the same sources as ``tracer ingest seeds``) for the histories of the addresses involved that it
has not fetched yet, and loads them into the case's store. So a trace can start from nothing but
seeds, and a re-run without ``--fetch`` reads the same data from the store.

UTXO chains only: for account chains the store is filled by ``tracer ingest evm``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import polars as pl

from graph.base import GraphStore
from jobs.seed_ingest import AddressTxSource
from tracer.frontier import Direction, TransferFilter
from tracer.schema import FrameSet

__all__ = ["FetchingFrontier"]


class FetchingFrontier:
    """The store's frontier, after loading missing address histories from ``source``."""

    def __init__(self, store: GraphStore, source: AddressTxSource, chain: str, *,
                 max_txs_per_address: int = 1_000) -> None:
        self.store, self.source, self.chain = store, source, chain
        self.max_txs = max_txs_per_address
        self.fetched: dict[str, int] = {}  # address -> transactions loaded
        self.large: list[str] = []  # addresses over the limit (entities): only the newest were loaded
        self.transactions_loaded = 0

    def report(self) -> dict[str, Any]:
        return {
            "source": self.source.source,
            "addresses": len(self.fetched),
            "transactions_loaded": self.transactions_loaded,
            "over_limit": sorted(self.large),
            "max_txs_per_address": self.max_txs,
        }

    def _fetch(self, addresses: Collection[str]) -> None:
        for address in sorted(set(addresses) - set(self.fetched)):
            txids = self.source.address_txids(address, limit=self.max_txs + 1)
            if len(txids) > self.max_txs:
                self.large.append(address)
                txids = txids[: self.max_txs]
            known = set(self.store.transactions(self.chain, txids).transactions["txid"].to_list()) if txids else set()
            fresh = [t for t in txids if t not in known]
            if fresh:
                frames = self.source.transactions(fresh)
                self.store.load(frames)
                self.transactions_loaded += frames.transactions.height
            self.fetched[address] = len(txids)

    def transfers(self, chain: str, addresses: Collection[str], direction: Direction,
                  where: TransferFilter = TransferFilter()) -> pl.DataFrame:
        return self.store.transfers(chain, addresses, direction, where)

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        created = self.store.transactions(chain, outpoints["txid"].unique().to_list()).outputs
        wanted = created.join(outpoints.select("txid", pl.col("index").cast(pl.Int64)), on=["txid", "index"])
        self._fetch(wanted["address"].drop_nulls().to_list())
        return self.store.spending(chain, outpoints, where)

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        have = self.store.transactions(chain, txids)
        missing = sorted(set(txids) - set(have.transactions["txid"].to_list()))
        if missing:
            frames = self.source.transactions(missing)
            self.store.load(frames)
            self.transactions_loaded += frames.transactions.height
            have = self.store.transactions(chain, txids)
        return have

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        self._fetch(addresses)
        return self.store.address_outputs(chain, addresses)

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        self._fetch(addresses)
        return self.store.address_flows(chain, addresses)

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        return self.store.tags(chain, addresses)

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        return self.store.cluster(chain, address)
