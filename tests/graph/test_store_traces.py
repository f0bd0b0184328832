# SPDX-License-Identifier: Apache-2.0
"""Trace results written back into the graph (both backends), so Neo4j Browser shows them.

``save_trace`` creates ``(:Case)-[:RAN]->(:Trace)``, ``(:Trace)-[:REACHED]->(:Address)`` for the
endings and ``(:Trace)-[:TRACED]->(:Transaction)`` for the transactions that carried the value;
saving the same trace again replaces it instead of adding a second copy.
"""

from __future__ import annotations

import polars as pl

from graph.base import TRACE_REACHED_COLUMNS, TRACE_TRACED_COLUMNS, GraphStore, TraceRecord
from tests.graph.fixture_frames import BTC, CASE, CB_TXID, SPEND_TXID, A, B, sample_frames


def record(amount_to_b: str = "90000", uid: str = "trace:forward-haircut-1") -> TraceRecord:
    reached = pl.DataFrame(
        [{"address": B, "ending": "entity", "asset": "native", "amount": amount_to_b, "depth": 1, "label": "Ex"},
         {"address": "not-in-store", "ending": "held", "asset": "native", "amount": "5", "depth": 2, "label": None}],
        schema=TRACE_REACHED_COLUMNS,
    )
    traced = pl.DataFrame([{"txid": SPEND_TXID, "depth": 1, "taint": "100000", "hops": 2}], schema=TRACE_TRACED_COLUMNS)
    return TraceRecord(uid=uid, case=CASE, chain=BTC, direction="forward", model="haircut", parameters="{}",
                       manifest_sha256="ab" * 32, seed_value='{"native": "100000"}', reached=reached, traced=traced)


def _reached(store: GraphStore) -> list[tuple[str, str, str]]:
    rows = store.query(  # type: ignore[attr-defined]
        "MATCH (c:`Case`)-[:RAN]->(t:Trace)-[r:REACHED]->(a:Address) "
        "RETURN c.name AS case_name, a.address AS address, r.amount AS amount ORDER BY address"
    ) if store.backend == "embedded" else None
    if rows is None:
        return []
    return [tuple(r) for r in rows.iter_rows()]


def test_a_saved_trace_links_case_endings_and_transactions(store: GraphStore) -> None:
    store.load(sample_frames())
    store.save_trace(record())
    traces = store.traces(CASE)  # type: ignore[attr-defined]
    assert traces.select("uid", "model", "reached").rows() == [("trace:forward-haircut-1", "haircut", 1)]
    if store.backend == "embedded":
        assert _reached(store) == [(CASE, B, "90000")]  # the address the store does not have is skipped
        traced = store.query(  # type: ignore[attr-defined]
            "MATCH (t:Trace)-[r:TRACED]->(x:`Transaction`) RETURN x.txid AS txid, r.taint AS taint"
        )
        assert traced.rows() == [(SPEND_TXID, "100000")]
    assert A and CB_TXID  # the sample graph's other nodes are untouched


def test_saving_the_same_trace_again_replaces_it(store: GraphStore) -> None:
    store.load(sample_frames())
    store.save_trace(record("90000"))
    store.save_trace(record("80000"))
    traces = store.traces(CASE)  # type: ignore[attr-defined]
    assert traces.height == 1
    if store.backend == "embedded":
        assert _reached(store) == [(CASE, B, "80000")]
    store.save_trace(record("1", uid="trace:backward-fifo-2"))
    assert store.traces(CASE).height == 2  # type: ignore[attr-defined]
