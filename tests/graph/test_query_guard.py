# SPDX-License-Identifier: Apache-2.0
"""The read-only guard on analyst Cypher (``tracer graph query``), shared by both backends.

:func:`graph.query_guard.check_read_only` refuses writes, files, several statements and ``CALL``
of anything but the catalog functions, with the messages the embedded store has always given;
both backends apply it in ``query`` (the Neo4j backend over real Bolt, against the ArcadeDB
server the ``store`` fixture starts), with values passed as parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.base import GraphStore, ReadOnlyQueryError
from graph.embedded import EmbeddedStore
from graph.query_guard import check_read_only
from tests.graph.sample_graph import LTC, A, B, sample_frames
from tracer.errors import InputError

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
    ("cypher", "message"),
    [
        # a backquoted name is the same name: `show_functions` is a CALL like show_functions
        ("CALL `show_functions`() RETURN name", ONLY_CATALOG_CALLS),
        ("CALL /* hidden? */ `show_functions`() RETURN name", ONLY_CATALOG_CALLS),
        ("CALL `show_tables``x`() RETURN *", ONLY_CATALOG_CALLS),
        # LadybugDB runs these even on a read-only store; READ_CSV_SERIAL of a non-CSV file crashes the process
        ("CALL `READ_CSV_SERIAL`('/etc/hostname') RETURN *", read_only_refusal("READ_CSV_SERIAL")),
        ("CALL read_csv_parallel('/etc/hostname') RETURN *", read_only_refusal("READ_CSV_PARALLEL")),
        ("CALL READ_PARQUET('/etc/hostname') RETURN *", read_only_refusal("READ_PARQUET")),
        ("CALL `read_json`('/etc/hostname') RETURN *", read_only_refusal("READ_JSON")),
        ("CALL read_npy('/tmp/x.npy') RETURN *", read_only_refusal("READ_NPY")),
        ("RETURN `sqlite_scan` ('/tmp/x.db', 'users')", read_only_refusal("SQLITE_SCAN")),
        ("MATCH (a:Address) WITH a CALL copy_csv('/tmp/leak') RETURN a", read_only_refusal("COPY_CSV")),
        ("LOAD FROM '/etc/hostname' (file_format='csv') RETURN *", read_only_refusal("LOAD")),
        ("load with headers (a STRING) from '/etc/passwd' return *", read_only_refusal("LOAD")),
        ("EXPORT DATABASE '/tmp/out'", read_only_refusal("EXPORT")),
        ("IMPORT DATABASE '/tmp/in'", read_only_refusal("IMPORT")),
        ("COPY Address FROM '/tmp/rows.csv'", read_only_refusal("COPY")),
        ("DETACH other", read_only_refusal("DETACH")),
        # an unterminated comment or string is read as code: nothing hides behind it
        ("RETURN 1 /* LOAD FROM '/etc/hostname'", read_only_refusal("LOAD")),
        # an escaped quote does not end a string: the ';' after it is code
        ("RETURN 'it\\'s' AS x; CALL show_functions()", ONE_STATEMENT),
    ],
)
def test_names_in_backquotes_and_file_reading_functions_are_refused(cypher: str, message: str) -> None:
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
        ("CALL `table_info`('Address') RETURN *", "CALL `table_info`('Address') RETURN *"),
        # a subquery is not a procedure; names that only look like file functions are not calls
        ("MATCH (a:Address) CALL { MATCH (t:Tag) RETURN t } RETURN a.address AS read_csv",
         "MATCH (a:Address) CALL { MATCH (t:Tag) RETURN t } RETURN a.address AS read_csv"),
        ("MATCH (a:Address) WHERE a.address = 'READ_CSV(x)' RETURN lower(a.address) AS `load`",
         "MATCH (a:Address) WHERE a.address = 'READ_CSV(x)' RETURN lower(a.address) AS `load`"),
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


def test_the_embedded_store_refuses_a_file_read_before_ladybugdb_sees_it(tmp_path: Path) -> None:
    """``CALL `READ_CSV_SERIAL`('/etc/hostname')`` crashes LadybugDB (SIGSEGV) even on a read-only
    store: the guard must answer before the text reaches the connection."""
    path = tmp_path / "graph.lbug"
    EmbeddedStore.open(path).close()
    with EmbeddedStore.open(path, read_only=True) as store:
        seen: list[str] = []
        real = store._conn

        class Recording:
            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def execute(self, query: str, *args: object) -> object:
                seen.append(query)
                raise AssertionError(f"reached LadybugDB: {query}")

        store._conn = Recording()  # type: ignore[assignment]
        try:
            for cypher in ("CALL `READ_CSV_SERIAL`('/etc/hostname') RETURN *",
                           "CALL `show_functions`() RETURN *",
                           "LOAD FROM '/etc/hostname' (file_format='csv') RETURN *"):
                with pytest.raises(ReadOnlyQueryError):
                    store.query(cypher)
        finally:
            store._conn = real
        assert seen == []


def test_a_parameter_no_store_can_take_is_bad_input_not_a_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "graph.lbug"
    EmbeddedStore.open(path).close()
    with EmbeddedStore.open(path, read_only=True) as store:
        with pytest.raises(InputError) as refused:
            store.query("MATCH (a:Address) WHERE a.id = $n RETURN a.address", {"n": 2**70})
        assert str(refused.value) == (
            f'parameter n: {2**70} does not fit a 64-bit integer; pass it as text ("{2**70}") and compare with '
            "text or a DECIMAL")
        with pytest.raises(InputError, match=r"parameter m\.x: nan is not a finite number"):
            store.query("RETURN $m AS m", {"m": {"x": float("nan")}})
        assert store.query("RETURN $n AS n", {"n": 2**63 - 1}).rows() == [(2**63 - 1,)]


def test_a_query_the_store_cannot_parse_or_bind_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "graph.lbug"
    EmbeddedStore.open(path).close()
    with EmbeddedStore.open(path, read_only=True) as store:
        with pytest.raises(InputError, match=r"^graph query: Binder exception: Variable x is not in scope"):
            store.query("RETURN x")
        with pytest.raises(InputError, match=r"^graph query: Parser exception"):
            store.query("MATCH (a:Address RETURN a")
