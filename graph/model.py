# SPDX-License-Identifier: Apache-2.0
"""The graph model (shared design notes §4), derived from canonical frames by one pure function.

Both stores and every export build their nodes and relationships from :func:`graph_tables`
(the embedded store calls its two halves, :func:`check_batch` and :func:`build_tables`, with a
COPY in between), so the embedded store, Neo4j, the ``neo4j-admin`` CSV files, GraphML and
Parquet all describe the same graph::

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from graph.interning import Interned, intern
from tracer.errors import SchemaError
from tracer.schema import FrameSet

__all__ = [
    "NODE_LABELS",
    "REL_TYPES",
    "REL_ENDPOINTS",
    "NO_ADDRESS",
    "GraphTables",
    "graph_tables",
    "CheckedBatch",
    "check_batch",
    "build_tables",
    "address_uid",
    "tag_uid",
    "rel_key",
    "check_output_conflicts",
    "check_transaction_conflicts",
    "check_transfer_conflicts",
    "TRANSACTION_FACTS",
    "TRANSFER_FACTS",
    "TRACE_LABELS",
    "TRACE_REL_ENDPOINTS",
    "TRACE_REL_TYPES",
    "ALL_REL_ENDPOINTS",
    "cluster_uid",
    "readable_cluster_uids",
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
    """Nodes by label (each with ``uid``) and relationships by type (each with ``start``, ``end``).

    ``rows`` gives, for ``TRANSFER``, row positions instead of text keys, aligned row for row with
    ``rels["TRANSFER"]``: ``start`` and ``end`` in ``nodes["Address"]``, ``tx`` in
    ``nodes["Transaction"]``. A store maps them to its own ids by position (a gather) instead of
    joining two million address strings.
    """

    nodes: dict[str, pl.DataFrame]
    rels: dict[str, pl.DataFrame]
    rows: dict[str, pl.DataFrame] = field(default_factory=dict)

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
    return _dedupe(frame, ["uid"])


def _by_key_min_source(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """One row per key with the smallest source (deterministic whatever the row order; the row
    order of the result is not, and nothing depends on it: stores and exports sort by key)."""
    return frame.lazy().group_by(key).agg(pl.col("source").min()).collect()


def _dedupe(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Rows with a key seen before dropped (the first kept, order kept)."""
    rows = _first_of_each_key(frame, [pl.col(k) for k in key])
    return frame if rows is None else frame.select(pl.all().gather(rows))


def _first_of_each_key(frame: pl.DataFrame, key: list[pl.Expr]) -> pl.Series | None:
    """Rows of the first occurrence of each key in batch order, or None when every key occurs
    once (the usual case). That is decided exactly from 64-bit hashes, without copying a row:
    distinct hashes imply distinct keys; only when two hashes are equal are the keys compared."""
    if frame.height < 2:
        return None
    hashes = frame.select(pl.struct(*key).hash(0x6B6579).alias("h"))["h"]
    if hashes.n_unique() == frame.height:
        return None
    return intern(frame.select(*key)).first.sort()


def _check_references(frames: FrameSet) -> None:
    """Inputs and outputs belong to a transaction of the batch (transfers: see
    :func:`_check_transfer_references`)."""
    txids = frames.transactions.select("chain", "txid")
    for name in ("inputs", "outputs"):
        _no_orphans(name, frames.frames()[name].select("chain", "txid").unique().join(
            txids, on=["chain", "txid"], how="anti"))


def _no_orphans(name: str, orphans: pl.DataFrame) -> None:
    if orphans.height:
        chain, txid = orphans.row(0)
        raise SchemaError(
            f"{name} rows of {orphans.height} transaction(s) have no transactions row in the batch "
            f"(first: {chain} {txid}); load a transaction together with its {name}"
        )


def _smallest_per_code(values: pl.Series, numbered: Interned) -> pl.Series:
    """The smallest of ``values`` among the rows of each code, in code order. Sources are few
    (one per ingest, usually one per batch), so they are ranked once and compared as integers."""
    distinct = values.unique().sort()
    if distinct.len() <= 1:  # no rows, or one source for all (the usual bulk load)
        first = pl.repeat(0, numbered.distinct, dtype=pl.get_index_type(), eager=True)
        return distinct.gather(first).alias(values.name)
    ranks = values.replace_strict(distinct, pl.int_range(0, distinct.len(), eager=True), return_dtype=pl.Int64)
    smallest = (
        pl.DataFrame({"code": numbered.codes, "rank": ranks})
        .group_by("code").agg(pl.col("rank").min())
        .sort("code")["rank"]
    )
    return distinct.gather(smallest).alias(values.name)


def _transfer_tx_rows(transfers: pl.DataFrame, transactions: pl.DataFrame) -> pl.Series:
    """Row of each transfer's transaction in the Transaction node table (null: not in the batch).

    The transfers of one transaction arrive together, so the join looks up each run of equal
    (chain, txid) once and spreads the answer over the run (any order works; runs make it cheap)."""
    keys = transfers.select("chain", "txid")
    runs = keys.select(pl.struct("chain", "txid").rle_id().alias("run"))["run"]
    heads = keys.filter(runs != runs.shift(1, fill_value=-1))
    ordered = transactions.select("chain", "txid")
    if heads.height == ordered.height and heads.equals(ordered):  # same order (one ingest): no join
        found = pl.int_range(0, heads.height, dtype=pl.get_index_type(), eager=True)
    else:
        numbered = ordered.with_row_index("tx")
        found = heads.join(numbered, on=["chain", "txid"], how="left", maintain_order="left")["tx"]
    return found.gather(runs).alias("tx")


#: what identifies one transfer: its transaction, kind, log index, call path (``uid`` spells the same key)
_TRANSFER_IDENTITY = [
    pl.col("chain"), pl.col("txid"), pl.col("kind"), pl.col("log_index").fill_null(-1),
    pl.col("trace_path").fill_null(""),
]


def _transfer_rels(
    tr: pl.DataFrame, *, start_rows: pl.Series, end_rows: pl.Series, tx_rows: pl.Series, text_keys: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """TRANSFER relationships (the first of each key) and their endpoint/transaction rows."""
    chain = pl.col("chain")
    keys = (
        [
            address_uid(chain, pl.col("from_address")).alias("start"),
            address_uid(chain, pl.col("to_address").fill_null(NO_ADDRESS)).alias("end"),
            pl.concat_str([k.cast(pl.String) for k in _TRANSFER_IDENTITY], separator=":").alias("uid"),
        ]
        if text_keys
        else []
    )
    rels = tr.select(*keys, pl.all().exclude("from_address", "to_address"))
    rows = pl.DataFrame({"start": start_rows, "end": end_rows, "tx": tx_rows})
    # the transaction's row stands for (chain, txid): the same key, without hashing the txid text
    first = _first_of_each_key(tr.with_columns(tx_rows.alias("__tx")), [pl.col("__tx"), *_TRANSFER_IDENTITY[2:]])
    if first is not None:
        rels, rows = rels.select(pl.all().gather(first)), rows.select(pl.all().gather(first))
    return rels, rows


def _check_transfer_references(tr: pl.DataFrame, transactions: pl.DataFrame, tx_rows: pl.Series) -> None:
    """Every transfer belongs to a transaction of the batch and carries that transaction's block
    fields (stores keep them once, on the transaction)."""
    if tr.height == 0:
        return
    if tx_rows.null_count():
        _no_orphans("transfers", tr.filter(tx_rows.is_null()).select("chain", "txid").unique(maintain_order=True))
    theirs = transactions.select(
        pl.col(c).gather(tx_rows) for c in ("block_height", "block_hash", "position", "timestamp")
    )
    ours = tr.select("block_height", "block_hash", pl.col("tx_index").alias("position"), "timestamp")
    differs = ours.select(pl.any_horizontal(ours[c].ne_missing(theirs[c]) for c in ours.columns)).to_series()
    if differs.any():
        chain, txid = tr.filter(differs).select("chain", "txid").row(0)
        raise SchemaError(
            f"transfers of {chain} {txid} disagree with their transactions row on block, position or time"
        )


@dataclass(frozen=True)
class CheckedBatch:
    """A batch of frames that passed every check of the graph model (:func:`check_batch`), with
    the node tables the checks had to build: what remains (:func:`build_tables`) cannot fail on
    the data, so a store may start writing these nodes while the rest is built."""

    frames: FrameSet
    transactions: pl.DataFrame
    outputs: pl.DataFrame
    created: pl.DataFrame
    tx_rows: pl.Series


def graph_tables(frames: FrameSet, *, text_keys: bool = True) -> GraphTables:
    """Nodes and relationships of the graph model for one batch of canonical frames.

    Pure and deterministic: the same frames give the same tables, row for row, so a store
    can anti-join them against what it already holds and a second load changes nothing.

    ``text_keys=False`` leaves out the text keys of ``TRANSFER`` (``start``, ``end``, ``uid``):
    a store that maps endpoints by :attr:`GraphTables.rows` (the embedded one) does not need a
    million strings it would never read.

    Raises
    ------
    SchemaError
        A frame is not canonical, or inputs/outputs/transfers reference a transaction that is not
        in the batch.
    """
    return build_tables(check_batch(frames), text_keys=text_keys)


def check_batch(frames: FrameSet) -> CheckedBatch:
    """Every check :func:`graph_tables` makes, and the Transaction and Output nodes.

    Raises
    ------
    SchemaError
        As :func:`graph_tables`.
    """
    frames.validate()
    _check_references(frames)
    tx, ins, outs, tr = frames.transactions, frames.inputs, frames.outputs, frames.transfers
    chain = pl.col("chain")

    transactions = _first_by_uid(tx.select(_uid(chain, pl.col("txid")).alias("uid"), pl.all()))

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

    tx_rows = _transfer_tx_rows(tr, transactions)
    _check_transfer_references(tr, transactions, tx_rows)
    return CheckedBatch(frames=frames, transactions=transactions, outputs=outputs, created=created, tx_rows=tx_rows)


def build_tables(batch: CheckedBatch, *, text_keys: bool = True) -> GraphTables:
    """The rest of :func:`graph_tables` for a batch that passed :func:`check_batch` (pure)."""
    frames, transactions, outputs, created, tx_rows = (
        batch.frames, batch.transactions, batch.outputs, batch.created, batch.tx_rows
    )
    ins, tr = frames.inputs, frames.transfers
    tags, clusters, seeds = frames.tags, frames.clusters, frames.seeds
    chain = pl.col("chain")

    # Every address of the batch, numbered once (graph.interning): the Address nodes are the first
    # row of each number, and a transfer's endpoints are row positions in that table, not strings.
    located = outputs.filter(pl.col("address").is_not_null())
    address_rows = pl.concat(
        [
            located.select("chain", "address", "source"),
            tr.select("chain", pl.col("from_address").alias("address"), "source"),
            tr.select("chain", pl.col("to_address").fill_null(NO_ADDRESS).alias("address"), "source"),
            # a token is an address too: its contract (so an analyst can find every transfer of it)
            tr.filter(pl.col("asset") != "native").select("chain", pl.col("asset").alias("address"), "source")
            .unique(maintain_order=True),
            tags.select("chain", "address", "source"),
            clusters.select("chain", "address", "source"),
            seeds.select("chain", "address", "source"),
        ],
        how="vertical",
    )
    numbered = intern(address_rows.select("chain", "address"))
    addresses = address_rows.select(pl.all().gather(numbered.first)).with_columns(
        _smallest_per_code(address_rows["source"], numbered).alias("source")
    ).select(address_uid(chain, pl.col("address")).alias("uid"), "chain", "address", "source")
    transfer_rels, transfer_rows = _transfer_rels(
        tr,
        start_rows=numbered.codes.slice(located.height, tr.height),
        end_rows=numbered.codes.slice(located.height + tr.height, tr.height),
        tx_rows=tx_rows,
        text_keys=text_keys,
    )

    tag_nodes = _first_by_uid(tags.select(
        pl.struct("chain", "address", "source", "label")
        .map_elements(lambda r: tag_uid(r["chain"], r["address"], r["source"], r["label"]), return_dtype=pl.String)
        .alias("uid"),
        pl.all(),
    ))
    cluster_nodes = _by_key_min_source(clusters, ["chain", "cluster_id"]).select(
        _uid(chain, pl.col("cluster_id")).alias("uid"), "chain", "cluster_id", "source"
    )
    case_nodes = _first_by_uid(seeds.select(pl.col("case").alias("uid"), pl.col("case").alias("name")))

    rels = {
        "HAS_OUTPUT": created.select(
            _uid(chain, pl.col("txid")).alias("start"), pl.col("uid").alias("end"), "index", "value", "chain", "source"
        ),
        "LOCKED_TO": located.select(
            pl.col("uid").alias("start"), address_uid(chain, pl.col("address")).alias("end"), "chain", "source"
        ),
        "SPENT_IN": ins.filter(pl.col("prev_txid").is_not_null()).select(
            _uid(chain, pl.col("prev_txid"), pl.col("prev_index")).alias("start"),
            _uid(chain, pl.col("txid")).alias("end"),
            "index",
            "chain",
            "source",
        ),
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
    rels = {**rels, "TRANSFER": transfer_rels}
    rels = {name: rels[name] for name in REL_TYPES}
    nodes = {
        "Address": addresses,
        "Transaction": transactions,
        "Output": outputs,
        "Tag": tag_nodes,
        "Cluster": cluster_nodes,
        "Case": case_nodes,
    }
    return GraphTables(nodes=nodes, rels=rels, rows={"TRANSFER": transfer_rows})


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


#: what a stored transaction says, compared with a batch that holds it again
TRANSACTION_FACTS = ("block_height", "block_hash", "position", "timestamp", "fee", "is_coinbase")
#: what a stored transfer says besides its key (``uid``), compared with a batch that holds it again
TRANSFER_FACTS = ("from_address", "to_address", "asset", "value", "value_overflow", "token_id")
#: conflicting rows named in one message
_NAMED_CONFLICTS = 5


def check_transaction_conflicts(incoming: pl.DataFrame, stored: pl.DataFrame) -> None:
    """Refuse transactions whose block, position, time, fee or coinbase flag disagree with the store.

    ``incoming`` and ``stored`` have ``uid`` and :data:`TRANSACTION_FACTS` (Transaction nodes). A fact
    one side does not know is no conflict: a null (an unconfirmed transaction, a CSV without block
    hash) or a fee of 0 (a CSV that gives no fee). Everything else must be equal: a re-ingest that
    moves a timestamp or changes a fee means one of the two sources is wrong, and stored evidence is
    neither overwritten nor kept silently beside a contradiction.

    Raises
    ------
    SchemaError
        Naming the first conflicting transactions and both versions of each differing fact.
    """
    joined = incoming.select("uid", *TRANSACTION_FACTS).join(
        stored.select("uid", *(pl.col(c).alias(f"__{c}") for c in TRANSACTION_FACTS)), on="uid"
    )
    if joined.height == 0:
        return
    known = {c: pl.col(c).is_not_null() & pl.col(f"__{c}").is_not_null() for c in TRANSACTION_FACTS}
    known["fee"] = known["fee"] & (pl.col("fee") != 0) & (pl.col("__fee") != 0)
    differs = {c: known[c] & (pl.col(c) != pl.col(f"__{c}")) for c in TRANSACTION_FACTS}
    _refuse(joined, differs, "transaction", "transactions")


def check_transfer_conflicts(incoming: pl.DataFrame, stored: pl.DataFrame, on: Sequence[str] = ("uid",)) -> None:
    """Refuse transfers whose endpoints, asset or amount disagree with the store.

    ``incoming`` and ``stored`` have the key columns ``on`` (by default ``uid``; any columns that
    spell a transfer's identity, :data:`_TRANSFER_IDENTITY`, in the store's terms) and
    :data:`TRANSFER_FACTS`, addresses as text (no recipient: :data:`NO_ADDRESS`); ``incoming`` also
    has the identity as ``chain``, ``txid``, ``kind``, ``log_index``, ``trace_path`` (to name a
    conflict). Every fact must be equal, nulls included (a transfer has one recipient, one asset and
    one exact amount). A transfer of a stored transaction that the store lacks is not a conflict:
    another source may list more of a transaction's transfers.

    Raises
    ------
    SchemaError
        Naming the first conflicting transfers (``chain:txid:kind:log_index:trace_path``) and both
        versions of each differing fact.
    """
    keys = list(on)
    identity = pl.concat_str([k.cast(pl.String) for k in _TRANSFER_IDENTITY], separator=":").alias("uid")
    joined = incoming.select(*keys, *TRANSFER_FACTS, "chain", "txid", "kind", "log_index", "trace_path").join(
        stored.select(*keys, *(pl.col(c).alias(f"__{c}") for c in TRANSFER_FACTS)), on=keys
    )
    if joined.height == 0:
        return
    differs = {c: pl.col(c).ne_missing(pl.col(f"__{c}")) for c in TRANSFER_FACTS}
    conflicting = joined.filter(pl.any_horizontal(*differs.values()))  # usually none: no label is built
    if conflicting.height:
        _refuse(conflicting.with_columns(identity), differs, "transfer", "transfers")


def _refuse(joined: pl.DataFrame, differs: dict[str, pl.Expr], one: str, many: str) -> None:
    """Raise naming the rows of ``joined`` (``uid``, facts, stored facts ``__<fact>``) where a fact differs."""
    flagged = joined.with_columns(*(e.alias(f"__differs_{c}") for c, e in differs.items()))
    conflicting = flagged.filter(pl.any_horizontal(pl.col(f"__differs_{c}") for c in differs))
    if conflicting.height == 0:
        return
    named = []
    for row in conflicting.sort("uid").head(_NAMED_CONFLICTS).iter_rows(named=True):
        facts = ", ".join(f"{c} stored {row[f'__{c}']} but given {row[c]}" for c in differs if row[f"__differs_{c}"])
        named.append(f"{one} {row['uid']}: {facts}")
    more = f"; and {conflicting.height - len(named)} more" if conflicting.height > len(named) else ""
    counted = f"{conflicting.height} {many} of this batch disagree" if conflicting.height > 1 else \
        f"1 {one} of this batch disagrees"
    raise SchemaError(f"{counted} with the store, nothing was loaded: {'; '.join(named)}{more}")


def rel_key(rel_type: str) -> list[str]:
    """Columns of a relationship table that identify one relationship (for anti-joins)."""
    return list(_REL_KEYS[rel_type])


# -- trace results and readable identities (Neo4j push, exports) ---------------------------------

#: labels the trace results add to the graph (:mod:`graph.trace_tables`)
TRACE_LABELS = ("Trace",)
#: relationship type -> (start label, end label) of the trace results: a case ran a trace, the trace
#: reached addresses (its endings) and traced transactions, and its hops as address-to-address flows
TRACE_REL_ENDPOINTS: dict[str, tuple[str, str]] = {
    "RAN": ("Case", "Trace"),
    "REACHED": ("Trace", "Address"),
    "TRACED": ("Trace", "Transaction"),
    "FLOW": ("Address", "Address"),
}
TRACE_REL_TYPES = tuple(TRACE_REL_ENDPOINTS)
#: every relationship type a pushed or exported graph may hold, with its endpoints
ALL_REL_ENDPOINTS: dict[str, tuple[str, str]] = {**REL_ENDPOINTS, **TRACE_REL_ENDPOINTS}


def cluster_uid(chain: str, cluster_id: str) -> str:
    """A Cluster node's uid for Neo4j and the exports: ``cluster:`` and the cluster id, which already
    names its chain (``ltc:<smallest address>``, :func:`tracer.clustering.cluster_id`; the chain is
    added to an id that does not), so an analyst never reads ``ltc:ltc:...`` and the uid differs from
    the smallest member's Address uid (GraphML ids are global).

    >>> cluster_uid("ltc", "ltc:ltc1qabc"), cluster_uid("ltc", "k7")
    ('cluster:ltc:ltc1qabc', 'cluster:ltc:k7')
    """
    return "cluster:" + (cluster_id if cluster_id.startswith(f"{chain}:") else f"{chain}:{cluster_id}")


def _cluster_uid_expr(chain: pl.Expr, cluster_id: pl.Expr) -> pl.Expr:
    prefixed = cluster_id.str.starts_with(pl.concat_str([chain, pl.lit(":")]))
    named = pl.when(prefixed).then(cluster_id).otherwise(pl.concat_str([chain, pl.lit(":"), cluster_id]))
    return pl.concat_str([pl.lit("cluster:"), named])


def readable_cluster_uids(tables: GraphTables) -> GraphTables:
    """The same tables with :func:`cluster_uid` for Cluster nodes and the ends of ``IN_CLUSTER``
    (the embedded store keeps its own uids; these are what Neo4j and the exports show)."""
    nodes, rels = dict(tables.nodes), dict(tables.rels)
    clusters = nodes.get("Cluster")
    if clusters is not None:
        nodes["Cluster"] = clusters.with_columns(_cluster_uid_expr(pl.col("chain"), pl.col("cluster_id")).alias("uid"))
        members = rels.get("IN_CLUSTER")
        if members is not None and members.height:
            ids = clusters.select(pl.col("uid").alias("end"), pl.col("chain").alias("__c"),
                                  pl.col("cluster_id").alias("__id"))
            members = members.join(ids, on="end", how="left", maintain_order="left")
            rels["IN_CLUSTER"] = members.with_columns(
                pl.when(pl.col("__id").is_null()).then(pl.col("end"))
                .otherwise(_cluster_uid_expr(pl.col("__c"), pl.col("__id"))).alias("end")
            ).drop("__c", "__id")
    return GraphTables(nodes=nodes, rels=rels, rows=dict(tables.rows))
