# SPDX-License-Identifier: Apache-2.0
"""The properties an analyst reads, added to graph tables for the text exports
(:func:`with_captions`), exactly as :mod:`graph.neo4j_load` adds them on a push, so a bulk-imported
graph looks like a pushed one in Neo4j Browser."""

from __future__ import annotations

from typing import Any

import polars as pl

from graph.captions import Tokens, caption, coins_text, readable_amount, utc_text
from graph.model import GraphTables, readable_cluster_uids
from tracer.chains import ChainRegistry, default_registry
from tracer.schema import NATIVE_ASSET
from tracer.units import join_from_frame

__all__ = ["with_captions"]

_COINS = {"symbol": pl.String(), "decimals": pl.Int64()}


def _readable(frame: pl.DataFrame, rows: list[dict[str, Any]], name: str) -> pl.DataFrame:
    """``frame`` with ``<name>_coins``, ``symbol``, ``decimals`` from ``rows`` (one per row)."""
    schema = {f"{name}_coins": pl.String(), **_COINS}
    return frame.with_columns(pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema))


def _times(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``time_utc`` text and ``datetime`` (UTC) from an epoch-seconds column."""
    texts = [utc_text(t) for t in frame[column].to_list()]
    return frame.with_columns(pl.Series("time_utc", texts, dtype=pl.String),
                              pl.from_epoch(pl.col(column), time_unit="s").alias("datetime"))


def _totals(tables: GraphTables) -> dict[str, int]:
    totals: dict[str, int] = {}
    outputs = tables.rels.get("HAS_OUTPUT")
    if outputs is not None:
        for start, value in outputs.select("start", "value").iter_rows():
            totals[start] = totals.get(start, 0) + int(value)
    transfers = tables.rels.get("TRANSFER")
    if transfers is not None:
        natives = transfers.filter(pl.col("kind") == NATIVE_ASSET)
        for chain, txid, value, overflow in natives.select("chain", "txid", "value", "value_overflow").iter_rows():
            uid = f"{chain}:{txid}"
            totals[uid] = totals.get(uid, 0) + join_from_frame(value, overflow)
    return totals


def _node_tables(tables: GraphTables, chains: ChainRegistry) -> dict[str, pl.DataFrame]:
    totals = _totals(tables)
    tag_labels: dict[tuple[str, str], str] = {}
    tags = tables.nodes.get("Tag")
    if tags is not None:
        for chain, address, label in tags.select("chain", "address", "label").iter_rows():
            tag_labels[(chain, address)] = min(label, tag_labels.get((chain, address), label))
    members: dict[str, int] = {}
    in_cluster = tables.rels.get("IN_CLUSTER")
    if in_cluster is not None:
        for (end,) in in_cluster.select("end").iter_rows():
            members[end] = members.get(end, 0) + 1

    def node_caption(label: str, record: dict[str, Any]) -> str:
        if label == "Transaction":
            record = {**record, "total": totals.get(record["uid"])}
        elif label == "Address":
            record = {**record, "tag_label": tag_labels.get((record["chain"], record["address"]))}
        elif label == "Cluster":
            record = {**record, "members": members.get(record["uid"])}
        return caption(label, record, chains)

    nodes = {}
    for label, frame in tables.nodes.items():
        if "caption" not in frame.columns:
            texts = [node_caption(label, r) for r in frame.iter_rows(named=True)]
            frame = frame.with_columns(pl.Series("caption", texts, dtype=pl.String))
        if label == "Transaction":
            fees = [readable_amount(int(r["fee"]), r["chain"], NATIVE_ASSET, chains, name="fee")
                    for r in frame.iter_rows(named=True)]
            frame = _times(_readable(frame, fees, "fee"), "timestamp")
        elif label == "Output":
            values = [readable_amount(int(r["value"]), r["chain"], NATIVE_ASSET, chains) if r["value"] is not None
                      else {"value_coins": None, "symbol": None, "decimals": None} for r in frame.iter_rows(named=True)]
            frame = _readable(frame, values, "value")
        nodes[label] = frame
    return nodes


def with_captions(tables: GraphTables, registry: ChainRegistry | None = None, tokens: Tokens | None = None
                  ) -> GraphTables:
    """The same tables with what the Neo4j backend adds for people (:mod:`graph.neo4j_load`).

    * ``caption`` on every node label (an Address shows its smallest tag label, a Transaction the
      total of its outputs or native transfers, a Cluster its smallest address and member count),
      on ``TRANSFER`` and ``HAS_OUTPUT`` (amounts in coin units); trace tables keep their own;
    * Cluster uids not doubled (:func:`graph.model.readable_cluster_uids`);
    * beside every exact amount, ``<name>_coins`` (exact text in coin units), ``symbol`` and
      ``decimals`` (Transaction fee, Output and HAS_OUTPUT value, TRANSFER value; tokens from
      ``tokens``, the token cache);
    * beside every epoch time, ``time_utc`` text and ``datetime`` (UTC; a ``:datetime`` column in
      the CSV files): Transaction, TRANSFER, FLOW.
    """
    chains = registry or default_registry()
    tables = readable_cluster_uids(tables)
    nodes = _node_tables(tables, chains)
    rels = dict(tables.rels)
    outputs = rels.get("HAS_OUTPUT")
    if outputs is not None:
        values = outputs.select("chain", "value").rows()
        rows = [readable_amount(int(value), chain, NATIVE_ASSET, chains) for chain, value in values]
        texts = [coins_text(int(value), chain, NATIVE_ASSET, chains) for chain, value in values]
        rels["HAS_OUTPUT"] = _readable(outputs, rows, "value").with_columns(pl.Series("caption", texts, pl.String))
    transfers = rels.get("TRANSFER")
    if transfers is not None:
        amounts = [join_from_frame(r["value"], r["value_overflow"]) for r in transfers.iter_rows(named=True)]
        records = list(zip(transfers.iter_rows(named=True), amounts, strict=True))
        rows = [readable_amount(v, r["chain"], r["asset"], chains, tokens) for r, v in records]
        texts = [coins_text(v, r["chain"], r["asset"], chains, tokens)
                 if r["asset"] != NATIVE_ASSET and known["symbol"] else caption("TRANSFER", {**r, "value": v}, chains)
                 for (r, v), known in zip(records, rows, strict=True)]
        rels["TRANSFER"] = _times(_readable(transfers, rows, "value"), "timestamp").with_columns(
            pl.Series("caption", texts, dtype=pl.String))
    flows = rels.get("FLOW")
    if flows is not None and "datetime" not in flows.columns:
        rels["FLOW"] = flows.with_columns(pl.from_epoch(pl.col("time"), time_unit="s").alias("datetime"))
    return GraphTables(nodes=nodes, rels=rels)
