# SPDX-License-Identifier: Apache-2.0
"""Write the graph model (:func:`graph.model.graph_tables`) as files other tools open.

Three pure writers over :class:`graph.model.GraphTables`; each writes only to the path it is given,
and the same tables always give the same bytes (rows sorted, columns in a fixed order, no clock,
host or version inside the files), so an export can be hashed and cited in a case file:

* :func:`export_neo4j_admin` -- CSV files and an ``import.sh`` for the Neo4j 5 offline bulk importer,
  ``neo4j-admin database import full`` (Neo4j Operations Manual, "Import", sections "CSV header format"
  -- ``:ID(<id space>)``, ``:START_ID(<id space>)``, ``:END_ID(<id space>)``, ``:LABEL``, ``:TYPE``,
  ``name:long`` / ``name:boolean`` property columns -- and "Options": ``--id-type``,
  ``--multiline-fields``, ``--legacy-style-quoting``, ...;
  https://neo4j.com/docs/operations-manual/current/import/).
* :func:`export_graphml` -- one GraphML file for Gephi and other tools (GraphML Primer,
  http://graphml.graphdrawing.org/primer/graphml-primer.html: ``<key for= attr.name= attr.type=>``
  declarations, ``<data key=>`` values).
* :func:`export_parquet` -- one Parquet file per node label and relationship type, with the
  canonical column types (``Decimal(38, 0)`` amounts stay decimal).

Amounts are never floats. UTXO values (``Int64`` satoshi) are ``long`` columns. Account-model
amounts and fees are ``Decimal(38, 0)`` plus, for the rare uint256 at or above 10**38,
``value_overflow`` text (``tracer/units.py``); Neo4j and GraphML hold at most a signed 64-bit
integer, so the CSV and GraphML exports write each such amount as one exact decimal **string**
(``value`` = :func:`tracer.units.join_from_frame` of ``value``/``value_overflow``; the
``value_overflow`` column is then dropped). Parquet keeps the frame encoding as it is.

Every directory export also writes ``SHA256SUMS`` (``sha256sum -c`` format, sorted by file name)
over the files it wrote; :func:`export_graphml` writes the same line to ``<file>.sha256``. Each
function returns the paths it wrote, ``SHA256SUMS`` last. Use one directory per format: a second
export into the same directory replaces its ``SHA256SUMS``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import polars as pl

from graph.model import NODE_LABELS, REL_ENDPOINTS, REL_TYPES, GraphTables
from tracer.chains import ChainRegistry, default_registry
from tracer.schema import NATIVE_ASSET
from tracer.units import join_from_frame

__all__ = [
    "IMPORT_SCRIPT",
    "SHA256SUMS",
    "NEO4J_IMPORT_OPTIONS",
    "export_neo4j_admin",
    "export_graphml",
    "export_parquet",
    "neo4j_import_command",
    "with_captions",
    "node_file_name",
    "rel_file_name",
    "file_sha256",
    "write_sha256sums",
]

IMPORT_SCRIPT = "import.sh"
SHA256SUMS = "SHA256SUMS"
#: Options the CSV files rely on: string ids in one id space per label; RFC 4180 quoting (a quote
#: inside a field is doubled, a backslash is an ordinary character -- so legacy ``\"`` escaping must
#: be off); fields may span lines (tag labels can hold newlines); an empty quoted field ``""`` is an
#: empty string and an empty unquoted field is "no property". No column is an array; the array
#: delimiter is set only so that no default can change under us.
NEO4J_IMPORT_OPTIONS: tuple[str, ...] = (
    "--id-type=string",
    "--input-encoding=UTF-8",
    "--delimiter=,",
    "--array-delimiter=;",
    '--quote="',
    "--legacy-style-quoting=false",
    "--multiline-fields=true",
    "--ignore-empty-strings=false",
    "--trim-strings=false",
    "--skip-bad-relationships=false",
    "--skip-duplicate-nodes=false",
)

_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_GRAPHML_SCHEMA = "http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
# characters XML 1.0 cannot carry at all, escaped or not
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# column kinds: how a polars column is written outside Parquet
_LONG, _BOOLEAN, _STRING, _DECIMAL = "long", "boolean", "string", "decimal"


# ---------------------------------------------------------------------------------------------
# shared: which tables, in which order, with which columns


def node_file_name(label: str, suffix: str) -> str:
    """``nodes_<Label>.<suffix>``."""
    return f"nodes_{label}.{suffix}"


def rel_file_name(rel_type: str, suffix: str) -> str:
    """``rels_<TYPE>.<suffix>``."""
    return f"rels_{rel_type}.{suffix}"


def _column_kind(dtype: pl.DataType, where: str) -> str:
    if dtype == pl.Boolean:
        return _BOOLEAN
    if dtype.is_integer():
        return _LONG
    if isinstance(dtype, pl.Decimal):
        return _DECIMAL
    if dtype in (pl.String, pl.Null):
        return _STRING
    raise TypeError(f"{where} has type {dtype}, which the graph exports do not write (floats are never amounts)")


def _sorted_nodes(frame: pl.DataFrame) -> pl.DataFrame:
    """``uid`` first, the model's column order after it, rows by ``uid``."""
    columns = ["uid", *[c for c in frame.columns if c != "uid"]]
    return frame.select(columns).sort(columns, nulls_last=True)


def _sorted_rels(frame: pl.DataFrame) -> pl.DataFrame:
    """``start``, ``end`` first, the model's column order after; rows by every column."""
    columns = ["start", "end", *[c for c in frame.columns if c not in ("start", "end")]]
    return frame.select(columns).sort(columns, nulls_last=True)


def _present(tables: dict[str, pl.DataFrame], names: Sequence[str]) -> Iterator[tuple[str, pl.DataFrame]]:
    """Known tables in model order, then any others by name; empty ones skipped."""
    order = [n for n in names if n in tables] + sorted(n for n in tables if n not in names)
    for name in order:
        if tables[name].height:
            yield name, tables[name]


class _Table:
    """A table prepared for the text exports: fixed columns, kinds, rows with exact amounts."""

    def __init__(self, name: str, frame: pl.DataFrame) -> None:
        self.name = name
        joined = "value" in frame.columns and "value_overflow" in frame.columns
        self.columns = [c for c in frame.columns if not (joined and c == "value_overflow")]
        self.kinds = {c: _column_kind(frame.schema[c], f"{name}.{c}") for c in self.columns}
        self._frame = frame
        self._joined = joined

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts; decimals as exact integer text, ``value``/``value_overflow`` joined."""
        for row in self._frame.iter_rows(named=True):
            out: dict[str, Any] = {}
            for column in self.columns:
                value = row[column]
                if self._joined and column == "value":
                    if value is None and row["value_overflow"] is None:
                        out[column] = None
                    else:
                        out[column] = str(join_from_frame(value, row["value_overflow"]))
                    continue
                if value is not None and self.kinds[column] == _DECIMAL:
                    value = str(join_from_frame(value, None))
                out[column] = value
            yield out


# ---------------------------------------------------------------------------------------------
# checksums


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sha256sums(out_dir: Path, files: Iterable[Path], name: str = SHA256SUMS) -> Path:
    """Write ``<sha256>  <file name>`` lines (``sha256sum -c`` format), sorted by name; returns the path."""
    lines = [f"{file_sha256(f)}  {f.name}\n" for f in sorted(files, key=lambda f: f.name) if f.name != name]
    target = Path(out_dir) / name
    target.write_bytes("".join(lines).encode("utf-8"))
    return target


def _write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _remove_stale(out_dir: Path, suffix: str, written: set[str]) -> None:
    """Remove our own files for labels/types that are empty now (never any other file)."""
    names = [node_file_name(label, suffix) for label in NODE_LABELS]
    names += [rel_file_name(rel_type, suffix) for rel_type in REL_TYPES]
    for name in names:
        stale = out_dir / name
        if name not in written and stale.is_file():
            stale.unlink()


# ---------------------------------------------------------------------------------------------
# neo4j-admin


def _csv_field(value: Any, kind: str) -> str:
    """One CSV field: strings always quoted (RFC 4180, quotes doubled), null as an empty field."""
    if value is None:
        return ""
    if kind == _BOOLEAN:
        return "true" if value else "false"
    if kind == _LONG:
        return str(int(value))
    text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _header_field(column: str, kind: str) -> str:
    # strings and exact decimals are plain (string) columns; integers long; flags boolean
    return f"{column}:{kind}" if kind in (_LONG, _BOOLEAN) else column


def _write_csv(path: Path, header: list[str], lines: Iterable[str]) -> Path:
    with path.open("wb") as handle:
        handle.write((",".join(header) + "\n").encode("utf-8"))
        for line in lines:
            handle.write((line + "\n").encode("utf-8"))
    return path


def _node_csv(path: Path, label: str, frame: pl.DataFrame) -> Path:
    table = _Table(label, _sorted_nodes(frame))
    props = [c for c in table.columns if c != "uid"]
    header = [f"uid:ID({label})", *[_header_field(c, table.kinds[c]) for c in props], ":LABEL"]

    def lines() -> Iterator[str]:
        for row in table.rows():
            fields = [_csv_field(row["uid"], _STRING)]
            fields += [_csv_field(row[c], table.kinds[c]) for c in props]
            fields.append(_csv_field(label, _STRING))
            yield ",".join(fields)

    return _write_csv(path, header, lines())


def _rel_csv(path: Path, rel_type: str, frame: pl.DataFrame) -> Path:
    start_label, end_label = REL_ENDPOINTS[rel_type]
    table = _Table(rel_type, _sorted_rels(frame))
    props = [c for c in table.columns if c not in ("start", "end")]
    header = [f":START_ID({start_label})", f":END_ID({end_label})", ":TYPE"]
    header += [_header_field(c, table.kinds[c]) for c in props]

    def lines() -> Iterator[str]:
        for row in table.rows():
            fields = [_csv_field(row["start"], _STRING), _csv_field(row["end"], _STRING), _csv_field(rel_type, _STRING)]
            fields += [_csv_field(row[c], table.kinds[c]) for c in props]
            yield ",".join(fields)

    return _write_csv(path, header, lines())


def neo4j_import_command(node_files: dict[str, str], rel_files: dict[str, str], database: str = "neo4j") -> list[str]:
    """The ``neo4j-admin database import full`` argument list for these files (label/type -> file name).

    The database name comes right after ``full``: the ``--nodes``/``--relationships`` options take
    several values, so a trailing positional argument would be read as one more file.
    """
    command = ["neo4j-admin", "database", "import", "full", database, *NEO4J_IMPORT_OPTIONS]
    command += [f"--nodes={label}={name}" for label, name in node_files.items()]
    command += [f"--relationships={rel_type}={name}" for rel_type, name in rel_files.items()]
    return command


def _import_script(node_files: dict[str, str], rel_files: dict[str, str]) -> str:
    args = neo4j_import_command(node_files, rel_files)[5:]  # options and files; database is $1
    body = " \\\n  ".join(shlex.quote(arg) for arg in args)
    return (
        "#!/bin/sh\n"
        "# SPDX-License-Identifier: Apache-2.0\n"
        "# Written by graph/export.py (tracer). Bulk-imports the CSV files next to this script into a NEW,\n"
        "# EMPTY Neo4j 5 database with the offline importer (the DBMS may run; the database must not exist):\n"
        "#   NEO4J_ADMIN=$NEO4J_HOME/bin/neo4j-admin sh import.sh [database]   (default database: neo4j)\n"
        "# then, in the system database: CREATE DATABASE <database>.\n"
        "# Ids are strings in one id space per label (uid:ID(Label)); big amounts are exact decimal strings.\n"
        "# Check the files first: sha256sum -c SHA256SUMS\n"
        "set -eu\n"
        'cd "$(dirname "$0")"\n'
        'exec "${NEO4J_ADMIN:-neo4j-admin}" database import full "${1:-neo4j}" \\\n'
        f"  {body}\n"
    )


def with_captions(tables: GraphTables, registry: ChainRegistry | None = None) -> GraphTables:
    """The same tables plus the ``caption`` column the Neo4j backend sets (:func:`graph.captions.caption`).

    Every node label gets ``caption``, and so does ``TRANSFER``; an Address shows its (smallest)
    tag label, a Transaction the total of its outputs or of its native transfers, in coin units.
    Computed from the tables alone, exactly as :class:`graph.neo4j_store.Neo4jStore` computes it
    from the frames, so a bulk-imported graph looks like a loaded one in Neo4j Browser.
    """
    from graph.captions import caption  # the one caption rule

    chains = registry or default_registry()
    totals: dict[str, int] = {}
    outputs = tables.rels.get("HAS_OUTPUT")
    if outputs is not None:
        for start, value in outputs.select("start", "value").iter_rows():
            totals[start] = totals.get(start, 0) + int(value)
    transfers = tables.rels.get("TRANSFER")
    if transfers is not None:
        natives = transfers.filter(pl.col("kind") == NATIVE_ASSET)
        for chain, txid, value, overflow in natives.select("chain", "txid", "value", "value_overflow").iter_rows():
            uid = f"{chain}:{txid}"
            totals[uid] = totals.get(uid, 0) + join_from_frame(value, overflow)
    tag_labels: dict[tuple[str, str], str] = {}
    tags = tables.nodes.get("Tag")
    if tags is not None:
        for chain, address, label in tags.select("chain", "address", "label").iter_rows():
            key = (chain, address)
            tag_labels[key] = min(label, tag_labels.get(key, label))

    def node_caption(label: str, record: dict[str, Any]) -> str:
        if label == "Transaction":
            record = {**record, "total": totals.get(record["uid"])}
        elif label == "Address":
            record = {**record, "tag_label": tag_labels.get((record["chain"], record["address"]))}
        return caption(label, record, chains)

    nodes = {
        label: frame.with_columns(
            pl.Series("caption", [node_caption(label, r) for r in frame.iter_rows(named=True)], dtype=pl.String)
        )
        for label, frame in tables.nodes.items()
    }
    rels = dict(tables.rels)
    if transfers is not None:
        texts = [
            caption("TRANSFER", {**r, "value": join_from_frame(r["value"], r["value_overflow"])}, chains)
            for r in transfers.iter_rows(named=True)
        ]
        rels["TRANSFER"] = transfers.with_columns(pl.Series("caption", texts, dtype=pl.String))
    return GraphTables(nodes=nodes, rels=rels)


def export_neo4j_admin(
    tables: GraphTables,
    out_dir: Path | str,
    *,
    captions: bool = True,
    registry: ChainRegistry | None = None,
) -> list[Path]:
    """Write ``neo4j-admin database import full`` CSV files, ``import.sh`` and ``SHA256SUMS``.

    Parameters
    ----------
    tables
        The graph, from :func:`graph.model.graph_tables`.
    out_dir
        Directory to write into (created if missing). Only files of this export are written, and
        node/relationship files of this export's naming left from an earlier export whose table is
        now empty are removed, so ``SHA256SUMS`` and ``import.sh`` describe the directory exactly.
    captions
        Add the ``caption`` column the Neo4j backend sets (:func:`with_captions`), so the Browser
        style sheet ``graph/browser/tracer.grass`` shows the same captions after a bulk import.
    registry
        Chains for captions (symbols, decimals); the built-in registry by default.

    Returns
    -------
    list[Path]
        ``nodes_<Label>.csv`` (model label order), ``rels_<TYPE>.csv`` (model type order),
        ``import.sh``, ``SHA256SUMS``. Empty tables get no file.

    Notes
    -----
    Node files: ``uid:ID(<Label>)``, the label's properties, ``:LABEL``. Relationship files:
    ``:START_ID(<StartLabel>)``, ``:END_ID(<EndLabel>)``, ``:TYPE``, properties. Integer columns
    are ``:long``, flags ``:boolean``, everything else (text and exact decimal amounts) plain
    strings. Strings are always quoted, so an empty string and a missing property differ.
    """
    if captions:
        tables = with_captions(tables, registry)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    node_files: dict[str, str] = {}
    rel_files: dict[str, str] = {}
    for label, frame in _present(tables.nodes, NODE_LABELS):
        name = node_file_name(label, "csv")
        written.append(_node_csv(out / name, label, frame))
        node_files[label] = name
    for rel_type, frame in _present(tables.rels, REL_TYPES):
        if rel_type not in REL_ENDPOINTS:
            raise ValueError(f"relationship type {rel_type!r} is not in the graph model")
        name = rel_file_name(rel_type, "csv")
        written.append(_rel_csv(out / name, rel_type, frame))
        rel_files[rel_type] = name
    _remove_stale(out, "csv", {p.name for p in written})
    written.append(_write_text(out / IMPORT_SCRIPT, _import_script(node_files, rel_files)))
    written.append(write_sha256sums(out, written))
    return written


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
_GRAPHML_TYPES = {_LONG: "long", _BOOLEAN: "boolean", _STRING: "string", _DECIMAL: "string"}


def _graphml_keys(tables: list[tuple[str, _Table]], reserved: str, skip: tuple[str, ...]) -> dict[str, str]:
    """attribute name -> GraphML type; a name with different types in different tables becomes string."""
    keys: dict[str, str] = {reserved: "string"}
    for _, table in tables:
        for column in table.columns:
            if column in skip:
                continue
            name = _graphml_name(table.name, column, reserved)
            kind = _GRAPHML_TYPES[table.kinds[column]]
            keys[name] = kind if keys.get(name, kind) == kind else "string"
    return keys


def _graphml_name(table: str, column: str, reserved: str) -> str:
    """A property spelled like the reserved attribute is renamed ``<table>_<column>`` (SEED.label)."""
    return f"{table.lower()}_{column}" if column == reserved else column


def export_graphml(tables: GraphTables, path: Path | str) -> list[Path]:
    """Write the graph as one GraphML file (directed) and ``<file>.sha256``.

    Node ids are the model's ``uid``; each node has a ``labels`` attribute (its label) and its
    properties. Each edge has ``label`` = relationship type (what Gephi shows) and its properties;
    a relationship property called ``label`` (``SEED.label``) is written as ``seed_label``.
    Attributes are declared once per name with ``attr.type`` ``long``, ``boolean`` or ``string``;
    exact decimal amounts are strings, and a name whose type differs between labels or types
    (``value``: long on ``OUTPUT``, decimal string on ``TRANSFER``) is declared ``string``.
    Null properties are omitted.

    Raises
    ------
    ValueError
        Two labels share a uid (GraphML ids are global), or a text holds a character XML 1.0 cannot
        carry (e.g. U+0000; the CSV and Parquet exports keep it).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    node_tables = [(label, _Table(label, _sorted_nodes(f))) for label, f in _present(tables.nodes, NODE_LABELS)]
    rel_tables = [(t, _Table(t, _sorted_rels(f))) for t, f in _present(tables.rels, REL_TYPES)]
    node_keys = _graphml_keys(node_tables, "labels", ("uid",))
    edge_keys = _graphml_keys(rel_tables, "label", ("start", "end"))
    seen: dict[str, str] = {}
    for label, frame in _present(tables.nodes, NODE_LABELS):
        for uid in frame["uid"].to_list():
            if uid in seen and seen[uid] != label:
                raise ValueError(f"uid {uid!r} is both a {seen[uid]} and a {label}; GraphML node ids must be unique")
            seen[uid] = label

    def key_id(domain: str, name: str) -> str:
        return f"{domain[0]}_{name}"

    def data(domain: str, name: str, text: str, where: str) -> str:
        return f'<data key="{key_id(domain, name)}">{escape(_xml_text(text, where), _TEXT_ENTITIES)}</data>'

    def attr(value: str, where: str) -> str:
        return quoteattr(_xml_text(value, where), _ATTR_ENTITIES)

    with target.open("wb") as handle:

        def put(line: str) -> None:
            handle.write((line + "\n").encode("utf-8"))

        put('<?xml version="1.0" encoding="UTF-8"?>')
        put(f'<graphml xmlns="{_GRAPHML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{_GRAPHML_SCHEMA}">')
        for domain, keys in (("node", node_keys), ("edge", edge_keys)):
            for name, kind in keys.items():
                put(f'  <key id="{key_id(domain, name)}" for="{domain}" attr.name="{name}" attr.type="{kind}"/>')
        put('  <graph id="G" edgedefault="directed">')
        for label, table in node_tables:
            for row in table.rows():
                where = f"{label} {row['uid']!r}"
                parts = [f"    <node id={attr(row['uid'], where)}>", data("node", "labels", label, where)]
                for column in table.columns:
                    if column != "uid" and row[column] is not None:
                        text = _graphml_value(row[column], table.kinds[column])
                        parts.append(data("node", column, text, f"{where}.{column}"))
                put("".join(parts) + "</node>")
        edge_number = 0
        for rel_type, table in rel_tables:
            for row in table.rows():
                where = f"{rel_type} {row['start']!r}->{row['end']!r}"
                parts = [
                    f'    <edge id="e{edge_number}" source={attr(row["start"], where)} '
                    f'target={attr(row["end"], where)}>',
                    data("edge", "label", rel_type, where),
                ]
                for column in table.columns:
                    if column not in ("start", "end") and row[column] is not None:
                        text = _graphml_value(row[column], table.kinds[column])
                        name = _graphml_name(rel_type, column, "label")
                        parts.append(data("edge", name, text, f"{where}.{column}"))
                put("".join(parts) + "</edge>")
                edge_number += 1
        put("  </graph>")
        put("</graphml>")
    sums = write_sha256sums(target.parent, [target], name=target.name + ".sha256")
    return [target, sums]


# ---------------------------------------------------------------------------------------------
# Parquet


def export_parquet(tables: GraphTables, out_dir: Path | str) -> list[Path]:
    """Write ``nodes_<Label>.parquet`` and ``rels_<TYPE>.parquet`` (polars, zstd) and ``SHA256SUMS``.

    Columns are those of :func:`graph.model.graph_tables` with their canonical types
    (``Decimal(38, 0)`` amounts and ``value_overflow`` text unchanged), ``uid`` or ``start``/``end``
    first; rows sorted. Unlike the CSV export, an empty table still gets a file (zero rows, full
    schema), so readers always find every label and type of the model.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    node_order = list(NODE_LABELS) + sorted(n for n in tables.nodes if n not in NODE_LABELS)
    rel_order = list(REL_TYPES) + sorted(t for t in tables.rels if t not in REL_TYPES)
    for label in node_order:
        if label in tables.nodes:
            path = out / node_file_name(label, "parquet")
            _sorted_nodes(tables.nodes[label]).write_parquet(path, compression="zstd", statistics=True)
            written.append(path)
    for rel_type in rel_order:
        if rel_type in tables.rels:
            path = out / rel_file_name(rel_type, "parquet")
            _sorted_rels(tables.rels[rel_type]).write_parquet(path, compression="zstd", statistics=True)
            written.append(path)
    _remove_stale(out, "parquet", {p.name for p in written})
    written.append(write_sha256sums(out, written))
    return written
