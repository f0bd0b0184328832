# SPDX-License-Identifier: Apache-2.0
"""Error rates on account chains, measured against an account economy whose true owners are known (issue 23).

Pure functions over the canonical ``transfers`` frame and two truth frames: ``owners`` (``address``,
``entity``, ``kind``, ``role``, ``customer``: who controls each address; a deposit address is the
exchange's, issued to ``customer``) and ``truth`` (``txid``, ``kind``, ``asset``, ``actor``). The
generator is ``testing/economy_evm.py`` (anvil); the intervals and pooling are those of
:mod:`tracer.error_rates` (:func:`tracer.error_rates.summarize` with :data:`ACCOUNT_METRICS`).

Definitions
-----------
Deposit-address reuse (:func:`tracer.deposit_reuse.deposit_reuse`, default parameters; Victor, FC
2020). **User clustering**: the clusters of its ``deposit_reuse`` links over every address of known
owner that is not an exchange's (users, merchants, the launderer, the funder), an address
without a link its own cluster; pairwise precision, pairwise recall, purity, link precision and
over-merged clusters as defined in :mod:`tracer.error_rates` (pair counting, Manning et al. 2008
§16.3). The truth of a user address is the entity that controls it.

**Exchange attribution**: *precision* = detected deposit addresses whose hot wallet belongs to the
exchange that owns the deposit address / detected deposit addresses; *recall* = true deposit
addresses that received value from a customer and were attributed to their own exchange / those
true deposit addresses; *hot-wallet precision* = detected hot wallets that are an exchange's hot
wallet / detected hot wallets.

Trace (:func:`tracer.trace.trace`, account model, forward, no hop limit) per stolen asset (``eth``:
the native coin; ``token``: the economy's ERC-20): the seed is the launderer's theft address (every
receipt of it is stolen), and **only the exchanges' hot wallets are tagged** (category exchange),
so the trail runs through deposit addresses, merchants and users until it reaches a hot wallet.
The truth: what the launderer's own transfers paid each other entity (the owner of the receiving
address; a deposit address is its exchange's). Value attributed to an entity: the ``entity``,
``held`` and ``unverified`` endings at its addresses. **True-entity share** and **wrong-entity
share** as in :mod:`tracer.error_rates`; **deposit-exchange share** = min(attributed, true) for
the exchange(s) where the launderer's own deposit address is / what the launderer paid into them:
how much of what really reached the exchange the trace finds there through the deposit address.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from tracer.deposit_reuse import DepositParams, DepositReuse, deposit_reuse
from tracer.error_rates import Count, Metric, clustering_counts, trace_counts
from tracer.frontier import Direction, FrameFrontier
from tracer.schema import TAGS, FrameSet
from tracer.taint import parse_model
from tracer.trace import Seed, TraceSpec, trace

__all__ = ["ACCOUNT_METRICS", "ACCOUNT_MODELS", "ACCOUNT_ASSETS", "measure_account", "deposit_counts",
           "attribution_counts", "account_trace_counts", "launderer_destinations"]

#: the taint models measured on the account trace (the two the issue names; each costs one trace per asset)
ACCOUNT_MODELS = ("haircut", "fifo")
ACCOUNT_ASSETS = ("eth", "token")
_PREFIX = "account"
_LAUNDER_OUT = ("launder_deposit", "launder_payment", "launder_otc")
_ATTRIBUTING = ("entity", "held", "unverified")
_CLUSTER_KEYS = ("pairwise_precision", "pairwise_recall", "purity", "link_precision", "overmerged_clusters")


def _m(key: str, method: str, name: str, interval: str, higher: bool = True) -> Metric:
    return Metric(f"{_PREFIX}.{key}", method, name, interval, higher, side="account")


#: every account-side rate, in table order (keys prefixed ``account.``)
ACCOUNT_METRICS: dict[str, Metric] = {m.key: m for m in (
    _m("deposit_reuse.pairwise_precision", "deposit_reuse", "deposit-address reuse: pairwise precision", "t"),
    _m("deposit_reuse.pairwise_recall", "deposit_reuse", "deposit-address reuse: pairwise recall", "t"),
    _m("deposit_reuse.purity", "deposit_reuse", "deposit-address reuse: cluster purity", "t"),
    _m("deposit_reuse.link_precision", "deposit_reuse",
       "deposit-address reuse: evidence links between one owner's addresses", "wilson"),
    _m("deposit_reuse.overmerged_clusters", "deposit_reuse",
       "deposit-address reuse: clusters holding several entities", "wilson", False),
    _m("exchange_attribution.precision", "deposit_reuse",
       "exchange attribution: deposit addresses assigned to their own exchange (precision)", "wilson"),
    _m("exchange_attribution.recall", "deposit_reuse",
       "exchange attribution: true deposit addresses found and assigned to their exchange (recall)", "wilson"),
    _m("exchange_attribution.hot_wallet_precision", "deposit_reuse",
       "exchange attribution: detected hot wallets that are an exchange's", "wilson"),
    *(x for model in ACCOUNT_MODELS for asset in ACCOUNT_ASSETS for x in (
        _m(f"trace.{model}.{asset}.true_entity_share", model,
           f"account trace ({model}, {asset}): value attributed to the true receiver", "t"),
        _m(f"trace.{model}.{asset}.wrong_entity_share", model,
           f"account trace ({model}, {asset}): value attributed to a wrong entity", "t", False),
        _m(f"trace.{model}.{asset}.deposit_exchange_share", model,
           f"account trace ({model}, {asset}): launderer's exchange deposits found at that exchange's hot wallet",
           "t"),
    )),
)}


def _known(owners: pl.DataFrame) -> pl.DataFrame:
    return owners.filter(pl.col("entity").is_not_null())


# -- deposit-address reuse ---------------------------------------------------------------------------------
def deposit_counts(found: DepositReuse, owners: pl.DataFrame, chain: str) -> dict[str, Count]:
    """Pairwise precision/recall, purity, link precision and over-merging of the user clusters."""
    people = _known(owners).filter(pl.col("kind") != "exchange").select("address", "entity")
    edges = found.user_links.join(people.select("address"), on="address", how="semi").join(
        people.select(pl.col("address").alias("linked_address")), on="linked_address", how="semi")
    none = pl.DataFrame(schema={"txid": pl.String, "kind": pl.String})
    counts = clustering_counts(edges.select("chain", "address", "linked_address", "txid", "heuristic"), people,
                               none, chain, f"{_PREFIX}.deposit_reuse")
    return {k: v for k, v in counts.items() if k.rsplit(".", 1)[-1] in _CLUSTER_KEYS}


def attribution_counts(found: DepositReuse, owners: pl.DataFrame, transfers: pl.DataFrame) -> dict[str, Count]:
    """Exchange attribution of deposit addresses and hot wallets (see the module docstring)."""
    known = _known(owners)
    owner = dict(known.select("address", "entity").iter_rows())
    detected = found.deposits.select("deposit_address", "hot_wallet").rows()
    right = sum(1 for d, h in detected if owner.get(d) is not None and owner.get(d) == owner.get(h)
                and known.filter(pl.col("address") == h)["role"].item() == "hot_wallet")
    hot_truth = set(known.filter(pl.col("role") == "hot_wallet")["address"].to_list())
    exchange_of_hot = {h: owner[h] for h in hot_truth}
    true_deposits = known.filter(pl.col("role") == "deposit").select("address", "entity")
    customers = set(known.filter(pl.col("kind") != "exchange")["address"].to_list())
    paid = transfers.filter(pl.col("kind").is_in(["native", "token", "internal"]) & pl.col("from_address").is_in(
        list(customers)))["to_address"].unique().to_list()
    judged = true_deposits.filter(pl.col("address").is_in(paid))
    assigned = dict(detected)
    found_right = sum(1 for d, e in judged.iter_rows() if exchange_of_hot.get(assigned.get(d, ""), None) == e)
    return {
        f"{_PREFIX}.exchange_attribution.precision": Count(right, len(detected)),
        f"{_PREFIX}.exchange_attribution.recall": Count(found_right, judged.height),
        f"{_PREFIX}.exchange_attribution.hot_wallet_precision": Count(
            sum(1 for h in found.hot_wallets if h in hot_truth), len(found.hot_wallets)),
    }


# -- the trace ------------------------------------------------------------------------------------------
def _asset_name(asset: str) -> str:
    return "eth" if asset == "native" else "token"


def launderer_destinations(transfers: pl.DataFrame, owners: pl.DataFrame, truth: pl.DataFrame,
                           launderer: str = "launderer") -> dict[str, dict[str, int]]:
    """Per stolen asset (``eth``, ``token``): what the launderer's own transfers paid each other entity."""
    out_txs = truth.filter(pl.col("kind").is_in(_LAUNDER_OUT)).select("txid")
    paid = (transfers.filter(pl.col("kind").is_in(["native", "token"]) & (pl.col("value").cast(pl.Float64) > 0))
            .join(out_txs, on="txid", how="semi")
            .join(owners.select(pl.col("address").alias("to_address"), "entity"), on="to_address", how="left")
            .filter(pl.col("entity") != launderer))
    dest: dict[str, dict[str, int]] = {a: {} for a in ACCOUNT_ASSETS}
    for asset, entity, value in paid.select("asset", "entity", "value").iter_rows():
        bucket = dest[_asset_name(asset)]
        bucket[str(entity)] = bucket.get(str(entity), 0) + int(value)
    return dest


def _hot_wallet_tags(owners: pl.DataFrame, chain: str) -> pl.DataFrame:
    return _known(owners).filter(pl.col("role") == "hot_wallet").select(
        pl.lit(chain).alias("chain"), "address", pl.col("entity").alias("label"), pl.lit("exchange").alias("category"),
        pl.lit(100, pl.Int64).alias("confidence"), pl.lit("economy truth").alias("tagpack"),
        pl.lit("testing/economy_evm.py").alias("source"),
    ).select(pl.col(c).cast(t) for c, t in TAGS.columns.items())


def account_trace_counts(frames: FrameSet, owners: pl.DataFrame, truth: pl.DataFrame, chain: str,
                         heights: tuple[int, int], models: Collection[str] = ACCOUNT_MODELS,
                         launderer: str = "launderer") -> dict[str, Count]:
    """Trace the launderer's theft address forward under each model, only hot wallets tagged, and compare
    the value attributed per entity with where the launderer really paid it."""
    known = _known(owners)
    thefts = known.filter((pl.col("entity") == launderer) & (pl.col("role") == "theft"))["address"].to_list()
    if not thefts:
        return {}
    owner = dict(known.select("address", "entity").iter_rows())
    tags = _hot_wallet_tags(owners, chain)

    def lookup(c: str, addresses: Collection[str]) -> pl.DataFrame:
        return tags.filter(pl.col("address").is_in(list(addresses)))

    dest = launderer_destinations(frames.transfers, owners, truth, launderer)
    launderer_deposits = known.filter((pl.col("role") == "deposit") & (pl.col("customer") == launderer))
    deposit_exchanges = set(launderer_deposits["entity"].to_list())
    frontier = FrameFrontier(frames)
    counts: dict[str, Count] = {}
    for model in models:
        spec = TraceSpec(chain=chain, account_model=True, seeds=tuple(Seed(address=a) for a in sorted(thefts)),
                         direction=Direction.FORWARD, model=parse_model(model), hops=None,
                         stop_categories=("exchange",), coverage=(heights,))
        result = trace(spec, frontier, lookup)
        attributed: dict[str, dict[str, int]] = {a: {} for a in ACCOUNT_ASSETS}
        for asset, address, amount in result.endings.filter(pl.col("ending").is_in(_ATTRIBUTING)).select(
                "asset", "address", "amount").iter_rows():
            who = owner.get(address)
            if who is not None:
                bucket = attributed[_asset_name(asset)]
                bucket[who] = bucket.get(who, 0) + int(amount)
        seeded: dict[str, int] = {a: 0 for a in ACCOUNT_ASSETS}
        for asset, value in result.seeds.select("asset", "value").iter_rows():
            seeded[_asset_name(asset)] += int(value)
        for asset in ACCOUNT_ASSETS:
            if not seeded[asset]:
                continue
            for key, count in trace_counts(model, attributed[asset], dest[asset], seeded[asset]).items():
                counts[f"{_PREFIX}.{key.replace(f'trace.{model}.', f'trace.{model}.{asset}.')}"] = count
            true_there = sum(v for e, v in dest[asset].items() if e in deposit_exchanges)
            found_there = sum(min(attributed[asset].get(e, 0), dest[asset].get(e, 0)) for e in deposit_exchanges)
            counts[f"{_PREFIX}.trace.{model}.{asset}.deposit_exchange_share"] = Count(found_there, true_there)
    return counts


def measure_account(frames: FrameSet, owners: pl.DataFrame, truth: pl.DataFrame, chain: str,
                    heights: tuple[int, int], params: DepositParams = DepositParams()) -> dict[str, Count]:
    """Every count of :data:`ACCOUNT_METRICS` for one account economy (``heights``: the blocks the frames
    hold completely)."""
    found = deposit_reuse(frames.transfers, chain, params, run_source="error-rates")
    counts = deposit_counts(found, owners, chain)
    counts |= attribution_counts(found, owners, frames.transfers)
    counts |= account_trace_counts(frames, owners, truth, chain, heights)
    return counts
