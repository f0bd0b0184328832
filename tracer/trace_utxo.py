# SPDX-License-Identifier: Apache-2.0
"""The UTXO engine: follow value output by output, forward or backward, under one taint model.

Shared design notes §5 is the specification; :func:`tracer.trace.trace` is the entry point and
:mod:`tracer.trace` describes the whole engine. Per hop the engine asks the
:class:`~tracer.frontier.Frontier` for every transaction that spends the followed outputs
(forward) or that created them (backward), in one batched call, and never touches a store
otherwise.

After every hop the taint of every outpoint is recomputed from the seed outputs over all the
transactions collected so far, in chain order (:func:`tracer.chain_order.chain_order`: block by
block, parents before children inside a block and among unconfirmed transactions; reversed for a
backward trace), so value reaching a transaction by two paths of different lengths is counted
once. Seeds are resolved by :mod:`tracer.trace_seeds` (an address's receipts, what it sent, one
output). An output nobody spent is ``held`` only when the store covers the blocks after it
(:attr:`~tracer.trace_types.TraceSpec.coverage`), else ``unverified``. Each
transaction shares its taint with :func:`tracer.taint.split` (forward) or
:func:`tracer.taint.split_backward` (backward, the transpose; its left-over is the haircut's
rounding): everything model-specific is in :mod:`tracer.taint` — FIFO after Anderson et al.,
"Bitcoin Redux", WEIS 2018; TIHO after Tironsakkul et al., "Probing the Mystery of
Cryptocurrency Theft: An Investigation into Methods for Taint Analysis", 2019; haircut and
poison as in Möser, Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC 2014.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import polars as pl

from tracer.chain_order import UtxoTx, chain_order, utxo_transactions
from tracer.frontier import Direction, Frontier
from tracer.taint import Taint, amount, full, none, split, split_backward
from tracer.trace_seeds import utxo_seeds
from tracer.trace_types import (
    ENDING_COLUMNS,
    HOP_COLUMNS,
    SEED_COLUMNS,
    Ending,
    TagLookup,
    Tags,
    TraceResult,
    TraceSpec,
    in_window,
    result_frame,
)

__all__ = ["UtxoTrace"]


class UtxoTrace:
    """One trace over a UTXO chain: the taint of every outpoint, recomputed in chain order each hop.

    :meth:`run` returns the result with its endings in the order found and no totals;
    :func:`tracer.trace.trace` sorts the endings and adds the totals.
    """

    def __init__(self, spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> None:
        self.spec, self.frontier = spec, frontier
        self.tags = Tags(tags, spec.chain, spec.stop_categories)
        self.forward = spec.direction is Direction.FORWARD
        self.txs: dict[str, UtxoTx] = {}
        self.depth: dict[str, int] = {}  # txid -> hop at which it was collected
        self.queries = 0
        self.seed_outputs: dict[tuple[str, int], tuple[str | None, int]] = {}  # outpoint -> address, value
        self.seed_rows: list[dict[str, Any]] = []
        self.by_address: set[tuple[str, int]] = set()  # seed outputs named by their address: followed if tagged
        self.created: dict[str, int | None] = {}  # txid -> block height, for the outputs that end unspent
        self.notes: list[str] = []
        self.expanded: set[tuple[str, int]] = set()  # outpoints whose next transaction was asked for
        self.outside_window: set[tuple[str, int]] = set()
        self.limited: dict[tuple[str, int], Ending] = {}

    # -- seeds -------------------------------------------------------------------------------
    def _load_seeds(self) -> None:
        found = utxo_seeds(self.spec, self.frontier)
        self.queries += found.queries
        self.notes.extend(found.notes)
        self.created.update((t, tx.block_height) for t, tx in found.transactions.items())
        for seed in found.outputs:
            point = (seed.txid, seed.index)
            tx = found.transactions.get(seed.txid)
            self.seed_outputs[point] = (seed.address, seed.value)
            if seed.by_address:
                self.by_address.add(point)
            self.seed_rows.append({
                "chain": self.spec.chain, "seed": seed.seed, "asset": "native", "address": seed.address,
                "txid": seed.txid, "position": str(seed.index), "block_height": tx.block_height if tx else None,
                "timestamp": tx.timestamp if tx else None, "value": str(seed.value),
            })
            if not self.forward and tx is not None:
                self.txs[seed.txid] = tx
                self.depth[seed.txid] = 0

    def _in_window(self, tx: UtxoTx) -> bool:
        return in_window(tx.timestamp, self.spec.since, self.spec.until)

    # -- propagation ---------------------------------------------------------------------------
    def _propagate(self) -> tuple[dict[tuple[str, int], Taint], dict[str, Taint], dict[tuple[str, int], int],
                                  dict[tuple[str, int], tuple[str, int] | None]]:
        """Taint of every outpoint (forward: outputs; backward: spent outputs), sinks and best parents."""
        model = self.spec.model
        taint: dict[tuple[str, int], Taint] = {}
        sink: dict[str, Taint] = {}
        overlap: dict[tuple[str, int], int] = {}
        parent: dict[tuple[str, int], tuple[str, int] | None] = {}
        for point, (_, value) in self.seed_outputs.items():
            taint[point] = full(model, value)
            parent[point] = None
        order = chain_order(self.txs)
        if not self.forward:
            order.reverse()
        for tx in order:
            if self.forward:
                ins = []
                best: tuple[int, tuple[str, int] | None] = (0, None)
                for prev_txid, prev_index, _, value in tx.inputs:
                    spent = (prev_txid, prev_index) if prev_txid is not None and prev_index is not None else None
                    t = taint.get(spent, none(model, value)) if spent else none(model, value)
                    ins.append((value, t))
                    if spent and amount(t) > best[0]:
                        best = (amount(t), spent)
                if tx.coinbase or not any(amount(t) for _, t in ins):
                    continue
                outs, fee = split(model, ins, [v for _, _, v in tx.outputs], tx.fee)
                sink[tx.txid] = fee
                for (index, _, _), t in zip(tx.outputs, outs, strict=True):
                    point = (tx.txid, index)
                    if point in self.seed_outputs:
                        if amount(t):
                            overlap[point] = amount(t)
                        continue
                    if amount(t):
                        taint[point] = t
                        parent[point] = best[1]
            else:
                outs_t = []
                best = (0, None)
                for index, _, value in tx.outputs:
                    point = (tx.txid, index)
                    t = taint.get(point, none(model, value))
                    outs_t.append((value, t))
                    if amount(t) > best[0]:
                        best = (amount(t), point)
                if not any(amount(t) for _, t in outs_t):
                    continue
                if tx.coinbase:
                    sink[tx.txid] = sum(amount(t) for _, t in outs_t)  # mined
                    continue
                ins_t, rest = split_backward(model, outs_t, [v for _, _, _, v in tx.inputs], tx.fee)
                sink[tx.txid] = rest  # haircut rounding (0 for the exact models)
                for (prev_txid, prev_index, _, _), t in zip(tx.inputs, ins_t, strict=True):
                    if prev_txid is None or prev_index is None or not amount(t):
                        continue
                    point = (prev_txid, prev_index)
                    if point in self.seed_outputs:
                        overlap[point] = overlap.get(point, 0) + amount(t)
                        continue
                    taint[point] = t
                    parent[point] = best[1]
        return taint, sink, overlap, parent

    # -- where each tainted outpoint stands ---------------------------------------------------------
    def _outpoint_depth(self, point: tuple[str, int]) -> int:
        if point in self.seed_outputs and self.forward:
            return 0
        if self.forward:
            return self.depth.get(point[0], 0)
        # backward: an input of a collected transaction is one hop beyond it
        return self._input_depth.get(point, 0)

    def _spent_by(self) -> dict[tuple[str, int], str]:
        spent: dict[tuple[str, int], str] = {}
        for tx in self.txs.values():
            for prev_txid, prev_index, _, _ in tx.inputs:
                if prev_txid is not None and prev_index is not None:
                    spent[(prev_txid, prev_index)] = tx.txid
        return spent

    def _address_of(self, point: tuple[str, int]) -> str | None:
        if point in self.seed_outputs:
            return self.seed_outputs[point][0]
        return self._addresses.get(point)

    def _index_addresses(self) -> None:
        self._addresses: dict[tuple[str, int], str | None] = {}
        self._input_depth: dict[tuple[str, int], int] = {}
        for tx in self.txs.values():
            for index, address, _ in tx.outputs:
                self._addresses[(tx.txid, index)] = address
            for prev_txid, prev_index, address, _ in tx.inputs:
                if prev_txid is not None and prev_index is not None:
                    self._addresses.setdefault((prev_txid, prev_index), address)
                    point = (prev_txid, prev_index)
                    d = self.depth[tx.txid] + 1
                    self._input_depth[point] = min(self._input_depth.get(point, d), d)

    def _frontier(self, taint: Mapping[tuple[str, int], Taint]) -> list[tuple[str, int]]:
        """Tainted outpoints to follow next (and the limit each of the others stopped at)."""
        spent = self._spent_by()
        candidates: list[tuple[str, int]] = []
        for point, t in taint.items():
            if point in self.expanded or not amount(t):
                continue
            if self.forward and point in spent:
                continue
            if not self.forward and (point[0] in self.txs):
                continue
            address = self._address_of(point)
            if address is None or (self.tags.stops(address) and point not in self.by_address):
                continue
            if amount(t) < self.spec.min_value:
                self.limited[point] = Ending.BELOW_MIN
                continue
            if self.spec.beyond_hops(self._outpoint_depth(point)):
                self.limited[point] = Ending.HOP_LIMIT
                continue
            self.limited.pop(point, None)
            candidates.append(point)
        if self.spec.max_fanout is not None:
            # at most K outputs followed per transaction (forward: the outputs it created;
            # backward: the inputs it spent), counting those already followed at earlier hops; seed
            # outputs are what the investigator asked to follow and are never capped
            group_of = (lambda p: p[0]) if self.forward else (lambda p: spent.get(p, p[0]))
            used: dict[str, int] = defaultdict(int)
            for point in self.expanded - self.seed_outputs.keys():
                used[group_of(point)] += 1
            by_group: dict[str, list[tuple[str, int]]] = defaultdict(list)
            kept = []
            for point in candidates:
                if point in self.seed_outputs:
                    kept.append(point)
                else:
                    by_group[group_of(point)].append(point)
            for group, points in by_group.items():
                points.sort(key=lambda p: (-amount(taint[p]), p))
                room = max(self.spec.max_fanout - used[group], 0)
                kept.extend(points[:room])
                for p in points[room:]:
                    self.limited[p] = Ending.FANOUT_LIMIT
            candidates = kept
        return sorted(candidates)

    def run(self) -> TraceResult:
        self._load_seeds()
        self._index_addresses()
        # until nothing is left to follow: an output whose taint rises above --min-value only when a
        # later hop adds another path to it is followed then (depth still bounds every path)
        while True:
            taint, _, _, _ = self._propagate()
            self.tags.resolve({a for p in taint if (a := self._address_of(p)) is not None})
            points = self._frontier(taint)
            if not points:
                break
            self.expanded.update(points)
            point_depth = {p: self._outpoint_depth(p) for p in points}
            if self.forward:
                frame = pl.DataFrame({"txid": [p[0] for p in points], "index": [p[1] for p in points]},
                                     schema={"txid": pl.String(), "index": pl.Int64()})
                found = utxo_transactions(self.frontier.spending(self.spec.chain, frame))
            else:
                found = utxo_transactions(self.frontier.transactions(self.spec.chain, sorted({p[0] for p in points})))
            self.queries += 1
            for txid, tx in found.items():
                if txid in self.txs:
                    continue
                if not self._in_window(tx):
                    if self.forward:
                        self.outside_window.update(
                            (p, i) for p, i, _, _ in tx.inputs if p is not None and i is not None
                        )
                    else:
                        self.outside_window.update((txid, index) for index, _, _ in tx.outputs)
                    continue
                self.txs[txid] = tx
                self.created[txid] = tx.block_height
                # forward: one hop beyond the shallowest followed output it spends; backward: the
                # transaction that created followed inputs, at their depth (the store answered for them)
                if self.forward:
                    spent = [point_depth[(p, i)] for p, i, _, _ in tx.inputs
                             if p is not None and i is not None and (p, i) in point_depth]
                    self.depth[txid] = 1 + min(spent, default=max(point_depth.values()))
                else:
                    made = [point_depth[(txid, i)] for i, _, _ in tx.outputs if (txid, i) in point_depth]
                    self.depth[txid] = min(made, default=max(point_depth.values()))
            self._index_addresses()
        taint, sink, overlap, parent = self._propagate()
        self.tags.resolve({a for p in taint if (a := self._address_of(p)) is not None})
        self._frontier(taint)  # classify what was left at the limits
        return self._result(taint, sink, overlap, parent)

    # -- result ------------------------------------------------------------------------------
    def _result(self, taint: dict[tuple[str, int], Taint], sink: dict[str, Taint],
                overlap: dict[tuple[str, int], int],
                parent: dict[tuple[str, int], tuple[str, int] | None]) -> TraceResult:
        chain, model = self.spec.chain, str(self.spec.model)
        spent = self._spent_by()
        hop_ids: dict[tuple[str, int], int] = {}
        hops: list[dict[str, Any]] = []
        ordered = chain_order(self.txs)
        if not self.forward:
            ordered.reverse()
        values = {(tx.txid, i): v for tx in self.txs.values() for i, _, v in tx.outputs}
        for tx in ordered:
            if self.forward:
                points = [((tx.txid, i), a, v) for i, a, v in tx.outputs]
            else:
                points = [((p, i), a, v) for p, i, a, v in tx.inputs if p is not None and i is not None]
            for point, address, value in points:
                t = taint.get(point)
                if t is None or not amount(t) or point in self.seed_outputs:
                    continue
                prev = parent.get(point)
                hop_ids[point] = len(hops)
                if self.forward:
                    from_address = self._address_of(prev) if prev else None
                    to_address = address
                else:
                    from_address = address
                    to_address = self._address_of(prev) if prev else None
                hops.append({
                    "hop_id": len(hops), "depth": self.depth[tx.txid] + (0 if self.forward else 1), "chain": chain,
                    "txid": tx.txid, "block_height": tx.block_height, "block_hash": tx.block_hash,
                    "timestamp": tx.timestamp, "kind": "utxo", "asset": "native", "from_address": from_address,
                    "to_address": to_address,
                    "position": str(point[1]) if self.forward else f"{point[0]}:{point[1]}",
                    "value": str(value if self.forward else values.get(point, value)), "taint": str(amount(t)),
                    "previous_hop": hop_ids.get(prev) if prev else None, "model": model, "source": tx.source,
                })
        endings: list[dict[str, Any]] = []

        def end(kind: Ending, point: tuple[str, int] | None, value: int, txid: str | None, address: str | None,
                depth: int | None, through: int | None = None) -> None:
            label = category = None
            if kind is Ending.ENTITY and address is not None:
                hit = self.tags.stops(address)
                if hit:
                    label, category = hit
            endings.append({
                "chain": chain, "ending": str(kind), "asset": "native", "address": address, "label": label,
                "category": category, "amount": str(value), "depth": depth, "txid": txid,
                "position": str(point[1]) if point else None, "hop_id": hop_ids.get(point) if point else None,
                "through_block": through,
            })

        for txid, t in sorted(sink.items()):
            if amount(t):
                tx = self.txs[txid]
                kind = Ending.FEE if self.forward else (Ending.MINED if tx.coinbase else Ending.ROUNDING)
                end(kind, None, amount(t), txid, None, self.depth.get(txid))
        for point, value in sorted(overlap.items()):
            end(Ending.SEED, point, value, point[0], self._address_of(point), None)
        for point, t in sorted(taint.items()):
            if not amount(t):
                continue
            if self.forward and point in spent:
                continue
            if not self.forward and point[0] in self.txs:
                continue
            address = self._address_of(point)
            depth = self._outpoint_depth(point)
            through = None
            if address is None:
                kind = Ending.NO_ADDRESS
            elif self.tags.stops(address) and point not in self.by_address:
                kind = Ending.ENTITY
            elif point in self.limited:
                kind = self.limited[point]
            elif point in self.outside_window:
                kind = Ending.TIME_WINDOW
            elif self.forward:
                # asked the store for its spender: none. Proven unspent only if the store holds every
                # block from the one that created it to the end of that covered range
                through = self.spec.covered_through(self.created.get(point[0]))
                kind = Ending.HELD if through is not None else Ending.UNVERIFIED
            else:
                kind = Ending.NOT_IN_STORE  # asked for the transaction that created it: the store lacks it
            end(kind, point, amount(t), point[0], address, depth, through)
        return TraceResult(
            spec=self.spec,
            seeds=result_frame(self.seed_rows, SEED_COLUMNS),
            hops=result_frame(hops, HOP_COLUMNS),
            endings=result_frame(endings, ENDING_COLUMNS),
            totals={},
            queries=self.queries,
            notes=list(self.notes),
        )
