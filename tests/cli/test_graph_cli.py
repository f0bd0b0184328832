# SPDX-License-Identifier: Apache-2.0
"""``tracer graph``: counts, read-only Cypher, push to Neo4j over Bolt, exports with checksums.

Each case has its own embedded store (``<case>/graph.lbug``); these tests fill it with the
known sample graph of ``tests/graph/sample_graph.py`` and drive the commands as an analyst would.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pytest

from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from tests.conftest import Cli
from tests.graph.sample_graph import HOSTILE_LABEL, sample_frames


@pytest.fixture()
def case_with_graph(cli: Cli, tracer_home: Path) -> str:
    cli("case", "create", "op-x")
    with EmbeddedStore.open(tracer_home / "cases" / "op-x" / "graph.lbug") as store:
        store.load(sample_frames())
    return "op-x"


def test_stats_counts_nodes_and_relationships(cli: Cli, case_with_graph: str) -> None:
    stats = cli.json("graph", "stats", case_with_graph)
    assert stats["backend"] == "embedded"
    assert stats["nodes"]["Transaction"] == 5 and stats["nodes"]["Address"] == 8
    assert stats["relationships"] == {"HAS_OUTPUT": 5, "LOCKED_TO": 4, "SPENT_IN": 3, "TRANSFER": 6,
                                      "HAS_TAG": 2, "IN_CLUSTER": 2, "SEED": 2,
                                      # conversions and bridge events (none in this graph)
                                      "CONVERTED": 0, "DEPOSITED": 0, "RELEASED": 0}
    assert stats["nodes"]["BridgeEvent"] == 0
    human = cli("graph", "stats", case_with_graph)
    assert human.exit_code == 0 and "TRANSFER" in human.stdout


def test_query_answers_read_only_cypher_with_parameters(cli: Cli, case_with_graph: str) -> None:
    rows = cli.json("graph", "query", case_with_graph,
                    "MATCH (a:Address)-[:HAS_TAG]->(t:Tag) WHERE t.category = $cat RETURN a.address AS a, t.label AS l",
                    "--param", "cat=exchange")
    assert rows == [{"a": "rltc1qaaaa", "l": HOSTILE_LABEL}]


def test_query_that_writes_is_refused_with_exit_2(cli: Cli, case_with_graph: str) -> None:
    result = cli("graph", "query", case_with_graph, "MATCH (a:Address) DETACH DELETE a")
    assert result.exit_code == 2
    assert "read-only" in result.stderr
    assert cli.json("graph", "stats", case_with_graph)["nodes"]["Address"] == 8


def test_query_with_an_unknown_label_is_bad_input_and_names_the_labels(cli: Cli, case_with_graph: str) -> None:
    result = cli("graph", "query", case_with_graph, "MATCH (a:Adress) RETURN a.address")
    assert result.exit_code == 2
    assert "Table Adress does not exist" in result.stderr and "node labels: " in result.stderr
    assert "Address" in result.stderr.split("node labels: ")[1] and "Traceback" not in result.output
    unknown_relationship = cli("graph", "query", case_with_graph, "MATCH (a)-[:PAID]->(b) RETURN a")
    assert unknown_relationship.exit_code == 2 and "TRANSFER" in unknown_relationship.stderr


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["neo4j-admin", "graphml", "parquet"])
def test_export_writes_files_with_checksums_and_logs_them(cli: Cli, case_with_graph: str, tmp_path: Path,
                                                          fmt: str) -> None:
    out = tmp_path / fmt
    result = cli.json("graph", "export", case_with_graph, "--format", fmt, "--out", str(out))
    assert result["files"]
    for entry in result["files"]:
        assert _sha256(out / entry["file"]) == entry["sha256"]
    log = cli.json("case", "log", case_with_graph)
    assert log[-1]["action"] == "graph.export"
    assert log[-1]["details"]["files"] == result["files"]
    if fmt == "neo4j-admin":
        with (out / "rels_TRANSFER.csv").open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert header[:3] == [":START_ID(Address)", ":END_ID(Address)", ":TYPE"]


def test_export_refuses_a_non_empty_directory_and_an_unknown_format(cli: Cli, case_with_graph: str,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    busy = cli("graph", "export", case_with_graph, "--format", "parquet", "--out", str(tmp_path / "busy"))
    assert busy.exit_code == 2
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"
    assert cli("graph", "export", case_with_graph, "--format", "pdf", "--out", str(tmp_path / "new")).exit_code == 2


def test_push_copies_the_case_graph_to_neo4j_over_bolt(
    cli: Cli, case_with_graph: str, bolt_server: Any, monkeypatch: pytest.MonkeyPatch, tracer_home: Path
) -> None:
    bolt_server.create_database("pushtest")
    monkeypatch.setenv("NEO4J_USER", bolt_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", bolt_server.password)
    pushed = cli.json("graph", "push", case_with_graph, "--neo4j", bolt_server.uri, "--database", "pushtest")
    assert pushed["created"]["TRANSFER"] == 6
    assert bolt_server.password not in str(pushed)
    again = cli.json("graph", "push", case_with_graph, "--neo4j", bolt_server.uri, "--database", "pushtest")
    assert sum(again["created"].values()) == 0
    with EmbeddedStore.open(tracer_home / "cases" / "op-x" / "graph.lbug", read_only=True) as source:
        expected = source.read_frames()
        expected_stats = source.stats()
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, database="pushtest") as target:
        got = target.read_frames()
        assert target.stats() == expected_stats
    for name, frame in expected.frames().items():
        assert got.frames()[name].to_dicts() == frame.to_dicts(), name
    assert cli.json("case", "log", case_with_graph)[-1]["action"] == "graph.push"


def test_push_to_an_unreachable_server_exits_4_and_wrong_password_exits_2(
    cli: Cli, case_with_graph: str, bolt_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testing.devserver import free_port

    monkeypatch.setenv("NEO4J_PASSWORD", "wrong-password")
    down = cli("graph", "push", case_with_graph, "--neo4j", f"bolt://127.0.0.1:{free_port()}")
    assert down.exit_code == 4
    refused = cli("graph", "push", case_with_graph, "--neo4j", bolt_server.uri, "--user", "root")
    assert refused.exit_code == 2
    assert "wrong-password" not in refused.stderr


def test_credentials_in_the_neo4j_uri_are_refused_and_never_printed(cli: Cli, case_with_graph: str) -> None:
    result = cli("graph", "push", case_with_graph, "--neo4j", "bolt://neo4j:s3cret@127.0.0.1:1")
    assert result.exit_code == 2
    assert "s3cret" not in result.stderr and "NEO4J_PASSWORD" in result.stderr


def test_stats_of_a_case_without_a_graph_yet_are_zero(cli: Cli) -> None:
    cli("case", "create", "op-empty")
    stats = cli.json("graph", "stats", "op-empty")
    assert set(stats["nodes"].values()) == {0} and set(stats["relationships"].values()) == {0}
