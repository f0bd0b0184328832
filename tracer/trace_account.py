# SPDX-License-Identifier: Apache-2.0
"""The account engine: follow value address by address, forward or backward, under one taint model.

Shared design notes §5 is the specification; :func:`tracer.trace.trace` is the entry point and
:mod:`tracer.trace` describes the whole engine. Per hop the engine asks the
:class:`~tracer.frontier.Frontier` for the receipts and the payments of the newly reached
addresses (two batched calls), and never touches a store otherwise.

An address is a pool per asset (:class:`tracer.taint.Pool`): after every hop, every transfer of
the collected addresses is replayed in chain order (:func:`tracer.chain_order.transfer_order`:
block, position, transaction, kind, trace path or CSV row, log index), forward in time for a
forward trace, backward in time with receipts and payments swapped for a backward one, so value
reaching an address by two paths of different lengths is counted once. The pool holds everything
model-specific, in :mod:`tracer.taint`: FIFO after Anderson et al., "Bitcoin Redux", WEIS 2018;
TIHO after Tironsakkul et al., "Probing the Mystery of Cryptocurrency Theft: An Investigation into
Methods for Taint Analysis", 2019; haircut and poison as in Möser, Böhme and Breuker, "Towards
Risk Scoring of Bitcoin Transactions", FC 2014. The time window is applied here, not in the store
query, so value that moved on outside it ends as ``time_window`` rather than as held or of unknown
origin.

Seeds (:mod:`tracer.trace_seeds`): a *received* seed address is a pool whose every receipt is seed
value; a *sent* or *transfer* seed names transfer rows, each fully tainted from its recipient on
(hop 0). What this engine adds to the evidence: a balance left in a pool is ``held`` only when the
store covers the blocks after the taint arrived (:attr:`TraceSpec.coverage`), else
``unverified``; a payment larger than the balance the store knows is a *shortfall* (the store lacks
part of the address's history), listed in :attr:`TraceResult.shortfalls` and the notes;
``--max-fanout`` caps, per paying address and asset, how many recipients are ever followed (the
largest first, ties by address), as the UTXO engine caps the outputs followed per transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import polars as pl

from tracer.chain_order import transfer_order
from tracer.conversion_routes import RowKey
from tracer.errors import InputError
from tracer.frontier import ConversionLookup, Direction, Frontier, TransferFilter, TransferLookup
from tracer.taint import Model, Pool, Ranges, Taint, amount, full, none
from tracer.trace_account_routes import RouteSteps
from tracer.trace_seeds import account_movements
from tracer.trace_types import (
    CONVERSION_COLUMNS,
    ENDING_COLUMNS,
    HOP_COLUMNS,
    SEED_COLUMNS,
    SHORTFALL_COLUMNS,
    Ending,
    TagLookup,
    Tags,
    TraceResult,
    TraceSpec,
    in_window,
    result_frame,
    window_text,
)

__all__ = ["AccountTrace"]

_ORDER = itemgetter("_order")  # a transfer's place in chain order, computed once when fetched
#: (address, asset) -> (tainted value arriving, depth, the first address it came from; None for a seed movement)
Arrivals = dict[tuple[str, str], tuple[int, int, str | None]]


def _position(row: Mapping[str, Any]) -> str | None:
    """Where a transfer sits in its transaction, as evidence: call path, else log index, else CSV row
    (a conversion route: the log index of its first conversion event)."""
    if row["kind"] == "conversion":
        return str(next(s.position for s in row["_route"].steps if s.converts))
    if row["kind"] in ("internal", "fee") or row["log_index"] is None:
        return row["trace_path"]
    return str(row["log_index"])


class AccountTrace(RouteSteps):
    """One trace over an account chain: every address a pool per asset, run over its transfers in time order.

    :meth:`run` returns the result with its endings in the order found and no totals;
    :func:`tracer.trace.trace` sorts the endings and adds the totals.
    """

    def __init__(self, spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> None:
        self.spec, self.frontier = spec, frontier
        self.tags = Tags(tags, spec.chain, spec.stop_categories)
        self.forward = spec.direction is Direction.FORWARD
        self.seeds = {s.address for s in spec.seeds if s.kind == "received" and s.address is not None}
        self.collected: dict[str, int] = {a: 0 for a in self.seeds}  # address -> depth
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.ordered: list[dict[str, Any]] = []  # self.rows' values in chain order (see _fetch)
        self.queries = 0
        # transfers are fetched without the time window, which is applied here: a pool whose value
        # moved on outside the window ends as TIME_WINDOW, not as held or of unknown origin
        self.where = TransferFilter(assets=spec.assets)
        self.outside: set[tuple[str, str]] = set()  # (address, asset) with value moving outside the window
        self.received_outside: set[str] = set()  # recipients of rows dropped by the window
        self.limited: dict[tuple[str, str], Ending] = {}
        self.movement_seeds: list[dict[str, Any]] = []  # seed rows of sent / transfer seeds
        self.shares = {s.text: s.taint for s in spec.seeds if s.taint is not None}  # seeds tracing part of a transfer
        self.followed: dict[tuple[str, str], set[str]] = defaultdict(set)  # (payer, asset) -> recipients followed
        self.short_first: dict[tuple[str, str], dict[str, Any]] = {}  # first payment beyond the known balance
        # conversions (tracer.conversion_routes): legs and relayed rows replaced by routes, the
        # transactions already asked about, every row by transaction, each route's taint per step
        self.consumed: set[RowKey | tuple[Any, ...]] = set()
        self.checked: set[str] = set()
        self.by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.route_taint: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        self.follows_conversions = spec.assets is None and isinstance(frontier, ConversionLookup) and isinstance(
            frontier, TransferLookup)

    # -- transfers ---------------------------------------------------------------------------
    def _add(self, frame: pl.DataFrame, seeds: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """The rows of ``frame`` not seen before and inside the window, as dicts with their exact
        ``amount``, their ``_order`` and ``_seed`` (the text of the seed that names the row, or None)."""
        if frame.height == 0:
            return []
        # columnar: exact amounts as Python ints straight from polars (DECIMAL(38,0) -> Int128),
        # rows as plain dicts built from tuples (much cheaper than iter_rows(named=True))
        amounts = frame["value"].cast(pl.Int128).to_list()
        overflows = frame["value_overflow"].to_list()
        columns = frame.columns
        at = [columns.index(c) for c in ("txid", "kind", "log_index", "trace_path", "block_height", "tx_index")]
        named = seeds if seeds is not None else [None] * frame.height
        added: list[dict[str, Any]] = []
        for values, value, overflow, seed in zip(frame.iter_rows(), amounts, overflows, named, strict=True):
            txid, kind, log_index, path, block, position = (values[i] for i in at)
            key = (txid, kind, log_index, path)
            if key in self.rows:  # the same transfer, seen from its other end
                continue
            row = dict(zip(columns, values, strict=True))
            if not in_window(row["timestamp"], self.spec.since, self.spec.until):
                self._note_outside(row)
                continue
            row["amount"] = row["amount_from"] = value if value is not None else int(overflow)
            if row.get("token_id") is not None:  # an NFT / ERC-1155 id is its own asset: ids are not fungible
                row["asset"] = f"{row['asset']}#{row['token_id']}"
            row["asset_from"] = row["asset"]  # the asset on the payer's side (differs for a conversion route)
            row["_order"] = transfer_order(block, position, txid, kind, path, log_index)
            row["_seed"] = seed
            row["_key"] = key
            self.rows[key] = row
            self.by_tx[txid].append(row)
            added.append(row)
        return added

    def _merge(self, added: list[dict[str, Any]]) -> None:
        if added:
            # the events stay sorted: append the new ones and let timsort merge the two sorted runs
            added.sort(key=_ORDER)
            self.ordered.extend(added)
            self.ordered.sort(key=_ORDER)

    def _fetch(self, addresses: list[str]) -> None:
        added: list[dict[str, Any]] = []
        for direction in (Direction.FORWARD, Direction.BACKWARD):
            added += self._add(self.frontier.transfers(self.spec.chain, addresses, direction, self.where))
            self.queries += 1
        self._merge(added)
        self._resolve_conversions({row["txid"] for row in added})

    def _note_outside(self, row: Mapping[str, Any]) -> None:
        """Forward: a payment after --until moved value on; backward: a receipt before --since funded it."""
        stamp = row["timestamp"]
        self.received_outside.add(row["to_address"])
        if self.forward and (stamp is None or (self.spec.until is not None and stamp > self.spec.until)):
            self.outside.add((row["from_address"], row["asset"]))
        if not self.forward and stamp is not None and self.spec.since is not None and stamp < self.spec.since:
            if row["to_address"] is not None:
                self.outside.add((row["to_address"], row["asset"]))

    # -- seeds -------------------------------------------------------------------------------
    def _seed_taint(self, seed: str, value: int) -> Taint:
        """A seed movement's taint: all of it, or the share its seed states (a bridge continuation:
        the traced part of what crossed), as the model represents a part (FIFO/LIFO: the first units)."""
        share = self.shares.get(seed)
        if share is None:
            return full(self.spec.model, value)
        if self.spec.model is Model.POISON:
            return full(self.spec.model, value) if share else 0
        if self.spec.model in (Model.FIFO, Model.LIFO):
            return Ranges(value, ((0, share),) if share else ())
        return share

    def _load_seeds(self) -> None:
        movements, queries, failures = account_movements(self.spec, self.frontier)
        self.queries += queries
        if movements.height:
            texts = movements["seed"].to_list()
            added = self._add(movements.drop("seed"), texts)
            for row in added:
                if row["to_address"] in self.seeds:  # a receipt of a received seed: seed value already
                    row["_seed"] = None
                    continue
                share = self.shares.get(row["_seed"])
                if share is not None and share > row["amount"]:
                    raise InputError(f"seed {row['_seed']}: the transfer moved {row['amount']} base units, fewer than "
                                     f"the {share} the seed traces")
                self.movement_seeds.append({
                    "chain": self.spec.chain, "seed": row["_seed"], "asset": row["asset"],
                    "address": row["to_address"], "txid": row["txid"], "position": _position(row),
                    "block_height": row["block_height"], "timestamp": row["timestamp"],
                    "value": str(share if share is not None else row["amount"]),
                })
            self._merge(added)
            self._resolve_conversions({row["txid"] for row in added})
        if self.seeds:
            self._fetch(sorted(self.seeds))
            failures += self._check_received()
        if failures:  # every seed with nothing to trace, in the order the seeds were given
            given: dict[str, int] = {}
            for i, seed in enumerate(self.spec.seeds):
                given.setdefault(seed.text, i)
            failures.sort(key=lambda f: given.get(f[0], 0))
            raise InputError("; ".join(why for _, why in failures))

    def _check_received(self) -> list[tuple[str, str]]:
        """Why each received seed that received nothing inside the window has nothing to trace."""
        received = {r["to_address"] for r in self.rows.values() if r["kind"] != "fee" and r["amount"] > 0}
        senders = {r["from_address"] for r in self.rows.values()}
        failures = []
        for address in sorted(self.seeds - received):
            if address in self.received_outside:
                why = f"it received nothing {window_text(self.spec.since, self.spec.until)}"
            elif address in senders:
                why = "it received nothing in the store, it only sent: seed what it sent instead"
            else:
                why = ("it received nothing in the store (no transfers in the store for this address: ingest its "
                       "blocks with `tracer ingest evm`, or run `tracer ingest seeds`)")  # --fetch is UTXO-only
            failures.append((address, f"seed {address} has nothing to trace: {why}"))
        return failures

    # -- propagation ---------------------------------------------------------------------------
    def _events(self) -> list[dict[str, Any]]:
        return self.ordered if self.forward else self.ordered[::-1]

    def _propagate(self) -> tuple[list[tuple[dict[str, Any], int]], dict[tuple[str, str], Pool],
                                  dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """One pass over every transfer of the collected addresses, in time order (backward: reversed).

        Returns the tainted events (row, taint), the pools, value injected per (seed, asset) and
        value that flowed back into seeds per (seed, asset); remembers, per pool, the first payment
        larger than its known balance. The loop is the engine's hot path (it runs once per hop over
        every event collected so far): names are bound locally.
        """
        model = self.spec.model
        pools: dict[tuple[str, str], Pool] = {}
        injected: dict[tuple[str, str], int] = defaultdict(int)
        overlap: dict[tuple[str, str], int] = defaultdict(int)
        moved: list[tuple[dict[str, Any], int]] = []
        short_first: dict[tuple[str, str], dict[str, Any]] = {}
        collected, seeds, forward = self.collected, self.seeds, self.forward
        get_pool, record = pools.get, moved.append

        def pool(address: str, asset: str) -> Pool:
            key = (address, asset)
            found = get_pool(key)
            if found is None:
                found = pools[key] = Pool(model)
            return found

        def pay(address: str, asset: str, value: int, row: dict[str, Any]) -> Taint:
            """Forward: the payer's pool pays; a payment beyond the known balance is remembered."""
            payer = pool(address, asset)
            short = payer.shortfall
            carried = payer.pay(value)
            if payer.shortfall != short and (address, asset) not in short_first:
                short_first[(address, asset)] = row
            return carried

        consumed, route_taint, seed_taint = self.consumed, self.route_taint, self._seed_taint
        route_taint.clear()
        for row in self._events():
            if row["_key"] in consumed:  # a conversion leg or a relayed transfer: its route carries it
                continue
            value, asset, kind, seeded = row["amount"], row["asset"], row["kind"], row["_seed"]
            if kind == "conversion":
                self._convert(row, pool, pay, injected, overlap, record)
                continue
            if forward:  # value leaves the sender for the recipient
                source, target = row["from_address"], row["to_address"]
                carried: Taint = pay(source, asset, value, row) if source in collected else 0
                if seeded is not None:  # a seed movement: tainted (fully, or its stated share) whatever its payer held
                    if amount(carried):
                        overlap[(target, asset)] += amount(carried)
                    carried = seed_taint(seeded, value)
                elif kind == "fee" or target is None:  # a sink: paid to the validator or burned
                    if amount(carried):
                        record((row, amount(carried)))
                    continue
                elif target in seeds:  # everything a seed receives is seed value
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
                if seeded is not None:  # a seed movement: all of it (or its stated share) is target value
                    if source in collected:
                        earlier = pool(source, asset).pay(value)
                        if amount(earlier):
                            overlap[(source, asset)] += amount(earlier)
                    carried = seed_taint(seeded, value)
                elif source in seeds:  # everything a seed received is target value
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
        if forward:
            self.short_first = short_first
        return moved, pools, injected, overlap

    def _arrivals(self, moved: list[tuple[dict[str, Any], int]]) -> Arrivals:
        """Taint reaching addresses outside the collected set. A seed movement reaches its recipient
        at depth 0 (forward) or its payer at depth 1 (backward), and no fan-out cap applies to it."""
        out: Arrivals = {}
        for row, value in moved:
            if row["kind"] == "fee" and self.forward:
                continue
            source, target = (row["from_address"], row["to_address"]) if self.forward else (
                row["to_address"], row["from_address"])
            if target is None or target in self.collected or value == 0:
                continue
            key = (target, row["asset"] if self.forward else row["asset_from"])  # a route changes the asset
            via: str | None
            if row["_seed"] is not None:
                depth, via = (0 if self.forward else 1), None
            else:
                depth, via = self.collected.get(source, 0) + 1, source
            total, d, first = out.get(key, (0, depth, via))
            out[key] = (total + value, min(d, depth), first)
        return out

    def _next(self, arrivals: Arrivals) -> list[str]:
        """The addresses to collect next; the others keep the limit they stopped at (``self.limited``)."""
        self.tags.resolve({a for a, _ in arrivals})
        candidates: list[tuple[str, str]] = []
        self.limited.clear()
        for key, (value, depth, _) in arrivals.items():
            if self.tags.stops(key[0]):
                continue
            if value < self.spec.min_value:
                self.limited[key] = Ending.BELOW_MIN
            elif self.spec.beyond_hops(depth):
                self.limited[key] = Ending.HOP_LIMIT
            else:
                candidates.append(key)
        if self.spec.max_fanout is not None:
            # at most K recipients per paying address and asset, ever: those followed at earlier hops
            # count, so the cap holds over the whole trace, not per iteration
            groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
            kept: list[tuple[str, str]] = []
            for key in candidates:
                via = arrivals[key][2]
                if via is None:
                    kept.append(key)
                else:
                    groups[(via, key[1])].append(key)
            for group, keys in sorted(groups.items()):
                keys.sort(key=lambda k: (-arrivals[k][0], k[0]))
                room = max(self.spec.max_fanout - len(self.followed[group]), 0)
                kept.extend(keys[:room])
                self.followed[group].update(k[0] for k in keys[:room])
                for k in keys[room:]:
                    self.limited[k] = Ending.FANOUT_LIMIT
            candidates = kept
        return sorted({a for a, _ in candidates})

    def run(self) -> TraceResult:
        self._load_seeds()
        while True:  # until nothing is left to follow (see _next for the limits)
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
    def _depths(arrivals: Arrivals) -> dict[str, int]:
        """The smallest depth at which each address was reached (over its assets)."""
        out: dict[str, int] = {}
        for (address, _), (_, depth, _) in arrivals.items():
            if depth < out.get(address, depth + 1):
                out[address] = depth
        return out

    # -- result ------------------------------------------------------------------------------
    def _arrived(self, moved: list[tuple[dict[str, Any], int]]) -> dict[tuple[str, str], int | None]:
        """Forward: the block where taint first reached each (address, asset): a seed's first receipt,
        else the first tainted transfer into it (None when that row has no block)."""
        tainted = {id(row) for row, _ in moved}
        out: dict[tuple[str, str], int | None] = {}
        for row in self.ordered:
            target = row["to_address"]
            if target is None or row["kind"] == "fee":
                continue
            if id(row) in tainted or (target in self.seeds and row["amount"] > 0):
                out.setdefault((target, row["asset"]), row["block_height"])
        return out

    def _shortfalls(self, pools: Mapping[tuple[str, str], Pool]) -> tuple[pl.DataFrame, list[str]]:
        """Forward: payments the known balance could not fund, per (address, asset), and a note."""
        rows = []
        for (address, asset), p in sorted(pools.items()):
            if p.shortfall and (address, asset) in self.short_first:
                first = self.short_first[(address, asset)]
                rows.append({"chain": self.spec.chain, "address": address, "asset": asset,
                             "amount": str(p.shortfall), "txid": first["txid"], "block_height": first["block_height"]})
        if not rows:
            return result_frame([], SHORTFALL_COLUMNS), []
        rows.sort(key=lambda r: (-int(r["amount"]), r["address"], r["asset"]))
        named = ", ".join(f"{r['address']} {r['amount']} {r['asset']} (first in {r['txid']})" for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        before = ", or part of it lies before --since" if self.spec.since is not None else ""
        note = (f"{len(rows)} address(es) paid more than the store shows they held (base units; their history in "
                f"the store is incomplete{before}): {named}{more}; the result is a lower bound")
        return result_frame(rows, SHORTFALL_COLUMNS), [note]

    def _result(self, moved: list[tuple[dict[str, Any], int]], pools: dict[tuple[str, str], Pool],
                injected: dict[tuple[str, str], int], overlap: dict[tuple[str, str], int],
                arrivals: Arrivals) -> TraceResult:
        chain, model = self.spec.chain, str(self.spec.model)
        seeds = [{"chain": chain, "seed": address, "asset": asset, "address": address, "txid": None,
                  "position": None, "block_height": None, "timestamp": None, "value": str(value)}
                 for (address, asset), value in sorted(injected.items())]
        seeds += sorted(self.movement_seeds, key=lambda r: (r["seed"], r["txid"], r["position"] or ""))
        hops: list[dict[str, Any]] = []
        last_hop: dict[tuple[str, str], int] = {}  # (address, asset) -> hop that brought it most taint
        best_in: dict[tuple[str, str], int] = {}
        converted: list[tuple[dict[str, Any], int, int, str]] = []  # (route row, hop id, taint given, asset given)
        steps: list[dict[str, Any]] = []
        for row, value in moved:
            source, target = (row["from_address"], row["to_address"]) if self.forward else (
                row["to_address"], row["from_address"])
            # a conversion route changes the asset: the source side gives one, the target side receives another
            s_asset, t_asset, t_value = ((row["asset_from"], row["asset"], row["amount"]) if self.forward
                                         else (row["asset"], row["asset_from"], row["amount_from"]))
            prev = last_hop.get((source, s_asset)) if source is not None else None
            hop_id = len(hops)
            depth = 0 if self.forward and row["_seed"] is not None else (
                self.collected.get(source, 0) + 1 if source else None)
            hops.append({
                "hop_id": hop_id, "depth": depth, "chain": chain,
                "txid": row["txid"], "block_height": row["block_height"], "block_hash": row["block_hash"],
                "timestamp": row["timestamp"], "kind": row["kind"], "asset": t_asset,
                "from_address": row["from_address"], "to_address": row["to_address"], "position": _position(row),
                "value": str(t_value), "taint": str(value), "previous_hop": prev, "model": model,
                "source": row["source"],
            })
            if row["kind"] == "conversion":
                given, per_step = self.route_taint[id(row)]
                converted.append((row, hop_id, given, s_asset))
                steps.extend(self._route_steps(row, hop_id, per_step))
            if target is not None and value > best_in.get((target, t_asset), 0):
                best_in[(target, t_asset)] = value
                last_hop[(target, t_asset)] = hop_id
        endings: list[dict[str, Any]] = []

        def end(kind: Ending, address: str | None, asset: str, value: int, depth: int | None,
                txid: str | None = None, hop_id: int | None = None, through: int | None = None) -> None:
            hit = self.tags.stops(address) if kind is Ending.ENTITY else None
            endings.append({
                "chain": chain, "ending": str(kind), "asset": asset, "address": address,
                "label": hit[0] if hit else None, "category": hit[1] if hit else None, "amount": str(value),
                "depth": depth, "txid": txid, "position": None, "hop_id": hop_id, "through_block": through,
            })

        sinks: dict[tuple[str | None, str], int] = defaultdict(int)
        for row, value in moved:
            target = row["to_address"] if self.forward else row["from_address"]
            if self.forward and (row["kind"] == "fee" or target is None):
                sinks[(target, row["asset"])] += value
        for (address, asset), value in sorted(sinks.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            end(Ending.FEE, address, asset, value, None)
        for row, hop_id, given, asset in converted:  # what was given is followed on in what it became
            end(Ending.CONVERTED, row["_route"].venue, asset, given, hops[hop_id]["depth"], row["txid"], hop_id)
        for (address, asset), value in sorted(overlap.items()):
            end(Ending.SEED, address, asset, value, 0, hop_id=last_hop.get((address, asset)))
        arrived = self._arrived(moved) if self.forward else {}
        for (address, asset), p in sorted(pools.items()):
            if address in self.seeds and not self.forward:
                continue
            if p.tainted:
                through = None
                if (address, asset) in self.outside:
                    kind = Ending.TIME_WINDOW
                elif self.forward:
                    # proven unspent only if the store holds every block from the taint's arrival on
                    through = self.spec.covered_through(arrived.get((address, asset)))
                    kind = Ending.HELD if through is not None else Ending.UNVERIFIED
                else:
                    kind = Ending.UNKNOWN_ORIGIN
                end(kind, address, asset, p.tainted, self.collected.get(address),
                    hop_id=last_hop.get((address, asset)), through=through)
        for (address, asset), (value, depth, _) in sorted(arrivals.items()):
            if self.tags.stops(address):
                kind = Ending.ENTITY
            else:
                kind = self.limited.get((address, asset), Ending.NOT_IN_STORE)
            end(kind, address, asset, value, depth, hop_id=last_hop.get((address, asset)))
        shortfalls, notes = self._shortfalls(pools) if self.forward else (result_frame([], SHORTFALL_COLUMNS), [])
        return TraceResult(
            spec=self.spec, seeds=result_frame(seeds, SEED_COLUMNS), hops=result_frame(hops, HOP_COLUMNS),
            endings=result_frame(endings, ENDING_COLUMNS), totals={}, queries=self.queries, notes=notes,
            shortfalls=shortfalls, conversions=result_frame(steps, CONVERSION_COLUMNS),
        )
