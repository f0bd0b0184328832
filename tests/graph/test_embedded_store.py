# SPDX-License-Identifier: Apache-2.0
"""Embedded store (LadybugDB) specifics: one file on disk, crash-safe loads, read-only analyst queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.base import ReadOnlyQueryError, StoreError, StoreLocationError
from graph.embedded import EmbeddedStore
from tests.graph.sample_graph import sample_frames


def test_the_store_is_one_file_that_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "case" / "graph.lbug"
    with EmbeddedStore.open(path) as store:
        store.load(sample_frames())
        counts = store.stats()
    assert path.is_file()
    with EmbeddedStore.open(path, read_only=True) as store:
        assert store.stats() == counts
        assert store.read_frames().transfers.height == 6


def test_a_load_that_dies_between_tables_completes_when_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each COPY is atomic; the load as a whole is made safe by anti-joins, so a crash after the
    nodes landed but before the relationships did is repaired by running the same load again."""
    frames = sample_frames()
    with EmbeddedStore.open(tmp_path / "graph.lbug") as store:
        real_copy = EmbeddedStore._copy

        def copy_then_crash(self: EmbeddedStore, table: str, frame: object) -> None:
            if table == "SPENT_IN":
                raise KeyboardInterrupt  # as if the analyst pressed Ctrl-C mid-load
            real_copy(self, table, frame)  # type: ignore[arg-type]

        monkeypatch.setattr(EmbeddedStore, "_copy", copy_then_crash)
        with pytest.raises(KeyboardInterrupt):
            store.load(frames)
        half = store.stats()
        assert half["Transaction"] == 5 and half["HAS_OUTPUT"] == 5 and half["SPENT_IN"] == 0
        monkeypatch.setattr(EmbeddedStore, "_copy", real_copy)
        report = store.load(frames)
        assert report.created["Transaction"] == 0
        assert report.created["SPENT_IN"] == 3 and report.created["TRANSFER"] == 6
        assert report.unchanged["HAS_OUTPUT"] == 5
        assert store.stats()["TRANSFER"] == 6
        for name, frame in frames.frames().items():
            assert store.read_frames().frames()[name].to_dicts() == frame.to_dicts(), name


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a graph")
    with pytest.raises(StoreLocationError, match="is not an embedded store"):
        EmbeddedStore.open(bogus)
    assert bogus.read_text() == "not a graph"
    with pytest.raises(StoreLocationError, match="is a directory"):
        EmbeddedStore.open(tmp_path)
    with pytest.raises(StoreLocationError, match="no embedded store"):
        EmbeddedStore.open(tmp_path / "missing.lbug", read_only=True)


@pytest.mark.parametrize(
    "cypher",
    [
        "MATCH (a:Address) DETACH DELETE a",
        "MATCH (a:Address) SET a.address = 'x' RETURN a",
        "create (n:Address {id: 99})",
        "MATCH (a:Address) WITH a MERGE (b:Address {id: 7}) RETURN b",
        # a quote inside a comment must not hide what follows it
        "// it's\nCOPY (MATCH (a:Address) RETURN a.address) TO '{out}' //'",
        "// it's\nINSTALL json //'",
        "MATCH (a:Address) RETURN a.address UNION ALL LOAD FROM '/etc/hostname' (file_format='csv') RETURN *",
        "LOAD httpfs",
        "EXPORT DATABASE '{out}'",
        "ATTACH '{out}' AS other (dbtype lbug)",
        "CALL drop_fts_index('Address', 'x')",
        "RETURN 1; MATCH (a:Address) DETACH DELETE a",
    ],
)
def test_analyst_queries_cannot_write_or_reach_outside_the_store(tmp_path: Path, cypher: str) -> None:
    out = tmp_path / "leak"
    with EmbeddedStore.open(tmp_path / "graph.lbug") as store:
        store.load(sample_frames())
    with EmbeddedStore.open(tmp_path / "graph.lbug", read_only=True) as store:
        with pytest.raises(ReadOnlyQueryError):
            store.query(cypher.replace("{out}", str(out)))
        assert store.stats()["Address"] == 8
    assert not out.exists()


def test_a_store_in_use_by_another_process_is_unavailable_not_damaged(tmp_path: Path) -> None:
    import subprocess
    import sys

    from graph.base import StoreUnavailableError

    path = tmp_path / "graph.lbug"
    EmbeddedStore.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, ladybug; db = ladybug.Database(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreUnavailableError, match="in use by process"):
            EmbeddedStore.open(path)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_one_process_cannot_open_a_store_twice_for_writing(tmp_path: Path) -> None:
    with EmbeddedStore.open(tmp_path / "graph.lbug"):
        with pytest.raises(StoreError, match="already open for writing"):
            EmbeddedStore.open(tmp_path / "graph.lbug")
    EmbeddedStore.open(tmp_path / "graph.lbug").close()  # closed: free again


def test_read_only_queries_answer_and_words_inside_strings_are_not_clauses(tmp_path: Path) -> None:
    with EmbeddedStore.open(tmp_path / "graph.lbug") as store:
        store.load(sample_frames())
    with EmbeddedStore.open(tmp_path / "graph.lbug", read_only=True) as store:
        rows = store.query(
            "MATCH (a:Address)-[:HAS_TAG]->(t:Tag) WHERE t.category <> 'DELETE me' RETURN a.address AS address, "
            "t.category AS category ORDER BY address; // one statement; a final semicolon is fine"
        ).rows()
        assert rows == [("0x2222222222222222222222222222222222222222", "sanctioned"), ("rltc1qaaaa", "exchange")]
        with pytest.raises(StoreError):
            store.load(sample_frames())  # opened read-only


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    import ladybug

    path = tmp_path / "graph.lbug"
    EmbeddedStore.open(path).close()
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    conn.execute("MATCH (i:StoreInfo) SET i.schema_version = 0")
    conn.close()
    db.close()
    for read_only in (False, True):
        with pytest.raises(StoreLocationError, match="schema version 0"):
            EmbeddedStore.open(path, read_only=read_only)
