# SPDX-License-Identifier: Apache-2.0
"""The report's evidence appendix and its data-source list.

Every transaction the report cites (an edge or node of a flow graph, an ending in a table, a seed's
funding transaction) gets one appendix entry with its raw records exactly as the store holds them
from the ingest: block, block hash, UTC time, fee, the source that delivered it, and its inputs and
outputs (UTXO) or transfer rows (account chains), with fiat values at the transaction's time where
rates are configured. Statements link here by ``#tx-<chain>-<txid>``.

The data sources are the case's own audit entries of what was ingested (command, source, block
range, file hashes), so a reader can see where every record came from and re-run the ingest.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from jobs.report.data import ReportOptions, RunContext
from jobs.report.flow_dot import utc_text
from jobs.workspace import Case

__all__ = ["cited_txids", "appendix", "data_sources"]

_INGEST_DETAIL_KEYS = ("chain", "source", "from", "to", "directory", "complete_blocks", "checksums_verified",
                       "blocks", "transactions", "rows", "path", "sha256", "file")


def cited_txids(context: RunContext, section: dict[str, Any]) -> set[str]:
    """The transactions a run's section cites: its drawn edges and nodes, its shown endings, its seeds."""
    graph = context.graph
    assert graph is not None
    cited = {t for txids in graph.edges["txids"].to_list() for t in txids}
    cited |= {t for t in graph.nodes["txid"].drop_nulls().to_list()}
    cited |= {row["txid"] for row in section["endings"] if row["txid"]}
    cited |= set(context.run.frames["seeds"]["txid"].drop_nulls().to_list())
    return cited


def _fiat_text(options: ReportOptions, context: RunContext) -> Callable[[str, int, int | None], str]:
    def text(asset: str, amount: int, at: int | None) -> str:
        if options.rates is None:
            return ""
        decimals = context.money.decimals(asset)
        value = None if at is None or decimals is None else options.rates.value_at(
            context.chain.key, asset, amount, decimals, at, max_age=options.rate_max_age)
        return "no rate" if value is None else f"{value.text()} ({value.source}, {utc_text(value.rate_time)})"
    return text


def _utxo_entry(context: RunContext, txid: str, header: dict[str, Any], fiat: Callable[..., str]) -> dict[str, Any]:
    records, money = context.records, context.money
    inputs = records["inputs"].filter(pl.col("txid") == txid).sort("index")
    outputs = records["outputs"].filter(pl.col("txid") == txid).sort("index")
    header["inputs"] = [{"index": r["index"], "spends": f"{r['prev_txid']}:{r['prev_index']}" if r["prev_txid"] else
                         "coinbase", "address": r["address"] or "", "amount": money(int(r["value"] or 0), "native"),
                         "base": str(r["value"])} for r in inputs.iter_rows(named=True)]
    header["outputs"] = [{"index": r["index"], "address": r["address"] or "(no address)", "script": r["script_type"],
                          "amount": money(int(r["value"] or 0), "native"), "base": str(r["value"]),
                          "fiat": fiat("native", int(r["value"] or 0), header["timestamp"])}
                         for r in outputs.iter_rows(named=True)]
    return header


def _account_entry(context: RunContext, txid: str, header: dict[str, Any], fiat: Callable[..., str]) -> dict[str, Any]:
    rows = context.records["transfers"].filter(pl.col("txid") == txid)
    header["transfers"] = [
        {"kind": r["kind"], "position": r["trace_path"] if r["log_index"] is None else f"log {r['log_index']}",
         "asset": context.money.symbol(r["asset"]), "from": r["from_address"] or "", "to": r["to_address"] or "",
         "amount": context.money(int(r["value"]), r["asset"]), "base": str(r["value"]),
         "fiat": fiat(r["asset"], int(r["value"]), header["timestamp"])}
        for r in rows.iter_rows(named=True)]
    if header["timestamp"] is None and rows.height:
        first = rows.row(0, named=True)
        header.update(block_height=first["block_height"], block_hash=first["block_hash"],
                      timestamp=first["timestamp"], time=utc_text(first["timestamp"]))
    return header


def appendix(contexts: Sequence[RunContext], cited: dict[str, set[str]],
             options: ReportOptions) -> list[dict[str, Any]]:
    """One entry per cited transaction, ordered by chain, block and txid."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for context in contexts:
        txs = context.records["transactions"]
        fiat = _fiat_text(options, context)
        for txid in sorted(cited.get(context.chain.key, set())):
            key = (context.chain.key, txid)
            if key in entries:
                continue
            row = txs.filter(pl.col("txid") == txid)
            tx = row.row(0, named=True) if row.height else {}
            header: dict[str, Any] = {
                "chain": context.chain.key, "txid": txid, "anchor": f"tx-{context.chain.key}-{txid}",
                "block_height": tx.get("block_height"), "block_hash": tx.get("block_hash") or "",
                "timestamp": tx.get("timestamp"), "time": utc_text(tx.get("timestamp")),
                "fee": context.money(int(tx["fee"]), "native") if tx.get("fee") is not None else "",
                "source": tx.get("source") or "", "coinjoin": context.coinjoins.get(txid, ""),
                "in_store": bool(row.height) or not context.chain.is_utxo,
            }
            maker = _utxo_entry if context.chain.is_utxo else _account_entry
            entries[key] = maker(context, txid, header, fiat)
    return sorted(entries.values(), key=lambda e: (e["chain"], e["block_height"] or -1, e["txid"]))


def data_sources(case: Case) -> list[dict[str, Any]]:
    """What was ingested into the case, as its audit log recorded it (completed ingests only)."""
    rows = []
    for entry in case.audit.entries():
        action = entry.action
        if not (action.startswith("ingest.") or action.startswith("tags.")) or action.endswith(
                (".started", ".failed", ".interrupted")):
            continue
        details = {k: entry.details[k] for k in _INGEST_DETAIL_KEYS if k in entry.details}
        files = entry.details.get("files")
        rows.append({"seq": entry.seq, "action": action, "time": entry.time, "actor": entry.actor,
                     "command": shlex.join(entry.argv), "details": details,
                     "files": sorted(files.items()) if isinstance(files, dict) else []})
    return rows
