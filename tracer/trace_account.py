# SPDX-License-Identifier: Apache-2.0
"""The account engine: follow value address by address, forward or backward, under one taint model.

Shared design notes §5 is the specification; :func:`tracer.trace.trace` is the entry point and
:mod:`tracer.trace` describes the whole engine. Per hop the engine asks the
:class:`~tracer.frontier.Frontier` for the receipts and the payments of the newly reached
addresses (two batched calls), and never touches a store otherwise.

An address is a pool per asset (:class:`tracer.taint.Pool`): after every hop, every transfer of
the collected addresses is replayed in chain order (block, position, transaction, kind, trace
path, log index), forward in time for a forward trace, backward in time with receipts and
payments swapped for a backward one, so value reaching an address by two paths of different
lengths is counted once. The pool holds everything model-specific, in :mod:`tracer.taint`: FIFO
after Anderson et al., "Bitcoin Redux", WEIS 2018; TIHO after Tironsakkul et al., "Probing the
Mystery of Cryptocurrency Theft: An Investigation into Methods for Taint Analysis", 2019; haircut
and poison as in Möser, Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC
2014. The time window is applied here, not in the store query, so value that moved on outside
it ends as ``time_window`` rather than as held or of unknown origin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import polars as pl

from tracer.errors import InputError
from tracer.frontier import Direction, Frontier, TransferFilter
from tracer.taint import Pool, Taint, amount, full, none
from tracer.trace_types import (
    ENDING_COLUMNS,
    HOP_COLUMNS,
    SEED_COLUMNS,
    Ending,
    TagLookup,
    Tags,
    TraceResult,
    TraceSpec,
    result_frame,
)

__all__ = ["AccountTrace"]

_KIND_ORDER = {"fee": 0, "native": 1, "internal": 2, "token": 3}
_ORDER = itemgetter("_order")  # a transfer's place in chain order, computed once when fetched


def _path_key(path: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split(".") if p.isdigit()) if path else ()


class AccountTrace:
    """One trace over an account chain: every address a pool per asset, run over its transfers in time order.

    :meth:`run` returns the result with its endings in the order found and no totals;
    :func:`tracer.trace.trace` sorts the endings and adds the totals.
    """

    def __init__(self, spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> None:
        self.spec, self.frontier = spec, frontier
        self.tags = Tags(tags, spec.chain, spec.stop_categories)
        self.forward = spec.direction is Direction.FORWARD
        self.seeds = {s.address for s in spec.seeds if s.address is not None}
        self.collected: dict[str, int] = {a: 0 for a in self.seeds}  # address -> depth
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.ordered: list[dict[str, Any]] = []  # self.rows' values in chain order (see _fetch)
        self.queries = 0
        # transfers are fetched without the time window, which is applied here: a pool whose value
        # moved on outside the window ends as TIME_WINDOW, not as held or of unknown origin
        self.where = TransferFilter(assets=spec.assets)
        self.outside: set[tuple[str, str]] = set()  # (address, asset) with value moving outside the window
        self.limited: dict[tuple[str, str], Ending] = {}

    def _fetch(self, addresses: list[str]) -> None:
        big = 1 << 62
        kind_order = _KIND_ORDER
        added: list[dict[str, Any]] = []
        for direction in (Direction.FORWARD, Direction.BACKWARD):
            frame = self.frontier.transfers(self.spec.chain, addresses, direction, self.where)
            self.queries += 1
            if frame.height == 0:
                continue
            # columnar: exact amounts as Python ints straight from polars (DECIMAL(38,0) -> Int128),
            # rows as plain dicts built from tuples (much cheaper than iter_rows(named=True))
            amounts = frame["value"].cast(pl.Int128).to_list()
            overflows = frame["value_overflow"].to_list()
            columns = frame.columns
            at = [columns.index(c) for c in ("txid", "kind", "log_index", "trace_path", "block_height", "tx_index")]
            for values, value, overflow in zip(frame.iter_rows(), amounts, overflows, strict=True):
                txid, kind, log_index, path, block, position = (values[i] for i in at)
                key = (txid, kind, log_index, path)
                if key in self.rows:  # the same transfer, seen from its other end
                    continue
                row = dict(zip(columns, values, strict=True))
                if not self._in_window(row):
                    self._note_outside(row)
                    continue
                row["amount"] = value if value is not None else int(overflow)
                row["_order"] = (
                    block if block is not None else big, position if position is not None else big, txid,
                    kind_order[kind], _path_key(path) if path else (), log_index if log_index is not None else -1,
                )
                self.rows[key] = row
                added.append(row)
        if added:
            # the events stay sorted: append the new ones and let timsort merge the two sorted runs
            added.sort(key=_ORDER)
            self.ordered.extend(added)
            self.ordered.sort(key=_ORDER)

    def _in_window(self, row: Mapping[str, Any]) -> bool:
        stamp, since, until = row["timestamp"], self.spec.since, self.spec.until
        if stamp is None:
            return until is None
        return (since is None or stamp >= since) and (until is None or stamp <= until)

    def _note_outside(self, row: Mapping[str, Any]) -> None:
        """Forward: a payment after --until moved value on; backward: a receipt before --since funded it."""
        stamp = row["timestamp"]
        if self.forward and (stamp is None or (self.spec.until is not None and stamp > self.spec.until)):
            self.outside.add((row["from_address"], row["asset"]))
        if not self.forward and stamp is not None and self.spec.since is not None and stamp < self.spec.since:
            if row["to_address"] is not None:
                self.outside.add((row["to_address"], row["asset"]))

    def _events(self) -> list[dict[str, Any]]:
        return self.ordered if self.forward else self.ordered[::-1]

    def _propagate(self) -> tuple[list[tuple[dict[str, Any], int]], dict[tuple[str, str], Pool],
                                  dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """One pass over every transfer of the collected addresses, in time order (backward: reversed).

        Returns the tainted events (row, taint), the pools, value injected per (seed, asset) and
        value that flowed back into seeds per (seed, asset). The loop is the engine's hot path
        (it runs once per hop over every event collected so far): names are bound locally.
        """
        model = self.spec.model
        pools: dict[tuple[str, str], Pool] = {}
        injected: dict[tuple[str, str], int] = defaultdict(int)
        overlap: dict[tuple[str, str], int] = defaultdict(int)
        moved: list[tuple[dict[str, Any], int]] = []
        collected, seeds, forward = self.collected, self.seeds, self.forward
        get_pool, record = pools.get, moved.append

        def pool(address: str, asset: str) -> Pool:
            key = (address, asset)
            found = get_pool(key)
            if found is None:
                found = pools[key] = Pool(model)
            return found

        for row in self._events():
            value, asset, kind = row["amount"], row["asset"], row["kind"]
            if forward:  # value leaves the sender for the recipient
                source, target = row["from_address"], row["to_address"]
                carried: Taint = pool(source, asset).pay(value) if source in collected else 0
                if kind == "fee" or target is None:  # a sink: paid to the validator or burned
                    if amount(carried):
                        record((row, amount(carried)))
                    continue
                if target in seeds:  # everything a seed receives is seed value
                    pool(target, asset).receive(value, full(model, value))
                    injected[(target, asset)] += value
                    if amount(carried):
                        overlap[(target, asset)] += amount(carried)
                        record((row, amount(carried)))
                    continue
            else:  # backward: demand runs from the recipient back to the sender
                source, target = row["to_address"], row["from_address"]
                if kind == "fee":  # a fee its sender paid is spending that carries no target value
                    if target in collected and target not in seeds:
                        pool(target, asset).receive(value, none(model, value))
                    continue
                if source in seeds:  # everything a seed received is target value
                    carried = full(model, value)
                    injected[(source, asset)] += value
                elif source in collected:
                    carried = pool(source, asset).pay(value)
                else:
                    carried = 0
                if target in seeds:
                    if amount(carried):
                        overlap[(target, asset)] += amount(carried)
                        record((row, amount(carried)))
                    continue
            if target in collected:
                pool(target, asset).receive(value, carried)
            if amount(carried):
                record((row, amount(carried)))
        return moved, pools, injected, overlap

    def _arrivals(self, moved: list[tuple[dict[str, Any], int]]) -> dict[tuple[str, str], tuple[int, int, str]]:
        """Taint reaching addresses outside the collected set: (address, asset) -> (amount, depth, via)."""
        out: dict[tuple[str, str], tuple[int, int, str]] = {}
        for row, value in moved:
            if row["kind"] == "fee" and self.forward:
                continue
            source, target = (row["from_address"], row["to_address"]) if self.forward else (
                row["to_address"], row["from_address"])
            if target is None or target in self.collected:
                continue
            key = (target, row["asset"])
            depth = self.collected.get(source, 0) + 1
            total, d, via = out.get(key, (0, depth, source))
            out[key] = (total + value, min(d, depth), via)
        return out

    def _next(self, arrivals: dict[tuple[str, str], tuple[int, int, str]]) -> list[str]:
        self.tags.resolve({a for a, _ in arrivals})
        candidates: list[tuple[str, str]] = []
        self.limited.clear()
        for key, (value, depth, _) in arrivals.items():
            if self.tags.stops(key[0]):
                continue
            if value < self.spec.min_value:
                self.limited[key] = Ending.BELOW_MIN
            elif depth >= self.spec.hops:
                self.limited[key] = Ending.HOP_LIMIT
            else:
                candidates.append(key)
        if self.spec.max_fanout is not None:
            by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for key in candidates:
                by_source[arrivals[key][2]].append(key)
            candidates = []
            for keys in by_source.values():
                keys.sort(key=lambda k: (-arrivals[k][0], k))
                candidates.extend(keys[: self.spec.max_fanout])
                for k in keys[self.spec.max_fanout:]:
                    self.limited[k] = Ending.FANOUT_LIMIT
        return sorted({a for a, _ in candidates})

    def run(self) -> TraceResult:
        self._fetch(sorted(self.seeds))
        if not self.rows and self.outside:
            raise InputError("every transfer of the seed address(es) lies outside the --since/--until window")
        if not any(r["to_address"] in self.seeds or r["from_address"] in self.seeds for r in self.rows.values()):
            raise InputError(
                f"seed address(es) with no transfers in the store: {', '.join(sorted(self.seeds))} "
                "(ingest their blocks, run `tracer ingest seeds`, or use --fetch)"
            )
        while True:  # until nothing is left to follow (depth bounds it: see _next)
            moved, _, _, _ = self._propagate()
            arrivals = self._arrivals(moved)
            frontier = self._next(arrivals)
            if not frontier:
                break
            depths = self._depths(arrivals)
            for address in frontier:
                self.collected[address] = depths[address]
            self._fetch(frontier)
        moved, pools, injected, overlap = self._propagate()
        arrivals = self._arrivals(moved)
        self._next(arrivals)
        return self._result(moved, pools, injected, overlap, arrivals)

    @staticmethod
    def _depths(arrivals: Mapping[tuple[str, str], tuple[int, int, str]]) -> dict[str, int]:
        """The smallest depth at which each address was reached (over its assets)."""
        out: dict[str, int] = {}
        for (address, _), (_, depth, _) in arrivals.items():
            if depth < out.get(address, depth + 1):
                out[address] = depth
        return out

    def _result(self, moved: list[tuple[dict[str, Any], int]], pools: dict[tuple[str, str], Pool],
                injected: dict[tuple[str, str], int], overlap: dict[tuple[str, str], int],
                arrivals: dict[tuple[str, str], tuple[int, int, str]]) -> TraceResult:
        chain, model = self.spec.chain, str(self.spec.model)
        seeds = [{"chain": chain, "seed": address, "asset": asset, "address": address, "txid": None,
                  "position": None, "block_height": None, "timestamp": None, "value": str(value)}
                 for (address, asset), value in sorted(injected.items())]
        hops: list[dict[str, Any]] = []
        last_hop: dict[tuple[str, str], int] = {}  # (address, asset) -> hop that brought it most taint
        best_in: dict[tuple[str, str], int] = {}
        for row, value in moved:
            source, target = (row["from_address"], row["to_address"]) if self.forward else (
                row["to_address"], row["from_address"])
            prev = last_hop.get((source, row["asset"])) if source is not None else None
            hop_id = len(hops)
            position = row["trace_path"] if row["kind"] in ("internal", "fee") else (
                str(row["log_index"]) if row["log_index"] is not None else None)
            hops.append({
                "hop_id": hop_id, "depth": self.collected.get(source, 0) + 1 if source else None, "chain": chain,
                "txid": row["txid"], "block_height": row["block_height"], "block_hash": row["block_hash"],
                "timestamp": row["timestamp"], "kind": row["kind"], "asset": row["asset"],
                "from_address": row["from_address"], "to_address": row["to_address"], "position": position,
                "value": str(row["amount"]), "taint": str(value), "previous_hop": prev, "model": model,
                "source": row["source"],
            })
            if target is not None and value > best_in.get((target, row["asset"]), 0):
                best_in[(target, row["asset"])] = value
                last_hop[(target, row["asset"])] = hop_id
        endings: list[dict[str, Any]] = []

        def end(kind: Ending, address: str | None, asset: str, value: int, depth: int | None,
                txid: str | None = None, hop_id: int | None = None) -> None:
            hit = self.tags.stops(address) if kind is Ending.ENTITY else None
            endings.append({
                "chain": chain, "ending": str(kind), "asset": asset, "address": address,
                "label": hit[0] if hit else None, "category": hit[1] if hit else None, "amount": str(value),
                "depth": depth, "txid": txid, "position": None, "hop_id": hop_id,
            })

        sinks: dict[tuple[str | None, str], int] = defaultdict(int)
        for row, value in moved:
            target = row["to_address"] if self.forward else row["from_address"]
            if self.forward and (row["kind"] == "fee" or target is None):
                sinks[(target, row["asset"])] += value
        for (address, asset), value in sorted(sinks.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            end(Ending.FEE, address, asset, value, None)
        for (address, asset), value in sorted(overlap.items()):
            end(Ending.SEED, address, asset, value, 0, hop_id=last_hop.get((address, asset)))
        for (address, asset), p in sorted(pools.items()):
            if address in self.seeds and not self.forward:
                continue
            if p.tainted:
                kind = Ending.HELD if self.forward else Ending.UNKNOWN_ORIGIN
                if (address, asset) in self.outside:
                    kind = Ending.TIME_WINDOW
                end(kind, address, asset, p.tainted, self.collected.get(address),
                    hop_id=last_hop.get((address, asset)))
        for (address, asset), (value, depth, _) in sorted(arrivals.items()):
            if self.tags.stops(address):
                kind = Ending.ENTITY
            else:
                kind = self.limited.get((address, asset), Ending.NOT_IN_STORE)
            end(kind, address, asset, value, depth, hop_id=last_hop.get((address, asset)))
        return TraceResult(
            spec=self.spec, seeds=result_frame(seeds, SEED_COLUMNS), hops=result_frame(hops, HOP_COLUMNS),
            endings=result_frame(endings, ENDING_COLUMNS), totals={}, queries=self.queries,
        )
