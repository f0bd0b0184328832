# SPDX-License-Identifier: Apache-2.0
"""The constraints and indexes of the graph in Neo4j: one list, used by
:meth:`graph.neo4j_store.Neo4jStore.ensure_schema` and written by the ``neo4j-admin`` export
(``schema.cypher``), so a bulk-imported database has the same uniqueness rules as a pushed one."""

from __future__ import annotations

from graph.events import EVENT_LABELS
from graph.model import NODE_LABELS, TRACE_LABELS

__all__ = ["schema_statements"]


def schema_statements() -> list[str]:
    """``CREATE CONSTRAINT`` (``uid`` unique, per label) and ``CREATE INDEX`` statements, all ``IF NOT
    EXISTS`` (running them twice changes nothing).

    >>> schema_statements()[0]
    'CREATE CONSTRAINT address_uid IF NOT EXISTS FOR (n:Address) REQUIRE n.uid IS UNIQUE'
    """
    statements = [
        f"CREATE CONSTRAINT {label.lower()}_uid IF NOT EXISTS FOR (n:{label}) REQUIRE n.uid IS UNIQUE"
        for label in (*NODE_LABELS, *TRACE_LABELS, *EVENT_LABELS)
    ]
    statements += [
        "CREATE INDEX transaction_height IF NOT EXISTS FOR (n:Transaction) ON (n.chain, n.block_height)",
        "CREATE INDEX transfer_uid IF NOT EXISTS FOR ()-[r:TRANSFER]-() ON (r.uid)",
        "CREATE INDEX transfer_txid IF NOT EXISTS FOR ()-[r:TRANSFER]-() ON (r.chain, r.txid)",
        "CREATE INDEX trace_case IF NOT EXISTS FOR (n:Trace) ON (n.case_name)",
        "CREATE INDEX flow_trace IF NOT EXISTS FOR ()-[r:FLOW]-() ON (r.trace)",
        "CREATE INDEX converted_uid IF NOT EXISTS FOR ()-[r:CONVERTED]-() ON (r.uid)",
        "CREATE INDEX converted_txid IF NOT EXISTS FOR ()-[r:CONVERTED]-() ON (r.chain, r.txid)",
        "CREATE INDEX bridge_event_deposit IF NOT EXISTS FOR (n:BridgeEvent) ON (n.deposit_id)",
    ]
    return statements
