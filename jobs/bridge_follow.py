# SPDX-License-Identifier: Apache-2.0
"""Follow value across bridges: a deposit on one chain, matched to its release on another, goes on there.

A trace over an account chain stops at a bridge contract (the bridge registry,
:mod:`tracer.bridges`, tags every registered contract ``bridge``, a default stop category). The
store holds the bridges' own events (``bridge_events``: deposits on the origin chain, releases on
the destination chain, decoded by ``adapters.evm.bridges``), and :func:`tracer.bridge_match.
match_bridge_events` pairs them by the bridge's identifiers and checks every field the release
restates. For each traced hop *into* a deposit's leg (forward; backward: *out of* a release's leg)
this job:

* with a confident, unambiguous match (``exact``, ``high`` or ``medium``), continues the trace on
  the other chain under the same model, direction and limits, seeded with the other leg of the
  crossing and only the traced share of it: ``floor(taint x value_out / value_in)`` (forward;
  ``value_in / value_out`` backward; poison: all of it) — a :class:`tracer.trace.Seed` with
  ``taint`` (text ``TXID:INDEX@UNITS``). The continuation is an ordinary trace run of the case
  (own folder, manifest, audit entry), whose manifest and result name the crossing it continues
  (``evidence.bridged_from``), both legs' evidence and the match's confidence;
* otherwise (no release in the store, two releases for one deposit, only the identifier agrees, a
  backward trace — on the destination chain the release was paid from the relayer's own funds,
  which the trace follows, so crossing back would explain the same value twice) lists the
  crossing as not continued, with the reason; the value stays ended at the bridge.

A deposit of the chain's coin that the bridge wraps (Across wraps ``msg.value`` into WETH) reaches
the contract as a conversion route (:mod:`tracer.conversion_routes`); it is matched by its
transaction and the deposit contract. For FIFO and LIFO the traced share is placed on the first
units of the release (the link says so): where the traced units lie is not carried across.

Crossings of a continuation are followed in turn (at most ``max_rounds`` bridges deep), and a
crossing is followed once per trace question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from graph.base import GraphStore
from jobs.checkpoints import Checkpoint
from jobs.settings import Settings
from jobs.stores import checkpoint_path
from jobs.workspace import Case
from tracer.bridge_match import match_bridge_events
from tracer.bridges import BridgeRegistry
from tracer.chains import Chain
from tracer.frontier import Direction
from tracer.schema import TAGS
from tracer.taint import Model
from tracer.trace import Seed, TraceResult, TraceSpec

__all__ = ["bridge_tags", "CONTINUED_CONFIDENCE", "REGISTRY_SOURCE", "REGISTRY_TAGPACK", "follow_bridges"]

#: match confidences a trace continues across (``low``: only the identifier agrees)
CONTINUED_CONFIDENCE = ("exact", "high", "medium")
#: where the registry's tags say they come from, and the tag pack name they carry
REGISTRY_SOURCE = "tracer bridge registry (tracer/bridges.py and the [bridges] configuration)"
REGISTRY_TAGPACK = "bridge registry"

RunTrace = Callable[[TraceSpec, list[dict[str, Any]]], dict[str, Any]]


def bridge_tags(registry: BridgeRegistry, chain: Chain) -> pl.DataFrame:
    """``tags`` rows for the bridge contracts registered on ``chain`` (category ``bridge``)."""
    contracts = registry.contracts_on(chain.evm_chain_id) if chain.evm_chain_id is not None else {}
    rows = [{"chain": chain.key, "address": address, "label": f"{bridge} bridge contract", "category": "bridge",
             "confidence": 100, "tagpack": REGISTRY_TAGPACK, "source": REGISTRY_SOURCE}
            for address, bridge in sorted(contracts.items())]
    return pl.DataFrame(rows, schema=TAGS.polars_schema, orient="row") if rows else pl.DataFrame(
        schema=TAGS.polars_schema)


def _leg_index(kind: str | None, log_index: int | None, path: str | None) -> str | None:
    """A leg as a transfer seed's index (``log:N``, ``path:P``, or None for the transaction's own value)."""
    if kind == "token" and log_index is not None:
        return f"log:{log_index}"
    if path is not None:
        return f"path:{path}"
    return None


def _leg_position(kind: str | None, log_index: int | None, path: str | None) -> str | None:
    """A leg as a hop's ``position`` (log index for token rows, else the call path)."""
    if kind == "token" and log_index is not None:
        return str(log_index)
    return path


def _crossings(result: TraceResult, matches: pl.DataFrame) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(hop, match row) for each traced hop that is the near leg of a crossing: forward, the deposit's
    leg on this chain; backward, the release's leg."""
    forward = result.spec.direction is Direction.FORWARD
    side = "deposit" if forward else "release"
    near = matches.filter(pl.col(f"{side}_chain") == result.spec.chain)
    if near.height == 0 or result.hops.height == 0:
        return []
    by_leg: dict[tuple[str, str | None, str | None], list[dict[str, Any]]] = defaultdict(list)
    for row in near.iter_rows(named=True):
        kind = row[f"{side}_leg_kind"]
        by_leg[(row[f"{side}_txid"], kind, _leg_position(kind, row[f"{side}_leg_log_index"],
                                                         row[f"{side}_leg_trace_path"]))].append(row)
    by_contract: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    if forward:  # a deposit of the native coin that the bridge wraps is a conversion route into the contract
        for row in near.iter_rows(named=True):
            by_contract[(row["deposit_txid"], row["deposit_contract"])].append(row)
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for hop in result.hops.iter_rows(named=True):
        found = by_leg.get((hop["txid"], hop["kind"], hop["position"]), [])
        if not found and hop["kind"] == "conversion" and by_contract:
            found = by_contract.get((hop["txid"], hop["to_address"]), [])
        out.extend((hop, row) for row in found)
    return out


def _share(model: Model, taint: int, given: int, received: int) -> int:
    """The traced units of ``received`` when ``taint`` of ``given`` crossed (poison: all of it)."""
    if model is Model.POISON:
        return received if taint else 0
    return taint * received // given if given else 0


def _link(hop: dict[str, Any], match: dict[str, Any], run_name: str, forward: bool) -> dict[str, Any]:
    """The crossing as evidence: both legs, the match, the traced value on each side."""
    value_in, value_out = match["value_in"], match["value_out"]
    return {
        "from_run": run_name, "bridge": match["bridge"], "origin_chain_id": match["origin_chain_id"],
        "deposit_id": match["deposit_id"], "status": match["status"], "confidence": match["confidence"],
        "mismatches": list(match["mismatches"] or []), "ambiguous": bool(match["ambiguous"]),
        "deposit": {"chain": match["deposit_chain"], "txid": match["deposit_txid"], "block": match["deposit_block"],
                    "time": match["deposit_time"], "contract": match["deposit_contract"],
                    "depositor": match["depositor"], "asset": match["asset_in"],
                    "value": str(int(value_in)) if value_in is not None else None,
                    "leg": _leg_index(match["deposit_leg_kind"], match["deposit_leg_log_index"],
                                      match["deposit_leg_trace_path"])},
        "release": {"chain": match["release_chain"], "txid": match["release_txid"], "block": match["release_block"],
                    "time": match["release_time"], "contract": match["release_contract"],
                    "recipient": match["recipient"], "asset": match["asset_out"],
                    "value": str(int(value_out)) if value_out is not None else None,
                    "leg": _leg_index(match["release_leg_kind"], match["release_leg_log_index"],
                                      match["release_leg_trace_path"])},
        "traced": str(hop["taint"]), "traced_on": "deposit" if forward else "release",
    }


def follow_bridges(settings: Settings, case: Case, store: GraphStore, runs: Sequence[dict[str, Any]],
                   run_trace: RunTrace, *, max_rounds: int = 4) -> list[dict[str, Any]]:
    """Continue each run across the bridges it reached (see the module docstring).

    ``run_trace(spec, bridged_from)`` runs and records one continuation; returns, per crossing, its
    link (with ``continued`` true and the continuation's ``run`` output, or false and ``why``)."""
    events = store.bridge_events()
    if events.height == 0:
        return []
    registry = settings.bridges
    matches = match_bridge_events(events, windows=dict(registry.windows))
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    pending = list(runs)
    for _ in range(max_rounds):
        following: list[dict[str, Any]] = []
        for run in pending:
            following += _continue(settings, case, run, matches, seen, out, run_trace)
        if not following:
            return out
        pending = following
    for run in pending:  # the last continuations' own crossings: listed, not followed
        _continue(settings, case, run, matches, seen, out, run_trace,
                  limit=f"more than {max_rounds} bridges deep: not continued (the bridge depth limit)")
    return out


def _why_not(match: dict[str, Any], forward: bool) -> str | None:
    """Why a crossing is not continued (None: it is)."""
    if match["status"] != "matched":
        return ("no release of this deposit is in the store (ingest the destination chain's blocks)" if forward
                else "the deposit this release fills is not in the store (ingest the origin chain's blocks)")
    if match["ambiguous"]:
        return f"{match['release_count']} releases claim this deposit: not continued (which one paid is unproven)"
    if not forward:
        return ("a backward trace is not continued across a bridge: on this chain the release was paid from the "
                "relayer's own funds, which the trace follows, so crossing back would explain the same value twice")
    if match["confidence"] not in CONTINUED_CONFIDENCE:
        return (f"only the bridge's identifier ties the release to the deposit (differs: "
                f"{', '.join(match['mismatches'])}): not continued")
    return None


def _continue(settings: Settings, case: Case, run: dict[str, Any], matches: pl.DataFrame, seen: set[tuple[Any, ...]],
              out: list[dict[str, Any]], run_trace: RunTrace, *, limit: str | None = None) -> list[dict[str, Any]]:
    """One run's crossings: record each, and run one continuation per destination chain (none, each
    crossing listed with ``limit`` as the reason, when a limit says so)."""
    result: TraceResult = run["result"]
    spec = result.spec
    forward = spec.direction is Direction.FORWARD
    seeds: dict[str, list[Seed]] = defaultdict(list)
    links: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for hop, match in _crossings(result, matches):
        key = (str(spec.model), str(spec.direction), match["bridge"], match["origin_chain_id"], match["deposit_id"],
               match["release_txid"])
        if key in seen:
            continue
        seen.add(key)
        link = _link(hop, match, run["directory"].name, forward)
        why = limit or _why_not(match, forward)
        far = "release" if forward else "deposit"
        far_chain = match[f"{far}_chain"]
        if why is None and far_chain not in settings.chains.keys():
            why = f"chain {far_chain} is not configured here"
        if why is None:
            given, received = ((int(match["value_in"]), int(match["value_out"])) if forward
                               else (int(match["value_out"]), int(match["value_in"])))
            units = _share(spec.model, int(hop["taint"]), given, received)
            if units == 0:
                why = "the traced share of the crossing rounds to 0 base units"
            else:
                index = _leg_index(match[f"{far}_leg_kind"], match[f"{far}_leg_log_index"],
                                   match[f"{far}_leg_trace_path"])
                seeds[far_chain].append(Seed(txid=match[f"{far}_txid"], index=index, taint=units))
                link["continued_with"] = str(units)
                if spec.model in (Model.FIFO, Model.LIFO) and units < received:
                    link["note"] = ("the traced share is placed on the first units of the release: where inside "
                                    "it the traced units lie is not carried across the bridge")
                links[far_chain].append(link)
        link["continued"] = why is None
        if why is not None:
            link["why"] = why
        out.append(link)
    continuations = []
    for chain_key in sorted(seeds):
        chain = settings.chains.get(chain_key)
        coverage = tuple(Checkpoint.load(checkpoint_path(settings, case, chain.key), chain.key).done)
        continued = TraceSpec(chain=chain.key, account_model=chain.is_account, seeds=tuple(seeds[chain_key]),
                              direction=spec.direction, model=spec.model, hops=spec.hops, since=spec.since,
                              until=spec.until, min_value=spec.min_value, max_fanout=spec.max_fanout,
                              stop_categories=spec.stop_categories, coverage=coverage)
        record = run_trace(continued, links[chain_key])
        for link in links[chain_key]:
            link["run"] = record
        continuations.append(record)
    return continuations
