# SPDX-License-Identifier: Apache-2.0
"""``tracer screen``: the batch job that screens lists of flagged wallets against the tag library.

Thin: the run is :func:`jobs.screen_run.screen_wallets`; this module parses the options, shows
progress and the hits, and exits 0 (no hits), 3 (hits: a wallet at or above ``--hit-level``),
2 (bad input), 1 (failure) or 4 (store unavailable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.errors import EXIT_HITS
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from cli.progress import ProgressBar
from jobs.case_index import notice_text
from jobs.screen_run import ScreenOutcome, ScreenRequest, screen_wallets, sibling

__all__ = ["screen_command"]


def screen_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet list of wallets.", show_default=False)],
    chain: Annotated[str | None, typer.Option("--chain", "-c", help="Chain of rows without a chain column.")] = None,
    address_column: Annotated[str, typer.Option("--address-column", help="Column holding the address.")] = "address",
    chain_column: Annotated[str, typer.Option("--chain-column", help="Column holding the chain, if any.")] = "chain",
    hops: Annotated[int, typer.Option("--hops", help="Indirect exposure within N hops (both directions).",
                                      min=1, max=6)] = 2,
    categories: Annotated[str | None, typer.Option(
        "--categories", help="Only these tag categories (comma-separated; default: all).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Result file (.parquet, .csv or .json); exposures and rejects go next to it.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same input.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Processes screening batches in parallel.",
                                         min=1, max=32)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Wallets per batched query.", min=1)] = 5_000,
    case: Annotated[str | None, typer.Option("--case", help="Screen against this case's store (default: the "
                                                            "workspace store).")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Risk rules (TOML); see README.")] = None,
    hit_level: Annotated[str, typer.Option("--hit-level", help="A wallet at or above this level is a hit "
                                                               "(exit 3).")] = "medium",
    max_edges: Annotated[int, typer.Option("--max-edges", help="Above this many edges an untagged address is "
                                                               "a large entity: not expanded.", min=1)] = 10_000,
    fetch: Annotated[bool, typer.Option(
        "--fetch", help="Pull the histories of wallets (and neighbours) the store lacks from a source (UTXO; "
                        "see `ingest seeds`); loads them into the store. One worker.")] = False,
    esplora: Annotated[str | None, typer.Option("--esplora", help="Esplora URL for --fetch.")] = None,
    from_store: Annotated[Path | None, typer.Option("--from-store", help="Chain store to --fetch from.")] = None,
    allow_third_party: Annotated[bool, typer.Option(
        "--allow-third-party", help="Allow --fetch from a public explorer (it sees every wallet screened).")]
    = False,
    json_: JsonOpt = False,
) -> None:
    """Screen a list of wallets: direct tags, indirect exposure within N hops, a risk level, evidence.

    Exit codes: 0 no hits, 3 hits found, 2 bad input, 1 failure, 4 store unavailable.

    Example: tracer screen flagged.csv --chain btc --hops 2 --out screened.parquet
    """
    outcome = screen_wallets(app_context().session, ScreenRequest(
        file=file, chain=chain, address_column=address_column, chain_column=chain_column, hops=hops,
        categories=categories, out=out, resume=resume, workers=workers, batch_size=batch_size, case=case, rules=rules,
        hit_level=hit_level, max_edges=max_edges, fetch=fetch, esplora=esplora, from_store=from_store,
        allow_third_party=allow_third_party), ProgressBar(enabled=not json_, rates=False))
    for row in outcome.data["other_cases"]:
        notice(notice_text(row, case or row["other_case"], "this screening"))
    rejected = outcome.wallets.rejects.height
    if rejected:
        notice(f"{rejected} row(s) rejected" + (f": see {sibling(out, 'rejects').with_suffix('.csv')}" if out else ""))
    emit(outcome.data, as_json=json_, human=lambda: _print_screening(outcome, hit_level, out))
    if outcome.hits.height:
        raise typer.Exit(EXIT_HITS)


def _print_screening(outcome: ScreenOutcome, hit_level: str, out: Path | None) -> None:
    wallets, hits = outcome.wallets, outcome.hits
    stdout.print(table("Screening", ["", ""], [
        ("wallets screened", len(wallets.rows)), ("rejected rows", wallets.rejects.height),
        ("duplicates", wallets.duplicates), *((f"risk {k}", v) for k, v in outcome.data["levels"].items() if v),
        (f"hits (>= {hit_level})", hits.height),
    ]))
    shown = hits.sort("risk", "wallet").head(25)
    if shown.height:
        stdout.print(table("Hits", ["chain", "wallet", "risk", "reason", "direct tags"],
                           shown.select("chain", "wallet", "risk", "reason", "direct_labels").rows()))
    if out is not None:
        notice(f"results: {out}, {sibling(out, 'exposures')}")
