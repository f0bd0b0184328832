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

import shlex
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from graph.captions import Tokens
from graph.export_graphml import export_graphml
from graph.export_readable import with_captions
from graph.export_tables import (
    _BOOLEAN,
    _DATETIME,
    _LONG,
    _STRING,
    ALL_LABELS,
    ALL_TYPES,
    SHA256SUMS,
    _present,
    _remove_stale,
    _sorted_nodes,
    _sorted_rels,
    _Table,
    _write_text,
    file_sha256,
    node_file_name,
    rel_file_name,
    write_sha256sums,
)
from graph.model import ALL_REL_ENDPOINTS, GraphTables
from graph.neo4j_schema import schema_statements
from tracer.chains import ChainRegistry

__all__ = [
    "IMPORT_SCRIPT",
    "SHA256SUMS",
    "NEO4J_IMPORT_OPTIONS",
    "export_neo4j_admin",
    "export_graphml",
    "export_parquet",
    "neo4j_import_command",
    "with_captions",
    "SCHEMA_FILE",
    "node_file_name",
    "rel_file_name",
    "file_sha256",
    "write_sha256sums",
]

IMPORT_SCRIPT = "import.sh"
#: the constraints and indexes of the graph, as Cypher (``cypher-shell -f``, or ``--schema`` of the importer)
SCHEMA_FILE = "schema.cypher"
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
    # strings and exact decimals are plain (string) columns; integers long; flags boolean; times datetime
    return f"{column}:{kind}" if kind in (_LONG, _BOOLEAN, _DATETIME) else column


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
    start_label, end_label = ALL_REL_ENDPOINTS[rel_type]
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
        "# then, in the system database: CREATE DATABASE <database>, and create the constraints and indexes:\n"
        "#   cypher-shell -d <database> -f schema.cypher\n"
        "# (or pass --schema=schema.cypher to this command where your importer accepts it: block format).\n"
        "# Ids are strings in one id space per label (uid:ID(Label)); big amounts are exact decimal strings.\n"
        "# Check the files first: sha256sum -c SHA256SUMS\n"
        "set -eu\n"
        'cd "$(dirname "$0")"\n'
        'exec "${NEO4J_ADMIN:-neo4j-admin}" database import full "${1:-neo4j}" \\\n'
        f"  {body}\n"
    )


def export_neo4j_admin(
    tables: GraphTables,
    out_dir: Path | str,
    *,
    captions: bool = True,
    registry: ChainRegistry | None = None,
    tokens: Tokens | None = None,
    on_table: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write ``neo4j-admin database import full`` CSV files, ``schema.cypher``, ``import.sh`` and ``SHA256SUMS``.

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
    registry, tokens
        Chains and token metadata for captions and coin units (symbols, decimals); the built-in
        registry by default.
    on_table
        Called with the number of rows of each file written (a progress bar).

    Returns
    -------
    list[Path]
        ``nodes_<Label>.csv`` (model label order, then ``Trace``), ``rels_<TYPE>.csv`` (model type
        order, then ``RAN``, ``REACHED``, ``TRACED``, ``FLOW``), ``schema.cypher`` (the constraints
        and indexes, :func:`graph.neo4j_schema.schema_statements`), ``import.sh``, ``SHA256SUMS``.
        Empty tables get no file.

    Notes
    -----
    Node files: ``uid:ID(<Label>)``, the label's properties, ``:LABEL``. Relationship files:
    ``:START_ID(<StartLabel>)``, ``:END_ID(<EndLabel>)``, ``:TYPE``, properties. Integer columns
    are ``:long``, flags ``:boolean``, times ``:datetime`` (UTC), everything else (text and exact
    decimal amounts) plain strings. Strings are always quoted, so an empty string and a missing
    property differ.
    """
    if captions:
        tables = with_captions(tables, registry, tokens)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    node_files: dict[str, str] = {}
    rel_files: dict[str, str] = {}
    for label, frame in _present(tables.nodes, ALL_LABELS):
        name = node_file_name(label, "csv")
        written.append(_node_csv(out / name, label, frame))
        node_files[label] = name
        if on_table:
            on_table(frame.height)
    for rel_type, frame in _present(tables.rels, ALL_TYPES):
        if rel_type not in ALL_REL_ENDPOINTS:
            raise ValueError(f"relationship type {rel_type!r} is not in the graph model")
        name = rel_file_name(rel_type, "csv")
        written.append(_rel_csv(out / name, rel_type, frame))
        rel_files[rel_type] = name
        if on_table:
            on_table(frame.height)
    _remove_stale(out, "csv", {p.name for p in written})
    schema = "".join(f"{statement};\n" for statement in schema_statements())
    written.append(_write_text(out / SCHEMA_FILE, schema))
    written.append(_write_text(out / IMPORT_SCRIPT, _import_script(node_files, rel_files)))
    written.append(write_sha256sums(out, written))
    return written


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
    node_order = list(ALL_LABELS) + sorted(n for n in tables.nodes if n not in ALL_LABELS)
    rel_order = list(ALL_TYPES) + sorted(t for t in tables.rels if t not in ALL_TYPES)
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
