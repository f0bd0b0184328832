# SPDX-License-Identifier: Apache-2.0
"""The read-only guard on analyst Cypher (``tracer graph query``), shared by both backends.

:func:`graph.query_guard.check_read_only` refuses writes, files, several statements and ``CALL``
of anything but the catalog functions, with the messages the embedded store has always given;
both backends apply it in ``query`` (the Neo4j backend over real Bolt, against the ArcadeDB
server the ``store`` fixture starts), with values passed as parameters.
"""

from __future__ import annotations

import pytest

from graph.base import GraphStore, ReadOnlyQueryError
from graph.query_guard import check_read_only
from tests.graph.sample_graph import LTC, A, B, sample_frames

ONE_STATEMENT = "graph query runs one statement: remove the ';' between statements"
ONLY_CATALOG_CALLS = "graph query may CALL only current_setting, db_version, show_connection, show_tables, table_info"


def read_only_refusal(clause: str) -> str:
    return f"graph query is read-only: {clause} is not allowed (no writes, files or extensions)"


@pytest.mark.parametrize(
    ("cypher", "message"),
    [
        ("MATCH (a:Address) DETACH DELETE a", read_only_refusal("DETACH")),
        ("MATCH (a:Address) SET a.address = 'x' RETURN a", read_only_refusal("SET")),
        ("create (n:Address {id: 99})", read_only_refusal("CREATE")),
        ("MATCH (a:Address) WITH a MERGE (b:Address {id: 7}) RETURN b", read_only_refusal("MERGE")),
        ("MATCH (a:Address) REMOVE a.source RETURN a", read_only_refusal("REMOVE")),
        ("// it's\nCOPY (MATCH (a:Address) RETURN a.address) TO '/tmp/leak' //'", read_only_refusal("COPY")),
        ("MATCH (a:Address) RETURN a.address UNION ALL LOAD FROM '/etc/hostname' (file_format='csv') RETURN *",
         read_only_refusal("LOAD")),
        ("LOAD CSV FROM 'file:///etc/hostname' AS row RETURN row", read_only_refusal("LOAD")),
        ("INSTALL json", read_only_refusal("INSTALL")),
        ("ATTACH '/tmp/other.lbug' AS other (dbtype lbug)", read_only_refusal("ATTACH")),
        ("RETURN 1; MATCH (a:Address) DETACH DELETE a", ONE_STATEMENT),
        ("MATCH (a:Address) RETURN a.address; MATCH (t:Tag) RETURN t.label", ONE_STATEMENT),
        ("CALL drop_fts_index('Address', 'x')", ONLY_CATALOG_CALLS),
        ("CALL db.labels() YIELD label RETURN label", ONLY_CATALOG_CALLS),
        ("CALL apoc.meta.graph()", ONLY_CATALOG_CALLS),
    ],
)
def test_the_guard_refuses_writes_files_several_statements_and_other_calls(cypher: str, message: str) -> None:
    with pytest.raises(ReadOnlyQueryError) as refused:
        check_read_only(cypher)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("cypher", "statement"),
    [
        ("MATCH (a:Address) WHERE a.address = $address RETURN a.address AS address",
         "MATCH (a:Address) WHERE a.address = $address RETURN a.address AS address"),
        ("MATCH (a:Address) RETURN count(a) AS n;  \n", "MATCH (a:Address) RETURN count(a) AS n"),
        # words inside strings, quoted names and comments are not clauses
        ("MATCH (t:Tag) WHERE t.category <> 'DELETE me; SET' RETURN t.label AS `create` // DROP it",
         "MATCH (t:Tag) WHERE t.category <> 'DELETE me; SET' RETURN t.label AS `create` // DROP it"),
        ("CALL show_tables() RETURN *", "CALL show_tables() RETURN *"),
    ],
)
def test_the_guard_passes_a_read_and_drops_only_a_final_semicolon(cypher: str, statement: str) -> None:
    assert check_read_only(cypher) == statement


def test_both_backends_answer_a_parameterized_read(store: GraphStore) -> None:
    store.load(sample_frames())
    frame = store.query(
        "MATCH (a:Address) WHERE a.chain = $chain AND a.address IN $addresses "
        "RETURN a.address AS address ORDER BY address;",
        {"chain": LTC, "addresses": [B, A, "not-in-store"]},
    )
    assert frame.columns == ["address"]
    assert frame.rows() == [(A,), (B,)]
    nothing = store.query("MATCH (a:Address) WHERE a.address = $address RETURN a.address AS address",
                          {"address": "not-in-store"})
    assert nothing.height == 0
    # ArcadeDB's Bolt listener names no fields for an empty result; LadybugDB and Neo4j do
    assert nothing.columns == ["address"] or (store.backend == "neo4j" and nothing.columns == [])


@pytest.mark.parametrize(
    "cypher",
    [
        "MATCH (a:Address) DETACH DELETE a",
        "MATCH (a:Address) SET a.address = $address RETURN a.address",
        "RETURN 1; MATCH (a:Address) DETACH DELETE a",
        "CALL db.labels() YIELD label RETURN label",
    ],
)
def test_both_backends_refuse_a_write_before_the_store_sees_it(store: GraphStore, cypher: str) -> None:
    store.load(sample_frames())
    before = store.stats()
    with pytest.raises(ReadOnlyQueryError):
        store.query(cypher, {"address": "x"})
    assert store.stats() == before
    assert store.query("MATCH (a:Address) WHERE a.address = $address RETURN count(a) AS n", {"address": A}).rows() \
        == [(1,)]
