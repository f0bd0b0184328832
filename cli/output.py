# SPDX-License-Identifier: Apache-2.0
"""Output conventions: data on stdout (a rich table for people, JSON with ``--json``),
messages and progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["stdout", "stderr", "emit", "table", "to_json", "error", "notice"]

# Addresses and txids must never be cut: when stdout is not a terminal, lay tables out wide.
# markup=False: case names, labels and notes are user text and must print as typed.
stdout = Console(soft_wrap=True, markup=False, highlight=False, width=None if sys.stdout.isatty() else 220)
stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact amounts travel as text
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_default)


def emit(data: Any, *, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON (``as_json``) or call ``human`` to render it for people."""
    if as_json:
        print(to_json(data))  # noqa: T201 - stdout carries the data, nothing else
    else:
        human()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(Text("" if v is None else str(v)) for v in row))
    return out


def error(message: str) -> None:
    stderr.print(Text.assemble(("error: ", "bold red"), message))


def notice(message: str) -> None:
    stderr.print(message, highlight=False, markup=False)
