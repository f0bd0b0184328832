# SPDX-License-Identifier: Apache-2.0
"""``tracer screen``: the batch job that screens lists of flagged wallets against the tag library.

Thin: the run is :func:`jobs.screen_run.screen_wallets`; this module parses the options, shows
progress and the flagged wallets, and exits 0 (no hits), 3 (hits: a wallet at or above
``--hit-level``), 2 (bad input), 1 (failure) or 4 (store unavailable).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.errors import EXIT_HITS
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from cli.progress import ProgressBar
from jobs.case_index import notice_text
from jobs.screen_run import ScreenOutcome, ScreenRequest, result_files, screen_wallets

__all__ = ["screen_command", "HitLevel", "SHOWN"]

#: flagged wallets printed without --json (the rest are counted; all are in --json and --out)
SHOWN = 25


class HitLevel(StrEnum):
    """``--hit-level`` choices (``jobs.screen_run.HIT_LEVELS``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    SEVERE = "severe"


def screen_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet list of wallets.", show_default=False, metavar="FILE")],
    chain: Annotated[str | None, typer.Option("--chain", "-c", metavar="CHAIN",
                                              help="Chain of rows without a chain column.")] = None,
    address_column: Annotated[str, typer.Option("--address-column", metavar="COLUMN",
                                                help="Column holding the address.")] = "address",
    chain_column: Annotated[str, typer.Option("--chain-column", metavar="COLUMN",
                                              help="Column holding the chain, if any.")] = "chain",
    hops: Annotated[int, typer.Option("--hops", metavar="N", help="Indirect exposure within N hops (both "
                                                                    "directions).", min=1, max=6)] = 2,
    categories: Annotated[str | None, typer.Option(
        "--categories", metavar="CATEGORIES", help="Only these tag categories (comma-separated; default: all).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Result file (.parquet, .csv or .json); exposures and rejects go next to it. "
                                        "Never inside a case folder; an existing file is refused without --force.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing --out files.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same input.")] = False,
    workers: Annotated[int, typer.Option("--workers", metavar="N", help="Processes screening batches in "
                                                                          "parallel.", min=1, max=32)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", help="Wallets per batched query.",
                                            min=1)] = 5_000,
    case: Annotated[str | None, typer.Option("--case", metavar="CASE", help="Screen against this case's store "
                                                                              "(default: the workspace store).")
                    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", metavar="FILE", help="Risk rules (TOML); see README.")
                     ] = None,
    hit_level: Annotated[HitLevel, typer.Option("--hit-level", help="A wallet at or above this level is a hit "
                                                                    "(exit 3).")] = HitLevel.MEDIUM,
    max_edges: Annotated[int, typer.Option("--max-edges", metavar="N", help="Above this many edges an untagged "
                                                                              "address is a large entity: not "
                                                                              "expanded.", min=1)] = 10_000,
    fetch: Annotated[bool, typer.Option(
        "--fetch", help="Pull the histories of wallets (and neighbours) the store lacks from a source (UTXO; "
                        "see `ingest seeds`); loads them into the store. One worker.")] = False,
    esplora: Annotated[str | None, typer.Option("--esplora", metavar="URL", help="Esplora URL for --fetch.")] = None,
    from_store: Annotated[Path | None, typer.Option("--from-store", metavar="PATH",
                                                    help="Chain store to --fetch from.")] = None,
    allow_third_party: Annotated[bool, typer.Option(
        "--allow-third-party", help="Allow --fetch from a public explorer (it sees every wallet screened).")]
    = False,
    json_: JsonOpt = False,
) -> None:
    """Screen a list of wallets: direct tags, indirect exposure within N hops, a risk level, evidence.

    Exit codes: 0 no hits, 3 hits found, 2 bad input, 1 failure, 4 store unavailable.

    Prints the flagged wallets, highest risk first; --json has every wallet's row ("rows").

    Example: tracer screen flagged.csv --chain btc --case op-harbor --hops 2 --out screened.parquet
    """
    outcome = screen_wallets(app_context().session, ScreenRequest(
        file=file, chain=chain, address_column=address_column, chain_column=chain_column, hops=hops,
        categories=categories, out=out, force=force, resume=resume, workers=workers, batch_size=batch_size,
        case=case, rules=rules, hit_level=hit_level.value, max_edges=max_edges, fetch=fetch, esplora=esplora,
        from_store=from_store, allow_third_party=allow_third_party), ProgressBar(enabled=not json_, rates=False))
    for row in outcome.data["other_cases"]:
        notice(notice_text(row, case or row["other_case"], "this screening"))
    rejected = outcome.wallets.rejects.height
    if rejected:
        notice(f"{rejected} row(s) rejected" + (f": see {result_files(out)[2]}" if out else ""))
    if outcome.data["hint"]:
        notice(outcome.data["hint"])
    emit(outcome.data, as_json=json_, human=lambda: _print_screening(outcome, hit_level.value, out))
    if outcome.hits.height:
        raise typer.Exit(EXIT_HITS)


def _print_screening(outcome: ScreenOutcome, hit_level: str, out: Path | None) -> None:
    wallets, hits, data = outcome.wallets, outcome.hits, outcome.data
    stdout.print(table("Screening", ["", ""], [
        ("wallets screened", len(wallets.rows)), ("rejected rows", wallets.rejects.height),
        ("duplicates", wallets.duplicates), *((f"risk {k}", v) for k, v in data["levels"].items() if v),
        (f"hits (>= {hit_level})", hits.height),
    ]))
    shown = hits.head(SHOWN)
    if shown.height:
        stdout.print(table(f"Flagged wallets (risk >= {hit_level}, highest first)",
                           ["chain", "wallet", "risk", "reason", "direct tags", "exposures"],
                           shown.select("chain", "wallet", "risk", "reason", "direct_labels", "exposures").rows()))
    if hits.height > SHOWN:
        notice(f"{hits.height - SHOWN} more flagged wallet(s) not shown: "
               + (f"see {out}" if out is not None else "use --out FILE or --json"))
    if out is not None:
        results, exposures, _ = result_files(out)
        notice(f"results: {results}, {exposures}")
