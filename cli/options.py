# SPDX-License-Identifier: Apache-2.0
"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["JsonOpt", "CaseArg", "ChainOpt"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
CaseArg = Annotated[str, typer.Argument(metavar="CASE", help="Case name (letters, digits, '.', '_', '-').",
                                        show_default=False)]
ChainOpt = Annotated[
    str, typer.Option("--chain", "-c", metavar="CHAIN",
                      help="Chain key, e.g. btc, ltc, eth, ltc-regtest (see `tracer chains`).")
]
