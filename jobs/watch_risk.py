# SPDX-License-Identifier: Apache-2.0
"""``--watch-list FILE``: wallets re-screened as new blocks arrive; a rise of a wallet's risk level
is a ``risk_rise`` alert.

The list is read as ``tracer screen`` reads one (``address`` column, ``chain`` column or the watched
chain; invalid rows refused with their line). Each wallet's level is first taken by screening it
against the store as it is (no alert: the baseline), kept in the chain's watch state. After each
store load of the watch's ingest, the listed wallets that appear in its blocks are screened again
with the screening defaults (2 hops both ways, default risk rules, the workspace tag library); a
level above the kept one raises an alert attributed to the wallet's last transaction in those blocks,
and the new level is kept (a lower one too, so that a later rise alerts again). A wallet first seen
(``unknown``: no history) rising to ``none`` is no alert.

A wallet's exposure can also change through a neighbour's transaction without its own; that is
seen the next time the wallet itself transacts. The level depends on the store when it is screened,
so unlike the other rules, which blocks one store load holds can move a ``risk_rise`` between blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from graph.base import GraphStore
from jobs.screening import ScreenParams, screen_batch
from jobs.settings import Settings
from jobs.tag_library import TagLibrary
from jobs.wallet_lists import read_wallets
from jobs.watch_state import WatchState
from tracer.errors import InputError
from tracer.risk import LEVELS, SANCTIONS_COLUMN, severity, with_sanctions_category
from tracer.schema import TAGS, FrameSet
from tracer.watch_rules import Targets, risk_alert

__all__ = ["WatchList", "read_watch_list"]


def read_watch_list(settings: Settings, path: Path, default_chain: str | None) -> dict[str, list[str]]:
    """chain -> wallets (normal form) of ``path``; a row that is not a valid address is bad input."""
    wallets = read_wallets(path, settings.chains, address_column="address", chain_column="chain",
                           default_chain=default_chain)
    if wallets.rejects.height:
        first = wallets.rejects.row(0, named=True)
        raise InputError(f"--watch-list {path}, line {first['line']}: {first['reason']}")
    by_chain: dict[str, list[str]] = {}
    for chain, address, _ in wallets.rows:
        by_chain.setdefault(chain, []).append(address)
    return by_chain


def _rank(level: str) -> int:
    return severity(level) if level in LEVELS else -1


class WatchList:
    """The watch-list wallets of one chain and their kept levels (in the chain's :class:`WatchState`)."""

    def __init__(self, settings: Settings, chain: str, wallets: list[str], state: WatchState) -> None:
        self.wallets = sorted(set(wallets))
        self.state = state
        info = settings.chains.get(chain)
        self.params = ScreenParams(chain=info.key, account_model=info.is_account)
        library = TagLibrary.for_home(settings.home)
        self.tags = with_sanctions_category(library.current([info.key]).select(*TAGS.columns, SANCTIONS_COLUMN))

    def _screen(self, store: GraphStore, wallets: list[str]) -> dict[str, tuple[str, str]]:
        rows, _, _ = screen_batch(store, self.params, [(w, 0) for w in wallets], self.tags)
        return {w: (r, reason) for w, r, reason in rows.select("wallet", "risk", "reason").iter_rows()}

    def missing_baseline(self) -> list[str]:
        return [w for w in self.wallets if w not in self.state.risk]

    def baseline(self, store: GraphStore) -> None:
        """Screen the wallets without a kept level (no alert) and keep their levels."""
        missing = self.missing_baseline()
        if missing:
            for wallet, (level, _) in self._screen(store, missing).items():
                self.state.risk[wallet] = level
            self.state.save()

    def after_load(self, store: GraphStore, frames: FrameSet, targets: Targets) -> list[dict[str, Any]]:
        """Re-screen the listed wallets that appear in ``frames``; the ``risk_rise`` alerts."""
        last = _last_transactions(frames, self.wallets)
        if not last:
            return []
        alerts = []
        for wallet, (level, reason) in sorted(self._screen(store, sorted(last)).items()):
            before = self.state.risk.get(wallet, "none")
            if _rank(level) > max(0, _rank(before)):  # unknown -> none is no rise
                alerts.append(risk_alert(targets, wallet, before, level, reason, last[wallet]))
            self.state.risk[wallet] = level
        return alerts


def _last_transactions(frames: FrameSet, wallets: list[str]) -> dict[str, tuple[str, int, str, int]]:
    """wallet -> (txid, height, block hash, timestamp) of its last transaction in ``frames``."""
    if not wallets:
        return {}
    parts = [frames.outputs.select("txid", "address"), frames.inputs.select("txid", "address")] \
        if frames.transfers.height == 0 else [
            frames.transfers.select("txid", pl.col("from_address").alias("address")),
            frames.transfers.select("txid", pl.col("to_address").alias("address"))]
    touched = pl.concat(parts).filter(pl.col("address").is_in(wallets)).unique()
    if touched.height == 0:
        return {}
    blocks = frames.transactions.select("txid", "block_height", "block_hash", "timestamp", "position")
    ordered = touched.join(blocks, on="txid").sort("address", "block_height", "position", "txid")
    last = ordered.group_by("address", maintain_order=True).last()
    return {a: (t, int(h), str(b), int(ts)) for a, t, h, b, ts in
            last.select("address", "txid", "block_height", "block_hash", "timestamp").iter_rows()}
