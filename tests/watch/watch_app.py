# SPDX-License-Identifier: Apache-2.0
"""A small ``tracer``-like app holding only ``watch`` (the command is registered in ``cli/app.py``
separately): the same error handling (:class:`cli.app.TracerGroup`), so exit codes are the real ones.
Run as a program (``python -m tests.watch.watch_app watch CASE ...``) for the SIGKILL tests."""

from __future__ import annotations

import typer

from cli.app import TracerGroup
from cli.context import AppContext, set_context
from cli.watch import watch_command

app = typer.Typer(cls=TracerGroup, name="tracer", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False, rich_markup_mode=None)
app.command("watch")(watch_command)


@app.callback()
def root() -> None:
    """Only ``watch``."""
    set_context(AppContext())


if __name__ == "__main__":
    app()
