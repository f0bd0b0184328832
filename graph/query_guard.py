# SPDX-License-Identifier: Apache-2.0
"""The read-only guard in front of an analyst's Cypher (``tracer graph query``), for every backend.

:func:`check_read_only` refuses, before the query reaches a store: several statements, any clause
that writes or reaches outside the store (``COPY``, ``LOAD FROM`` a file, ``LOAD CSV``,
extensions, ``ATTACH``, other databases, transactions), and ``CALL`` of anything but the
catalog functions. Words inside strings, quoted names and comments are not clauses. Each backend
also runs the query read-only on its side (a ``read_only`` LadybugDB file, a Neo4j ``READ``
session), with :data:`QUERY_TIMEOUT_MS` as the time limit.
"""

from __future__ import annotations

import re

from graph.base import ReadOnlyQueryError

__all__ = ["QUERY_TIMEOUT_MS", "check_read_only"]

#: longest an analyst's query may run
QUERY_TIMEOUT_MS = 120_000

# Clauses an analyst's query may not use: writes, file and network access (COPY ... TO, LOAD FROM
# a file, extensions), other databases, transactions. CALL is allowed only for catalog functions.
_REFUSED_CLAUSES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|ALTER|COPY|LOAD|INSTALL|UNINSTALL|ATTACH|USE|IMPORT|"
    r"EXPORT|CHECKPOINT|BEGIN|COMMIT|ROLLBACK)\b",
    re.IGNORECASE,
)
_CALL = re.compile(r"\bCALL\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_ALLOWED_CALLS = frozenset({"show_tables", "table_info", "show_connection", "current_setting", "db_version"})
#: one token of Cypher text that is not code: a string, a quoted name or a comment (one left-to-right pass)
_NOT_CODE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)


def check_read_only(cypher: str) -> str:
    """The statement to run for an analyst's read-only query, or :class:`ReadOnlyQueryError`.

    Parameters
    ----------
    cypher
        One Cypher statement as the analyst typed it; values travel separately as parameters.

    Returns
    -------
    str
        ``cypher`` without a final ``;`` (one statement ending in ``;`` is fine).

    Raises
    ------
    ReadOnlyQueryError
        Several statements; a clause that writes or reaches outside the store; ``CALL`` of
        anything but the catalog functions (``show_tables``, ``table_info``, ...).

    Examples
    --------
    >>> check_read_only("MATCH (a:Address) RETURN a.address AS address;")
    'MATCH (a:Address) RETURN a.address AS address'
    """
    code = _code_only(cypher)
    if ";" in code.strip().rstrip(";"):
        raise ReadOnlyQueryError("graph query runs one statement: remove the ';' between statements")
    refused = _REFUSED_CLAUSES.search(code)
    if refused:
        raise ReadOnlyQueryError(
            f"graph query is read-only: {refused.group(1).upper()} is not allowed (no writes, files or extensions)"
        )
    for call in _CALL.finditer(code):
        if call.group(1).lower() not in _ALLOWED_CALLS:
            raise ReadOnlyQueryError(f"graph query may CALL only {', '.join(sorted(_ALLOWED_CALLS))}")
    return _without_final_semicolon(cypher)


def _code_only(cypher: str) -> str:
    """The query with strings, quoted names and comments blanked out, in one left-to-right pass
    (so ``'SET'`` in a string is not a clause, and a quote inside a comment hides nothing)."""
    return _NOT_CODE.sub(" ", cypher)


def _without_final_semicolon(cypher: str) -> str:
    """The query without a final ``;`` (one statement ending in ';' is fine)."""
    stripped = cypher.rstrip()
    return stripped[:-1] if stripped.endswith(";") else cypher
