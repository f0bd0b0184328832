# SPDX-License-Identifier: Apache-2.0
"""The trace runs a case holds, read back from their result folders for a report or a Neo4j push.

A run is named by its folder (``0003-forward-haircut-041cbb1a30ab``) or by its sequence number
(``3``). :func:`select_runs` picks what a report or push shows: the runs asked for, or by default
the latest run of each *question* (chain, direction, model, seeds and every other parameter that
changes the answer), so a trace re-run after new data replaces its earlier run in the report
while the earlier folder stays on disk, untouched, as evidence.

Only folders the audit log names are read (``trace.run`` entries); a folder is checked against the
SHA-256 sums the log recorded for it before anything is taken from it, so a report never shows a
result edited after the run.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from jobs.trace_results import TRACES_DIR, run_entries
from jobs.workspace import Case
from tracer.errors import InputError, IntegrityError

__all__ = ["TraceRun", "list_runs", "select_runs", "load_run"]

#: result files every run folder holds, read as frames
#: result files read as frames (``conversions`` exists only when the trace followed a swap or wrap)
_FRAMES = ("seeds", "hops", "endings", "tags", "shortfalls", "conversions")


@dataclass(frozen=True)
class TraceRun:
    """One trace run of a case: its folder, the audit entry that recorded it, and its files."""

    name: str
    folder: Path
    audit_seq: int
    argv: tuple[str, ...]
    manifest_sha256: str
    manifest: dict[str, Any]
    result: dict[str, Any]
    frames: dict[str, pl.DataFrame]

    @property
    def number(self) -> int:
        return int(self.name.split("-", 1)[0])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.manifest.get("parameters") or {})

    @property
    def chain(self) -> str:
        return str(self.parameters.get("chain"))

    @property
    def direction(self) -> str:
        return str(self.parameters.get("direction"))

    @property
    def model(self) -> str:
        return str(self.parameters.get("model"))

    @property
    def question(self) -> str:
        """Every parameter except the model, canonical: runs with the same question differ only in
        the model that answered it (the report puts them side by side)."""
        parameters = {k: v for k, v in self.parameters.items() if k != "model"}
        return json.dumps(parameters, sort_keys=True, separators=(",", ":"))


def list_runs(case: Case) -> list[dict[str, Any]]:
    """The runs the audit log records, oldest first: ``name``, ``audit_seq``, ``argv``, ``files``
    (name → SHA-256, the manifest included) and ``manifest_sha256``. A folder recorded twice (a
    rewrite by an old version) is listed once, with its latest entry."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in run_entries(case.audit.entries()):
        name = Path(str(entry.details.get("directory", ""))).name
        files = dict(entry.details.get("files") or {})
        if "manifest_sha256" in entry.details:
            files["manifest.json"] = entry.details["manifest_sha256"]
        latest.pop(name, None)
        latest[name] = {"name": name, "audit_seq": entry.seq, "argv": list(entry.argv), "files": files,
                        "manifest_sha256": entry.details.get("manifest_sha256", "")}
    return list(latest.values())


def _matches(name: str, wanted: str) -> bool:
    if wanted.isdigit():
        return int(name.split("-", 1)[0]) == int(wanted)
    return name == wanted


def select_runs(case: Case, wanted: Sequence[str] = ()) -> list[TraceRun]:
    """The runs to show, loaded and checked: those named in ``wanted`` (folder names or numbers, in
    that order), or else the latest run of each question, in run order.

    Raises ``InputError`` for a case with no trace or an unknown run, ``IntegrityError`` when a
    folder no longer matches what the audit log recorded."""
    recorded = list_runs(case)
    if not recorded:
        raise InputError(f"case {case.name!r} has no trace runs yet: run `tracer trace {case.name}` first")
    if wanted:
        chosen = []
        for item in wanted:
            hits = [r for r in recorded if _matches(r["name"], item.strip())]
            if not hits:
                known = ", ".join(r["name"] for r in recorded)
                raise InputError(f"case {case.name!r} has no trace run {item!r} (runs: {known})")
            if hits[0] not in chosen:
                chosen.append(hits[0])
        return [load_run(case, r) for r in chosen]
    runs = [load_run(case, r) for r in recorded]
    latest: dict[str, TraceRun] = {}
    for run in runs:
        key = f"{run.question}|{run.model}"
        latest.pop(key, None)
        latest[key] = run
    return sorted(latest.values(), key=lambda r: r.number)


def load_run(case: Case, recorded: dict[str, Any]) -> TraceRun:
    """Read one recorded run's folder, checking every file against the audit log first."""
    name = str(recorded["name"])
    folder = case.dir / TRACES_DIR / name
    if not folder.is_dir():
        raise IntegrityError(f"trace result {name} (audit entry {recorded['audit_seq']}) is missing")
    data: dict[str, bytes] = {}
    for file_name, digest in sorted(recorded["files"].items()):
        path = folder / file_name
        raw = path.read_bytes() if path.is_file() else b""
        if hashlib.sha256(raw).hexdigest() != digest:
            raise IntegrityError(f"trace result {name}/{file_name} does not match the audit log "
                                 f"(entry {recorded['audit_seq']}); run `tracer case verify {case.name}`")
        data[file_name] = raw
    frames = {stem: pl.read_parquet(io.BytesIO(data[f"{stem}.parquet"])) for stem in _FRAMES
              if f"{stem}.parquet" in data}
    return TraceRun(name=name, folder=folder, audit_seq=int(recorded["audit_seq"]), argv=tuple(recorded["argv"]),
                    manifest_sha256=str(recorded["manifest_sha256"]),
                    manifest=json.loads(data["manifest.json"]), result=json.loads(data.get("result.json", b"{}")),
                    frames=frames)
