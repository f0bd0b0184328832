# SPDX-License-Identifier: Apache-2.0
"""The embedded store's table layout, and the small pure helpers its modules share.

Internal to the embedded backend (:mod:`graph.embedded`, :mod:`graph.embedded_load`,
:mod:`graph.embedded_reads`): which node and relationship tables a LadybugDB store holds, their
column types, the integer codes behind ``TRANSFER``'s columns, and how each label's ``uid`` is
rebuilt from its natural-key columns. Why the layout is what it is: :mod:`graph.embedded`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import polars as pl

__all__ = ["SCHEMA_VERSION", "STORE_FILE_SUFFIX"]

#: layout of the tables below; bump it when a table changes (a store of another version is refused,
#: but for the older versions of :data:`_UPGRADES`)
SCHEMA_VERSION = 2
#: older layouts this version opens, and what each lacks: read-only as they are (reads of what they
#: lack answer nothing), for writing once the missing tables are created (then the version is raised).
#: Version 1 is version 2 without the conversion and bridge-event tables (issue 19).
_UPGRADES: dict[int, str] = {1: "the conversion and bridge-event tables (CONVERTED, BridgeEvent, DEPOSITED, RELEASED)"}

STORE_FILE_SUFFIX = ".lbug"

# Node tables: label -> (columns with Ladybug types). ``id`` is the surrogate key everywhere.
_NODE_DDL: dict[str, dict[str, str]] = {
    "Address": {"chain": "STRING", "address": "STRING", "source": "STRING"},
    "Transaction": {
        "chain": "STRING", "txid": "STRING", "block_height": "INT64", "block_hash": "STRING",
        "position": "INT64", "timestamp": "INT64", "fee": "DECIMAL(38,0)", "is_coinbase": "BOOLEAN",
        "source": "STRING",
    },
    "Output": {
        "chain": "STRING", "txid": "STRING", "index": "INT64", "address": "STRING", "script_type": "STRING",
        "value": "INT64", "source": "STRING",
    },
    "Tag": {
        "uid": "STRING", "chain": "STRING", "address": "STRING", "label": "STRING", "category": "STRING",
        "confidence": "INT64", "tagpack": "STRING", "source": "STRING",
    },
    "Cluster": {"chain": "STRING", "cluster_id": "STRING", "source": "STRING"},
    "Case": {"name": "STRING"},
}
_REL_DDL: dict[str, dict[str, str]] = {
    "HAS_OUTPUT": {"index": "INT64", "value": "INT64", "chain": "STRING", "source": "STRING"},
    "LOCKED_TO": {"chain": "STRING", "source": "STRING"},
    "SPENT_IN": {"index": "INT64", "chain": "STRING", "source": "STRING"},
    # integers and one DECIMAL only: every STRING column (even all-null) costs ~30-60% of COPY speed
    "TRANSFER": {
        "tx": "INT64", "kind": "INT64", "log_index": "INT64", "value": "DECIMAL(38,0)", "asset": "INT64",
        "source": "INT64", "detail": "INT64",
    },
    "HAS_TAG": {"chain": "STRING", "source": "STRING"},
    "IN_CLUSTER": {"chain": "STRING", "source": "STRING"},
    "SEED": {"chain": "STRING", "label": "STRING", "source": "STRING"},
}
# Internal tables behind TRANSFER's integer columns (not part of the graph model).
_INTERNAL_DDL: dict[str, dict[str, str]] = {
    "Source": {"name": "STRING"},
    "TransferDetail": {"trace_path": "STRING", "token_id": "STRING", "value_overflow": "STRING"},
}
# Conversions and bridge events (graph.events), stores of version >= 2. Rare rows: clarity over COPY
# speed, so kinds, protocol, call paths and the bridge event's text stay STRING; addresses (trader,
# recipient, venue, token assets) are Address ids, the transaction an INT64 reference (``tx``) to its
# :Transaction node (txid, block and time are read from there), amounts DECIMAL(38,0), the source an
# id of the Source table. A bridge event's other-chain addresses are text only (they are not
# addresses of the event's chain).
_EVENT_NODE_DDL: dict[str, dict[str, str]] = {
    "BridgeEvent": {
        "chain": "STRING", "txid": "STRING", "tx": "INT64", "log_index": "INT64", "bridge": "STRING",
        "role": "STRING", "contract": "STRING", "deposit_id": "STRING", "origin_chain_id": "INT64",
        "destination_chain_id": "INT64", "depositor": "STRING", "recipient": "STRING", "asset_in": "STRING",
        "value_in": "DECIMAL(38,0)", "asset_out": "STRING", "value_out": "DECIMAL(38,0)", "leg_kind": "STRING",
        "leg_log_index": "INT64", "leg_trace_path": "STRING", "fill_deadline": "INT64", "source": "INT64",
    },
}
_EVENT_REL_DDL: dict[str, dict[str, str]] = {
    "CONVERTED": {
        "tx": "INT64", "log_index": "INT64", "protocol": "STRING", "venue": "INT64", "asset_in": "INT64",
        "value_in": "DECIMAL(38,0)", "asset_out": "INT64", "value_out": "DECIMAL(38,0)", "in_kind": "STRING",
        "in_log_index": "INT64", "in_trace_path": "STRING", "out_kind": "STRING", "out_log_index": "INT64",
        "out_trace_path": "STRING", "source": "INT64",
    },
    "DEPOSITED": {"chain": "STRING"},
    "RELEASED": {"chain": "STRING"},
}
# Trace results written back (graph.base.TraceRecord): outside the frames model, created if missing
# so stores written before they existed gain them without a schema-version change.
_TRACE_NODE_DDL = {
    "uid": "STRING", "case_name": "STRING", "chain": "STRING", "direction": "STRING", "model": "STRING",
    "parameters": "STRING", "manifest_sha256": "STRING", "seed_value": "STRING",
}
_TRACE_REL_DDL: dict[str, tuple[str, str, dict[str, str]]] = {
    "REACHED": ("Trace", "Address", {"ending": "STRING", "asset": "STRING", "amount": "STRING", "depth": "INT64",
                                     "label": "STRING"}),
    "TRACED": ("Trace", "Transaction", {"depth": "INT64", "taint": "STRING", "hops": "INT64"}),
    "RAN": ("Case", "Trace", {}),
}
#: TRANSFER.kind codes; TRANSFER.asset is 0 for the native coin, else the token contract's Address id
_KIND_CODES = {"native": 0, "token": 1, "internal": 2, "fee": 3}
_KIND_NAMES = {code: name for name, code in _KIND_CODES.items()}
_NATIVE_ASSET_ID = 0

# How each label's uid is rebuilt from its stored natural-key columns (see graph.model).
_UID_PARTS: dict[str, list[str]] = {
    "Address": ["chain", "address"],
    "Transaction": ["chain", "txid"],
    "Output": ["chain", "txid", "index"],
    "Tag": ["uid"],
    "Cluster": ["chain", "cluster_id"],
    "Case": ["name"],
}
_ID_CHUNK = 20_000
# Measured (LadybugDB 0.22): nodes by a list of ids are fastest as ``UNWIND $ids AS i MATCH (n {id: i})``
# (primary-key lookups, ~11 ms for 3.5k ids on 250k transactions; ``WHERE n.id IN $ids`` scans the
# whole table). Relationships of a set of nodes likewise as ``UNWIND $ids AS i MATCH (a {id: i})
# OPTIONAL MATCH (a)-[r]->(b)``: ~30 ms for a 1,000-address frontier on 2.7M addresses, the same on
# 27M, where ``WHERE a.id IN $ids`` costs ~650-880 ms and grows with the table (issue 21;
# ``tests/graph/test_embedded_frontier.py``). A plain ``MATCH (a {id: i})-[r]->(b)`` is planned as a scan.


def _q(name: str) -> str:
    """Quote an identifier from the fixed model (``Case``, ``index`` ... are keywords)."""
    return f"`{name}`"


def _uid_expr(parts: list[str]) -> pl.Expr:
    return pl.concat_str([pl.col(p).cast(pl.String) for p in parts], separator=":").alias("uid")


def _dict_extra(label: str) -> list[str]:
    """Columns the in-memory dictionary keeps besides uid and id (addresses are printed often;
    transactions are joined on their natural key columns, cheaper than building uid strings)."""
    return {"Address": ["chain", "address"], "Transaction": ["chain", "txid"]}.get(label, [])


def _typed(frame: pl.DataFrame, columns: Any, key: Collection[str]) -> pl.DataFrame:
    """Cast a query result to canonical column types and order, sorted by ``key``."""
    schema = pl.Schema(dict(columns))
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    out = frame.select([pl.col(c).cast(t) for c, t in schema.items()])
    return out.sort(list(key), nulls_last=True) if key else out
