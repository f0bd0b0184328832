# SPDX-License-Identifier: Apache-2.0
"""``tracer report CASE``: the case's trace runs as one self-contained HTML file (``--pdf``: also PDF).

The work is :mod:`jobs.report.run`; this module parses and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, stdout
from cli.progress import ProgressBar
from jobs.report.run import ReportRequest, write_report

__all__ = ["report_command"]


def report_command(
    case: CaseArg,
    trace: Annotated[list[str] | None, typer.Option(
        "--trace", "-t", metavar="RUN", show_default=False,
        help="A trace run to include: its number (3) or folder name (0003-forward-haircut-…); repeat for several. "
             "Default: the latest run of each question (chain, direction, seeds, limits) and model.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE.html", show_default=False,
        help="Where to write the report (default: <case>/reports/report-<sha256[:12]>.html). "
             "Never overwritten.")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write the same report as PDF next to the HTML.")] = False,
    rates: Annotated[Path | None, typer.Option(
        "--rates", metavar="CSV", show_default=False,
        help="Fiat rates you supply (chain,asset,time,price,currency,source): amounts get their value at the "
             "transaction's time; without it, \"no rate\".")] = None,
    rates_api: Annotated[str | None, typer.Option(
        "--rates-api", metavar="URL", show_default=False,
        help="A CoinGecko-compatible price service to ask for the rates (needs --allow-third-party: the service "
             "learns which coins and dates the case looks at).")] = None,
    currency: Annotated[str, typer.Option("--currency", metavar="CODE", help="Fiat currency for --rates-api.")] = "EUR",
    allow_third_party: Annotated[bool, typer.Option(
        "--allow-third-party", help="Allow --rates-api to query a service outside your network.")] = False,
    min_share: Annotated[str, typer.Option(
        "--min-share", metavar="PERCENT",
        help="Flow graph cut: draw the paths carrying at least this share of the seed value (0 draws all).")] = "1",
    top: Annotated[int, typer.Option("--top", metavar="N", help="Endings listed per run.", min=1)] = 50,
    json_: JsonOpt = False,
) -> None:
    """Write the case report: seeds, method, flow graph, Sankey, models side by side, endings, raw records.

    One self-contained HTML file in <case>/reports/ (named by its SHA-256, never overwritten), recorded
    in the audit log; --pdf writes the same document as PDF beside it.

    Example: tracer report op-harbor --pdf --trace 3 --trace 4 --rates eur-rates.csv
    """
    session = app_context().session
    request = ReportRequest(case=case, traces=tuple(trace or ()), out=out, pdf=pdf, rates_csv=rates,
                            min_share_percent=min_share, top=top, rates_api=rates_api, currency=currency,
                            allow_third_party=allow_third_party)
    data = write_report(session, request, ProgressBar(enabled=not json_, rates=False))

    def human() -> None:
        stdout.print(f"report of case {data['case']}: runs {', '.join(data['runs'])}")
        stdout.print(f"HTML: {data['html']}")
        if data["pdf"]:
            stdout.print(f"PDF:  {data['pdf']}")
        for name, digest in data["files"].items():
            stdout.print(f"  sha256 {digest}  {name}")

    emit(data, as_json=json_, human=human)
