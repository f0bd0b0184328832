# SPDX-License-Identifier: Apache-2.0
"""Trace results as graph tables, so Neo4j Browser and the exports show what a case found.

One pure function, :func:`trace_tables`, turns trace runs (:class:`TraceRunRows`, read from a
case's result folders by ``jobs.trace_catalog``) into nodes and relationships in the shape of
:class:`graph.model.GraphTables`::

    (:Case)-[:RAN]->(:Trace)-[:REACHED {amount, share, model, ending, asset, ...}]->(:Address)
    (:Trace)-[:TRACED {taint, hops, depth}]->(:Transaction)
    (:Address)-[:FLOW {amount, asset, txid, time, block, model, trace, ...}]->(:Address)

``FLOW`` is one relationship per traced hop (``hops.parquet``: ``from_address`` → ``to_address``,
the hop's taint as ``amount``), the address-level trail an analyst follows without walking
``SPENT_IN``/``HAS_OUTPUT``/``LOCKED_TO``. Fee hops (kind ``fee``, no recipient, or the chain's
placeholder :data:`graph.model.NO_ADDRESS`) and hops that carried no taint are left out: a fee is
not a place the money went to. ``REACHED`` is one relationship per (address, ending, asset) with
the amounts of its endings summed; fee endings and endings without an address are left out (the
trace node keeps the fees in ``fees``).

Amounts are exact decimal text in base units (``amount``) plus ``amount_coins``/``symbol``/
``decimals`` (:func:`graph.captions.readable_amount`); ``share`` is the ending's part of the
seeds' value of that asset as text (``"25.74%"``) and ``share_ppm`` in parts per million (integer,
rounded down). Times are epoch seconds (``time``) and ``time_utc`` text; the Neo4j backend adds
a Neo4j ``datetime`` where the server supports it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from graph.captions import Tokens, coins_text, readable_amount, short_text, utc_text
from graph.model import NO_ADDRESS, TRACE_REL_TYPES, GraphTables
from tracer.chains import ChainRegistry

__all__ = ["TraceRunRows", "trace_tables", "trace_uid", "FEE_KIND", "TRACE_COLUMNS", "FLOW_COLUMNS",
           "REACHED_COLUMNS"]

#: hops of this kind pay a fee: never a FLOW
FEE_KIND = "fee"
_ENDING_FEE = "fee"

TRACE_COLUMNS: dict[str, pl.DataType] = {
    "uid": pl.String(), "case_name": pl.String(), "run": pl.String(), "number": pl.Int64(), "chain": pl.String(),
    "direction": pl.String(), "model": pl.String(), "parameters": pl.String(), "manifest_sha256": pl.String(),
    "audit_seq": pl.Int64(), "seed_value": pl.String(), "fees": pl.String(), "hops": pl.Int64(),
    "flows": pl.Int64(), "caption": pl.String(),
}
_AMOUNT_COLUMNS: dict[str, pl.DataType] = {
    "amount": pl.String(), "amount_coins": pl.String(), "symbol": pl.String(), "decimals": pl.Int64(),
}
REACHED_COLUMNS: dict[str, pl.DataType] = {
    "start": pl.String(), "end": pl.String(), "chain": pl.String(), "case_name": pl.String(), "trace": pl.String(),
    "model": pl.String(), "direction": pl.String(), "ending": pl.String(), "asset": pl.String(), **_AMOUNT_COLUMNS,
    "share": pl.String(), "share_ppm": pl.Int64(), "depth": pl.Int64(), "label": pl.String(),
    "category": pl.String(), "caption": pl.String(),
}
FLOW_COLUMNS: dict[str, pl.DataType] = {
    "uid": pl.String(), "start": pl.String(), "end": pl.String(), "chain": pl.String(), "case_name": pl.String(),
    "trace": pl.String(), "model": pl.String(), "direction": pl.String(), "hop_id": pl.Int64(), "depth": pl.Int64(),
    "txid": pl.String(), "block": pl.Int64(), "time": pl.Int64(), "time_utc": pl.String(), "kind": pl.String(),
    "asset": pl.String(), **_AMOUNT_COLUMNS, "source": pl.String(), "caption": pl.String(),
}
TRACED_COLUMNS: dict[str, pl.DataType] = {
    "start": pl.String(), "end": pl.String(), "chain": pl.String(), "case_name": pl.String(), "trace": pl.String(),
    "depth": pl.Int64(), "taint": pl.String(), "hops": pl.Int64(),
}


@dataclass(frozen=True)
class TraceRunRows:
    """One trace run, as the graph needs it (``jobs`` reads it from the run's folder)."""

    case: str
    name: str  # the run's folder, e.g. 0003-forward-haircut-041cbb1a30ab
    number: int
    chain: str
    direction: str
    model: str
    parameters: dict[str, Any]
    manifest_sha256: str
    audit_seq: int
    hops: pl.DataFrame
    endings: pl.DataFrame
    seed_value: dict[str, int] = field(default_factory=dict)  # asset -> base units the seeds held

    @property
    def uid(self) -> str:
        return trace_uid(self.case, self.name)


def trace_uid(case: str, run: str) -> str:
    """``trace:<case>:<run folder>`` -- the uid the trace job gives the run it saves in a store."""
    return f"trace:{case}:{run}"


def _address_uid(chain: str, address: str) -> str:
    return f"{chain}:{address}"


def _share(amount: int, total: int | None) -> tuple[str | None, int | None]:
    if not total:
        return None, None
    ppm = amount * 1_000_000 // total
    hundredths = amount * 10_000 // total
    return f"{hundredths // 100}.{hundredths % 100:02d}%", ppm


def _flow_rows(run: TraceRunRows, registry: ChainRegistry, tokens: Tokens | None) -> list[dict[str, Any]]:
    rows = []
    for hop in run.hops.iter_rows(named=True):
        start, end, taint = hop["from_address"], hop["to_address"], int(hop["taint"] or 0)
        if hop["kind"] == FEE_KIND or start is None or end in (None, NO_ADDRESS) or taint <= 0:
            continue
        chain, asset = hop["chain"], hop["asset"]
        amount = readable_amount(taint, chain, asset, registry, tokens, name="amount")
        when = utc_text(hop["timestamp"])
        rows.append({
            "uid": f"{run.uid}:{hop['hop_id']}", "start": _address_uid(chain, start), "end": _address_uid(chain, end),
            "chain": chain, "case_name": run.case, "trace": run.uid, "model": run.model, "direction": run.direction,
            "hop_id": hop["hop_id"], "depth": hop["depth"], "txid": hop["txid"], "block": hop["block_height"],
            "time": hop["timestamp"], "time_utc": when, "kind": hop["kind"], "asset": asset, "amount": str(taint),
            **amount, "source": hop["source"],
            "caption": coins_text(taint, chain, asset, registry, tokens) + (f" · {when[:10]}" if when else ""),
        })
    return rows


def _reached_rows(run: TraceRunRows, registry: ChainRegistry, tokens: Tokens | None) -> list[dict[str, Any]]:
    summed: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in run.endings.iter_rows(named=True):
        if row["address"] is None or row["address"] == NO_ADDRESS or row["ending"] == _ENDING_FEE:
            continue
        key = (row["address"], row["ending"], row["asset"])
        item = summed.setdefault(key, {"amount": 0, "depth": row["depth"], "label": row["label"],
                                       "category": row["category"], "chain": row["chain"]})
        item["amount"] += int(row["amount"])
        if row["depth"] is not None and (item["depth"] is None or row["depth"] < item["depth"]):
            item["depth"] = row["depth"]
    rows = []
    for (address, ending, asset), item in sorted(summed.items()):
        chain, amount = item["chain"], item["amount"]
        share, ppm = _share(amount, run.seed_value.get(asset))
        text = coins_text(amount, chain, asset, registry, tokens)
        who = item["label"] or short_text(address)
        rows.append({
            "start": run.uid, "end": _address_uid(chain, address), "chain": chain, "case_name": run.case,
            "trace": run.uid, "model": run.model, "direction": run.direction, "ending": ending, "asset": asset,
            "amount": str(amount), **readable_amount(amount, chain, asset, registry, tokens, name="amount"),
            "share": share, "share_ppm": ppm, "depth": item["depth"], "label": item["label"],
            "category": item["category"], "caption": f"{ending}: {who} {text}" + (f" ({share})" if share else ""),
        })
    return rows


def _traced_rows(run: TraceRunRows) -> list[dict[str, Any]]:
    traced: dict[str, dict[str, Any]] = {}
    for hop in run.hops.iter_rows(named=True):
        item = traced.setdefault(hop["txid"], {"start": run.uid, "end": f"{hop['chain']}:{hop['txid']}",
                                               "chain": hop["chain"], "case_name": run.case, "trace": run.uid,
                                               "depth": hop["depth"], "taint": 0, "hops": 0})
        item["taint"] += int(hop["taint"] or 0)
        item["hops"] += 1
    return [{**r, "taint": str(r["taint"])} for _, r in sorted(traced.items())]


def _trace_row(run: TraceRunRows, flows: int, registry: ChainRegistry, tokens: Tokens | None) -> dict[str, Any]:
    fees = sum(int(r["amount"]) for r in run.endings.iter_rows(named=True) if r["ending"] == _ENDING_FEE)
    seeds = ", ".join(coins_text(v, run.chain, a, registry, tokens) for a, v in sorted(run.seed_value.items()))
    return {
        "uid": run.uid, "case_name": run.case, "run": run.name, "number": run.number, "chain": run.chain,
        "direction": run.direction, "model": run.model,
        "parameters": json.dumps(run.parameters, sort_keys=True, separators=(",", ":")),
        "manifest_sha256": run.manifest_sha256, "audit_seq": run.audit_seq,
        "seed_value": json.dumps({a: str(v) for a, v in sorted(run.seed_value.items())}, separators=(",", ":")),
        "fees": str(fees), "hops": run.hops.height, "flows": flows,
        "caption": f"#{run.number} {run.direction} {run.model}" + (f" · {seeds}" if seeds else ""),
    }


def trace_tables(runs: Sequence[TraceRunRows], registry: ChainRegistry, tokens: Tokens | None = None) -> GraphTables:
    """Nodes ``Trace`` and relationships ``RAN``, ``REACHED``, ``TRACED``, ``FLOW`` of ``runs`` (pure;
    rows in run order, then hop or address order). ``RAN`` starts at the Case node (uid = case name)."""
    traces, ran, reached, traced, flows = [], [], [], [], []
    for run in runs:
        run_flows = _flow_rows(run, registry, tokens)
        flows += run_flows
        reached += _reached_rows(run, registry, tokens)
        traced += _traced_rows(run)
        traces.append(_trace_row(run, len(run_flows), registry, tokens))
        ran.append({"start": run.case, "end": run.uid, "chain": run.chain, "run": run.name})
    ran_columns = {"start": pl.String(), "end": pl.String(), "chain": pl.String(), "run": pl.String()}
    rels = {
        "RAN": pl.DataFrame(ran, schema=ran_columns),
        "REACHED": pl.DataFrame(reached, schema=REACHED_COLUMNS),
        "TRACED": pl.DataFrame(traced, schema=TRACED_COLUMNS),
        "FLOW": pl.DataFrame(flows, schema=FLOW_COLUMNS),
    }
    assert tuple(rels) == TRACE_REL_TYPES
    return GraphTables(nodes={"Trace": pl.DataFrame(traces, schema=TRACE_COLUMNS)}, rels=rels)
