# SPDX-License-Identifier: Apache-2.0
"""``tracer watch``: follow a case's chains block by block and raise alerts when traced money moves.

Each poll of a chain asks its node for the tip; when there are blocks past the case's ingest
checkpoint (or the block the watch last saw at the top was replaced), they are loaded by the one
block-range pipeline (:func:`jobs.ingest_runs.ingest_utxo` / :func:`~jobs.ingest_runs.ingest_evm`:
checkpointed, reorg-safe, bracketed in the audit log as ``ingest.utxo`` / ``ingest.evm``). Every store
load is handed, before its checkpoint moves, to the rules of :mod:`tracer.watch_rules` with the
case's targets (:mod:`jobs.watch_targets`) and to the watch list (:mod:`jobs.watch_risk`); the alerts
go to :class:`jobs.watch_sink.AlertSink`.

Before loading, every alert still standing within ``REORG_WINDOW`` blocks of the tip is checked
against the node's block hash at its height: an alert whose block left the best chain is followed
by its retraction (same id, rule ``retracted``). This is derived from the audit log and the node
alone, so a kill between the pipeline's reorg repair and the retraction loses nothing.

A watch starts at the block after the case's checkpoint (or, without one, after the node's tip when
it first runs; ``watch.start`` in the audit log says where). Only blocks: the mempool is not watched
(an unconfirmed transaction can be replaced or dropped; alerts are about mined blocks). A node that
cannot be reached is retried with a growing delay (one line when it goes down, one when it is back);
with ``once`` the watch stops instead (exit 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.bitcoin.node import BitcoinNode
from adapters.evm.node import EvmNode
from graph.base import GraphStore
from jobs import ingest_runs
from jobs.block_ingest import REORG_WINDOW
from jobs.checkpoints import Checkpoint
from jobs.ingest_runs import RangeRequest
from jobs.session import Session
from jobs.settings import Settings
from jobs.sources import node_url
from jobs.stores import checkpoint_path, open_case_store_for_reading
from jobs.trace_catalog import TraceRun
from jobs.watch_risk import WatchList, read_watch_list
from jobs.watch_sink import AlertSink, ExecHook
from jobs.watch_state import WatchState, watch_lock
from jobs.watch_targets import ServiceTags, case_chains, case_targets, trace_runs
from jobs.workspace import Case
from tracer.errors import InputError, SourceUnavailableError
from tracer.schema import FrameSet
from tracer.watch_rules import Targets, account_alerts, exchange_candidates, order_alerts, retraction, utxo_alerts

__all__ = ["WatchRequest", "WatchOutcome", "watch_case", "MAX_BACKOFF"]

#: the longest wait between two attempts to reach a node that is down (seconds)
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class WatchRequest:
    """What ``tracer watch`` was asked."""

    case: str
    chain: str | None = None
    node: str | None = None
    interval: float = 30.0
    once: bool = False
    alerts: Path | None = None
    watch_list: Path | None = None
    exec_command: str | None = None
    exec_timeout: float = 30.0
    batch_blocks: int = 200


@dataclass
class WatchOutcome:
    """What a watch did: alerts raised by this process (retractions included), polls, chains."""

    alerts: int = 0
    polls: int = 0
    chains: list[str] = field(default_factory=list)
    blocks_loaded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"alerts": self.alerts, "polls": self.polls, "chains": self.chains, "blocks_loaded": self.blocks_loaded}


class _Runs:
    """The case's trace runs, read again when the audit log records a new one."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.seen = -1
        self.runs: list[TraceRun] = []

    def current(self) -> list[TraceRun]:
        count = sum(1 for e in self.case.audit.entries() if e.action == "trace.run")
        if count != self.seen:
            self.runs, self.seen = trace_runs(self.case), count
        return self.runs


class _ChainWatch:
    """The watch of one chain: poll, retract, ingest with the rules."""

    def __init__(self, session: Session, case: Case, chain: str, url: str, sink: AlertSink,
                 wallets: list[str], batch_blocks: int) -> None:
        self.session, self.case, self.url, self.sink = session, case, url, sink
        self.info = session.settings.chains.get(chain)
        self.chain = self.info.key
        self.batch_blocks = batch_blocks
        self.state = WatchState.load(case, self.chain)
        self.tags = ServiceTags(session.settings, self.chain)
        self.risk = WatchList(session.settings, self.chain, wallets, self.state) if wallets else None
        self.failures = 0
        self.due = 0.0
        self.blocks_loaded = 0

    def _node(self) -> BitcoinNode | EvmNode:
        return EvmNode(self.url, self.info) if self.info.is_account else BitcoinNode(self.url, self.info)

    def targets_of(self, runs: _Runs) -> Callable[[], Targets]:
        """The targets of this chain, read when needed (only when there are blocks to load)."""
        return lambda: case_targets(self.session.settings, self.case, self.chain, runs.current())

    def poll(self, targets: Callable[[], Targets]) -> None:
        """One poll (raises ``SourceUnavailableError`` while the node is down)."""
        with self._node() as node:
            tip = node.tip_height()
            checkpoint = Checkpoint.load(checkpoint_path(self.session.settings, self.case, self.chain), self.chain)
            self._start(checkpoint, tip, node.source)
            self._retract(node, tip)
            assert self.state.from_height is not None
            first = max(self.state.from_height, (checkpoint.highest if checkpoint.highest is not None else -1) + 1)
            if first > tip and not self._moved(node, tip, checkpoint):
                return
            self._ingest(min(first, tip), tip, targets())
            self.state.top = (tip, node.block_hashes([tip])[0])
            self.state.save()

    def _start(self, checkpoint: Checkpoint, tip: int, source: str) -> None:
        if self.state.from_height is not None:
            return
        self.state.from_height = checkpoint.highest + 1 if checkpoint.highest is not None else tip + 1
        self.state.save()
        self.case.record("watch.start", {"chain": self.chain, "from_height": self.state.from_height,
                                         "source": source}, self.session.argv)

    def _moved(self, node: BitcoinNode | EvmNode, tip: int, checkpoint: Checkpoint) -> bool:
        """Whether the block the watch last saw at the top was replaced (a reorg that added no height)."""
        top = self.state.top
        if top is None:
            if checkpoint.highest is not None and checkpoint.highest <= tip:
                self.state.top = (checkpoint.highest, node.block_hashes([checkpoint.highest])[0])
                self.state.save()
            return False
        height, known = top
        return height > tip or str(node.block_hashes([height])[0]).lower() != known.lower()

    def _retract(self, node: BitcoinNode | EvmNode, tip: int) -> None:
        standing = [a for a in self.sink.log.standing(self.chain) if tip - REORG_WINDOW <= a["block_height"] <= tip]
        heights = sorted({int(a["block_height"]) for a in standing})
        if not heights:
            return
        now = {h: str(b).lower() for h, b in zip(heights, node.block_hashes(heights), strict=True)}
        for alert in order_alerts(standing):
            if now[int(alert["block_height"])] != str(alert["block_hash"]).lower():
                self.sink.emit(retraction(alert))

    def _ingest(self, first: int, last: int, targets: Targets) -> None:
        if self.risk is not None and self.risk.missing_baseline():
            store = open_case_store_for_reading(self.session.settings, self.case)
            try:
                self.risk.baseline(store)
            finally:
                store.close()
        request = RangeRequest(chain=self.chain, from_height=first, to_height=last, node=self.url,
                               case=self.case.name, batch_blocks=self.batch_blocks)
        ingest = ingest_runs.ingest_evm if self.info.is_account else ingest_runs.ingest_utxo
        summary = ingest(self.session, request, on_load=self._on_load(targets))
        self.blocks_loaded += summary.blocks_loaded

    def _on_load(self, targets: Targets) -> Callable[[GraphStore, FrameSet, list[int]], None]:
        rules = account_alerts if self.info.is_account else utxo_alerts

        def on_load(store: GraphStore, frames: FrameSet, heights: list[int]) -> None:
            alerts = rules(targets, frames, self.tags(store, exchange_candidates(targets, frames)))
            if self.risk is not None:
                alerts += self.risk.after_load(store, frames, targets)
            for alert in alerts:
                self.sink.emit(alert)
            if self.risk is not None:
                self.state.save()

        return on_load

    def failed(self, error: SourceUnavailableError, interval: float, now: float) -> None:
        """The node could not be reached: say so once, try again later (growing delay)."""
        self.failures += 1
        delay = min(max(1.0, interval) * 2 ** (self.failures - 1), max(MAX_BACKOFF, interval))
        if self.failures == 1:
            self.session.notify(f"{self.chain}: node unavailable ({error}); retrying with backoff until it answers")
        self.due = now + delay

    def answered(self, interval: float, now: float) -> None:
        if self.failures:
            self.session.notify(f"{self.chain}: node answers again (after {self.failures} failed attempt(s))")
        self.failures = 0
        self.due = now + interval


def _chains(settings: Settings, case: Case, request: WatchRequest, runs: list[TraceRun]) -> list[str]:
    if request.chain:
        return [settings.chains.get(request.chain).key]
    directory = checkpoint_path(settings, case, "x").parent
    checkpointed = [p.stem for p in directory.glob("*.json") if not p.name.startswith("tokens-")] \
        if directory.is_dir() else []
    chains = case_chains(case, runs, checkpointed)
    if not chains:
        raise InputError(f"case {case.name!r} has no chain to watch: add seeds, ingest blocks or give --chain")
    if request.node and len(chains) > 1:
        raise InputError(f"--node needs --chain: case {case.name!r} works on {', '.join(chains)}")
    return chains


def _check(request: WatchRequest) -> ExecHook | None:
    if request.interval <= 0:
        raise InputError("--interval must be more than 0 seconds")
    if request.batch_blocks < 1:
        raise InputError("--batch-blocks must be at least 1")
    return ExecHook(request.exec_command, request.exec_timeout) if request.exec_command is not None else None


def watch_case(session: Session, request: WatchRequest, shown: Callable[[dict[str, Any]], None],
               sleep: Callable[[float], None] = time.sleep) -> WatchOutcome:
    """Watch ``request.case`` (see the module docstring) until interrupted, or once with ``request.once``.
    Bad input (unknown case, chain without a node, bad ``--exec``, nothing to watch) is refused before
    anything is written."""
    settings = session.settings
    hook = _check(request)
    case = session.workspace.open(request.case)
    runs = _Runs(case)
    chains = _chains(settings, case, request, runs.current())
    urls = {chain: node_url(settings, chain, request.node) for chain in chains}
    listed = read_watch_list(settings, request.watch_list, request.chain and chains[0]) \
        if request.watch_list is not None else {}
    if all(case_targets(settings, case, c, runs.runs).empty for c in chains) and not any(listed.get(c) for c in chains):
        raise InputError(f"case {case.name!r} has nothing to watch on {', '.join(chains)}: add seeds, run a trace "
                         "or give --watch-list")
    with watch_lock(case):
        sink = AlertSink(case, session.argv, request.alerts, hook, shown, session.notify)
        watches = [_ChainWatch(session, case, c, urls[c], sink, listed.get(c, []), request.batch_blocks)
                   for c in chains]
        outcome = WatchOutcome(chains=chains)
        while True:
            _poll_due(watches, request, runs, outcome)
            outcome.alerts, outcome.blocks_loaded = sink.raised, sum(w.blocks_loaded for w in watches)
            if request.once:
                return outcome
            sleep(max(0.0, min(w.due for w in watches) - time.monotonic()))


def _poll_due(watches: list[_ChainWatch], request: WatchRequest, runs: _Runs, outcome: WatchOutcome) -> None:
    """Poll every chain whose time has come."""
    for watch in watches:
        now = time.monotonic()
        if watch.due > now:
            continue
        outcome.polls += 1
        try:
            watch.poll(watch.targets_of(runs))
        except SourceUnavailableError as exc:
            if request.once:
                raise
            watch.failed(exc, request.interval, time.monotonic())
        else:
            watch.answered(request.interval, time.monotonic())
