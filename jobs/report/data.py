# SPDX-License-Identifier: Apache-2.0
"""Everything a case report states, gathered from the case: its seeds, the chosen trace runs (checked
against the audit log), the flow graph and Sankey of each run, the models side by side, the ranked
endings, the data sources and tag sources, and the raw records of every transaction the report
cites, read back from the store as ingested.

The result is plain data (dicts and lists of strings and ints) for the template. Nothing here reads
a clock: the same case and options give the same report, byte for byte.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from graph.base import GraphStore
from jobs.report.flow_dot import flow_dot, render_svg, short_address, utc_text
from jobs.report.rates import RateTable
from jobs.report.sankey import SankeyLink, SankeyNode, sankey_svg
from jobs.session import Session
from jobs.stores import open_case_store_for_reading
from jobs.token_cache import read_tokens
from jobs.trace_catalog import TraceRun
from jobs.workspace import Case
from tracer.chains import Chain
from tracer.coinjoin import coinjoin_transactions
from tracer.flow_graph import FlowGraph, build_flow_graph
from tracer.methods import HEURISTICS, TAINT_MODELS, Method
from tracer.money import Money
from tracer.report import share_text

__all__ = ["ReportOptions", "RunContext", "gather_run", "run_section", "question_sections", "ENDING_WORDS"]

ENDING_WORDS = {"entity": "attributed entity", "held": "held (unspent, proven)", "fee": "network fees",
                "not_in_store": "not in store (unknown)", "hop_limit": "hop limit reached",
                "fanout_limit": "fan-out limit", "below_min_value": "below minimum value",
                "unverified": "unspent as far as the store knows (unverified)", "returned_to_seed": "back to a seed",
                "mined": "mined", "rounding": "rounding remainder", "time_limit": "time window end",
                "converted": "converted (swapped / wrapped, followed on in the asset received)"}


@dataclass(frozen=True)
class ReportOptions:
    """What a report shows: the cut of the flow graph (basis points of the seed value), how many
    endings per run, and fiat rates (None: amounts in coin units only)."""

    min_share_bp: int = 100
    top: int = 50
    rates: RateTable | None = None
    rate_max_age: int = 86_400


@dataclass
class RunContext:
    """One run with what its sections need: chain, money formatting, coinjoin marks, raw records."""

    run: TraceRun
    chain: Chain
    money: Money
    clusters: dict[str, str]
    coinjoins: dict[str, str]
    records: dict[str, pl.DataFrame]
    graph: FlowGraph | None = None


def _cluster_map(case: Case, chain: str) -> dict[str, str]:
    path = case.dir / "clusters" / f"{chain}-clusters.parquet"
    if not path.is_file():
        return {}
    frame = pl.read_parquet(path).filter(pl.col("chain") == chain)
    return dict(zip(frame["address"].to_list(), frame["cluster_id"].to_list(), strict=True))


def _records(store: GraphStore, chain: Chain, txids: list[str]) -> dict[str, pl.DataFrame]:
    """The raw rows of ``txids`` as the store holds them (what the ingest wrote)."""
    if chain.is_utxo:
        frames = store.transactions(chain.key, txids)
        return {"transactions": frames.transactions, "inputs": frames.inputs, "outputs": frames.outputs}
    transfers = store.transfers_of(chain.key, txids)
    frames = store.transactions(chain.key, txids)
    return {"transactions": frames.transactions, "transfers": transfers}


def gather_run(session: Session, case: Case, run: TraceRun, store: GraphStore | None,
               options: ReportOptions) -> RunContext:
    """Read what one run's sections need from the case and its store, and build its flow graph."""
    chain = session.settings.chains.get(run.chain)
    money = Money(chain, read_tokens(session.settings, case, chain.key))
    hops = run.frames["hops"]
    txids = sorted(set(hops["txid"].drop_nulls().to_list()) | set(run.frames["seeds"]["txid"].drop_nulls().to_list()))
    if store is None:
        store = open_case_store_for_reading(session.settings, case)
        try:
            records = _records(store, chain, txids)
        finally:
            store.close()
    else:
        records = _records(store, chain, txids)
    coinjoins: dict[str, str] = {}
    if chain.is_utxo:
        marks = coinjoin_transactions(records["inputs"], records["outputs"])
        coinjoins = dict(zip(marks["txid"].to_list(), marks["shape"].to_list(), strict=True))
    context = RunContext(run, chain, money, _cluster_map(case, chain.key), coinjoins, records)
    spends = records["inputs"].select("txid", "prev_txid", "prev_index") if chain.is_utxo else None
    context.graph = build_flow_graph(hops, run.frames["endings"], run.frames["seeds"], run.frames["tags"],
                                     min_share_bp=options.min_share_bp, direction=run.direction, spends=spends,
                                     clusters=context.clusters, coinjoins=coinjoins)
    return context


def _traced_totals(context: RunContext) -> dict[str, int]:
    """Per asset, what the run followed: seed value plus what entered the asset through conversions
    (the run's reconciled totals; shares of endings are of this)."""
    return {asset: int(row["seed_value"]) + int(row.get("converted_in", 0))
            for asset, row in context.run.result.get("totals", {}).items()}


def conversion_lines(context: RunContext) -> list[dict[str, Any]]:
    """Every step of every conversion route the run followed, as an evidence line: who gave what, who
    received what, at which venue, in which transaction (``conversions.parquet``)."""
    steps = context.run.frames.get("conversions")
    if steps is None or steps.height == 0:
        return []
    money, rows = context.money, []
    for step in steps.sort("hop_id", "step").iter_rows(named=True):
        given, received = int(step["value_in"]), int(step["value_out"])
        if step["kind"] == "transfer":
            what = f"passed on {money(received, step['asset_out'])} (relay inside the transaction)"
        elif step["kind"] == "weth":
            verb = "wrapped" if step["asset_in"] == "native" else "unwrapped"
            what = f"{verb} {money(given, step['asset_in'])} into {money(received, step['asset_out'])}"
        else:
            what = (f"swapped {money(given, step['asset_in'])} for {money(received, step['asset_out'])} at pool "
                    f"{step['venue']} ({step['kind']})")
        rows.append({
            "hop": step["hop_id"], "step": step["step"], "from": step["from_address"], "to": step["to_address"],
            "what": what, "traced": f"{money(int(step['taint_in']), step['asset_in'])} → "
                                    f"{money(int(step['taint_out']), step['asset_out'])}",
            "txid": step["txid"], "anchor": f"tx-{context.chain.key}-{step['txid']}", "block": step["block_height"],
            "time": utc_text(step["timestamp"]) if step["timestamp"] is not None else "",
        })
    return rows


def _fiat(options: ReportOptions, context: RunContext, asset: str, amount: int, at: int | None) -> str:
    if options.rates is None:
        return ""
    decimals = context.money.decimals(asset)
    if at is None or decimals is None:
        return "no rate"
    value = options.rates.value_at(context.chain.key, asset, amount, decimals, at, max_age=options.rate_max_age)
    if value is None:
        return "no rate"
    return f"{value.text()} (rate {value.price} {value.currency} at {utc_text(value.rate_time)}, {value.source})"


def _endings(context: RunContext, options: ReportOptions) -> list[dict[str, Any]]:
    endings = context.run.frames["endings"]
    hops = context.run.frames["hops"].select("hop_id", "timestamp", "block_height", pl.col("txid").alias("hop_txid"))
    seed_totals = _traced_totals(context)
    ranked = (endings.join(hops, on="hop_id", how="left")
              .with_columns(pl.col("amount").cast(pl.Decimal(38, 0)).alias("_n"))
              .sort(["_n", "ending", "address", "txid"], descending=[True, False, False, False], nulls_last=True)
              .head(options.top))
    rows = []
    for rank, row in enumerate(ranked.iter_rows(named=True), start=1):
        amount, txid = int(row["amount"]), row["txid"] or row["hop_txid"]
        rows.append({
            "rank": rank, "ending": ENDING_WORDS.get(row["ending"], row["ending"]), "ending_key": row["ending"],
            "address": row["address"] or "", "label": row["label"] or "", "category": row["category"] or "",
            "cluster": (context.clusters.get(row["address"] or "") or "").split(":", 1)[-1],
            "amount": context.money(amount, row["asset"]), "amount_base": str(amount),
            "share": share_text(amount, seed_totals.get(row["asset"], 0)),
            "txid": txid or "", "anchor": f"tx-{context.chain.key}-{txid}" if txid else "",
            "time": utc_text(row["timestamp"]) if row["timestamp"] is not None else "",
            "coinjoin": context.coinjoins.get(row["txid"] or "", ""),
            "fiat": _fiat(options, context, row["asset"], amount, row["timestamp"]),
        })
    return rows


def _amounts(money: Money, asset: str) -> Callable[[int], str]:
    return lambda value: money(value, asset)


def _sankeys(context: RunContext) -> list[str]:
    """One Sankey per asset: seeds → traced value → ending types → named entities."""
    run, money = context.run, context.money
    pictures = []
    totals = run.result.get("totals", {})
    for asset in sorted(totals):
        seeds = run.frames["seeds"].filter(pl.col("asset") == asset).group_by("address").agg(
            pl.col("value").cast(pl.Decimal(38, 0)).sum()).sort("address")
        pool = f"traced ({run.model})"
        nodes = [SankeyNode(f"seed:{a}", f"seed {short_address(a)}", 0, "seed") for a in seeds["address"]]
        nodes.append(SankeyNode("pool", pool, 1, "pool"))
        links = [SankeyLink(f"seed:{a}", "pool", int(v)) for a, v in seeds.iter_rows()]
        converted_in = int(totals[asset].get("converted_in", 0))
        if converted_in:  # value that entered this asset through swaps or wrapping
            nodes.append(SankeyNode("converted_in", "converted from other assets", 0, "seed"))
            links.append(SankeyLink("converted_in", "pool", converted_in))
        by_ending = {k: int(v) for k, v in totals[asset].get("by_ending", {}).items() if int(v) > 0}
        for ending, amount in sorted(by_ending.items(), key=lambda kv: (-kv[1], kv[0])):
            nodes.append(SankeyNode(f"ending:{ending}", ENDING_WORDS.get(ending, ending), 2, ending))
            links.append(SankeyLink("pool", f"ending:{ending}", amount))
        entities = (run.frames["endings"].filter((pl.col("asset") == asset) & (pl.col("ending") == "entity"))
                    .with_columns(pl.col("label").fill_null("unnamed entity"))
                    .group_by("label").agg(pl.col("amount").cast(pl.Decimal(38, 0)).sum()).sort("label"))
        for label, amount in entities.iter_rows():
            nodes.append(SankeyNode(f"entity:{label}", str(label), 3, "entity"))
            links.append(SankeyLink("ending:entity", f"entity:{label}", int(amount)))
        pictures.append(sankey_svg(nodes, links, amount_text=_amounts(money, asset),
                                   title=f"Value of run {run.number} ({run.model}, {money.symbol(asset)})"))
    return pictures


def _totals(context: RunContext) -> list[dict[str, Any]]:
    rows = []
    traced = _traced_totals(context)
    for asset, row in sorted(context.run.result.get("totals", {}).items()):
        seed = traced[asset]
        for key, amount in sorted(row.get("by_ending", {}).items(), key=lambda kv: (-int(kv[1]), kv[0])):
            rows.append({"asset": context.money.symbol(asset), "what": ENDING_WORDS.get(key, key),
                         "amount": context.money(int(amount), asset), "share": share_text(int(amount), seed)})
        if row.get("converted_in"):
            rows.append({"asset": context.money.symbol(asset), "what": "converted in from other assets (traced)",
                         "amount": context.money(int(row["converted_in"]), asset),
                         "share": share_text(int(row["converted_in"]), seed)})
        rows.append({"asset": context.money.symbol(asset), "what": "seed value (traced)"
                     if not row.get("converted_in") else "seed value + converted in (traced)",
                     "amount": context.money(seed, asset), "share": "100.00%",
                     "reconciled": bool(row.get("reconciled"))})
    return rows


def _cut_text(context: RunContext, options: ReportOptions) -> list[str]:
    graph = context.graph
    assert graph is not None
    share = f"{options.min_share_bp // 100}.{options.min_share_bp % 100:02d}%"
    lines = []
    for asset, cut in graph.cut.items():
        lines.append(
            f"{context.money.symbol(asset)}: paths carrying at least {share} of the seed value "
            f"({context.money(cut['threshold'], asset)}) are drawn: {cut['hops_shown']} of {cut['hops_total']} "
            f"value movements; the addresses drawn hold {share_text(cut['ended_shown'], cut['ended_total'])} of "
            f"the value that ended at an address ({context.money(cut['ended_shown'], asset)} of "
            f"{context.money(cut['ended_total'], asset)}).")
    return lines


def run_section(context: RunContext, options: ReportOptions) -> dict[str, Any]:
    """The template's view of one run."""
    run = context.run
    assert context.graph is not None
    dot = flow_dot(context.graph, context.chain.key, context.money,
                   title=f"Run {run.number}: {run.direction} trace, {run.model} model, {context.chain.name}")
    sources = sorted(set(run.frames["hops"]["source"].drop_nulls().to_list()))
    return {
        "name": run.name, "number": run.number, "model": run.model, "direction": run.direction,
        "chain": context.chain.key, "chain_name": context.chain.name, "manifest_sha256": run.manifest_sha256,
        "command": shlex.join(run.argv), "audit_seq": run.audit_seq,
        "parameters": json.dumps(run.parameters, sort_keys=True, indent=1),
        "coverage": run.manifest.get("evidence", {}).get("coverage"),
        "conserving": bool(run.result.get("model_conserves_value")),
        "notes": run.result.get("notes") if isinstance(run.result.get("notes"), list) else [],
        "totals": _totals(context), "flow_svg": render_svg(dot), "cut": _cut_text(context, options),
        "sankeys": _sankeys(context), "endings": _endings(context, options), "conversions": conversion_lines(context),
        "endings_total": run.frames["endings"].height, "hops_total": run.frames["hops"].height,
        "hop_sources": sources, "files": sorted((run.manifest.get("files") or {}).items()),
        "tag_sources": (run.manifest.get("tags") or {}).get("sources", []),
    }


def _comparison(contexts: Sequence[RunContext]) -> list[dict[str, Any]]:
    """Rows of ending types and named entities, one exact amount per model."""
    cells: dict[tuple[str, str, str], dict[str, str]] = {}
    for context in contexts:
        run = context.run
        for asset, row in run.result.get("totals", {}).items():
            seed = int(row["seed_value"])
            for key, amount in row.get("by_ending", {}).items():
                cell = f"{context.money(int(amount), asset)} ({share_text(int(amount), seed)})"
                cells.setdefault((asset, "ending", ENDING_WORDS.get(key, key)), {})[run.model] = cell
            entities = (run.frames["endings"].filter((pl.col("asset") == asset) & (pl.col("ending") == "entity"))
                        .group_by("label").agg(pl.col("amount").cast(pl.Decimal(38, 0)).sum()))
            for label, amount in entities.iter_rows():
                cell = f"{context.money(int(amount), asset)} ({share_text(int(amount), seed)})"
                cells.setdefault((asset, "entity", str(label or "unnamed entity")), {})[run.model] = cell
    money = contexts[0].money
    return [{"asset": money.symbol(asset), "kind": kind, "what": what, "cells": cells[(asset, kind, what)]}
            for asset, kind, what in sorted(cells)]


def question_sections(contexts: Sequence[RunContext], options: ReportOptions,
                      render: Callable[[RunContext], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Runs grouped by the question they answer (same chain, direction, seeds and limits), each group
    with its models side by side when more than one model answered it."""
    groups: dict[str, list[RunContext]] = {}
    for context in contexts:
        groups.setdefault(context.run.question, []).append(context)
    sections = []
    for members in groups.values():
        first = members[0].run
        seeds = first.parameters.get("seeds") or []
        sections.append({
            "title": f"{first.direction.capitalize()} from {len(seeds)} seed(s) on {members[0].chain.name}",
            "chain": members[0].chain.key, "direction": first.direction,
            "seeds": seeds, "hops": first.parameters.get("hops"),
            "models": [c.run.model for c in members],
            "comparison": _comparison(members) if len(members) > 1 else [],
            "runs": [(render or (lambda c: run_section(c, options)))(c) for c in members],
        })
    return sections


def method_rows(contexts: Sequence[RunContext]) -> dict[str, Any]:
    """The taint models the runs used and the heuristics behind their labels, with references."""
    models = sorted({c.run.model for c in contexts})
    used = ["coinjoin", "peel_chain"] if any(c.chain.is_utxo for c in contexts) else []
    if any(c.clusters for c in contexts):
        used.insert(0, "multi_input")
    if any(c.chain.is_account for c in contexts):
        used.append("account_pool")
    def as_row(m: Method) -> dict[str, str]:
        return {"name": m.name, "rule": m.rule, "reference": m.reference}

    return {"models": [as_row(TAINT_MODELS[m]) for m in models if m in TAINT_MODELS],
            "heuristics": [as_row(HEURISTICS[h]) for h in used], "error_rates": _error_rates(contexts)}


def _error_rates(contexts: Sequence[RunContext]) -> dict[str, Any]:
    """The measured error rates the runs' manifests carry (docs/error-rates.md), merged by rate:
    value and 95% interval, with the generator, seeds and results file they come from."""
    rows: dict[str, dict[str, str]] = {}
    sources: set[tuple[str, str, str]] = set()
    for context in contexts:
        block = context.run.manifest.get("error_rates") or {}
        if not block.get("available"):
            continue
        sources.add((str(block.get("generator")), ",".join(str(s) for s in block.get("seeds", [])),
                     str(block.get("results_sha256"))))
        for key, rate in (block.get("rates") or {}).items():
            rows[key] = {"rate": key, "value": f"{rate['value']:.4f}",
                         "interval": f"{rate['lo']:.4f}–{rate['hi']:.4f} ({rate['interval']})"}
    return {"rows": [rows[k] for k in sorted(rows)],
            "sources": [{"generator": g, "seeds": s, "results_sha256": h} for g, s, h in sorted(sources)]}
