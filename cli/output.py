# SPDX-License-Identifier: Apache-2.0
"""Output conventions: data on stdout (a rich table for people, JSON with ``--json``),
messages and progress on stderr.

Everything printed for people goes through :func:`printable`: labels from seeds and third-party
TagPacks, case notes, addresses and file names are data, and a control character in them must not
reach the terminal (an ESC sequence can clear the screen, recolour or hide the output, a carriage
return overwrite a line). Control characters (C0 but tab and newline, DEL, C1) and the bidirectional
overrides that reorder displayed text are shown as escapes (``\\x1b``, ``\\u202e``). Both consoles
apply it to every string they render, and, as a last line of defence, to any text that reaches the
terminal by another way (a ``Text`` built elsewhere). JSON on stdout and files keep the data exactly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

__all__ = ["stdout", "stderr", "emit", "table", "to_json", "error", "notice", "printable"]

#: code point -> its escape, for every character that must not reach a terminal raw
_ESCAPES: dict[int, str] = {
    **{c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)},
    # bidirectional marks, embeddings, overrides and isolates: they reorder what is displayed
    **{c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: control characters (but tab and newline) and bidi
    overrides as escapes, everything else unchanged.

    >>> printable("Exchange\\x1b[2J Alpha\\r")
    'Exchange\\\\x1b[2J Alpha\\\\x0d'
    """
    return text.translate(_ESCAPES)


class _PrintableConsole(Console):
    """A console that renders every string through :func:`printable` (before layout, so tables
    keep their widths), and escapes anything that still carries a control character on the way out."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer
        )


# Addresses and txids must never be cut: when stdout is not a terminal, lay tables out wide.
# markup=False: case names, labels and notes are user text and must print as typed.
stdout = _PrintableConsole(soft_wrap=True, markup=False, highlight=False,
                           width=None if sys.stdout.isatty() else 220)
stderr = _PrintableConsole(stderr=True, soft_wrap=True, markup=False, highlight=False)


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
        out.add_row(*(Text("" if v is None else printable(str(v))) for v in row))
    return out


def error(message: str) -> None:
    stderr.print(Text.assemble(("error: ", Style(bold=True, color="red")), printable(message)))


def notice(message: str) -> None:
    stderr.print(printable(message), highlight=False, markup=False)
