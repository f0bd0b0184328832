# SPDX-License-Identifier: Apache-2.0
"""GraphML for Gephi and other tools (GraphML Primer,
http://graphml.graphdrawing.org/primer/graphml-primer.html: ``<key for= attr.name= attr.type=>``
declarations, ``<data key=>`` values): :func:`export_graphml`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from graph.export_tables import (
    _BOOLEAN,
    _DATETIME,
    _DECIMAL,
    _LONG,
    _STRING,
    ALL_LABELS,
    ALL_TYPES,
    _present,
    _sorted_nodes,
    _sorted_rels,
    _Table,
    write_sha256sums,
)
from graph.model import GraphTables

__all__ = ["export_graphml"]

_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_GRAPHML_SCHEMA = "http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
# characters XML 1.0 cannot carry at all, escaped or not
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# ---------------------------------------------------------------------------------------------
# GraphML


def _xml_text(value: str, where: str) -> str:
    if _XML_INVALID.search(value):
        raise ValueError(
            f"{where} holds a character XML 1.0 cannot represent; export this graph as Parquet or CSV instead"
        )
    return value


def _graphml_value(value: Any, kind: str) -> str:
    if kind == _BOOLEAN:
        return "true" if value else "false"
    if kind == _LONG:
        return str(int(value))
    return str(value)


# a carriage return would be normalised away by any XML parser unless written as a character reference
_TEXT_ENTITIES = {"\r": "&#13;"}
_ATTR_ENTITIES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_GRAPHML_TYPES = {_LONG: "long", _BOOLEAN: "boolean", _STRING: "string", _DECIMAL: "string", _DATETIME: "string"}


#: attributes every node / edge gets (what Gephi reads: ``label`` for both, ``weight`` for edges)
_NODE_FIXED = {"labels": "string", "label": "string"}
_EDGE_FIXED = {"type": "string", "label": "string", "weight": "double"}
#: the exact amount property of an edge, and its coin-unit text beside it, for ``weight``
_WEIGHTS = (("amount", "amount_coins"), ("value", "value_coins"), ("taint", None))


def _graphml_keys(tables: list[tuple[str, _Table]], fixed: dict[str, str], skip: tuple[str, ...]) -> dict[str, str]:
    """attribute name -> GraphML type; a name with different types in different tables becomes string."""
    keys: dict[str, str] = dict(fixed)
    for _, table in tables:
        for column in table.columns:
            if column in skip:
                continue
            name = _graphml_name(table.name, column, fixed)
            kind = _GRAPHML_TYPES[table.kinds[column]]
            keys[name] = kind if keys.get(name, kind) == kind else "string"
    return keys


def _graphml_name(table: str, column: str, fixed: dict[str, str]) -> str:
    """A property spelled like a fixed attribute is renamed ``<table>_<column>`` (``Tag.label`` ->
    ``tag_label``, ``SEED.label`` -> ``seed_label``)."""
    return f"{table.lower()}_{column}" if column in fixed else column


def _weight(row: dict[str, Any]) -> str:
    """An edge's layout weight: its amount in coin units where known (exact decimal text, read as a
    double by Gephi), else in base units; 1 for an edge without an amount. Never evidence: the exact
    amount is the edge's ``amount``/``value`` attribute."""
    for exact, coins in _WEIGHTS:
        if row.get(exact) is not None:
            return str(row[coins]) if coins and row.get(coins) is not None else str(row[exact])
    return "1"


def _check_unique_ids(tables: GraphTables) -> None:
    seen: dict[str, str] = {}
    for label, frame in _present(tables.nodes, ALL_LABELS):
        for uid in frame["uid"].to_list():
            if uid in seen and seen[uid] != label:
                raise ValueError(f"uid {uid!r} is both a {seen[uid]} and a {label}; GraphML node ids must be unique")
            seen[uid] = label


def export_graphml(tables: GraphTables, path: Path | str) -> list[Path]:
    """Write the graph as one GraphML file (directed) and ``<file>.sha256``.

    Node ids are the model's ``uid``. Each node has ``labels`` (its Neo4j label), ``label`` (its
    ``caption`` when the tables carry one -- :func:`graph.export.with_captions` -- else its uid: what
    Gephi shows) and its properties. Each edge has ``type`` (relationship type), ``label`` (its
    caption, else its type), ``weight`` (:func:`_weight`: coin units of its amount, Gephi sizes edges
    by it) and its properties. A property spelled like one of these (``Tag.label``, ``SEED.label``,
    ``REACHED.label``) is written as ``<table>_<name>`` (``tag_label``). Attributes are declared once
    per name with ``attr.type`` ``long``, ``boolean``, ``double`` (``weight``) or ``string``; exact
    decimal amounts are strings, and a name whose type differs between labels or types (``value``:
    long on ``HAS_OUTPUT``, decimal string on ``TRANSFER``) is declared ``string``. Null properties
    are omitted.

    Raises
    ------
    ValueError
        Two labels share a uid (GraphML ids are global), or a text holds a character XML 1.0 cannot
        carry (e.g. U+0000; the CSV and Parquet exports keep it).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    node_tables = [(label, _Table(label, _sorted_nodes(f))) for label, f in _present(tables.nodes, ALL_LABELS)]
    rel_tables = [(t, _Table(t, _sorted_rels(f))) for t, f in _present(tables.rels, ALL_TYPES)]
    node_keys = _graphml_keys(node_tables, _NODE_FIXED, ("uid",))
    edge_keys = _graphml_keys(rel_tables, _EDGE_FIXED, ("start", "end"))
    _check_unique_ids(tables)

    def data(domain: str, name: str, text: str, where: str) -> str:
        return f'<data key="{domain[0]}_{name}">{escape(_xml_text(text, where), _TEXT_ENTITIES)}</data>'

    def attr(value: str, where: str) -> str:
        return quoteattr(_xml_text(value, where), _ATTR_ENTITIES)

    def properties(domain: str, table: _Table, row: dict[str, Any], skip: tuple[str, ...], where: str) -> list[str]:
        fixed = _NODE_FIXED if domain == "node" else _EDGE_FIXED
        return [data(domain, _graphml_name(table.name, c, fixed), _graphml_value(row[c], table.kinds[c]),
                     f"{where}.{c}") for c in table.columns if c not in skip and row[c] is not None]

    with target.open("wb") as handle:

        def put(line: str) -> None:
            handle.write((line + "\n").encode("utf-8"))

        put('<?xml version="1.0" encoding="UTF-8"?>')
        put(f'<graphml xmlns="{_GRAPHML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{_GRAPHML_SCHEMA}">')
        for domain, keys in (("node", node_keys), ("edge", edge_keys)):
            for name, kind in keys.items():
                put(f'  <key id="{domain[0]}_{name}" for="{domain}" attr.name="{name}" attr.type="{kind}"/>')
        put('  <graph id="G" edgedefault="directed">')
        for label, table in node_tables:
            for row in table.rows():
                where = f"{label} {row['uid']!r}"
                parts = [f"    <node id={attr(row['uid'], where)}>", data("node", "labels", label, where),
                         data("node", "label", str(row.get("caption") or row["uid"]), where)]
                put("".join(parts + properties("node", table, row, ("uid",), where)) + "</node>")
        edge_number = 0
        for rel_type, table in rel_tables:
            for row in table.rows():
                where = f"{rel_type} {row['start']!r}->{row['end']!r}"
                parts = [
                    f'    <edge id="e{edge_number}" source={attr(row["start"], where)} '
                    f'target={attr(row["end"], where)}>',
                    data("edge", "type", rel_type, where),
                    data("edge", "label", str(row.get("caption") or rel_type), where),
                    data("edge", "weight", _weight(row), where),
                ]
                put("".join(parts + properties("edge", table, row, ("start", "end"), where)) + "</edge>")
                edge_number += 1
        put("  </graph>")
        put("</graphml>")
    sums = write_sha256sums(target.parent, [target], name=target.name + ".sha256")
    return [target, sums]
