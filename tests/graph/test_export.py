# SPDX-License-Identifier: Apache-2.0
"""graph/export.py: neo4j-admin CSV, GraphML and Parquet describe the graph tables exactly, byte-stable."""

from __future__ import annotations

import csv
import hashlib
import shlex
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from graph.export import (
    SHA256SUMS,
    export_graphml,
    export_neo4j_admin,
    export_parquet,
    with_captions,
)
from graph.export_tables import iso_utc
from graph.model import NODE_LABELS, REL_ENDPOINTS, REL_TYPES, GraphTables, graph_tables
from tests.graph.fixture_frames import BIG_FEE, BIG_TOKEN_VALUE, HOSTILE_LABEL, HUGE_TOKEN_VALUE, sample_frames
from tracer.schema import FrameSet

NODE_HEADERS = {
    "Address": "uid:ID(Address),chain,address,source,caption,:LABEL",
    "Transaction": "uid:ID(Transaction),chain,txid,block_height:long,block_hash,position:long,timestamp:long,fee,"
    "is_coinbase:boolean,source,caption,fee_coins,symbol,decimals:long,time_utc,datetime:datetime,:LABEL",
    "Output": "uid:ID(Output),chain,txid,index:long,address,script_type,value:long,source,caption,value_coins,symbol,"
    "decimals:long,:LABEL",
    "Tag": "uid:ID(Tag),chain,address,label,category,confidence:long,tagpack,source,caption,:LABEL",
    "Cluster": "uid:ID(Cluster),chain,cluster_id,source,caption,:LABEL",
    "Case": "uid:ID(Case),name,caption,:LABEL",
}
REL_HEADERS = {
    "HAS_OUTPUT": ":START_ID(Transaction),:END_ID(Output),:TYPE,index:long,value:long,chain,source,value_coins,symbol,"
    "decimals:long,caption",
    "LOCKED_TO": ":START_ID(Output),:END_ID(Address),:TYPE,chain,source",
    "SPENT_IN": ":START_ID(Output),:END_ID(Transaction),:TYPE,index:long,chain,source",
    "TRANSFER": ":START_ID(Address),:END_ID(Address),:TYPE,uid,chain,txid,block_height:long,block_hash,tx_index:long,"
    "timestamp:long,kind,log_index:long,trace_path,asset,token_id,value,source,value_coins,symbol,decimals:long,"
    "time_utc,datetime:datetime,caption",
    "HAS_TAG": ":START_ID(Address),:END_ID(Tag),:TYPE,chain,source",
    "IN_CLUSTER": ":START_ID(Address),:END_ID(Cluster),:TYPE,chain,source",
    "SEED": ":START_ID(Case),:END_ID(Address),:TYPE,chain,label,source",
}


@pytest.fixture(scope="module")
def tables() -> GraphTables:
    return graph_tables(sample_frames())


def _text_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """What a text export must hold: decimals as exact integer text, value/value_overflow joined."""
    rows = []
    for row in frame.iter_rows(named=True):
        if "value_overflow" in row:
            overflow = row.pop("value_overflow")
            row["value"] = str(int(row["value"])) if row["value"] is not None else overflow
        rows.append({k: str(int(v)) if isinstance(v, Decimal) else iso_utc(v) if isinstance(v, datetime) else v
                     for k, v in row.items()})
    return rows


def _key(row: dict[str, Any]) -> str:
    return repr(sorted(row.items(), key=lambda kv: kv[0]))


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, strict=True))
    return rows[0], rows[1:]


def _typed(header: list[str], row: list[str]) -> dict[str, Any]:
    """A CSV row as Neo4j would type it (an empty field is no property)."""
    out: dict[str, Any] = {}
    for field, text in zip(header, row, strict=True):
        name, _, kind = field.partition(":")
        if not name:  # :LABEL, :TYPE, :START_ID(Label), :END_ID(Label)
            name, kind = kind.split("(")[0], "string"
        value: Any = None
        if text != "":
            value = int(text) if kind == "long" else (text == "true") if kind == "boolean" else text
        out[name] = value
    return out


def test_fixture_covers_the_hard_cases(tables: GraphTables) -> None:
    assert all(tables.nodes[label].height for label in NODE_LABELS)
    assert all(tables.rels[rel_type].height for rel_type in REL_TYPES)
    transfers = tables.rels["TRANSFER"]
    assert transfers["value_overflow"].to_list().count(str(HUGE_TOKEN_VALUE)) == 1
    assert Decimal(BIG_TOKEN_VALUE) in transfers["value"].to_list()
    assert HOSTILE_LABEL in tables.nodes["Tag"]["label"].to_list()
    assert tables.nodes["Output"]["address"].null_count() == 1  # OP_RETURN


def test_neo4j_admin_headers_are_typed_exactly(tables: GraphTables, tmp_path: Path) -> None:
    written = export_neo4j_admin(tables, tmp_path)
    names = [p.name for p in written]
    assert names == [f"nodes_{label}.csv" for label in NODE_LABELS] + [f"rels_{t}.csv" for t in REL_TYPES] + [
        "schema.cypher",
        "import.sh",
        SHA256SUMS,
    ]
    for label, header in NODE_HEADERS.items():
        assert _read_csv(tmp_path / f"nodes_{label}.csv")[0] == header.split(",")
    for rel_type, header in REL_HEADERS.items():
        assert _read_csv(tmp_path / f"rels_{rel_type}.csv")[0] == header.split(",")


def test_neo4j_admin_rows_rebuild_the_tables_exactly(tables: GraphTables, tmp_path: Path) -> None:
    export_neo4j_admin(tables, tmp_path)
    expected = with_captions(tables)
    ids: dict[str, set[str]] = {}
    for label in NODE_LABELS:
        header, rows = _read_csv(tmp_path / f"nodes_{label}.csv")
        got = [_typed(header, row) for row in rows]
        assert all(row.pop("LABEL") == label for row in got)
        ids[label] = {row["uid"] for row in got}
        assert len(ids[label]) == len(got)
        want = _text_rows(expected.nodes[label].sort("uid"))
        assert got == want, label
    for rel_type in REL_TYPES:
        header, rows = _read_csv(tmp_path / f"rels_{rel_type}.csv")
        got = [_typed(header, row) for row in rows]
        start_label, end_label = REL_ENDPOINTS[rel_type]
        for row in got:
            assert row.pop("TYPE") == rel_type
            row["start"], row["end"] = row.pop("START_ID"), row.pop("END_ID")
            assert row["start"] in ids[start_label] and row["end"] in ids[end_label], (rel_type, row)
        want = _text_rows(expected.rels[rel_type])
        assert sorted(map(_key, got)) == sorted(map(_key, want)), rel_type
    header, transfers = _read_csv(tmp_path / "rels_TRANSFER.csv")
    transfer_values = {row[header.index("value")] for row in transfers}
    assert {str(BIG_TOKEN_VALUE), str(HUGE_TOKEN_VALUE), str(BIG_FEE)} <= transfer_values
    fees = {row[7] for row in _read_csv(tmp_path / "nodes_Transaction.csv")[1]}
    assert str(BIG_FEE) in fees


def test_neo4j_admin_quotes_hostile_text(tables: GraphTables, tmp_path: Path) -> None:
    export_neo4j_admin(tables, tmp_path)
    raw = (tmp_path / "nodes_Tag.csv").read_text(encoding="utf-8")
    assert '"Evil ""quotes"", commas, \\backslashes\\, newline\nand }) DETACH DELETE n //"' in raw
    header, rows = _read_csv(tmp_path / "nodes_Tag.csv")
    assert HOSTILE_LABEL in [row[header.index("label")] for row in rows]


def test_neo4j_admin_import_script_names_every_file(tables: GraphTables, tmp_path: Path) -> None:
    export_neo4j_admin(tables, tmp_path)
    script = (tmp_path / "import.sh").read_text(encoding="utf-8")
    assert script.startswith("#!/bin/sh\n")
    command = shlex.split(script.split('"${1:-neo4j}"', 1)[1].replace("\\\n", " "))
    for option in ("--id-type=string", "--multiline-fields=true", "--legacy-style-quoting=false", '--quote="'):
        assert option in command
    files = {arg.split("=", 2)[1]: arg.split("=", 2)[2] for arg in command if arg.startswith(("--nodes=", "--rel"))}
    assert files == {**{label: f"nodes_{label}.csv" for label in NODE_LABELS},
                     **{t: f"rels_{t}.csv" for t in REL_TYPES}}
    assert 'database import full "${1:-neo4j}"' in script


def test_exports_are_byte_identical_and_checksummed(tables: GraphTables, tmp_path: Path) -> None:
    for name, export in (("csv", export_neo4j_admin), ("parquet", export_parquet)):
        first = export(tables, tmp_path / name / "1")
        second = export(tables, tmp_path / name / "2")
        assert [p.name for p in first] == [p.name for p in second]
        for a, b in zip(first, second, strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name
        lines = (tmp_path / name / "1" / SHA256SUMS).read_text(encoding="utf-8").splitlines()
        listed = [line.split("  ", 1)[1] for line in lines]
        assert listed == sorted(p.name for p in first[:-1])
        for line in lines:
            digest, file_name = line.split("  ", 1)
            assert hashlib.sha256((tmp_path / name / "1" / file_name).read_bytes()).hexdigest() == digest
    one = export_graphml(tables, tmp_path / "g1" / "case.graphml")
    two = export_graphml(tables, tmp_path / "g2" / "case.graphml")
    assert one[0].read_bytes() == two[0].read_bytes()
    assert one[1].read_text(encoding="utf-8") == f"{hashlib.sha256(one[0].read_bytes()).hexdigest()}  case.graphml\n"


def test_empty_graph_exports_are_valid_and_drop_stale_files(tables: GraphTables, tmp_path: Path) -> None:
    export_neo4j_admin(tables, tmp_path)
    written = export_neo4j_admin(graph_tables(FrameSet()), tmp_path)
    assert [p.name for p in written] == ["schema.cypher", "import.sh", SHA256SUMS]
    assert sorted(p.name for p in tmp_path.iterdir()) == [SHA256SUMS, "import.sh", "schema.cypher"]
    assert "--nodes" not in (tmp_path / "import.sh").read_text(encoding="utf-8")
    files = export_parquet(graph_tables(FrameSet()), tmp_path / "pq")
    assert pl.read_parquet(tmp_path / "pq" / "rels_TRANSFER.parquet").schema["value"] == pl.Decimal(38, 0)
    assert len(files) == len(NODE_LABELS) + len(REL_TYPES) + 1


def test_graphml_round_trip(tables: GraphTables, tmp_path: Path) -> None:
    path, _ = export_graphml(tables, tmp_path / "case.graphml")
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    keys = {k.get("id"): (k.get("for"), k.get("attr.name"), k.get("attr.type")) for k in root.findall("g:key", ns)}
    assert keys["n_value"] == ("node", "value", "long")
    assert keys["n_is_coinbase"] == ("node", "is_coinbase", "boolean")
    assert keys["e_value"] == ("edge", "value", "string")  # long on HAS_OUTPUT, decimal string on TRANSFER
    assert keys["n_fee"] == ("node", "fee", "string")
    cast = {"long": int, "boolean": lambda t: t == "true", "string": str, "double": str}

    def props(element: ET.Element) -> dict[str, Any]:
        out = {}
        for data in element.findall("g:data", ns):
            _, name, kind = keys[data.get("key")]
            out[name] = cast[kind](data.text or "")  # type: ignore[operator]
        return out

    graph = root.find("g:graph", ns)
    assert graph is not None and graph.get("edgedefault") == "directed"
    nodes = {n.get("id"): props(n) for n in graph.findall("g:node", ns)}
    for label in NODE_LABELS:
        for row in _text_rows(tables.nodes[label]):
            uid = row.pop("uid")
            got = nodes.pop(uid)
            assert got.pop("labels") == label and got.pop("label") == uid  # no caption in these tables
            if "label" in row:
                row["tag_label"] = row.pop("label")
            assert got == {k: v for k, v in row.items() if v is not None}, label
    assert nodes == {}
    edges = [(e.get("source"), e.get("target"), props(e)) for e in graph.findall("g:edge", ns)]
    for rel_type in REL_TYPES:
        want = []
        for row in _text_rows(tables.rels[rel_type]):
            start, end = row.pop("start"), row.pop("end")
            if "label" in row:
                row["seed_label"] = row.pop("label")
            typed = {k: str(v) if keys[f"e_{k}"][2] == "string" else v for k, v in row.items() if v is not None}
            want.append(_key({"start": start, "end": end, "type": rel_type, "label": rel_type, **typed}))
        got = [_key({"start": s, "end": t, **{k: v for k, v in p.items() if k != "weight"}})
               for s, t, p in edges if p["type"] == rel_type]
        assert sorted(got) == sorted(want), rel_type
    tag_labels = [n for n in ET.parse(path).getroot().iter() if n.get("key") == "n_tag_label"]
    assert HOSTILE_LABEL in [d.text for d in tag_labels]


def test_graphml_gives_readable_labels_and_a_numeric_weight(tables: GraphTables, tmp_path: Path) -> None:
    path, _ = export_graphml(with_captions(tables), tmp_path / "case.graphml")
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    keys = {k.get("id"): (k.get("attr.name"), k.get("attr.type")) for k in root.findall("g:key", ns)}
    assert keys["e_weight"] == ("weight", "double") and keys["n_label"] == ("label", "string")
    edges = root.findall("g:graph/g:edge", ns)
    weights: dict[str, set[tuple[str, str]]] = {}
    for edge in edges:
        data = {str(keys[d.get("key")][0]): str(d.text) for d in edge.findall("g:data", ns)}
        float(data["weight"])  # Gephi reads it as a number
        weights.setdefault(data["type"], set()).add((data["label"], data["weight"]))
    # an output of 0.5 LTC: labelled and weighted in coin units; an edge without amount weighs 1
    assert any(label.endswith("BTC") and weight == label.split()[0] for label, weight in weights["HAS_OUTPUT"])
    assert {w for _, w in weights["LOCKED_TO"]} == {"1"}
    node_labels = {d.text for d in root.iter() if d.get("key") == "n_label"}
    assert HOSTILE_LABEL in node_labels  # a tagged address shows its tag


def test_graphml_refuses_text_xml_cannot_carry(tables: GraphTables, tmp_path: Path) -> None:
    tags = tables.nodes["Tag"].with_columns(pl.lit("bell\x07").alias("label"))
    with pytest.raises(ValueError, match="XML 1.0"):
        export_graphml(GraphTables(nodes={**tables.nodes, "Tag": tags}, rels=tables.rels), tmp_path / "x.graphml")


def test_parquet_keeps_types_and_rows(tables: GraphTables, tmp_path: Path) -> None:
    written = export_parquet(tables, tmp_path)
    assert [p.name for p in written[:-1]] == [f"nodes_{label}.parquet" for label in NODE_LABELS] + [
        f"rels_{t}.parquet" for t in REL_TYPES
    ]
    for label in NODE_LABELS:
        got = pl.read_parquet(tmp_path / f"nodes_{label}.parquet")
        assert got.schema == tables.nodes[label].schema
        assert got.equals(tables.nodes[label].sort("uid")), label
    for rel_type in REL_TYPES:
        got = pl.read_parquet(tmp_path / f"rels_{rel_type}.parquet")
        table = tables.rels[rel_type]
        assert dict(got.schema) == dict(table.schema)
        assert got.equals(got.sort(got.columns, nulls_last=True))
        assert sorted(map(_key, got.iter_rows(named=True))) == sorted(map(_key, table.iter_rows(named=True)))
    transfers = pl.read_parquet(tmp_path / "rels_TRANSFER.parquet")
    assert transfers.schema["value"] == pl.Decimal(38, 0)
    assert Decimal(BIG_TOKEN_VALUE) in transfers["value"].to_list()
    assert str(HUGE_TOKEN_VALUE) in transfers["value_overflow"].to_list()
