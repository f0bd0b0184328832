# SPDX-License-Identifier: Apache-2.0
"""The trace vocabulary: what a trace is asked, what it finds, and the helpers both engines share.

Shared design notes §5 is the specification. :class:`TraceSpec` is the question (seeds,
direction, taint model, limits), :class:`TraceResult` the answer (seeds, hops, typed
:class:`Ending` rows, exact totals); :func:`result_frame` and :class:`Tags` (stop-set look-ups,
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

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
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
