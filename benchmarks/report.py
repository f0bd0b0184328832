# SPDX-License-Identifier: Apache-2.0
"""Benchmark: ``tracer report`` of a trace run on a case holding a 1,000,000-transfer chain (issue 18).

Builds, in a temporary ``TRACER_HOME``, a case ``bench`` whose own embedded store holds the synthetic
account-model chain of ``benchmarks/_synthetic.py`` (the generator and hub tags ``benchmarks/trace.py``
uses: >= 1,000,000 transfers between ~300,000 addresses, 20 hubs tagged ``exchange``), loaded with
:meth:`EmbeddedStore.load` and bracketed in the case's audit log like an ingest, and 10 seed
addresses picked as ``benchmarks/trace.py`` picks them (same RNG seed), added as case seeds. No ingest
checkpoint is recorded, so value left at an address ends ``unverified`` (the store's coverage is not
proven), as a frames load without coverage files would leave it. The build runs in a child process,
so this process's peak RSS is the trace's and the report's, not the generator's (``build_peak_rss_mb``).

Then, in this process:

* ``trace_s`` (the baseline): :func:`jobs.trace_run.trace_case` forward, haircut, 6 hops (``--hops``) from
  the case's seeds, the job ``tracer trace`` runs (store opened, trace, result files written, audit
  entries, the trace saved in the store), which leaves a real run folder in the case.
* ``report_s``: :func:`jobs.report.run.write_report` of that run, HTML only, default options (min
  share 1%, top 50): run folder checked against the audit log, raw records of the run's transactions
  read back from the store, flow graph built and drawn by Graphviz, Sankey, tables, appendix, HTML.
* ``report_pdf_s``: the same with ``pdf=True`` (the HTML again, then WeasyPrint lays it out).
* ``ratio_report_to_trace`` = ``report_s / trace_s``; ``breakdown_s``: time inside the report's
  steps (reading records, building and drawing the flow graph, appendix, HTML, PDF), added up by
  wrapping them (``_timing.Timer``); the rest is the report's own glue (run loading, tables).
* ``peak_rss_mb``: this process's peak resident memory (``ru_maxrss``), trace and reports.
* what was drawn: the run's hops and endings, the flow graph's edges, nodes and "smaller flows" edges
  (rebuilt after the timed runs with :func:`jobs.report.data.gather_run`), the SVG edges in the HTML,
  appendix transactions, HTML bytes, PDF bytes and pages.

The report's cost follows what it shows (the cut graph, the top endings, the appendix of cited
transactions), not the store's size: reading the cited transactions' raw records back from the
store is the part that grows with the chain; the PDF is mostly WeasyPrint's table layout and text
shaping, the same at ``--quick`` size as at full size.

Target (issue 18): a report of a 1M-transfer trace renders in < 30 s: ``report_s`` < 30 and
``report_pdf_s`` < 30 (``target_met``).

    python benchmarks/report.py --json          # full size (under a minute on 2 cores, half of it the build)
    python benchmarks/report.py --quick --json  # small (~15 s, most of it the PDF)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import CHAIN, hub_tags, skewed_transfers  # noqa: E402
from _timing import Timer, print_result  # noqa: E402

import jobs.report.data as report_data  # noqa: E402
import jobs.report.run as report_run  # noqa: E402
from jobs.cases import add_seed  # noqa: E402
from jobs.custody import store_write  # noqa: E402
from jobs.report.data import ReportOptions, gather_run  # noqa: E402
from jobs.report.run import ReportRequest, write_report  # noqa: E402
from jobs.session import Session  # noqa: E402
from jobs.settings import load_settings  # noqa: E402
from jobs.stores import open_case_store, store_counts  # noqa: E402
from jobs.trace_catalog import select_runs  # noqa: E402
from jobs.trace_run import TraceRequest, trace_case  # noqa: E402
from jobs.workspace import Workspace  # noqa: E402
from tracer.frontier import Direction  # noqa: E402
from tracer.schema import FrameSet  # noqa: E402

CASE = "bench"
HOPS = 6
N_SEEDS = 10
RNG_SEED = 20_240_601  # benchmarks/trace.py's
TARGET_S = 30.0
ARGV = ["benchmarks/report.py"]


def _environment(home: Path) -> None:
    """Point the settings at ``home`` only (set before :func:`jobs.settings.load_settings` runs)."""
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            del os.environ[name]
    os.environ.update(TRACER_HOME=str(home), TRACER_STORE="embedded", TRACER_ACTOR="benchmark@report",
                      XDG_CONFIG_HOME=str(home / "xdg"))


def _session() -> Session:
    """Settings read now, from the environment :func:`_environment` set."""
    settings = load_settings()
    return Session(settings, Workspace(settings.cases_dir), ARGV)


def pick_seeds(transfers: pl.DataFrame, n_hubs: int, n: int = N_SEEDS) -> list[str]:
    """As ``benchmarks/trace.py``: ``n`` ordinary addresses (not hubs) that both received and paid in
    the first half of the chain, picked with a fixed RNG seed from the sorted candidates."""
    half = transfers["block_height"].max() // 2  # type: ignore[operator]
    early = transfers.filter(pl.col("block_height") <= half)
    hubs = set(hub_tags(n_hubs)["address"].to_list())
    candidates = sorted(
        set(early["from_address"].to_list()) & set(early["to_address"].to_list()) - hubs
    )
    return sorted(random.Random(RNG_SEED).sample(candidates, n))


def build(home: Path, quick: bool) -> dict[str, Any]:
    """Create the case in ``home``, load the synthetic chain and hub tags into its store, add the seeds."""
    _environment(home)
    session = _session()
    n, m, hubs = (12_000, 6_000, 5) if quick else (1_000_000, 300_000, 20)
    started = time.perf_counter()
    frames = skewed_transfers(n, m, n_hubs=hubs)
    transfers = frames.transfers
    seeds = pick_seeds(transfers, hubs)
    info: dict[str, Any] = {
        "quick": quick, "edges": transfers.height,
        "addresses": pl.concat([transfers["from_address"], transfers["to_address"]]).n_unique(),
        "transactions": frames.transactions.height, "hubs_tagged_exchange": hubs,
    }
    info["generate_s"] = round(time.perf_counter() - started, 1)
    case = session.workspace.create(CASE, "report benchmark: synthetic account chain", ARGV)
    for i, address in enumerate(seeds):
        add_seed(session, CASE, CHAIN, address, label=f"seed {i}", note=None)
    details = {"chain": CHAIN, "source": "benchmark (benchmarks/_synthetic.py)",
               "blocks": int(transfers["block_height"].n_unique()), "transactions": frames.transactions.height,
               "rows": transfers.height}
    with store_write(case, "ingest.frames", ARGV, details, lambda: store_counts(session.settings, case)) as run:
        store = open_case_store(session.settings, case)
        try:
            store.load(frames)
            store.load(FrameSet(tags=hub_tags(hubs)))
        finally:
            store.close()
        run.details = details
    info["build_s"] = round(time.perf_counter() - started, 1)
    return info


def build_in_child(home: Path, quick: bool) -> dict[str, Any]:
    """Build the case in a child process (see the module docstring); reuse one already built there."""
    sidecar = home / "bench.json"
    if not sidecar.exists():
        command = [sys.executable, __file__, "--build", str(home)] + (["--quick"] if quick else [])
        subprocess.run(command, check=True)
    info: dict[str, Any] = json.loads(sidecar.read_text())
    info["build_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024) or None
    return info


@contextmanager
def timed_steps() -> Iterator[dict[str, Timer]]:
    """Wrap the report's steps (module attributes, looked up at call time) in timers; restore them after."""
    data, run = report_data, report_run
    targets = {
        "read_records": (data, "_records"), "flow_graph_build": (data, "build_flow_graph"),
        "flow_dot_source": (data, "flow_dot"), "graphviz_svg": (data, "render_svg"),
        "sankey_svg": (data, "sankey_svg"), "appendix": (run, "appendix"), "cited_txids": (run, "cited_txids"),
        "html_render": (run, "render_html"), "pdf_render": (run, "render_pdf"),
    }
    timers: dict[str, Timer] = {}
    originals = {}
    for name, (module, attribute) in targets.items():
        originals[name] = getattr(module, attribute)
        timers[name] = Timer(originals[name])
        setattr(module, attribute, timers[name])
    try:
        yield timers
    finally:
        for name, (module, attribute) in targets.items():
            setattr(module, attribute, originals[name])


def pdf_pages(pdf: bytes) -> int | None:
    """The page count of the root ``/Pages`` object (WeasyPrint puts it in a compressed object stream)."""
    texts = [pdf]
    for start in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", start.end())
        try:
            texts.append(zlib.decompress(pdf[start.end():end]))
        except zlib.error:
            continue
    counts = [int(m.group(1)) for text in texts for m in re.finditer(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", text)]
    return max(counts) if counts else None


def time_report(session: Session, run_name: str, pdf: bool) -> tuple[float, dict[str, Any], dict[str, float]]:
    with timed_steps() as timers:
        started = time.perf_counter()
        written = write_report(session, ReportRequest(case=CASE, traces=(run_name,), pdf=pdf))
        seconds = time.perf_counter() - started
    return seconds, written, {k: round(t.seconds, 3) for k, t in timers.items() if t.seconds}


def graph_stats(session: Session, run_name: str) -> dict[str, Any]:
    """The flow graph the report drew (default cut), rebuilt outside the timed runs."""
    case = session.workspace.open(CASE)
    (run,) = select_runs(case, (run_name,))
    graph = gather_run(session, case, run, None, ReportOptions()).graph
    assert graph is not None
    return {"flow_edges_drawn": graph.edges.height, "flow_nodes_drawn": graph.nodes.height,
            "flow_smaller_edges": graph.smaller.height,
            "flow_cut": {asset: {k: cut[k] for k in ("hops_shown", "hops_total")} for asset, cut in graph.cut.items()}}


def run(quick: bool, keep: Path | None, hops: int = HOPS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tracer-bench-report-") as tmp:
        home = keep if keep is not None else Path(tmp) / "home"
        info = build_in_child(home, quick)
        _environment(home)
        session = _session()
        result: dict[str, Any] = {**info, "seeds": N_SEEDS, "hops": hops, "model": "haircut", "rng_seed": RNG_SEED}
        started = time.perf_counter()
        outcome = trace_case(session, TraceRequest(case=CASE, chain=CHAIN, direction=Direction.FORWARD,
                                                   model="haircut", hops=hops))
        result["trace_s"] = round(time.perf_counter() - started, 3)
        traced = outcome.runs[0]["result"]
        run_name = outcome.runs[0]["directory"].name
        result.update(
            trace_run=run_name, trace_hops=traced.hops.height, trace_endings_rows=traced.endings.height,
            trace_endings={asset: {k: v for k, v in totals.items() if v and k != "seed"}
                           for asset, totals in traced.totals.items()},
            trace_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        )
        report_s, html_written, html_steps = time_report(session, run_name, pdf=False)
        report_pdf_s, pdf_written, pdf_steps = time_report(session, run_name, pdf=True)
        html = Path(html_written["html"]).read_bytes()
        pdf_bytes = Path(pdf_written["pdf"]).read_bytes()
        result.update(
            report_s=round(report_s, 3), report_pdf_s=round(report_pdf_s, 3),
            ratio_report_to_trace=round(report_s / result["trace_s"], 2),
            ratio_report_pdf_to_trace=round(report_pdf_s / result["trace_s"], 2),
            breakdown_s={"html": html_steps, "pdf": pdf_steps},
            html_bytes=len(html), svg_edges_in_html=len(re.findall(rb'class="edge"', html)),
            appendix_transactions=html_written["appendix_transactions"],
            pdf_bytes=len(pdf_bytes), pdf_pages=pdf_pages(pdf_bytes),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        )
        result.update(graph_stats(session, run_name))
    result["targets_met"] = {f"report_s < {TARGET_S:g}": result["report_s"] < TARGET_S,
                             f"report_pdf_s < {TARGET_S:g}": result["report_pdf_s"] < TARGET_S}
    result["target_met"] = all(result["targets_met"].values())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--hops", type=int, default=HOPS, help=f"hops the trace follows (default {HOPS})")
    parser.add_argument("--keep", type=Path, help="build the case in this TRACER_HOME (or reuse the one built there)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.build is not None:
        info = build(args.build, args.quick)
        (args.build / "bench.json").write_text(json.dumps(info))
        return 0
    result = run(args.quick, args.keep, args.hops)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
