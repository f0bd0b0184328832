# SPDX-License-Identifier: Apache-2.0
"""Tag work a command starts: import a TagPack, a tag CSV or an address list into the workspace tag
library (and a case's store), look up an address's tags, list the library's imports.

The parsing is :mod:`tracer.tagpacks` (pure); the library on disk is :mod:`jobs.tag_library`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jobs.addresses import address_normalizer, candidate_chains, check_address
from jobs.custody import TAG_PARTS, store_write
from jobs.session import Session
from jobs.stores import StoreProbe, open_case_store
from jobs.tag_library import ImportResult, TagLibrary
from jobs.workspace import current_actor
from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError, NotFoundError
from tracer.schema import FrameSet
from tracer.tagpacks import (
    SanctionsList,
    TagFileError,
    TagImport,
    parse_address_list,
    parse_tag_csv,
    parse_tagpack,
)

__all__ = ["TagImportRequest", "import_tags", "tags_of", "library_entries", "FORMATS"]

#: tagpack: GraphSense TagPack YAML; csv: one tag a row (address,label,category[,source,confidence,chain]);
#: list: one address a line, every line the same tag
FORMATS = ("tagpack", "csv", "list")
_TAGPACK_SUFFIXES = (".yaml", ".yml")
_CSV_SUFFIXES = (".csv",)
_LIST_ONLY = ("--label", "--category", "--source", "--confidence", "--chain")


@dataclass(frozen=True)
class TagImportRequest:
    """One tag file to import; the list-only fields describe every address of an address list."""

    file: Path
    format: str | None = None
    chain: str | None = None
    label: str | None = None
    category: str | None = None
    source: str | None = None
    confidence: str | None = None
    skip_invalid: bool = False
    case: str | None = None
    #: declare the file a sanctions list: its name (e.g. "OFAC SDN") and date (YYYY-MM-DD; a TagPack's
    #: ``lastmod`` by default)
    sanctions_list: str | None = None
    sanctions_date: str | None = None

    @property
    def file_format(self) -> str:
        """The format asked for, else the one the file name suggests."""
        if self.format is not None:
            return self.format.lower()
        suffix = self.file.suffix.lower()
        return "tagpack" if suffix in _TAGPACK_SUFFIXES else "csv" if suffix in _CSV_SUFFIXES else "list"


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


def _list_chain(request: TagImportRequest, registry: ChainRegistry) -> Chain | None:
    """Check the request's options against the file's format; the chain given for a list or CSV (None:
    a TagPack, or a CSV without --chain)."""
    fmt = request.file_format
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {request.format!r}; choose one of {', '.join(FORMATS)}")
    given = [opt for opt, value in zip(_LIST_ONLY, (request.label, request.category, request.source,
                                                    request.confidence, request.chain), strict=True)
             if value is not None]
    if fmt == "tagpack" and given:
        raise InputError(f"{', '.join(given)}: only for address lists and tag CSVs; a TagPack states its own "
                         "fields (use --format list for a list with a .yaml name)")
    if fmt == "list" and request.chain is None:
        raise InputError("an address list needs --chain (e.g. --chain btc for sanctioned_addresses_XBT.txt)")
    if request.sanctions_date is not None and request.sanctions_list is None:
        raise InputError("--sanctions-date goes with --sanctions-list NAME")
    return registry.get(request.chain) if request.chain is not None else None


def _sanctions(request: TagImportRequest, tag_import: TagImport) -> SanctionsList | None:
    """The sanctions list the request declares the file to be (date: given, else the TagPack's lastmod)."""
    if request.sanctions_list is None:
        return None
    day = request.sanctions_date or tag_import.meta.get("lastmod", "")[:10] or None
    if day is None:
        raise InputError("--sanctions-list needs the list's date: --sanctions-date YYYY-MM-DD (the snapshot you "
                         "import)")
    return SanctionsList(request.sanctions_list.strip(), day)


def import_tags(session: Session, request: TagImportRequest) -> tuple[ImportResult, dict[str, Any]]:
    """Import one tag file into the workspace tag library and, with ``request.case``, into that
    case's store (recorded in its audit log). A bad file raises before anything is written.

    Re-importing the same content changes nothing; changed content under the same TagPack title (or
    list file and label) supersedes the previous version, which is kept for older manifests."""
    settings = session.settings
    registry = settings.chains
    list_chain = _list_chain(request, registry)
    workspace_case = session.workspace.open(request.case) if request.case is not None else None
    text, file_sha256 = _read_text(request.file)
    normalize = address_normalizer(registry)
    tag_import: TagImport
    if request.file_format == "tagpack":
        tag_import = parse_tagpack(text, request.file.name, registry, normalize=normalize,
                                   skip_invalid=request.skip_invalid)
    elif request.file_format == "csv":
        tag_import = parse_tag_csv(text, request.file.name, registry, normalize=normalize, chain=list_chain,
                                   label=request.label, category=request.category, source=request.source,
                                   confidence=request.confidence, skip_invalid=request.skip_invalid)
    else:
        assert list_chain is not None
        tag_import = parse_address_list(text, request.file.name, list_chain, normalize=normalize,
                                        label=request.label, category=request.category, source=request.source,
                                        confidence=request.confidence, skip_invalid=request.skip_invalid)
    tag_import = replace(tag_import, sanctions=_sanctions(request, tag_import))
    library = TagLibrary.for_home(settings.home)
    result = library.import_(tag_import, request.file, current_actor(), source_sha256=file_sha256)
    data: dict[str, Any] = result.as_dict() | {"library": str(library.root), "case": request.case,
                                               "ignored_columns": tag_import.meta.get("ignored_columns")}
    if workspace_case is not None:
        started = {"name": result.name, "sha256": result.sha256, "source_file": request.file.name}
        with store_write(workspace_case, "tags.load", session.argv, started,
                         StoreProbe(settings, workspace_case), touches=TAG_PARTS) as run:
            store = open_case_store(settings, workspace_case)
            try:
                report = store.load(FrameSet(tags=tag_import.tags))
            finally:
                store.close()
            run.details = {"name": result.name, "sha256": result.sha256, "source_file": request.file.name,
                           "source_sha256": result.source_sha256, "rows": result.rows, "sanctions": result.sanctions,
                           **report.as_dict()}
        data["store"] = report.as_dict()
    return result, data


def tags_of(session: Session, address: str, chain: str | None) -> dict[str, Any]:
    """Every current tag of ``address``. Without ``chain`` the chain is inferred from the address form;
    when the form fits several chains the one chain with tags is used (``InputError`` if several have)."""
    registry = session.settings.chains
    library = TagLibrary.for_home(session.settings.home)
    if chain is not None:
        info = check_address(registry, chain, address)
        candidates = [(info.chain, info.address)]
    else:
        candidates = candidate_chains(registry, address)
        if not candidates:
            raise InputError(f"{address.strip()!r} is not a valid address on any known chain "
                             f"({', '.join(registry.keys())})")
    found = {key: library.lookup(key, [normal]) for key, normal in candidates}
    tagged = [key for key, frame in found.items() if frame.height]
    if len(tagged) > 1:
        raise InputError(f"{address.strip()} has tags on {', '.join(tagged)}: pass --chain to choose one")
    chosen = tagged[0] if tagged else (candidates[0][0] if len(candidates) == 1 else None)
    normal = dict(candidates)[chosen] if chosen else address.strip()
    frame = found[chosen] if chosen else None
    rows = frame.to_dicts() if frame is not None else []
    return {"chain": chosen, "address": normal, "chains_checked": [k for k, _ in candidates], "tags": rows}


def library_entries(session: Session, *, include_superseded: bool) -> tuple[Path, list[dict[str, Any]]]:
    """The tag library's root and its imports (current ones; superseded versions too if asked)."""
    library = TagLibrary.for_home(session.settings.home)
    entries = [e for e in library.entries() if include_superseded or e["status"] == "current"]
    rows = [{k: e[k] for k in ("name", "status", "rows", "chains", "skipped", "imported_at", "actor", "source_file",
                               "source_sha256", "sha256", "file", "superseded_at")} | {"sanctions": e.get("sanctions")}
            for e in entries]
    return library.root, rows
