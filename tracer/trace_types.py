# SPDX-License-Identifier: Apache-2.0
"""The trace vocabulary: what a trace is asked, what it finds, and the helpers both engines share.

Shared design notes §5 is the specification. :class:`TraceSpec` is the question (seeds of four
kinds, direction, taint model, limits) with the evidence about the data it runs on (the block
ranges the store holds completely), :class:`TraceResult` the answer (seeds, hops, typed
:class:`Ending` rows, exact totals, account shortfalls, notes); :func:`result_frame` and
:class:`Tags` (stop-set look-ups,
one batched call per hop) are what the two engines, :mod:`tracer.trace_utxo` and
:mod:`tracer.trace_account`, build their results with. The engines import this module, and
:mod:`tracer.trace` imports the engines and re-exports these names, so there is no import cycle:
import them from :mod:`tracer.trace`.

The taint models a spec names are defined in :mod:`tracer.taint`: FIFO after Anderson et al.,
"Bitcoin Redux", WEIS 2018; TIHO after Tironsakkul et al., "Probing the Mystery of Cryptocurrency
Theft: An Investigation into Methods for Taint Analysis", 2019; haircut and poison as in Möser,
Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC 2014.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from tracer.errors import InputError
from tracer.frontier import Direction
from tracer.taint import Model

__all__ = [
    "Ending",
    "UNRESOLVED",
    "Seed",
    "TraceSpec",
    "TraceResult",
    "TagLookup",
    "HOP_COLUMNS",
    "ENDING_COLUMNS",
    "SEED_COLUMNS",
    "SHORTFALL_COLUMNS",
    "CONVERSION_COLUMNS",
    "DEFAULT_STOP_CATEGORIES",
    "in_window",
    "window_text",
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
    HELD = "held"  # proven unspent: an output or pool balance, and the store holds every block after it
    UNVERIFIED = "unverified"  # unspent as far as the store knows, but it lacks blocks after it (--fetch / ingest)
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
    CONVERTED = "converted"  # swapped or (un)wrapped into another asset, followed on in that asset


#: Endings where the trail is lost (as opposed to reached, paid as fee, held or filtered out).
UNRESOLVED: frozenset[Ending] = frozenset(
    {Ending.HOP_LIMIT, Ending.FANOUT_LIMIT, Ending.TIME_WINDOW, Ending.NO_ADDRESS, Ending.NOT_IN_STORE,
     Ending.UNKNOWN_ORIGIN, Ending.UNVERIFIED}
)

#: ``tags(chain, addresses)`` -> ``tags`` rows (tracer.schema.TAGS) for those addresses.
TagLookup = Callable[[str, Collection[str]], pl.DataFrame]


@dataclass(frozen=True)
class Seed:
    """Where a trace starts, as an investigator holds it. Four kinds:

    * ``Seed(address=A)`` — everything ``A`` received (within ``--since/--until``); text ``A``;
    * ``Seed(address=A, sent=True)`` — everything ``A`` sent (within the window): on UTXO chains
      the outputs of its spending transactions that do not return to ``A``, on account chains its
      outgoing transfers (fees and transfers to itself excepted); text ``sent:A``;
    * ``Seed(txid=T, vout=N)`` — one output (UTXO chains); text ``T:N``;
    * ``Seed(txid=T, index=I)`` — one transfer row (account chains): ``I`` is its log index
      (``"3"``, token transfers), its trace path (``"0.1"`` internal calls, ``"csv:2"`` rows of a
      CSV import), ``log:N`` / ``path:P`` when a number could be either, or ``None`` for the
      transaction's own value transfer; text ``T:I`` (``T`` when ``I`` is ``None``);
    * ``Seed(txid=T, index=I, taint=N)`` — only ``N`` base units of that transfer (how a trace
      continues after a bridge: the traced share of what crossed); text ``T:I@N``.

    A movement seed (sent, output, transfer) is hop 0: what it paid is followed from its recipient
    on, and a recipient tagged with a stop category ends it there as an ``entity``. A received
    seed is followed whatever its own tags (you asked where its value went).
    """

    address: str | None = None
    txid: str | None = None
    vout: int | None = None
    sent: bool = False
    index: str | None = None
    taint: int | None = None  # a transfer seed tracing only this many of its base units (text ``T:I@N``)

    def __post_init__(self) -> None:
        if (self.address is None) == (self.txid is None):
            raise InputError("a seed is either an address or a movement (an output txid:vout, or a transfer txid)")
        if self.address is not None and (self.vout is not None or self.index is not None):
            raise InputError(f"seed {self.address}: an address seed has no output number or transfer index")
        if self.txid is not None and self.sent:
            raise InputError(f"seed {self.txid}: 'sent' applies to address seeds")
        if self.vout is not None and (self.index is not None or self.vout < 0):
            raise InputError(f"seed {self.txid}: give either an output number (>= 0) or a transfer index")
        if self.taint is not None and (self.kind != "transfer" or self.taint < 1):
            raise InputError(f"seed {self.txid or self.address}: only a transfer seed traces part of its value "
                             "(TXID:INDEX@UNITS, at least 1 base unit)")

    @property
    def kind(self) -> str:
        """``received``, ``sent``, ``output`` or ``transfer``."""
        if self.address is not None:
            return "sent" if self.sent else "received"
        return "output" if self.vout is not None else "transfer"

    @property
    def text(self) -> str:
        if self.address is not None:
            return f"sent:{self.address}" if self.sent else self.address
        if self.vout is not None:
            return f"{self.txid}:{self.vout}"
        text = f"{self.txid}:{self.index}" if self.index is not None else str(self.txid)
        return f"{text}@{self.taint}" if self.taint is not None else text


def in_window(stamp: int | None, since: int | None, until: int | None) -> bool:
    """Is a block time inside the inclusive ``[since, until]`` window? Unconfirmed (no time) is
    inside unless the window has an end."""
    if stamp is None:
        return until is None
    return (since is None or stamp >= since) and (until is None or stamp <= until)


def window_text(since: int | None, until: int | None) -> str:
    """The window in words, for messages: ``between 2023-11-14T22:13:20Z and ...``, or ``in the store``."""

    def iso(stamp: int) -> str:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    if since is not None and until is not None:
        return f"between {iso(since)} and {iso(until)}"
    if since is not None:
        return f"since {iso(since)}"
    if until is not None:
        return f"until {iso(until)}"
    return "in the store"


def _intervals(coverage: Collection[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Block-height intervals sorted, with overlapping and adjacent ones merged (they are inclusive)."""
    merged: list[tuple[int, int]] = []
    for interval in sorted(tuple(i) for i in coverage):
        if len(interval) != 2 or not all(isinstance(h, int) and not isinstance(h, bool) for h in interval):
            raise InputError(f"coverage interval {interval!r} is not a pair of block heights")
        lo, hi = interval
        if not 0 <= lo <= hi:
            raise InputError(f"coverage interval {lo}-{hi} is not a block range (0 <= from <= to)")
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


@dataclass(frozen=True)
class TraceSpec:
    """Everything that decides a trace's result (and goes into its manifest).

    ``hops=None`` follows value until nothing is left to follow (``min_value``, ``max_fanout`` and
    the time window still bound it). ``coverage`` lists inclusive block-height intervals that the
    store holds *completely* (every transaction of every block, e.g. from block-range ingest
    checkpoints); it is evidence about the data, not a parameter of the question, so it is not in
    :meth:`parameters` (trace ids do not depend on it) but in :meth:`evidence`. It decides whether
    unspent value is ``held`` (proven: its block lies in a covered interval, so any spend up to
    that interval's end would be in the store) or ``unverified``.
    """

    chain: str
    account_model: bool
    seeds: tuple[Seed, ...]
    direction: Direction = Direction.FORWARD
    model: Model = Model.HAIRCUT
    hops: int | None = 5
    since: int | None = None
    until: int | None = None
    min_value: int = 1
    max_fanout: int | None = None
    stop_categories: tuple[str, ...] = DEFAULT_STOP_CATEGORIES
    assets: tuple[str, ...] | None = None
    source: str = "store"
    coverage: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.hops is not None and self.hops < 1:
            raise InputError(f"--hops must be at least 1, got {self.hops}")
        if not self.seeds:
            raise InputError("a trace needs at least one seed")
        if self.min_value < 1:
            raise InputError("--min-value must be at least 1 base unit")
        if self.max_fanout is not None and self.max_fanout < 1:
            raise InputError("--max-fanout must be at least 1")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InputError("--since is after --until")
        for seed in self.seeds:
            if self.account_model and seed.kind == "output":
                raise InputError(f"seed {seed.text}: txid:vout seeds only exist on UTXO chains; on account chains "
                                 "give an address or a transfer (its txid and log index or trace path)")
            if not self.account_model and seed.kind == "transfer":
                raise InputError(f"seed {seed.text}: on UTXO chains a movement seed is an output txid:vout")
        object.__setattr__(self, "coverage", _intervals(self.coverage))

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

    def evidence(self) -> dict[str, Any]:
        """What the trace was told about its data (manifest): the complete block ranges."""
        return {"coverage": [list(interval) for interval in self.coverage]}

    def beyond_hops(self, depth: int) -> bool:
        """Is ``depth`` at or past the hop limit (never, without one)?"""
        return self.hops is not None and depth >= self.hops

    def covered_through(self, block_height: int | None) -> int | None:
        """The last block of the covered interval holding ``block_height`` (None: not covered)."""
        if block_height is None or not self.coverage:
            return None
        at = bisect_right(self.coverage, (block_height, 1 << 62)) - 1
        if at >= 0 and self.coverage[at][0] <= block_height <= self.coverage[at][1]:
            return self.coverage[at][1]
        return None


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
    "txid": pl.String(), "position": pl.String(), "hop_id": pl.Int64(), "through_block": pl.Int64(),
}
#: Account model, forward: payments larger than the balance the store knows (history incomplete),
#: per (address, asset): the missing ``amount`` and the first transaction that showed it.
SHORTFALL_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "address": pl.String(), "asset": pl.String(), "amount": pl.String(),
    "txid": pl.String(), "block_height": pl.Int64(),
}


#: Account model: the steps of every conversion route a trace followed (tracer.conversion_routes),
#: one row per step, tied to the hop (``hop_id``) that carried the route; ``taint_in``/``taint_out``
#: are the traced units on each side of the step (for a backward trace: the demand).
CONVERSION_COLUMNS: dict[str, pl.DataType] = {
    "hop_id": pl.Int64(), "step": pl.Int64(), "chain": pl.String(), "txid": pl.String(),
    "block_height": pl.Int64(), "timestamp": pl.Int64(), "kind": pl.String(), "venue": pl.String(),
    "position": pl.String(), "from_address": pl.String(), "to_address": pl.String(),
    "asset_in": pl.String(), "value_in": pl.String(), "taint_in": pl.String(),
    "asset_out": pl.String(), "value_out": pl.String(), "taint_out": pl.String(), "source": pl.String(),
}


@dataclass
class TraceResult:
    """A trace's findings: seeds, every tainted movement (hops) and every ending, with amounts exact.

    Amount columns are decimal text (exact for uint256); ``totals`` has Python ints per asset.
    ``shortfalls`` (account model) lists payments the store's history cannot fund (not seed value,
    so not in the totals); ``notes`` are findings for the person reading the result.
    """

    spec: TraceSpec
    seeds: pl.DataFrame
    hops: pl.DataFrame
    endings: pl.DataFrame
    totals: dict[str, dict[str, int]]
    queries: int = 0
    conserving: bool = True
    notes: list[str] = field(default_factory=list)
    shortfalls: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=dict(SHORTFALL_COLUMNS)))
    conversions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=dict(CONVERSION_COLUMNS)))

    def seed_value(self, asset: str) -> int:
        return sum(int(v) for v in self.seeds.filter(pl.col("asset") == asset)["value"].to_list())

    def converted_in(self, asset: str) -> int:
        """Traced units that entered ``asset`` through conversions: what each route delivered (forward:
        its last step's received side; backward: the demand its first step put on the given side)."""
        if self.conversions.height == 0:
            return 0
        forward = self.spec.direction is Direction.FORWARD
        ends = self.conversions.sort("hop_id", "step").group_by("hop_id", maintain_order=True).agg(
            pl.all().last() if forward else pl.all().first())
        side, taint = ("asset_out", "taint_out") if forward else ("asset_in", "taint_in")
        return sum(int(v) for v in ends.filter(pl.col(side) == asset)[taint].to_list())


def result_frame(rows: list[dict[str, Any]], columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``rows`` (dicts) as a frame with exactly ``columns``, also when there are none."""
    return pl.DataFrame(rows, schema=dict(columns), orient="row") if rows else pl.DataFrame(schema=dict(columns))


class Tags:
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
