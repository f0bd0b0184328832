# SPDX-License-Identifier: Apache-2.0
"""What a case watches on each chain (:class:`tracer.watch_rules.Targets`), read from the case: its
seeds, and the latest trace run of each question (:func:`jobs.trace_catalog.select_runs`, every file
checked against the audit log): their ``held`` endings and, for forward runs, the addresses value
passed through (not those where a trail ended at a tagged service). And the tags that make an address
a service for ``exchange_reached``: the workspace tag library and the case store's own tags, in the
trace's default stop categories.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from graph.base import GraphStore
from jobs.settings import Settings
from jobs.tag_library import TagLibrary
from jobs.trace_catalog import TraceRun, select_runs
from jobs.workspace import Case
from tracer.errors import InputError
from tracer.schema import TAGS
from tracer.trace_types import DEFAULT_STOP_CATEGORIES
from tracer.watch_rules import HeldRef, Tagged, Targets

__all__ = ["case_chains", "case_targets", "ServiceTags", "trace_runs"]


def trace_runs(case: Case) -> list[TraceRun]:
    """The latest run of each question (none yet: empty)."""
    try:
        return select_runs(case)
    except InputError:
        return []


def case_chains(case: Case, runs: list[TraceRun], checkpointed: Collection[str]) -> list[str]:
    """The chains a case works on: of its seeds, its trace runs and its block-range ingests."""
    return sorted({s.chain for s in case.seeds()} | {r.chain for r in runs} | set(checkpointed))


def case_targets(settings: Settings, case: Case, chain_key: str, runs: list[TraceRun]) -> Targets:
    """What ``case`` watches on ``chain_key`` (see the module docstring)."""
    chain = settings.chains.get(chain_key)
    seeds = [s for s in case.seeds() if s.chain == chain.key]
    addresses = frozenset(s.address for s in seeds if s.kind not in ("output", "transfer"))
    outpoints = frozenset((txid, int(vout)) for s in seeds if s.kind == "output"
                          for txid, _, vout in [s.address.rpartition(":")])
    held_outputs: dict[tuple[str, int], HeldRef] = {}
    held_accounts: dict[tuple[str, str], HeldRef] = {}
    traced: dict[str, str] = {}
    for run in sorted((r for r in runs if r.chain == chain.key), key=lambda r: r.number):
        endings = run.frames.get("endings")
        if endings is None:
            continue
        for row in endings.filter(pl.col("ending") == "held").iter_rows(named=True):
            if chain.is_account:
                key_a = (str(row["address"]), str(row["asset"]))
                held_accounts[key_a] = _held(held_accounts.get(key_a), run, row)
            elif row["txid"] is not None and row["position"] is not None:
                key_u = (str(row["txid"]), int(row["position"]))
                held_outputs[key_u] = _held(held_outputs.get(key_u), run, row)
        hops = run.frames.get("hops")
        if run.direction == "forward" and hops is not None:
            ended = set(endings.filter(pl.col("ending") == "entity")["address"].drop_nulls().to_list())
            for address in sorted(set(hops["to_address"].drop_nulls().to_list()) - ended):
                traced[address] = run.name
    return Targets(case=case.name, chain=chain.key, symbol=chain.symbol, decimals=chain.decimals,
                   account=chain.is_account, seed_addresses=addresses, seed_outpoints=outpoints,
                   held_outputs=held_outputs, held_accounts=held_accounts, traced=traced)


def _held(earlier: HeldRef | None, run: TraceRun, row: dict[str, object]) -> HeldRef:
    runs = (*(earlier.runs if earlier else ()), run.name)
    return HeldRef(runs=runs, address=None if row["address"] is None else str(row["address"]),
                   asset=str(row["asset"] or "native"), amount=int(str(row["amount"])), model=run.model)


class ServiceTags:
    """Tags of service addresses on one chain (library read once, at the start of a watch)."""

    def __init__(self, settings: Settings, chain: str, categories: Collection[str] = DEFAULT_STOP_CATEGORIES) -> None:
        self.chain = chain
        self.categories = sorted(set(categories))
        library = TagLibrary.for_home(settings.home).current([chain]).select(list(TAGS.columns))
        self.library = library.filter(pl.col("category").is_in(self.categories))

    def __call__(self, store: GraphStore, addresses: Collection[str]) -> dict[str, Tagged]:
        """address -> its service tag (the first by category, then label), for those of ``addresses`` tagged."""
        if not addresses:
            return {}
        wanted = sorted(addresses)
        rows = pl.concat([self.library.filter(pl.col("address").is_in(wanted)),
                          store.tags(self.chain, wanted).select(list(TAGS.columns))], how="vertical")
        rows = rows.filter(pl.col("category").is_in(self.categories)).sort("address", "category", "label")
        found: dict[str, Tagged] = {}
        for address, label, category in rows.select("address", "label", "category").iter_rows():
            found.setdefault(address, Tagged(label=str(label), category=str(category)))
        return found
