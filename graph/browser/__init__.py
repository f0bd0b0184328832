# SPDX-License-Identifier: Apache-2.0
"""Files for analysts who browse the graph in Neo4j Browser: a style sheet and saved queries.

* ``tracer.grass`` -- a Graph Style Sheet (Neo4j Browser manual, "Browser styling" / GraSS;
  https://neo4j.com/docs/browser-manual/current/operations/browser-styling/). Load it with
  ``:style`` and drop the file on the frame. Captions read the ``caption`` property that
  :class:`graph.neo4j_store.Neo4jStore` (and the ``neo4j-admin`` export, :mod:`graph.export`) set.
  The Browser's parser has no comment syntax, so the file's notes sit after its last rule.
* ``queries.cypher`` -- read-only, parameterized queries (``$case``, ``$chain``, ``$address``,
  ``$limit``), each introduced by a ``// name:`` and a ``// description:`` line; see
  :func:`saved_queries`.

Both files ship as package data of ``graph.browser``.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = [
    "GRASS_FILE",
    "QUERIES_FILE",
    "grass_path",
    "queries_path",
    "grass_text",
    "parse_saved_queries",
    "saved_queries",
]

GRASS_FILE = "tracer.grass"
QUERIES_FILE = "queries.cypher"
_NAME = "// name:"
_DESCRIPTION = "// description:"


def _resource(name: str) -> Traversable:
    return files(__name__).joinpath(name)


def _path(name: str) -> Path:
    # installed packages (wheel, editable or source tree) keep package data as real files;
    # as_file only copies it out of a zip import, and then the path lives as long as the process
    with as_file(_resource(name)) as path:
        return Path(path)


def grass_path() -> Path:
    """Path of ``tracer.grass`` (to hand to an analyst or copy next to a case)."""
    return _path(GRASS_FILE)


def queries_path() -> Path:
    """Path of ``queries.cypher``."""
    return _path(QUERIES_FILE)


def grass_text() -> str:
    """The style sheet's text."""
    return _resource(GRASS_FILE).read_text(encoding="utf-8")


def parse_saved_queries(text: str) -> dict[str, tuple[str, str]]:
    """``name -> (description, cypher)`` from the text of a saved-queries file.

    Lines before the first ``// name:`` are the file's header. Each query is a ``// name:`` line,
    then a ``// description:`` line, then the query up to the next ``// name:``; the trailing
    ``;`` and blank lines are dropped.

    Raises
    ------
    ValueError
        A name appears twice, a query has no description line or no text.

    >>> parse_saved_queries("// header\\n// name: q\\n// description: d\\nRETURN $limit;\\n")
    {'q': ('d', 'RETURN $limit')}
    """
    queries: dict[str, tuple[str, str]] = {}
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(_NAME):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    for block in blocks:
        name = block[0][len(_NAME):].strip()
        if not name:
            raise ValueError("a saved query has an empty name")
        if name in queries:
            raise ValueError(f"saved query {name!r} is defined twice")
        if len(block) < 2 or not block[1].startswith(_DESCRIPTION):
            raise ValueError(f"saved query {name!r} has no '{_DESCRIPTION}' line after its name")
        description = block[1][len(_DESCRIPTION):].strip()
        cypher = "\n".join(block[2:]).strip().rstrip(";").strip()
        if not description or not cypher:
            raise ValueError(f"saved query {name!r} has an empty description or query")
        queries[name] = (description, cypher)
    return queries


def saved_queries() -> dict[str, tuple[str, str]]:
    """The shipped saved queries: ``name -> (description, cypher)``, in file order."""
    return parse_saved_queries(_resource(QUERIES_FILE).read_text(encoding="utf-8"))
