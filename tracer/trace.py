# SPDX-License-Identifier: Apache-2.0
"""Follow value forward or backward through a store, hop by hop, under one taint model.

Shared design notes §5 is the specification. The engine asks a :class:`~tracer.frontier.Frontier`
for the neighbours of the whole frontier in one batched call per hop (two for the account model:
the receipts and the payments of the new addresses), and never touches a store otherwise; tags
come from a plain frame. Everything else is pure.

**Exact propagation.** After every hop the taint of every collected transaction (UTXO) or address
pool (account model) is recomputed from the seeds in chain order — forward in time for a forward
trace, backward in time for a backward one. Chain order is a topological order of the UTXO graph
and the order in which an account's balance changed, so value that reaches a transaction or an
address by two paths of different lengths is counted once, with both contributions, whatever
the order in which the hops found them. All taint models are monotone (more tainted inputs never
mean less tainted outputs), so an output that was below the minimum value at one hop and rises
above it later is expanded then.

**Typed endings.** Every base unit of traced value ends in exactly one :class:`Ending`:
an attributed entity, a fee, held (unspent) at an address, below the minimum value, a hop,
fan-out or time-window limit, an output without an address, value that flows back into a seed,
or the end of the data the store holds. For the value-conserving models (all but poison) the
endings add up to the seed value exactly; :func:`reconcile` checks it.

Backward traces (where did the funds come from?) run the same models on the transpose: a
transaction's tainted outputs (and its fee, untainted) are laid out against its inputs — FIFO
aligns the same unit positions, LIFO aligns them against the reversed input queue, TIHO fills
the largest inputs first, haircut gives every input its proportional share rounded down (the
rounding is its own ending), poison taints every input. An account is its pool run backward in
time with receipts and payments swapped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter
from typing import Any

import polars as pl

from tracer.errors import InputError
from tracer.frontier import Direction, Frontier, TransferFilter
from tracer.schema import FrameSet
from tracer.taint import CONSERVING, Model, Pool, Taint, amount, full, none, split

__all__ = [
    "Ending",
    "UNRESOLVED",
    "Seed",
    "TraceSpec",
    "TraceResult",
    "TagLookup",
    "trace",
    "reconcile",
    "HOP_COLUMNS",
    "ENDING_COLUMNS",
    "SEED_COLUMNS",
    "DEFAULT_STOP_CATEGORIES",
]

#: Tag categories where a trace stops by default: services that hold customers' funds and can be
#: served with legal process, or where the trail is lost in a pool (INTERPOL DW-VA categories as
#: GraphSense uses them).
DEFAULT_STOP_CATEGORIES: tuple[str, ...] = (
    "exchange", "mixing_service", "market", "gambling", "payment_processor", "hosted_wallet", "bridge",
    "defi_dex", "defi_lending", "defi", "mining_service", "ico_wallet", "faucet", "shop", "atm",
)


class Ending(StrEnum):
    """Why a trail ends (shared design notes §5, "typed trace endings")."""

    ENTITY = "entity"  # reached an address tagged with a stop category
    FEE = "fee"  # paid to the miner / validator (or burned)
    HELD = "held"  # still held: an unspent output, or the balance left in an address pool
    BELOW_MIN = "below_min_value"  # less than --min-value: not followed further
    HOP_LIMIT = "hop_limit"
    FANOUT_LIMIT = "fanout_limit"
    TIME_WINDOW = "time_window"  # moved by a transaction outside --since/--until
    NO_ADDRESS = "no_address"  # an OP_RETURN or nonstandard output (value is unspendable or unknown)
    SEED = "returned_to_seed"  # flows into (forward) or out of (backward) a seed's own value
    NOT_IN_STORE = "not_in_store"  # the store lacks the next transaction (ingest more blocks or --fetch)
    MINED = "mined"  # backward: newly minted by a coinbase transaction
    ROUNDING = "rounding"  # backward haircut: units lost to rounding down
    UNKNOWN_ORIGIN = "unknown_origin"  # backward account pool: older than the history in the store


#: Endings where the trail is lost (as opposed to reached, paid as fee, held or filtered out).
UNRESOLVED: frozenset[Ending] = frozenset(
    {Ending.HOP_LIMIT, Ending.FANOUT_LIMIT, Ending.TIME_WINDOW, Ending.NO_ADDRESS, Ending.NOT_IN_STORE,
     Ending.UNKNOWN_ORIGIN}
)

#: ``tags(chain, addresses)`` -> ``tags`` rows (tracer.schema.TAGS) for those addresses.
TagLookup = Callable[[str, Collection[str]], pl.DataFrame]


@dataclass(frozen=True)
class Seed:
    """Where a trace starts: an address (all it received) or one output ``txid:vout`` (UTXO)."""

    address: str | None = None
    txid: str | None = None
    vout: int | None = None

    def __post_init__(self) -> None:
        if (self.address is None) == (self.txid is None):
            raise InputError("a seed is either an address or an output txid:vout")

    @property
    def text(self) -> str:
        return self.address if self.address is not None else f"{self.txid}:{self.vout}"


@dataclass(frozen=True)
class TraceSpec:
    """Everything that decides a trace's result (and goes into its manifest)."""

    chain: str
    account_model: bool
    seeds: tuple[Seed, ...]
    direction: Direction = Direction.FORWARD
    model: Model = Model.HAIRCUT
    hops: int = 5
    since: int | None = None
    until: int | None = None
    min_value: int = 1
    max_fanout: int | None = None
    stop_categories: tuple[str, ...] = DEFAULT_STOP_CATEGORIES
    assets: tuple[str, ...] | None = None
    source: str = "store"

    def __post_init__(self) -> None:
        if self.hops < 1:
            raise InputError(f"--hops must be at least 1, got {self.hops}")
        if not self.seeds:
            raise InputError("a trace needs at least one seed")
        if self.min_value < 1:
            raise InputError("--min-value must be at least 1 base unit")
        if self.max_fanout is not None and self.max_fanout < 1:
            raise InputError("--max-fanout must be at least 1")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InputError("--since is after --until")
        if not self.account_model and any(s.txid is None and s.address is None for s in self.seeds):
            raise InputError("empty seed")
        if self.account_model and any(s.txid is not None for s in self.seeds):
            raise InputError("txid:vout seeds only exist on UTXO chains; give addresses for account chains")

    def parameters(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data (manifest, result header)."""
        return {
            "chain": self.chain,
            "seeds": [s.text for s in self.seeds],
            "direction": str(self.direction),
            "model": str(self.model),
            "hops": self.hops,
            "since": self.since,
            "until": self.until,
            "min_value": str(self.min_value),
            "max_fanout": self.max_fanout,
            "stop_categories": sorted(self.stop_categories),
            "assets": sorted(self.assets) if self.assets is not None else None,
        }


SEED_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "seed": pl.String(), "asset": pl.String(), "address": pl.String(),
    "txid": pl.String(), "position": pl.String(), "block_height": pl.Int64(), "timestamp": pl.Int64(),
    "value": pl.String(),
}
HOP_COLUMNS: dict[str, pl.DataType] = {
    "hop_id": pl.Int64(), "depth": pl.Int64(), "chain": pl.String(), "txid": pl.String(),
    "block_height": pl.Int64(), "block_hash": pl.String(), "timestamp": pl.Int64(), "kind": pl.String(),
    "asset": pl.String(), "from_address": pl.String(), "to_address": pl.String(), "position": pl.String(),
    "value": pl.String(), "taint": pl.String(), "previous_hop": pl.Int64(), "model": pl.String(),
    "source": pl.String(),
}
ENDING_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "ending": pl.String(), "asset": pl.String(), "address": pl.String(),
    "label": pl.String(), "category": pl.String(), "amount": pl.String(), "depth": pl.Int64(),
    "txid": pl.String(), "position": pl.String(), "hop_id": pl.Int64(),
}


@dataclass
class TraceResult:
    """A trace's findings: seeds, every tainted movement (hops) and every ending, with amounts exact.

    Amount columns are decimal text (exact for uint256); ``totals`` has Python ints per asset.
    """

    spec: TraceSpec
    seeds: pl.DataFrame
    hops: pl.DataFrame
    endings: pl.DataFrame
    totals: dict[str, dict[str, int]]
    queries: int = 0
    conserving: bool = True
    notes: list[str] = field(default_factory=list)

    def seed_value(self, asset: str) -> int:
        return sum(int(v) for v in self.seeds.filter(pl.col("asset") == asset)["value"].to_list())


def _ints(values: Sequence[Any]) -> list[int]:
    return [int(v) for v in values]


def _frame(rows: list[dict[str, Any]], columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict(columns), orient="row") if rows else pl.DataFrame(schema=dict(columns))


class _Tags:
    """Stop-set look-ups, one batched call per hop."""

    def __init__(self, lookup: TagLookup, chain: str, stop: Collection[str]) -> None:
        self.lookup, self.chain, self.stop = lookup, chain, frozenset(stop)
        self.known: dict[str, tuple[str, str | None] | None] = {}  # address -> (label, category) if stopping

    def resolve(self, addresses: Collection[str]) -> None:
        wanted = sorted({a for a in addresses if a not in self.known})
        if not wanted:
            return
        rows = self.lookup(self.chain, wanted)
        for address in wanted:
            self.known[address] = None
        if rows.height:
            best = (
                rows.filter(pl.col("category").is_in(list(self.stop)))
                .sort(["address", "confidence", "label", "category", "tagpack", "source"],
                      descending=[False, True, False, False, False, False], nulls_last=True)
                .unique("address", keep="first", maintain_order=True)
            )
            for row in best.iter_rows(named=True):
                self.known[row["address"]] = (row["label"], row["category"])

    def stops(self, address: str | None) -> tuple[str, str | None] | None:
        return self.known.get(address) if address is not None else None


def trace(spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> TraceResult:
    """Run ``spec`` against ``frontier``; stop at addresses whose tags are in ``spec.stop_categories``."""
    engine = _AccountTrace(spec, frontier, tags) if spec.account_model else _UtxoTrace(spec, frontier, tags)
    result = engine.run()
    result.conserving = spec.model in CONSERVING
    return result


# ---------------------------------------------------------------------------------------------
# UTXO
# ---------------------------------------------------------------------------------------------


@dataclass
class _Tx:
    txid: str
    block_height: int | None
    block_hash: str | None
    position: int | None
    timestamp: int | None
    fee: int
    coinbase: bool
    source: str
    inputs: list[tuple[str | None, int | None, str | None, int]]  # prev_txid, prev_index, address, value
    outputs: list[tuple[int, str | None, int]]  # index, address, value

    @property
    def order(self) -> tuple[int, int, str]:
        big = 1 << 62  # unconfirmed last
        return (self.block_height if self.block_height is not None else big,
                self.position if self.position is not None else big, self.txid)


def _transactions(frames: FrameSet) -> dict[str, _Tx]:
    inputs: dict[str, list[Any]] = defaultdict(list)
    for row in frames.inputs.sort(["txid", "index"]).iter_rows(named=True):
        inputs[row["txid"]].append((row["prev_txid"], row["prev_index"], row["address"], row["value"] or 0))
    outputs: dict[str, list[Any]] = defaultdict(list)
    for row in frames.outputs.sort(["txid", "index"]).iter_rows(named=True):
        outputs[row["txid"]].append((row["index"], row["address"], row["value"]))
    out: dict[str, _Tx] = {}
    for row in frames.transactions.iter_rows(named=True):
        txid = row["txid"]
        out[txid] = _Tx(
            txid, row["block_height"], row["block_hash"], row["position"], row["timestamp"], int(row["fee"]),
            bool(row["is_coinbase"]), row["source"], inputs.get(txid, []), outputs.get(txid, []),
        )
    return out


def _chain_order(txs: Mapping[str, _Tx]) -> list[_Tx]:
    """Transactions in chain order: confirmed ones by (height, position); unconfirmed ones after
    them, parents before children (Kahn's algorithm over the inputs, ties by txid), because the
    mempool has no order of its own."""
    confirmed = sorted((t for t in txs.values() if t.block_height is not None), key=lambda t: t.order)
    pending = {t.txid: t for t in txs.values() if t.block_height is None}
    if not pending:
        return confirmed
    parents = {txid: {p for p, _, _, _ in t.inputs if p in pending and p != txid} for txid, t in pending.items()}
    ready = sorted(txid for txid, ps in parents.items() if not ps)
    out: list[_Tx] = []
    while ready:
        txid = ready.pop(0)
        out.append(pending[txid])
        for child, ps in parents.items():
            if txid in ps:
                ps.discard(txid)
                if not ps and pending[child] not in out and child not in ready:
                    ready.append(child)
                    ready.sort()
    if len(out) != len(pending):
        raise InputError("unconfirmed transactions in the store spend each other in a cycle: the data is damaged")
    return confirmed + out


class _UtxoTrace:
    def __init__(self, spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> None:
        self.spec, self.frontier = spec, frontier
        self.tags = _Tags(tags, spec.chain, spec.stop_categories)
        self.forward = spec.direction is Direction.FORWARD
        self.txs: dict[str, _Tx] = {}
        self.depth: dict[str, int] = {}  # txid -> hop at which it was collected
        self.queries = 0
        self.seed_outputs: dict[tuple[str, int], tuple[str | None, int]] = {}  # outpoint -> address, value
        self.seed_rows: list[dict[str, Any]] = []
        self.expanded: set[tuple[str, int]] = set()  # outpoints whose next transaction was asked for
        self.outside_window: set[tuple[str, int]] = set()
        self.limited: dict[tuple[str, int], Ending] = {}

    # -- seeds -------------------------------------------------------------------------------
    def _load_seeds(self) -> None:
        chain = self.spec.chain
        addresses = [s.address for s in self.spec.seeds if s.address is not None]
        outpoints = [(s.txid, s.vout) for s in self.spec.seeds if s.txid is not None]
        rows: list[tuple[str, str, int, str | None, int]] = []  # seed, txid, index, address, value
        if addresses:
            received = self.frontier.address_outputs(chain, addresses)
            self.queries += 1
            for row in received.iter_rows(named=True):
                rows.append((row["address"], row["txid"], row["index"], row["address"], row["value"]))
        if outpoints:
            found = self.frontier.transactions(chain, sorted({t for t, _ in outpoints if t}))
            self.queries += 1
            by_key = {(r["txid"], r["index"]): r for r in found.outputs.iter_rows(named=True)}
            for txid, vout in outpoints:
                assert txid is not None and vout is not None
                found_row = by_key.get((txid, vout))
                if found_row is None:
                    raise InputError(
                        f"seed output {txid}:{vout} is not in the store: ingest its block first or use --fetch"
                    )
                rows.append((f"{txid}:{vout}", txid, vout, found_row["address"], found_row["value"]))
        found_seeds = {r[0] for r in rows}
        missing = [a for a in addresses if a not in found_seeds]
        if missing:
            raise InputError(
                f"seed address(es) with no transactions in the store: {', '.join(missing)} "
                "(ingest their blocks, run `tracer ingest seeds`, or use --fetch)"
            )
        creators = self.frontier.transactions(chain, sorted({r[1] for r in rows}))
        self.queries += 1
        made = _transactions(creators)
        for seed, txid, index, address, value in sorted(set(rows), key=lambda r: (r[0], r[1], r[2])):
            tx = made.get(txid)
            if tx is not None and not self._in_window(tx):
                continue
            if (txid, index) in self.seed_outputs:
                continue  # the same output named twice (its address and its txid:vout): counted once
            self.seed_outputs[(txid, index)] = (address, value)
            self.seed_rows.append({
                "chain": chain, "seed": seed, "asset": "native", "address": address, "txid": txid,
                "position": str(index), "block_height": tx.block_height if tx else None,
                "timestamp": tx.timestamp if tx else None, "value": str(value),
            })
            if not self.forward and tx is not None:
                self.txs[txid] = tx
                self.depth[txid] = 0
        if not self.seed_outputs:
            raise InputError("no seed value inside the --since/--until window")

    def _in_window(self, tx: _Tx) -> bool:
        t = tx.timestamp
        if t is None:
            return self.spec.until is None
        return (self.spec.since is None or t >= self.spec.since) and (self.spec.until is None or t <= self.spec.until)

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
        order = _chain_order(self.txs)
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
                values = [v for _, _, _, v in tx.inputs]
                laid = [*outs_t, (tx.fee, none(model, tx.fee))]
                if model is Model.LIFO:
                    rev, rest = split(Model.FIFO, laid, list(reversed(values)), 0)
                    ins_t = list(reversed(rev))
                elif model is Model.FIFO:
                    ins_t, rest = split(Model.FIFO, laid, values, 0)
                else:
                    ins_t, rest = split(model, laid, values, 0)
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
            if address is None or (self.tags.stops(address) and point not in self.seed_outputs):
                continue
            if amount(t) < self.spec.min_value:
                self.limited[point] = Ending.BELOW_MIN
                continue
            if self._outpoint_depth(point) >= self.spec.hops:
                self.limited[point] = Ending.HOP_LIMIT
                continue
            self.limited.pop(point, None)
            candidates.append(point)
        if self.spec.max_fanout is not None:
            # at most K outputs followed per transaction (forward: the outputs it created;
            # backward: the inputs it spent), counting those already followed at earlier hops
            group_of = (lambda p: p[0]) if self.forward else (lambda p: spent.get(p, p[0]))
            used: dict[str, int] = defaultdict(int)
            for point in self.expanded:
                used[group_of(point)] += 1
            by_group: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for point in candidates:
                by_group[group_of(point)].append(point)
            kept = []
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
                found = _transactions(self.frontier.spending(self.spec.chain, frame))
            else:
                found = _transactions(self.frontier.transactions(self.spec.chain, sorted({p[0] for p in points})))
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
                if self.forward:  # one hop beyond the shallowest followed output it spends
                    spent = [point_depth[(p, i)] for p, i, _, _ in tx.inputs
                             if p is not None and i is not None and (p, i) in point_depth]
                    self.depth[txid] = 1 + min(spent) if spent else self.spec.hops
                else:  # the transaction that created followed inputs: at their depth
                    made = [point_depth[(txid, i)] for i, _, _ in tx.outputs if (txid, i) in point_depth]
                    self.depth[txid] = min(made) if made else self.spec.hops
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
        ordered = _chain_order(self.txs)
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
                depth: int | None) -> None:
            label = category = None
            if kind is Ending.ENTITY and address is not None:
                hit = self.tags.stops(address)
                if hit:
                    label, category = hit
            endings.append({
                "chain": chain, "ending": str(kind), "asset": "native", "address": address, "label": label,
                "category": category, "amount": str(value), "depth": depth, "txid": txid,
                "position": str(point[1]) if point else None, "hop_id": hop_ids.get(point) if point else None,
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
            if address is None:
                kind = Ending.NO_ADDRESS
            elif self.tags.stops(address) and point not in self.seed_outputs:
                kind = Ending.ENTITY
            elif point in self.limited:
                kind = self.limited[point]
            elif point in self.outside_window:
                kind = Ending.TIME_WINDOW
            elif self.forward:
                kind = Ending.HELD  # asked the store for its spender: none (unspent as far as the store knows)
            else:
                kind = Ending.NOT_IN_STORE  # asked for the transaction that created it: the store lacks it
            end(kind, point, amount(t), point[0], address, depth)
        result = TraceResult(
            spec=self.spec,
            seeds=_frame(self.seed_rows, SEED_COLUMNS),
            hops=_frame(hops, HOP_COLUMNS),
            endings=_sorted_endings(_frame(endings, ENDING_COLUMNS)),
            totals={},
            queries=self.queries,
        )
        result.totals = _totals(result)
        return result


# ---------------------------------------------------------------------------------------------
# Account model
# ---------------------------------------------------------------------------------------------

_KIND_ORDER = {"fee": 0, "native": 1, "internal": 2, "token": 3}
_ORDER = itemgetter("_order")  # a transfer's place in chain order, computed once when fetched


def _path_key(path: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split(".") if p.isdigit()) if path else ()


class _AccountTrace:
    def __init__(self, spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> None:
        self.spec, self.frontier = spec, frontier
        self.tags = _Tags(tags, spec.chain, spec.stop_categories)
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
        result = TraceResult(
            spec=self.spec, seeds=_frame(seeds, SEED_COLUMNS), hops=_frame(hops, HOP_COLUMNS),
            endings=_sorted_endings(_frame(endings, ENDING_COLUMNS)), totals={}, queries=self.queries,
        )
        result.totals = _totals(result)
        return result


# ---------------------------------------------------------------------------------------------
# Totals
# ---------------------------------------------------------------------------------------------


def _sorted_endings(frame: pl.DataFrame) -> pl.DataFrame:
    """Largest amounts first (exact: by digit count, then digits), ties by address and ending."""
    if frame.height == 0:
        return frame
    return (
        frame.with_columns(pl.col("amount").str.len_chars().alias("_n"))
        .sort(["asset", "_n", "amount", "ending", "address", "txid", "position"],
              descending=[False, True, True, False, False, False, False], nulls_last=True)
        .drop("_n")
    )


def _totals(result: TraceResult) -> dict[str, dict[str, int]]:
    """Per asset: seed value and the sum of every ending kind."""
    out: dict[str, dict[str, int]] = {}
    for asset in sorted(set(result.seeds["asset"].to_list()) | set(result.endings["asset"].to_list())):
        row: dict[str, int] = {"seed": result.seed_value(asset)}
        for kind in Ending:
            row[str(kind)] = 0
        for ending, value in result.endings.filter(pl.col("asset") == asset).select("ending", "amount").iter_rows():
            row[ending] += int(value)
        row["ended"] = sum(row[str(k)] for k in Ending)
        out[asset] = row
    return out


def reconcile(result: TraceResult) -> dict[str, int]:
    """Per asset, ``sum of endings - seed value`` (0 everywhere for a conserving model)."""
    return {asset: row["ended"] - row["seed"] for asset, row in result.totals.items()}
