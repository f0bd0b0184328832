# SPDX-License-Identifier: Apache-2.0
"""Trace result folders: written once, never overwritten, checked against the audit log.

Every trace run gets a new folder ``<case>/traces/<NNNN>-<direction>-<model>-<manifest12>``: a
sequence number (the order of the runs in the case) and the first 12 hex digits of the SHA-256 of
its manifest. The folder is written under a staging name and renamed when complete, so a run
killed half-way leaves no half-written result. Re-running a trace writes a new folder whose files
are byte-identical to the earlier one's when the store holds the same data.

The audit log entry of each run (``trace.run``) names the folder and the SHA-256 of every file in
it; :func:`verify_runs` recomputes them, so a result edited by hand fails ``tracer case verify``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["TRACES_DIR", "save_run", "stage_run", "publish_run", "verify_runs", "run_entries"]

TRACES_DIR = "traces"
_RUN_NAME = re.compile(r"([0-9]{4,})-.+")


def save_run(case_dir: Path, label: str, manifest_sha256: str, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` into a new result folder of the case and return it. Call under the case lock
    (the sequence number is the number of folders so far plus one)."""
    staging, final = stage_run(case_dir, label, manifest_sha256, files)
    publish_run(staging, final)
    return final


def stage_run(case_dir: Path, label: str, manifest_sha256: str, files: Mapping[str, bytes]) -> tuple[Path, Path]:
    """Write ``files`` into a staging folder (``.staging-*``, ignored by :func:`verify_runs`) and
    return it with the name the run will have. Call under the case lock: staging folders a killed
    run left behind are removed first (no other writer can be staging while the lock is held)."""
    root = case_dir / TRACES_DIR
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(".staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _RUN_NAME.fullmatch(p.name)) and p.is_dir()]
    final = root / f"{max(numbers, default=0) + 1:04d}-{label}-{manifest_sha256[:12]}"
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        for name, data in sorted(files.items()):
            with (staging / name).open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, final


def publish_run(staging: Path, final: Path) -> None:
    """Give a staged result folder its run name (one rename); nothing to do when it has it already."""
    if not final.exists() and staging.is_dir():
        os.rename(staging, final)


def follow_run_entry(case_dir: Path, details: Mapping[str, Any]) -> None:
    """Bring the result folder up to its ``trace.run`` entry: a run whose entry landed but whose
    staging folder was not yet renamed (killed in between) is published now. Idempotent."""
    staged = details.get("staging")
    if staged:
        root = case_dir / TRACES_DIR
        publish_run(root / Path(str(staged)).name, _folder(case_dir, details))


def run_entries(entries: Iterable[Any]) -> list[Any]:
    """The ``trace.run`` audit entries, in log order."""
    return [e for e in entries if e.action == "trace.run"]


def _folder(case_dir: Path, details: Mapping[str, Any]) -> Path:
    """The folder an audit entry names (by its name: a case directory may have been moved)."""
    return case_dir / TRACES_DIR / Path(str(details.get("directory", ""))).name


def verify_runs(case_dir: Path, entries: Iterable[Any]) -> str | None:
    """The first problem with the case's trace results, or None: every folder an entry names must
    hold exactly the files it lists, each with the recorded SHA-256, and every result folder must
    be named by an entry. (Folders written before runs got their own folders were rewritten by
    later runs of the same trace: the latest entry naming a folder is the one checked.)"""
    latest: dict[Path, Any] = {}
    for entry in run_entries(entries):
        latest[_folder(case_dir, entry.details)] = entry
    for folder, entry in latest.items():
        recorded = dict(entry.details.get("files") or {})
        if "manifest_sha256" in entry.details:
            recorded["manifest.json"] = entry.details["manifest_sha256"]
        if not folder.is_dir():
            return f"trace result {folder.name} (audit entry {entry.seq}) is missing"
        present = sorted(p.name for p in folder.iterdir())
        extra = sorted(set(present) - set(recorded))
        if extra:
            return f"trace result {folder.name} holds files no audit entry records: {', '.join(extra)}"
        for name, digest in sorted(recorded.items()):
            path = folder / name
            if not path.is_file():
                return f"trace result {folder.name} lacks {name} (audit entry {entry.seq})"
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return f"trace result {folder.name}/{name} was changed after the run (audit entry {entry.seq})"
    root = case_dir / TRACES_DIR
    if root.is_dir():
        unrecorded = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                            and p not in latest)
        if unrecorded:
            return f"trace result {unrecorded[0]} has no audit entry"
    return None
