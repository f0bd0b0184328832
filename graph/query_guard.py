# SPDX-License-Identifier: Apache-2.0
"""The read-only guard in front of an analyst's Cypher (``tracer graph query``), for every backend.

:func:`check_read_only` refuses, before the query reaches a store: several statements, any clause
that writes or reaches outside the store (``COPY``, ``LOAD FROM`` a file, ``LOAD CSV``,
extensions, ``ATTACH``, other databases, transactions), any function that reads files
(``READ_CSV*``, ``READ_PARQUET``, ``READ_JSON*``, ``*_SCAN``, ...) wherever it is called, and ``CALL``
of anything but the catalog functions. Words inside strings and comments are not clauses.

The query is read as tokens, the way the Cypher lexer reads it: strings (with backslash escapes),
comments, backquoted names (`` `a``b` ``), words. A backquoted name is a name like any other, so
`` CALL `show_functions`() `` is the call it looks like (and refused), while `` AS `create` `` is
only an alias. Each backend also runs the query read-only on its side (a ``read_only`` LadybugDB
file, a Neo4j ``READ`` session), with :data:`QUERY_TIMEOUT_MS` as the time limit; LadybugDB's
read-only mode still reads files (``LOAD FROM``, ``READ_CSV_SERIAL``, which crashes the process on
a non-CSV file), so this guard is what keeps them out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from graph.base import ReadOnlyQueryError
from tracer.errors import InputError

__all__ = ["QUERY_TIMEOUT_MS", "check_read_only", "check_parameters"]

#: longest an analyst's query may run
QUERY_TIMEOUT_MS = 120_000

# Clauses an analyst's query may not use: writes, file and network access (COPY ... TO, LOAD FROM
# a file, extensions), other databases, transactions. CALL is allowed only for catalog functions.
_REFUSED_CLAUSES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|ALTER|COPY|LOAD|INSTALL|UNINSTALL|ATTACH|USE|IMPORT|"
    r"EXPORT|CHECKPOINT|BEGIN|COMMIT|ROLLBACK)\b",
    re.IGNORECASE,
)
_ALLOWED_CALLS = frozenset({"show_tables", "table_info", "show_connection", "current_setting", "db_version"})
#: functions (table or scalar, of the core or of an extension) that read a file or another database:
#: READ_CSV_SERIAL, READ_PARQUET, READ_JSON_OBJECTS, COPY_CSV, SQLITE_SCAN, DELTA_SCAN, GLOB, ...
_FILE_FUNCTION = re.compile(
    r"(READ|COPY|LOAD|IMPORT|EXPORT|ATTACH|DETACH|INSTALL|SCAN|GLOB|FILE|FILES)(_\w*)?"
    r"|\w*_(SCAN|READ|READER|FILE|FILES|CSV|PARQUET|JSON|NPY|PANDAS|ARROW|POLARS)",
    re.IGNORECASE,
)
#: Cypher text as tokens, in one left-to-right pass (so a quote inside a comment hides nothing):
#: a string, a comment, a backquoted name, a word, or any other single character. Text the lexer
#: would not accept (an unterminated string or comment) falls through to single characters and is
#: read as code: the guard then sees more words, never fewer.
_TOKEN = re.compile(
    r"""(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"|(?P<comment>//[^\n]*|/\*.*?\*/)"
    r"|(?P<quoted>`(?:[^`]|``)*`)"
    r"|(?P<word>[^\W\d]\w*)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


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
        Several statements; a clause that writes or reaches outside the store; a function that
        reads files; ``CALL`` of anything but the catalog functions (``show_tables``,
        ``table_info``, ...), backquoted or not.

    Examples
    --------
    >>> check_read_only("MATCH (a:Address) RETURN a.address AS address;")
    'MATCH (a:Address) RETURN a.address AS address'
    """
    tokens = _code_tokens(cypher)
    last_code = max((i for i, (kind, text) in enumerate(tokens) if not (kind == "other" and text == ";")),
                    default=-1)
    if any(kind == "other" and text == ";" for kind, text in tokens[: last_code + 1]):
        raise ReadOnlyQueryError("graph query runs one statement: remove the ';' between statements")
    for kind, text in tokens:
        if kind == "word" and _REFUSED_CLAUSES.fullmatch(text):
            raise ReadOnlyQueryError(
                f"graph query is read-only: {text.upper()} is not allowed (no writes, files or extensions)"
            )
    pairs = list(zip(tokens, [*tokens[1:], ("", "")], strict=True))
    for (kind, text), following in pairs:  # a function that reads files, called anywhere
        if kind in ("word", "quoted") and following == ("other", "(") and _FILE_FUNCTION.fullmatch(text):
            raise ReadOnlyQueryError(
                f"graph query is read-only: {text.upper()} is not allowed (no writes, files or extensions)"
            )
    for (kind, text), (next_kind, name) in pairs:
        if kind == "word" and text.upper() == "CALL" and next_kind in ("word", "quoted") \
                and name.lower() not in _ALLOWED_CALLS:
            raise ReadOnlyQueryError(f"graph query may CALL only {', '.join(sorted(_ALLOWED_CALLS))}")
    return _without_final_semicolon(cypher)


def check_parameters(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The analyst's query parameters, if every value is one a store takes: text, a boolean, null,
    an integer of 64 bits (a larger one, an amount in wei for example, goes as text), a finite
    number, or a list or map of those. Anything else is bad input (exit 2), not a store failure.

    Raises
    ------
    InputError
        Naming the parameter and the value.
    """
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return
        if isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise InputError(f"parameter {name}: {value} does not fit a 64-bit integer; pass it as text "
                                 f'("{value}") and compare with text or a DECIMAL')
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InputError(f"parameter {name}: {value} is not a finite number")
            return
        if isinstance(value, list):
            for item in value:
                check(name, item)
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                check(f"{name}.{key}", item)
            return
        raise InputError(f"parameter {name}: a {type(value).__name__} cannot be passed to a query")

    out = dict(params or {})
    for name, value in out.items():
        check(name, value)
    return out


def _code_tokens(cypher: str) -> list[tuple[str, str]]:
    """The query's tokens without strings, comments and white space, as ``(kind, text)``: ``word``
    (a bare name or keyword), ``quoted`` (a backquoted name, unquoted: `` `a``b` `` -> ``a`b``) or
    ``other`` (one character). Strings and comments are dropped, so ``'SET'`` in a string is not a
    clause."""
    tokens = []
    for match in _TOKEN.finditer(cypher):
        kind = match.lastgroup or "other"
        if kind in ("string", "comment", "space"):
            continue
        text = match.group()
        tokens.append((kind, text[1:-1].replace("``", "`") if kind == "quoted" else text))
    return tokens


def _without_final_semicolon(cypher: str) -> str:
    """The query without a final ``;`` (one statement ending in ';' is fine)."""
    stripped = cypher.rstrip()
    return stripped[:-1] if stripped.endswith(";") else cypher
