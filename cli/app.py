# SPDX-License-Identifier: Apache-2.0
"""Root of the ``tracer`` command line."""

from __future__ import annotations

import logging
import traceback
from typing import Annotated

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from cli import case, chains, cluster, config, graph, ingest, tags
from cli.context import AppContext, current, set_context
from cli.errors import EXIT_CODES_HELP, EXIT_FAILURE, EXIT_INTERRUPTED, exit_code_for
from cli.output import error, stderr
from cli.screen import screen_command
from cli.trace import trace_command
from tracer import __version__
from tracer.errors import TracerError

__all__ = ["app", "main"]


class TracerGroup(TyperGroup):
    """Turns library errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TracerError as exc:
            obj = current()
            if obj is not None and obj.debug:
                stderr.print(traceback.format_exc())
            error(str(exc))
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
            obj = current()
            if obj is not None and obj.debug:
                stderr.print(traceback.format_exc())
            error(f"unexpected error ({type(exc).__name__}): {exc} — rerun with --debug for details")
            raise typer.Exit(EXIT_FAILURE) from None


app = typer.Typer(
    cls=TracerGroup,
    name="tracer",
    help="Follow the money through Bitcoin-family and Ethereum-family chains, with evidence for every hop.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(case.app, name="case")
app.add_typer(chains.app, name="chains")
app.add_typer(cluster.app, name="cluster")
app.add_typer(config.app, name="config")
app.add_typer(graph.app, name="graph")
app.add_typer(ingest.app, name="ingest")
app.add_typer(tags.app, name="tags")
app.command("trace")(trace_command)
app.command("screen")(screen_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tracer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Investigations are organised as cases: create one, add seed addresses, then ingest and trace."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    set_context(AppContext(debug=debug))


def main() -> None:
    """Console-script entry point."""
    app()
