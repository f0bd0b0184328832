# SPDX-License-Identifier: Apache-2.0
"""``tracer tags``: import attribution tags (GraphSense TagPacks, address lists), look them up.

Tags live in the workspace tag library (``cli/tag_library.py``, ``$TRACER_HOME/tags``), shared by
all cases; ``--case`` also loads an import into that case's graph store so Neo4j Browser shows it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.addresses import parse_address
from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from cli.settings import Settings
from cli.stores import open_case_store
from cli.tag_library import ImportResult, TagLibrary
from cli.workspace import current_actor
from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError, NotFoundError
from tracer.schema import FrameSet
from tracer.tagpacks import SANCTIONED_CATEGORY, TagFileError, TagImport, parse_address_list, parse_tagpack

app = typer.Typer(help="Attribution tags: import TagPacks and address lists, show an address's tags.",
                  no_args_is_help=True)

FORMATS = ("tagpack", "list")
_TAGPACK_SUFFIXES = (".yaml", ".yml")
_LIST_ONLY = ("--label", "--category", "--source", "--confidence", "--chain")


def library(settings: Settings) -> TagLibrary:
    """The workspace tag library of these settings."""
    return TagLibrary.for_home(settings.home)


def _normalizer(registry: ChainRegistry) -> Any:
    return lambda chain, address: parse_address(chain, address, registry=registry).address


def _read_text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no file {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a tag file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TagFileError(path.name, None, f"not UTF-8 text (byte {exc.start})") from None
    return text, hashlib.sha256(data).hexdigest()


@app.command("import")
def import_tags(
    file: Annotated[Path, typer.Argument(help="TagPack YAML or address list (one address a line).",
                                         show_default=False)],
    format_: Annotated[str | None, typer.Option(
        "--format", help="tagpack or list (default: tagpack for .yaml/.yml, else list).")] = None,
    chain: Annotated[str | None, typer.Option(
        "--chain", "-c", help="Chain of the addresses in a list (required for lists), e.g. btc, eth.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Label of every address in a list "
                                              "(default: the file name).")] = None,
    category: Annotated[str | None, typer.Option(
        "--category", help=f"Category of a list, e.g. exchange, mixing_service, {SANCTIONED_CATEGORY} "
        "(the category the OFAC TagPack uses for sanctioned assets).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Where a list comes from (URL, agency; "
                                               "default: the file name).")] = None,
    confidence: Annotated[str | None, typer.Option(
        "--confidence", help="Confidence of a list: 0-100 or a GraphSense level such as authority_data (60).")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Skip invalid addresses (counted, lines reported) instead of refusing the file."
    )] = False,
    case: Annotated[str | None, typer.Option("--case", help="Also load the tags into this case's graph store.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Import tags into the workspace tag library (exit 2 on a bad file; nothing is then written).

    Re-importing the same content changes nothing; changed content under the same TagPack title (or
    list file and label) supersedes the previous version, which is kept for older manifests.

    Example: tracer tags import walletexplorer.yaml
    Example: tracer tags import sanctioned_addresses_XBT.txt --chain btc --category user --confidence authority_data
    """
    ctx = app_context()
    settings = ctx.settings
    fmt = (format_ or ("tagpack" if file.suffix.lower() in _TAGPACK_SUFFIXES else "list")).lower()
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {format_!r}; choose one of {', '.join(FORMATS)}")
    given = [opt for opt, value in zip(_LIST_ONLY, (label, category, source, confidence, chain), strict=True)
             if value is not None]
    if fmt == "tagpack" and given:
        raise InputError(f"{', '.join(given)}: only for address lists; a TagPack states its own fields "
                         "(use --format list for a list with a .yaml name)")
    if fmt == "list" and chain is None:
        raise InputError("an address list needs --chain (e.g. --chain btc for sanctioned_addresses_XBT.txt)")
    list_chain: Chain | None = settings.chains.get(chain) if chain is not None else None
    workspace_case = ctx.workspace.open(case) if case is not None else None

    text, file_sha256 = _read_text(file)
    normalize = _normalizer(settings.chains)
    tag_import: TagImport
    if list_chain is None:
        tag_import = parse_tagpack(text, file.name, settings.chains, normalize=normalize, skip_invalid=skip_invalid)
    else:
        tag_import = parse_address_list(text, file.name, list_chain, normalize=normalize, label=label,
                                        category=category, source=source, confidence=confidence,
                                        skip_invalid=skip_invalid)
    result = library(settings).import_(tag_import, file, current_actor(), source_sha256=file_sha256)
    data: dict[str, Any] = result.as_dict() | {"library": str(library(settings).root), "case": case}
    if workspace_case is not None:
        store = open_case_store(settings, workspace_case)
        try:
            report = store.load(FrameSet(tags=tag_import.tags))
        finally:
            store.close()
        details = {"name": result.name, "sha256": result.sha256, "source_file": file.name,
                   "source_sha256": result.source_sha256, "rows": result.rows, **report.as_dict()}
        with workspace_case.locked():
            workspace_case.record("tags.load", details, ctx.argv)
        data["store"] = report.as_dict()

    if result.skipped_lines and not json_:
        notice(f"skipped {len(result.skipped_lines)} invalid address(es) in {file.name}, line(s) "
               + ", ".join(str(n) for n in result.skipped_lines[:20])
               + (" ..." if len(result.skipped_lines) > 20 else ""))
    emit(data, as_json=json_, human=lambda: _print_import(result, case))


def _print_import(result: ImportResult, case: str | None) -> None:
    skipped = ", ".join(f"{reason}: {n}" for reason, n in result.skipped.items())
    per_chain = ", ".join(f"{c} {n}" for c, n in result.chains.items())
    stdout.print(table("Tag import", ["name", "status", "rows", "per chain", "skipped", "sha256"],
                       [(result.name, result.status, result.rows, per_chain, skipped or "-", result.sha256[:16])]))
    if case is not None:
        stdout.print(f"loaded into the graph store of case {case}", highlight=False)


def _candidates(address: str, registry: ChainRegistry) -> list[tuple[str, str]]:
    """``(chain, normal form)`` for every chain on which ``address`` is valid."""
    found = []
    for candidate in registry:
        try:
            found.append((candidate.key, parse_address(candidate, address, registry=registry).address))
        except InputError:
            continue
    return found


@app.command("show")
def show(
    address: Annotated[str, typer.Argument(help="Address to look up.", show_default=False)],
    chain: Annotated[str | None, typer.Option(
        "--chain", "-c", help="Chain of the address; needed only when several chains have tags for it.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Show every current tag of an address: label, category, confidence, source, tagpack, import time.

    Without --chain the chain is inferred from the address form; when the form fits several chains
    (0x... on every EVM chain, 3... on Bitcoin and Litecoin) the one chain with tags is used, and
    --chain is required only if several have tags.

    Example: tracer tags show 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h
    """
    settings = app_context().settings
    registry = settings.chains
    tags = library(settings)
    if chain is not None:
        info = parse_address(registry.get(chain), address, registry=registry)
        candidates = [(info.chain, info.address)]
    else:
        candidates = _candidates(address, registry)
        if not candidates:
            raise InputError(f"{address.strip()!r} is not a valid address on any known chain "
                             f"({', '.join(registry.keys())})")
    found = {key: tags.lookup(key, [normal]) for key, normal in candidates}
    tagged = [key for key, frame in found.items() if frame.height]
    if len(tagged) > 1:
        raise InputError(f"{address.strip()} has tags on {', '.join(tagged)}: pass --chain to choose one")
    chosen = tagged[0] if tagged else (candidates[0][0] if len(candidates) == 1 else None)
    normal = dict(candidates)[chosen] if chosen else address.strip()
    frame = found[chosen] if chosen else None
    rows = frame.to_dicts() if frame is not None else []
    data = {"chain": chosen, "address": normal, "chains_checked": [k for k, _ in candidates], "tags": rows}

    def human() -> None:
        if not rows:
            stdout.print(f"no tags for {normal} (checked {', '.join(k for k, _ in candidates)})", highlight=False)
            return
        stdout.print(table(f"Tags of {chosen} {normal}",
                           ["label", "category", "confidence", "source", "tagpack", "imported"],
                           [(r["label"], r["category"], r["confidence"], r["source"], r["tagpack"], r["imported_at"])
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
    lib = library(app_context().settings)
    entries = [e for e in lib.entries() if all_ or e["status"] == "current"]
    rows = [{k: e[k] for k in ("name", "status", "rows", "chains", "skipped", "imported_at", "actor", "source_file",
                               "source_sha256", "sha256", "file", "superseded_at")} for e in entries]

    def human() -> None:
        stdout.print(table(f"Tag library {lib.root}",
                           ["name", "status", "rows", "per chain", "imported (UTC)", "by", "file", "sha256"],
                           [(r["name"], r["status"], r["rows"], ", ".join(f"{c} {n}" for c, n in r["chains"].items()),
                             r["imported_at"], r["actor"], r["source_file"], r["sha256"][:16]) for r in rows]))

    emit(rows, as_json=json_, human=human)
