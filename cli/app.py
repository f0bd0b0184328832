# SPDX-License-Identifier: Apache-2.0
"""Root of the ``tracer`` command line.

Logging: every handler of the root logger gets :class:`RedactingFilter`, so no log line shows a
secret, whoever writes it (HTTP libraries log each request's full path and query at DEBUG level,
where node providers and explorers keep API keys): URLs go through the project's rule
(:func:`tracer.redaction.redact_url`), so do the targets of HTTP request lines, and every secret
of the configuration (:meth:`jobs.settings.Settings.secrets`) becomes ``***``. The ``--debug``
traceback is redacted the same way.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Annotated

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from cli import case, chains, cluster, config, deconflict, graph, ingest, keys, spark, tags
from cli.context import AppContext, current, set_context
from cli.errors import EXIT_CODES_HELP, EXIT_FAILURE, EXIT_INTERRUPTED, exit_code_for
from cli.method import method_command
from cli.output import error, stderr
from cli.report import report_command
from cli.screen import screen_command
from cli.trace import trace_command
from cli.watch import watch_command
from tracer import __version__
from tracer.errors import TracerError
from tracer.redaction import redact_url

__all__ = ["app", "main", "RedactingFilter", "redact_text"]

#: a URL inside text, up to white space or a quote
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
#: the target of an HTTP request line (urllib3: ``"POST /v2/KEY?apikey=... HTTP/1.1" 200``) or of a
#: requests error (``Max retries exceeded with url: /v2/KEY``)
_REQUEST_TARGET = re.compile(r"(?P<head>\b[A-Z]{3,7} |\burl: )(?P<target>/[^\s'\"]*)")


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with URLs and request targets redacted (:func:`tracer.redaction.redact_url`: only
    Bitcoin Core's ``/wallet/NAME`` path is kept) and each of ``secrets`` replaced by ``***``.

    >>> redact_text('127.0.0.1:8545 "POST /v2/abc123?apikey=k9 HTTP/1.1" 200', ["k9"])
    '127.0.0.1:8545 "POST /***?*** HTTP/1.1" 200'
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)
    text = _REQUEST_TARGET.sub(lambda m: m.group("head") + _redact_target(m.group("target")), text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _redact_target(target: str) -> str:
    return redact_url("http://host" + target).removeprefix("http://host") or "/"


class RedactingFilter(logging.Filter):
    """Redacts every record a handler emits (message, arguments, exception and stack text) with
    :func:`redact_text` and the secrets of the running invocation's settings."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format: logging reports it; show no arguments
            message, record.args = str(record.msg), None
        secrets = _known_secrets()
        record.msg, record.args = redact_text(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True


def _known_secrets() -> list[str]:
    """The secrets of the settings this invocation has loaded (none loaded yet: nothing to hide)."""
    context = current()
    if context is None or "settings" not in vars(context):
        return []
    return context.settings.secrets()


def _install_redaction() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class TracerGroup(TyperGroup):
    """Turns library errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TracerError as exc:
            obj = current()
            if obj is not None and obj.debug:
                stderr.print(redact_text(traceback.format_exc(), _known_secrets()))
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
                stderr.print(redact_text(traceback.format_exc(), _known_secrets()))
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
app.add_typer(deconflict.app, name="deconflict")
app.add_typer(graph.app, name="graph")
app.add_typer(ingest.app, name="ingest")
app.add_typer(keys.app, name="keys")
app.add_typer(spark.app, name="spark")
app.add_typer(tags.app, name="tags")
app.command("trace")(trace_command)
app.command("screen")(screen_command)
app.command("report")(report_command)
app.command("method")(method_command)
app.command("watch")(watch_command)


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
    _install_redaction()
    set_context(AppContext(debug=debug))


def main() -> None:
    """Console-script entry point."""
    app()
