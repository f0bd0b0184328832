# SPDX-License-Identifier: Apache-2.0
"""The ``tracer report`` job: render a case's trace runs into one HTML file (and PDF), record it.

Both documents are rendered in memory first and written only when both are complete (temporary file,
then rename), so a failure (a missing Graphviz, a damaged result folder) leaves nothing half-written.
A report is named by its content (``reports/report-<sha256[:12]>.html``): the same case state gives the
same name and bytes, and an earlier report is never overwritten by a different one.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from jobs.files import write_atomic
from jobs.progress import NO_PROGRESS, Progress
from jobs.report.appendix import appendix, cited_txids, data_sources
from jobs.report.data import ReportOptions, RunContext, gather_run, method_rows, question_sections, run_section
from jobs.report.flow_dot import graphviz_version
from jobs.report.price_api import THIRD_PARTY_REFUSAL, fetch_rates
from jobs.report.rates import RateSource, RateTable, load_rate_csv
from jobs.report.render import render_html, render_pdf
from jobs.session import Session
from jobs.stores import open_case_store_for_reading
from jobs.trace_catalog import TraceRun, select_runs
from jobs.workspace import Case
from tracer import __version__
from tracer.errors import InputError

__all__ = ["ReportRequest", "write_report", "REPORTS_DIR"]

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class ReportRequest:
    """What ``tracer report`` was asked for."""

    case: str
    traces: tuple[str, ...] = ()
    out: Path | None = None
    pdf: bool = False
    rates_csv: Path | None = None
    min_share_percent: str = "1"
    top: int = 50
    rate_max_age: int = 86_400
    #: an opt-in price service (CoinGecko-compatible); used only with ``allow_third_party``
    rates_api: str | None = None
    currency: str = "EUR"
    allow_third_party: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _min_share_bp(text: str) -> int:
    """Percent with up to two decimals (``1``, ``0.5``, ``12.25``) as basis points, exactly."""
    match = re.fullmatch(r"([0-9]*)(?:\.([0-9]{0,2}))?", text.strip(), flags=re.ASCII)
    if match is None or not (match.group(1) or match.group(2)):
        raise InputError(f"--min-share {text!r} is not a percentage like 1 or 0.5")
    points = int(match.group(1) or "0") * 100 + int(((match.group(2) or "") + "00")[:2])
    if points > 10_000:
        raise InputError(f"--min-share {text!r} is over 100%")
    return points


def _options(request: ReportRequest) -> ReportOptions:
    if request.top < 1:
        raise InputError("--top must be at least 1")
    if request.rates_csv is not None and request.rates_api is not None:
        raise InputError("give either --rates (a CSV you supply) or --rates-api, not both")
    if request.rates_api is not None and not request.allow_third_party:
        raise InputError(THIRD_PARTY_REFUSAL)
    rates: RateTable | None = load_rate_csv(request.rates_csv) if request.rates_csv is not None else None
    return ReportOptions(min_share_bp=_min_share_bp(request.min_share_percent), top=request.top, rates=rates,
                         rate_max_age=request.rate_max_age)


def _fetched_rates(runs: list[TraceRun], request: ReportRequest, max_age: int) -> RateTable:
    """Prices from the opted-in service for the chains, assets and time span of ``runs`` (asked once
    per chain and asset, over the whole span: the service learns coins and dates, not addresses)."""
    times = [t for run in runs for t in run.frames["hops"]["timestamp"].drop_nulls().to_list()]
    times += [t for run in runs for t in run.frames["seeds"]["timestamp"].drop_nulls().to_list()]
    assets = sorted({a for run in runs for a in run.frames["hops"]["asset"].drop_nulls().to_list()} | {"native"})
    if not times:
        return RateTable([], [])
    assert request.rates_api is not None
    return fetch_rates(sorted({run.chain for run in runs}), assets, min(times) - max_age, max(times),
                       currency=request.currency, api_url=request.rates_api,
                       allow_third_party=request.allow_third_party)


def _source_text(source: RateSource) -> str:
    parts = [source.name, f"{source.rows} rates"]
    if source.url:
        parts.append(source.url)
    if source.sha256:
        parts.append(f"SHA-256 {source.sha256}")
    return ", ".join(parts)


def _seed_rows(case: Case) -> list[dict[str, Any]]:
    return [{"chain": s.chain, "address": s.address, "kind": s.kind, "role": s.role, "label": s.label,
             "added_at": s.added_at, "added_by": s.added_by} for s in case.seeds()]


def _document(session: Session, case: Case, contexts: list[RunContext], options: ReportOptions,
              progress: Progress) -> dict[str, Any]:
    rendered: dict[str, dict[str, Any]] = {}

    def render(context: RunContext) -> dict[str, Any]:
        section = run_section(context, options)
        rendered[context.run.name] = section
        progress.advance(1)
        return section

    questions = question_sections(contexts, options, render)
    cited: dict[str, set[str]] = {}
    for context in contexts:
        cited.setdefault(context.chain.key, set()).update(cited_txids(context, rendered[context.run.name]))
    entries = case.audit.entries()
    info = case.info()
    tag_sources: dict[str, dict[str, Any]] = {}
    for context in contexts:
        for source in (context.run.manifest.get("tags") or {}).get("sources", []):
            tag_sources[str(source.get("sha256"))] = source
    return {
        "case": {"name": case.name, "description": info.description, "created_at": info.created_at,
                 "created_by": info.created_by},
        "seeds": _seed_rows(case), "questions": questions,
        "runs_listed": ", ".join(f"{c.run.number} ({c.run.direction} {c.run.model}, {c.chain.key})" for c in contexts),
        "audit": {"seq": entries[-1].seq if entries else 0, "head": entries[-1].hash if entries else ""},
        "command": shlex.join(session.argv) if session.argv else f"tracer report {case.name}",
        "methods": method_rows(contexts), "sources": data_sources(case),
        "tag_sources": [tag_sources[k] for k in sorted(tag_sources)],
        "rates": [_source_text(s) for s in options.rates.sources] if options.rates is not None else [],
        "rate_max_age": options.rate_max_age,
        "software": {"tracer": __version__, "python": platform.python_version(), "polars": pl.__version__,
                     "graphviz": graphviz_version()},
        "appendix": appendix(contexts, cited, options),
    }


def _destination(case: Case, request: ReportRequest, html: bytes) -> Path:
    if request.out is None:
        return case.dir / REPORTS_DIR / f"report-{hashlib.sha256(html).hexdigest()[:12]}.html"
    out = request.out if request.out.suffix.lower() in (".html", ".htm") else request.out.with_suffix(".html")
    return out


def _write_new(outputs: dict[Path, bytes]) -> None:
    """Write each file unless it already holds exactly these bytes. Every path is checked before any
    is written: a file with other bytes is refused, and nothing is written at all."""
    for path, data in outputs.items():
        if path.exists() and not (path.is_file() and path.read_bytes() == data):
            raise InputError(f"{path} exists: an earlier report is never overwritten; choose another --out")
    for path, data in outputs.items():
        if not path.exists():
            write_atomic(path, data)


def write_report(session: Session, request: ReportRequest, progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Render the report of ``request.case`` and write it; returns the paths and their SHA-256."""
    options = _options(request)
    case = session.workspace.open(request.case)
    runs = select_runs(case, request.traces)
    graphviz_version()  # a missing Graphviz is reported before any work
    if request.rates_api is not None:
        options = replace(options, rates=_fetched_rates(runs, request, options.rate_max_age))
    progress.start(len(runs) * 2, "runs")
    store = open_case_store_for_reading(session.settings, case)
    try:
        contexts = []
        for run in runs:
            contexts.append(gather_run(session, case, run, store, options))
            progress.advance(1)
    finally:
        store.close()
    try:
        document = _document(session, case, contexts, options, progress)
    finally:
        progress.stop()
    html = render_html(document).encode("utf-8")
    pdf = render_pdf(html.decode("utf-8")) if request.pdf else None
    html_path = _destination(case, request, html)
    pdf_path = html_path.with_suffix(".pdf") if pdf is not None else None
    outputs = {html_path: html, **({pdf_path: pdf} if pdf_path is not None and pdf is not None else {})}
    _write_new(outputs)
    files = {path.name: hashlib.sha256(data).hexdigest() for path, data in outputs.items()}
    case.record("report.written", {"runs": [r.name for r in runs], "directory": str(html_path.parent),
                                   "files": files, "min_share_bp": options.min_share_bp, "top": options.top,
                                   "rates": document["rates"]}, session.argv)
    return {"case": case.name, "html": str(html_path), "pdf": str(pdf_path) if pdf_path else None,
            "runs": [r.name for r in runs], "files": files, "appendix_transactions": len(document["appendix"])}
