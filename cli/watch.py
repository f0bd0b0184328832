# SPDX-License-Identifier: Apache-2.0
"""``tracer watch``: follow a case's chains and raise alerts when traced money moves.

Thin: the watch is :func:`jobs.watch.watch_case`; this module parses the options and prints each
alert as it is raised (one JSON line with ``--json``, else one line for people) on stdout;
messages go to stderr. Exit codes with ``--once``: 0 no new alert, 3 new alerts (retractions
included), 2 bad input, 4 node unreachable; without ``--once`` it runs until interrupted (130).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.context import app_context
from cli.errors import EXIT_HITS
from cli.options import CaseArg, JsonOpt
from cli.output import notice, printable, stdout
from jobs.watch import WatchRequest, watch_case
from tracer.watch_rules import alert_line, human_line

__all__ = ["watch_command"]


def watch_command(
    case: CaseArg,
    chain: Annotated[str | None, typer.Option(
        "--chain", "-c", metavar="CHAIN", show_default=False,
        help="Watch only this chain (default: every chain of the case's seeds, traces and ingests).")] = None,
    node: Annotated[str | None, typer.Option(
        "--node", metavar="URL", show_default=False,
        help="Node RPC URL (default: [nodes] in the config or TRACER_NODE_<CHAIN>); one chain only.")] = None,
    interval: Annotated[float, typer.Option(
        "--interval", metavar="S", help="Seconds between polls of each node.", min=0.05)] = 30.0,
    once: Annotated[bool, typer.Option(
        "--once", help="Process what is new and exit (for cron): exit 0 no new alert, 3 new alerts.")] = False,
    alerts: Annotated[Path | None, typer.Option(
        "--alerts", metavar="FILE", show_default=False,
        help="Append each alert to this file as one JSON line (fsynced; never an alert twice).")] = None,
    watch_list: Annotated[Path | None, typer.Option(
        "--watch-list", metavar="FILE", show_default=False,
        help="CSV or Parquet of wallets (address[,chain]) re-screened as they transact: alert when risk rises.")
    ] = None,
    exec_command: Annotated[str | None, typer.Option(
        "--exec", metavar="CMD", show_default=False,
        help="Run CMD for each new alert, without a shell; the alert's JSON on stdin and in TRACER_ALERT.")
    ] = None,
    exec_timeout: Annotated[float, typer.Option(
        "--exec-timeout", metavar="S", help="Stop an --exec hook after S seconds (reported, not fatal).",
        min=0.1)] = 30.0,
    batch_blocks: Annotated[int, typer.Option(
        "--batch-blocks", metavar="N", help="At most this many blocks per fetch and load.", min=1)] = 200,
    json_: JsonOpt = False,
) -> None:
    """Watch a case live: load new blocks of its chains and alert when traced money moves.

    Alerts when a seed address receives or sends, when an output or balance a trace left held moves,
    when value from a traced address reaches a tagged exchange or service, when a --watch-list
    wallet's risk rises; an alert whose block is reorged out is followed by a retraction (same id).
    Each alert is printed (--json: one JSON line), recorded in the case's audit log (watch.alert)
    and appended to --alerts. Resumes from the case's checkpoint; node outages are retried.

    Exit codes: 0 no new alert (--once), 3 new alerts (--once), 2 bad input, 4 node unreachable
    (--once), 130 interrupted.

    Example: tracer watch op-harbor --chain ltc --interval 60 --alerts alerts.jsonl --exec "notify-send tracer"
    """
    request = WatchRequest(case=case, chain=chain, node=node, interval=interval, once=once, alerts=alerts,
                           watch_list=watch_list, exec_command=exec_command, exec_timeout=exec_timeout,
                           batch_blocks=batch_blocks)
    outcome = watch_case(app_context().session, request, _printer(json_))
    if once:
        notice(f"watched {', '.join(outcome.chains)}: {outcome.blocks_loaded} block(s) loaded, "
               f"{outcome.alerts} new alert(s)")
        if outcome.alerts:
            raise typer.Exit(EXIT_HITS)


def _printer(as_json: bool) -> Any:
    def show(alert: dict[str, Any]) -> None:
        if as_json:
            print(alert_line(alert), flush=True)  # noqa: T201 - stdout carries the data, nothing else
        else:
            stdout.print(printable(human_line(alert)), highlight=False, markup=False)

    return show
