# SPDX-License-Identifier: Apache-2.0
"""The workspace tag library: attribution tags shared by every case, under ``$TRACER_HOME/tags``.

Tags are reference data, like a sanctions list: one import serves all cases. The directory holds

* ``<sha256>.parquet`` — the canonical ``TAGS`` frame of one import, named by the SHA-256 of its
  content (:func:`content_sha256`), never rewritten;
* ``index.json`` — one entry per import: name, Parquet file, SHA-256 of the source file, time of
  first import (UTC), rows per chain, what was skipped, who imported it, whether it was declared a
  sanctions list (``sanctions``: the list's name and date, as ``tracer tags import --sanctions-list``
  states them), and whether a later import of the same name superseded it;
* ``.lock`` — serialises imports.

An import is identified by its name (:attr:`tracer.tagpacks.TagImport.name`: the TagPack title, or
list file, chain and label). Re-importing the same content under the same name (and the same
sanctions declaration) changes nothing ("unchanged", first import time kept); different content, or
the same content declared (or no longer declared) a sanctions list, supersedes the previous version, whose
Parquet file stays so a trace manifest that cites it can still be reproduced. Writes are atomic
(temporary file + ``os.replace``); a reader sees either the old or the new index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tracer.errors import TracerError
from tracer.risk import SANCTIONS_COLUMN
from tracer.schema import TAGS, validate
from tracer.tagpacks import SanctionsList, TagImport

__all__ = ["TagLibrary", "ImportResult", "TagLibraryDamagedError", "content_sha256", "LIBRARY_COLUMNS"]

FORMAT_VERSION = 1
#: Columns of :meth:`TagLibrary.current` and :meth:`TagLibrary.lookup`: the tag, when it was imported, and
#: the sanctions list it comes from (name and date; null unless the import was declared one).
LIBRARY_COLUMNS = (*TAGS.columns, "imported_at", SANCTIONS_COLUMN, "sanctions_date")
_ENTRY_FIELDS = ("name", "file", "sha256", "source_file", "source_sha256", "format", "imported_at", "actor", "rows",
                 "chains", "read", "skipped", "duplicates", "meta", "status", "superseded_at")


class TagLibraryDamagedError(TracerError):
    """The library's index or a Parquet file it lists is unreadable or altered (exit 1: an integrity problem)."""


def content_sha256(tags: pl.DataFrame) -> str:
    """SHA-256 of a canonical TAGS frame's rows as compact JSON (independent of the Parquet writer).

    >>> from tracer.schema import empty
    >>> content_sha256(empty(TAGS))[:16]
    'e89d6b167b49ca15'
    """
    payload = json.dumps({"columns": list(tags.columns), "rows": tags.rows()}, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`TagLibrary.import_` did: ``status`` is created, unchanged, superseded or kept."""

    name: str
    status: str
    file: str
    sha256: str
    source_sha256: str
    imported_at: str
    rows: int
    chains: dict[str, int]
    read: int
    skipped: dict[str, int]
    skipped_lines: list[int] = field(default_factory=list)
    duplicates: int = 0
    previous_sha256: str | None = None
    #: the sanctions list this import was declared to be: {"list": name, "date": YYYY-MM-DD}, or None
    sanctions: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TagLibrary:
    """The tag imports under one directory (``TagLibrary.for_home(settings.home)`` in the CLI)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: tuple[tuple[int, int], pl.DataFrame] | None = None

    @classmethod
    def for_home(cls, home: Path) -> TagLibrary:
        return cls(home / "tags")

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    # ---- reading -------------------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """Every import, current and superseded, in import order.

        Raises
        ------
        TagLibraryDamagedError
            The index is not JSON or not in the shape this tool writes.
        """
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise TagLibraryDamagedError(f"the tag library index {self.index_path} cannot be read: {exc}") from None
        imports = data.get("imports") if isinstance(data, dict) else None
        if not isinstance(imports, list) or data.get("format") != FORMAT_VERSION or not all(
            isinstance(e, dict) and set(_ENTRY_FIELDS) <= set(e) for e in imports
        ):
            raise TagLibraryDamagedError(
                f"the tag library index {self.index_path} is damaged (unexpected shape); "
                "restore it from a backup or move the directory away and re-import")
        return imports

    def sources(self) -> list[dict[str, Any]]:
        """The current imports as a trace manifest cites them: name, sha256 (of the tag rows, which
        is also the Parquet file's name), source_sha256 (of the imported file), rows. No import time:
        the content hash is the identity, so a manifest does not depend on when tags were imported."""
        return [
            {"name": e["name"], "sha256": e["sha256"], "source_sha256": e["source_sha256"], "rows": e["rows"]}
            for e in sorted(self._current_entries(), key=lambda e: e["name"])
        ]

    def sanctions_lists(self) -> dict[str, dict[str, str]]:
        """The current imports declared sanctions lists: import name -> {"list": name, "date": date}."""
        return {e["name"]: dict(e["sanctions"]) for e in self._current_entries() if e.get("sanctions")}

    def current(self, chains: Collection[str] | None = None) -> pl.DataFrame:
        """All current tags (TAGS columns + ``imported_at``), optionally only of ``chains``.

        Rows are unique per tagpack and TAGS key; the same address may carry tags from several
        tagpacks. Sorted by chain, address, source, label, tagpack. Each Parquet file is checked
        against the content hash it is named by.
        """
        frame = self._all_current()
        if chains is not None:
            frame = frame.filter(pl.col("chain").is_in(list(chains)))
        return frame

    def lookup(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        """Current tags of ``addresses`` (in normal form, see ``adapters.addresses``) on ``chain``."""
        frame = self._all_current()
        return frame.filter((pl.col("chain") == chain) & pl.col("address").is_in(list(addresses)))

    def _current_entries(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["status"] == "current"]

    def _stamp(self) -> tuple[int, int]:
        try:
            stat = self.index_path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_size)

    def _all_current(self) -> pl.DataFrame:
        stamp = self._stamp()
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        parts = [self._read_part(e).with_columns(
            pl.lit(e["imported_at"], pl.String()).alias("imported_at"),
            pl.lit((e.get("sanctions") or {}).get("list"), pl.String()).alias(SANCTIONS_COLUMN),
            pl.lit((e.get("sanctions") or {}).get("date"), pl.String()).alias("sanctions_date"),
        ) for e in self._current_entries()]
        schema = pl.Schema({**dict(TAGS.columns), **{c: pl.String() for c in LIBRARY_COLUMNS[len(TAGS.columns):]}})
        frame = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)
        frame = frame.sort([*TAGS.key, "tagpack"], nulls_last=True)
        self._cache = (stamp, frame)
        return frame

    def check_version(self, sha256: str) -> str | None:
        """Whether the import version ``sha256`` (as a trace manifest cites it) is still in the library,
        unaltered; the problem, or None. Superseded versions are kept for exactly this check."""
        entry = next((e for e in self.entries() if e["sha256"] == sha256), None)
        if entry is None:
            return f"tag version {sha256[:16]}… is not in the tag library {self.root}"
        try:
            self._read_part(entry)
        except TagLibraryDamagedError as exc:
            return str(exc)
        return None

    def _read_part(self, entry: dict[str, Any]) -> pl.DataFrame:
        path = self.root / str(entry["file"])
        try:
            frame = pl.read_parquet(path)
            validate(frame, TAGS)
        except (OSError, pl.exceptions.PolarsError, TracerError) as exc:
            raise TagLibraryDamagedError(f"tag file {path} of import {entry['name']!r} cannot be read: {exc}") from None
        if content_sha256(frame) != entry["sha256"]:
            raise TagLibraryDamagedError(f"tag file {path} of import {entry['name']!r} does not match its hash "
                                         f"{entry['sha256']} (altered?)")
        return frame

    # ---- writing -------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def import_(self, tag_import: TagImport, source_path: Path | str, actor: str, *,
                source_sha256: str | None = None, supersede: bool = True) -> ImportResult:
        """Store ``tag_import`` (idempotent per name and content; see the module notes).

        ``source_sha256`` is the SHA-256 of the imported file; computed from ``source_path`` when
        not given. ``tag_import.sanctions`` (the sanctions list it was declared to be) is recorded
        in the entry; screening keys its ``sanctioned`` category on it. With ``supersede`` false (a
        version that arrived in a partner's case package), a different current version of the same
        name stays current: the new version is kept as a superseded one (status ``kept``), there for
        the manifests that cite it; a version the library holds already changes nothing.
        """
        tags = tag_import.tags
        validate(tags, TAGS)
        digest = content_sha256(tags)
        sanctions = _sanctions_entry(tag_import.sanctions)
        if source_sha256 is None:
            source_sha256 = hashlib.sha256(Path(source_path).read_bytes()).hexdigest()
        with self._locked():
            entries = self.entries()
            previous = next((e for e in entries if e["name"] == tag_import.name and e["status"] == "current"), None)
            if previous is not None and previous["sha256"] == digest and previous.get("sanctions") == sanctions:
                return self._result(tag_import, previous, "unchanged", None)
            held = next((e for e in entries if e["name"] == tag_import.name and e["sha256"] == digest), None)
            if not supersede and held is not None:
                return self._result(tag_import, held, "unchanged", None)
            keep_previous = not supersede and previous is not None
            file_name = f"{digest}.parquet"
            target = self.root / file_name
            if not target.exists():
                tmp = self.root / f".{file_name}.tmp"
                tags.write_parquet(tmp)
                with tmp.open("rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            now = _now()
            entry: dict[str, Any] = {
                "name": tag_import.name,
                "file": file_name,
                "sha256": digest,
                "source_file": Path(source_path).name,
                "source_sha256": source_sha256,
                "format": tag_import.format,
                "imported_at": now,
                "actor": actor,
                "rows": tag_import.rows,
                "chains": tag_import.chains,
                "read": tag_import.read,
                "skipped": dict(tag_import.skipped),
                "duplicates": tag_import.duplicates,
                "meta": dict(tag_import.meta),
                "sanctions": sanctions,
                "status": "superseded" if keep_previous else "current",
                "superseded_at": now if keep_previous else None,
            }
            if previous is not None and not keep_previous:
                previous["status"] = "superseded"
                previous["superseded_at"] = now
            self._write_index([*entries, entry])
            status = "kept" if keep_previous else "superseded" if previous else "created"
            return self._result(tag_import, entry, status, previous["sha256"] if previous else None)

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.root / ".index.json.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"format": FORMAT_VERSION, "imports": entries}, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.index_path)
        self._cache = None

    @staticmethod
    def _result(tag_import: TagImport, entry: dict[str, Any], status: str, previous: str | None) -> ImportResult:
        return ImportResult(
            name=entry["name"], status=status, file=entry["file"], sha256=entry["sha256"],
            source_sha256=entry["source_sha256"], imported_at=entry["imported_at"], rows=entry["rows"],
            chains=dict(entry["chains"]), read=tag_import.read, skipped=dict(tag_import.skipped),
            skipped_lines=list(tag_import.skipped_lines), duplicates=tag_import.duplicates, previous_sha256=previous,
            sanctions=entry.get("sanctions"),
        )


def _sanctions_entry(sanctions: SanctionsList | None) -> dict[str, str] | None:
    return {"list": sanctions.name, "date": sanctions.date} if sanctions is not None else None
