# SPDX-License-Identifier: Apache-2.0
"""The graph model (shared design notes §4), derived from canonical frames by one pure function.

Both stores and every export build their nodes and relationships from :func:`graph_tables`,
so the embedded store, Neo4j, the ``neo4j-admin`` CSV files, GraphML and Parquet all describe
the same graph::

    (:Transaction)-[:HAS_OUTPUT {index, value}]->(:Output)-[:LOCKED_TO]->(:Address)
    (:Output)-[:SPENT_IN {index}]->(:Transaction)                      UTXO chains, per output
    (:Address)-[:TRANSFER {txid, kind, asset, value, ...}]->(:Address)  account chains
    (:Address)-[:HAS_TAG]->(:Tag)   (:Address)-[:IN_CLUSTER]->(:Cluster)   (:Case)-[:SEED]->(:Address)

The design notes call the transaction-to-output relationship ``OUTPUT``; it is ``HAS_OUTPUT``
here because LadybugDB's catalog is case-insensitive and ``OUTPUT`` would collide with the
``Output`` node table. One name in both stores keeps saved queries portable.

Every node has a ``uid``, its natural key as text (``chain:address``, ``chain:txid``,
``chain:txid:index``, ...): uniqueness on ``uid`` is what makes every load idempotent.
Every node and relationship carries ``chain`` (except :Case) and ``source``.

An input spending an output whose transaction is not (yet) loaded creates that :Output from
the input's resolved prevout (address, value): the output is known, its creator is not. A
transfer without a recipient (a fee burned, a failed contract creation) points at the per-chain
placeholder address :data:`NO_ADDRESS`, which no real address can spell.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import polars as pl

from tracer.errors import SchemaError
from tracer.schema import FrameSet

__all__ = [
    "NODE_LABELS",
    "REL_TYPES",
    "REL_ENDPOINTS",
    "NO_ADDRESS",
    "GraphTables",
    "graph_tables",
    "address_uid",
    "tag_uid",
    "rel_key",
    "check_output_conflicts",
]

NODE_LABELS = ("Address", "Transaction", "Output", "Tag", "Cluster", "Case")
#: relationship type -> (start label, end label)
REL_ENDPOINTS: dict[str, tuple[str, str]] = {
    "HAS_OUTPUT": ("Transaction", "Output"),
    "LOCKED_TO": ("Output", "Address"),
    "SPENT_IN": ("Output", "Transaction"),
    "TRANSFER": ("Address", "Address"),
    "HAS_TAG": ("Address", "Tag"),
    "IN_CLUSTER": ("Address", "Cluster"),
    "SEED": ("Case", "Address"),
}
REL_TYPES = tuple(REL_ENDPOINTS)
#: recipient of a transfer that has none (burned fee, failed creation); not a valid address on any chain
NO_ADDRESS = "(none)"
#: what identifies one relationship of each type (a second row with the same key is the same fact)
_REL_KEYS: dict[str, list[str]] = {
    "HAS_OUTPUT": ["end"],
    "LOCKED_TO": ["start"],
    "SPENT_IN": ["start", "end"],
    "TRANSFER": ["uid"],
    "HAS_TAG": ["end"],
    "IN_CLUSTER": ["start", "end"],
    "SEED": ["start", "end"],
}


@dataclass(frozen=True)
class GraphTables:
    """Nodes by label (each with ``uid``) and relationships by type (each with ``start``, ``end``)."""

    nodes: dict[str, pl.DataFrame]
    rels: dict[str, pl.DataFrame]

    def counts(self) -> dict[str, int]:
        return {**{k: v.height for k, v in self.nodes.items()}, **{k: v.height for k, v in self.rels.items()}}


def _uid(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str([p.cast(pl.String) for p in parts], separator=":")


def address_uid(chain: pl.Expr, address: pl.Expr) -> pl.Expr:
    """``chain:address`` (addresses never contain ':')."""
    return _uid(chain, address)


def tag_uid(chain: str, address: str, source: str, label: str) -> str:
    """A tag's identity: its chain, address, source and label (hashed: labels may contain anything)."""
    digest = hashlib.sha256(json.dumps([chain, address, source, label]).encode()).hexdigest()
    return f"tag:{digest[:32]}"


def _first_by_uid(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per uid, the first in batch order (batch order is deterministic)."""
    return frame.unique(subset="uid", keep="first", maintain_order=True)


def _by_key_min_source(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """One row per key with the smallest source (deterministic whatever the row order; the row
    order of the result is not, and nothing depends on it: stores and exports sort by key)."""
    return frame.lazy().group_by(key).agg(pl.col("source").min()).collect()


def _dedupe(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Rows with a key seen before dropped (the first kept); checks before it hashes a copy."""
    if frame.height < 2 or not frame.select(pl.struct(key).is_duplicated().any()).item():
        return frame
    return frame.unique(subset=key, keep="first", maintain_order=True)


def _check_references(frames: FrameSet) -> None:
    """Inputs, outputs and transfers belong to a transaction of the batch, and a transfer's block
    fields are its transaction's (stores may keep them once, on the transaction)."""
    txids = frames.transactions.select("chain", "txid")
    for name in ("inputs", "outputs"):
        _no_orphans(name, frames.frames()[name].select("chain", "txid").unique().join(
            txids, on=["chain", "txid"], how="anti"))
    if frames.transfers.height == 0:
        return
    tx = frames.transactions.select(
        "chain", "txid", pl.lit(True).alias("__found"), pl.col("block_height").alias("__h"),
        pl.col("block_hash").alias("__b"), pl.col("position").alias("__p"), pl.col("timestamp").alias("__t"),
    )
    joined = frames.transfers.select("chain", "txid", "block_height", "block_hash", "tx_index", "timestamp").join(
        tx, on=["chain", "txid"], how="left"
    )
    _no_orphans("transfers", joined.filter(pl.col("__found").is_null()).select("chain", "txid").unique())
    differs = joined.filter(
        pl.col("block_height").ne_missing(pl.col("__h")) | pl.col("block_hash").ne_missing(pl.col("__b"))
        | pl.col("tx_index").ne_missing(pl.col("__p")) | pl.col("timestamp").ne_missing(pl.col("__t"))
    )
    if differs.height:
        chain, txid = differs.select("chain", "txid").row(0)
        raise SchemaError(
            f"transfers of {chain} {txid} disagree with their transactions row on block, position or time"
        )


def _no_orphans(name: str, orphans: pl.DataFrame) -> None:
    if orphans.height:
        chain, txid = orphans.row(0)
        raise SchemaError(
            f"{name} rows of {orphans.height} transaction(s) have no transactions row in the batch "
            f"(first: {chain} {txid}); load a transaction together with its {name}"
        )


def graph_tables(frames: FrameSet) -> GraphTables:
    """Nodes and relationships of the graph model for one batch of canonical frames.

    Pure and deterministic: the same frames give the same tables, row for row, so a store
    can anti-join them against what it already holds and a second load changes nothing.

    Raises
    ------
    SchemaError
        A frame is not canonical, or inputs/outputs/transfers reference a transaction that is not
        in the batch.
    """
    frames.validate()
    _check_references(frames)
    tx, ins, outs, tr = frames.transactions, frames.inputs, frames.outputs, frames.transfers
    tags, clusters, seeds = frames.tags, frames.clusters, frames.seeds
    chain = pl.col("chain")

    transactions = tx.select(_uid(chain, pl.col("txid")).alias("uid"), pl.all()).unique(
        subset="uid", keep="first", maintain_order=True
    )

    created = outs.select(
        _uid(chain, pl.col("txid"), pl.col("index")).alias("uid"),
        "chain", "txid", "index", "address", "script_type", "value", "source",
    )
    spent = ins.filter(pl.col("prev_txid").is_not_null()).select(
        _uid(chain, pl.col("prev_txid"), pl.col("prev_index")).alias("uid"),
        "chain",
        pl.col("prev_txid").alias("txid"),
        pl.col("prev_index").alias("index"),
        "address",
        pl.lit(None, pl.String).alias("script_type"),
        "value",
        "source",
    )
    # an output's own row and what an input of the same batch says of it must agree
    check_output_conflicts(spent, created)
    outputs = pl.concat([created, spent.join(created.select("uid"), on="uid", how="anti")], how="vertical")
    outputs = _first_by_uid(outputs)

    recipients = tr.select("chain", pl.col("to_address").fill_null(NO_ADDRESS).alias("address"), "source")
    address_rows = pl.concat(
        [
            outputs.filter(pl.col("address").is_not_null()).select("chain", "address", "source"),
            tr.select("chain", pl.col("from_address").alias("address"), "source"),
            recipients,
            # a token is an address too: its contract (so an analyst can find every transfer of it)
            tr.filter(pl.col("asset") != "native").select("chain", pl.col("asset").alias("address"), "source"),
            tags.select("chain", "address", "source"),
            clusters.select("chain", "address", "source"),
            seeds.select("chain", "address", "source"),
        ],
        how="vertical",
    )
    addresses_lazy = address_rows.lazy().group_by(["chain", "address"]).agg(pl.col("source").min()).select(
        address_uid(chain, pl.col("address")).alias("uid"), "chain", "address", "source"
    )
    transfer_lazy = tr.lazy().select(
        address_uid(chain, pl.col("from_address")).alias("start"),
        address_uid(chain, pl.col("to_address").fill_null(NO_ADDRESS)).alias("end"),
        _uid(chain, pl.col("txid"), pl.col("kind"), pl.col("log_index").fill_null(-1),
             pl.col("trace_path").fill_null("")).alias("uid"),
        pl.all().exclude("from_address", "to_address"),
    )
    # the two largest tables are built together, so polars can use every core on them
    addresses, transfer_rels = pl.collect_all([addresses_lazy, transfer_lazy])

    tag_nodes = tags.select(
        pl.struct("chain", "address", "source", "label")
        .map_elements(lambda r: tag_uid(r["chain"], r["address"], r["source"], r["label"]), return_dtype=pl.String)
        .alias("uid"),
        pl.all(),
    ).unique(subset="uid", keep="first", maintain_order=True)
    cluster_nodes = _by_key_min_source(clusters, ["chain", "cluster_id"]).select(
        _uid(chain, pl.col("cluster_id")).alias("uid"), "chain", "cluster_id", "source"
    )
    case_nodes = seeds.select(pl.col("case").alias("uid"), pl.col("case").alias("name")).unique(
        subset="uid", keep="first", maintain_order=True
    )

    rels = {
        "HAS_OUTPUT": created.select(
            _uid(chain, pl.col("txid")).alias("start"), pl.col("uid").alias("end"), "index", "value", "chain", "source"
        ),
        "LOCKED_TO": outputs.filter(pl.col("address").is_not_null()).select(
            pl.col("uid").alias("start"), address_uid(chain, pl.col("address")).alias("end"), "chain", "source"
        ),
        "SPENT_IN": ins.filter(pl.col("prev_txid").is_not_null()).select(
            _uid(chain, pl.col("prev_txid"), pl.col("prev_index")).alias("start"),
            _uid(chain, pl.col("txid")).alias("end"),
            "index",
            "chain",
            "source",
        ),
        "TRANSFER": transfer_rels,
        "HAS_TAG": tag_nodes.select(
            address_uid(chain, pl.col("address")).alias("start"), pl.col("uid").alias("end"), "chain", "source"
        ),
        "IN_CLUSTER": clusters.select(
            address_uid(chain, pl.col("address")).alias("start"),
            _uid(chain, pl.col("cluster_id")).alias("end"),
            "chain",
            "source",
        ),
        "SEED": seeds.select(
            pl.col("case").alias("start"),
            address_uid(chain, pl.col("address")).alias("end"),
            "chain",
            "label",
            "source",
        ),
    }
    rels = {name: _dedupe(rel, _REL_KEYS[name]) for name, rel in rels.items()}
    nodes = {
        "Address": addresses,
        "Transaction": transactions,
        "Output": outputs,
        "Tag": tag_nodes,
        "Cluster": cluster_nodes,
        "Case": case_nodes,
    }
    return GraphTables(nodes=nodes, rels=rels)


def check_output_conflicts(incoming: pl.DataFrame, stored: pl.DataFrame) -> None:
    """Refuse outputs whose address or value disagree with what the store already holds.

    ``incoming`` and ``stored`` have ``uid``, ``address``, ``value`` (Output nodes). An output
    first seen through an input that spent it carries the address and value that input claimed;
    if the output's own transaction later says otherwise, one of the two sources is wrong, and
    evidence must not be overwritten silently.

    Raises
    ------
    SchemaError
        naming the output and both versions.
    """
    joined = incoming.select("uid", "address", "value").join(
        stored.select("uid", pl.col("address").alias("__address"), pl.col("value").alias("__value")), on="uid"
    )
    differs = joined.filter(
        (pl.col("value").is_not_null() & pl.col("__value").is_not_null() & (pl.col("value") != pl.col("__value")))
        | pl.col("address").ne_missing(pl.col("__address"))
    )
    if differs.height:
        row = differs.row(0, named=True)
        raise SchemaError(
            f"output {row['uid']} is already stored as {row['__address']} / {row['__value']} but this batch says "
            f"{row['address']} / {row['value']}; the two sources disagree, nothing was loaded"
        )


def rel_key(rel_type: str) -> list[str]:
    """Columns of a relationship table that identify one relationship (for anti-joins)."""
    return list(_REL_KEYS[rel_type])
