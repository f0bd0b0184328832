# SPDX-License-Identifier: Apache-2.0
"""``tracer tags``: import attribution tags (GraphSense TagPacks, tag CSVs, address lists), look them up.

Tags live in the workspace tag library (``jobs/tag_library.py``, ``$TRACER_HOME/tags``), shared by
all cases; ``--case`` also loads an import into that case's graph store so Neo4j Browser shows it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from jobs import tags as tag_jobs
from jobs.tag_library import ImportResult
from tracer.tagpacks import SANCTIONED_CATEGORY

app = typer.Typer(help="Attribution tags: import TagPacks, tag CSVs and address lists, show an address's tags.",
                  no_args_is_help=True)


class TagFormat(StrEnum):
    """``--format`` choices (``jobs.tags.FORMATS``)."""

    TAGPACK = "tagpack"
    CSV = "csv"
    LIST = "list"


@app.command("import")
def import_tags(
    file: Annotated[Path, typer.Argument(help="TagPack YAML, tag CSV (address,label,category[,source,confidence,"
                                              "chain]) or address list (one address a line).",
                                         show_default=False, metavar="FILE")],
    format_: Annotated[TagFormat | None, typer.Option(
        "--format", help="File format (default: tagpack for .yaml/.yml, csv for .csv, else list).")] = None,
    chain: Annotated[str | None, typer.Option(
        "--chain", "-c", metavar="CHAIN", help="Chain of the addresses in a list (required for lists; for a CSV "
                                                 "without a chain column), e.g. btc, eth.")] = None,
    label: Annotated[str | None, typer.Option("--label", metavar="TEXT", help="Label of every address in a list "
                                              "(CSV: of rows without one; default: the file name).")] = None,
    category: Annotated[str | None, typer.Option(
        "--category", metavar="CATEGORY", help=f"Category of a list (CSV: of rows without one), e.g. exchange, "
        f"mixing_service, {SANCTIONED_CATEGORY} (the category the OFAC TagPack uses for sanctioned assets).")] = None,
    source: Annotated[str | None, typer.Option("--source", metavar="TEXT", help="Where a list comes from (URL, "
                                               "agency; default: the file name).")] = None,
    confidence: Annotated[str | None, typer.Option(
        "--confidence", metavar="LEVEL", help="Confidence of a list: 0-100 or a GraphSense level such as "
                                                "authority_data (60).")] = None,
    sanctions_list: Annotated[str | None, typer.Option(
        "--sanctions-list", metavar="NAME", help="The file is this sanctions list (e.g. \"OFAC SDN\"): screening "
        "rates its addresses sanctioned. Nothing else makes a tag sanctioned but category sanctioned.")] = None,
    sanctions_date: Annotated[str | None, typer.Option(
        "--sanctions-date", metavar="DATE", help="Date of the sanctions list snapshot (default: a "
                                                         "TagPack's lastmod).")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Skip invalid addresses (counted, lines reported) instead of refusing the file."
    )] = False,
    case: Annotated[str | None, typer.Option("--case", metavar="CASE",
                                             help="Also load the tags into this case's graph store.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Import tags into the workspace tag library (exit 2 on a bad file; nothing is then written).

    Re-importing the same content changes nothing; changed content under the same TagPack title (or
    CSV file, or list file and label) supersedes the previous version, which is kept for older manifests.

    Example: tracer tags import walletexplorer.yaml

    Example: tracer tags import attributions.csv --chain btc

    Example: tracer tags import ofac.yaml --sanctions-list "OFAC SDN" --skip-invalid

    Example: tracer tags import sanctioned_addresses_XBT.txt --chain btc --label "OFAC SDN"
    --sanctions-list "OFAC SDN" --sanctions-date 2024-09-27
    """
    result, data = tag_jobs.import_tags(app_context().session, tag_jobs.TagImportRequest(
        file=file, format=format_.value if format_ is not None else None, chain=chain, label=label,
        category=category, source=source, confidence=confidence, skip_invalid=skip_invalid, case=case,
        sanctions_list=sanctions_list, sanctions_date=sanctions_date))
    ignored = data.get("ignored_columns")
    if ignored and not json_:
        notice(f"columns not imported from {file.name}: {ignored}")
    if result.skipped_lines and not json_:
        notice(f"skipped {len(result.skipped_lines)} invalid address(es) in {file.name}, line(s) "
               + ", ".join(str(n) for n in result.skipped_lines[:20])
               + (" ..." if len(result.skipped_lines) > 20 else ""))
    emit(data, as_json=json_, human=lambda: _print_import(result, case))


def _print_import(result: ImportResult, case: str | None) -> None:
    skipped = ", ".join(f"{reason}: {n}" for reason, n in result.skipped.items())
    per_chain = ", ".join(f"{c} {n}" for c, n in result.chains.items())
    sanctions = f"{result.sanctions['list']} ({result.sanctions['date']})" if result.sanctions else "-"
    stdout.print(table("Tag import", ["name", "status", "rows", "per chain", "skipped", "sanctions list", "sha256"],
                       [(result.name, result.status, result.rows, per_chain, skipped or "-", sanctions,
                         result.sha256[:16])]))
    if case is not None:
        stdout.print(f"loaded into the graph store of case {case}", highlight=False)


@app.command("show")
def show(
    address: Annotated[str, typer.Argument(help="Address to look up.", show_default=False, metavar="ADDRESS")],
    chain: Annotated[str | None, typer.Option(
        "--chain", "-c", metavar="CHAIN",
        help="Chain of the address; needed only when several chains have tags for it.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Show every current tag of an address: label, category, confidence, source, tagpack, import time.

    Without --chain the chain is inferred from the address form; when the form fits several chains
    (0x... on every EVM chain, 3... on Bitcoin and Litecoin) the one chain with tags is used, and
    --chain is required only if several have tags.

    Example: tracer tags show 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h
    """
    data = tag_jobs.tags_of(app_context().session, address, chain)
    rows, chosen, normal = data["tags"], data["chain"], data["address"]
    candidates = data["chains_checked"]

    def human() -> None:
        if not rows:
            stdout.print(f"no tags for {normal} (checked {', '.join(candidates)})", highlight=False)
            return
        stdout.print(table(f"Tags of {chosen} {normal}",
                           ["label", "category", "confidence", "source", "tagpack", "imported", "sanctions list"],
                           [(r["label"], r["category"], r["confidence"], r["source"], r["tagpack"], r["imported_at"],
                             f"{r['sanctions_list']} ({r['sanctions_date']})" if r["sanctions_list"] else "-")
                            for r in rows]))

    emit(data, as_json=json_, human=human)


@app.command("list")
def list_imports(
    all_: Annotated[bool, typer.Option("--all", help="Include superseded versions.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List the imports in the tag library (current ones; --all adds superseded versions).

    Example: tracer tags list --all
    """
    root, rows = tag_jobs.library_entries(app_context().session, include_superseded=all_)

    def human() -> None:
        stdout.print(table(f"Tag library {root}",
                           ["name", "status", "rows", "per chain", "imported (UTC)", "by", "file", "sha256"],
                           [(r["name"], r["status"], r["rows"], ", ".join(f"{c} {n}" for c, n in r["chains"].items()),
                             r["imported_at"], r["actor"], r["source_file"], r["sha256"][:16]) for r in rows]))

    emit(rows, as_json=json_, human=human)
