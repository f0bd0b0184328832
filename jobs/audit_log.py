# SPDX-License-Identifier: Apache-2.0
"""Append-only, hash-chained audit log of a case (its chain of custody).

Each line of ``audit.jsonl`` is one JSON object::

    {"seq": 3, "time": "2026-11-23T10:02:11Z", "actor": "analyst@host", "action": "seed.add",
     "details": {...}, "argv": [...], "tool_version": "0.1.0", "prev": "<hash of entry 2>",
     "hash": "<sha256 of this entry without 'hash'>"}

``hash`` is the SHA-256 of the entry's canonical JSON (keys sorted, no spaces, UTF-8) without
the ``hash`` field, and ``prev`` is the previous entry's ``hash`` (64 zeros for the first), so
editing, deleting, inserting or reordering any line breaks every later link. The case metadata
keeps the last hash (``audit_head``), which also catches a log truncated at the end. This is the
construction of a hash chain (Haber & Stornetta, "How to time-stamp a digital document",
J. Cryptology 3(2), 1991), without the external anchoring, which an agency can add by publishing
or notarising the head hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracer.errors import TracerError

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "canonical_json", "Verification"]

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON text used for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: str
    actor: str
    action: str
    details: dict[str, Any]
    argv: list[str]
    tool_version: str
    prev: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "time": self.time, "actor": self.actor, "action": self.action,
            "details": self.details, "argv": self.argv, "tool_version": self.tool_version,
            "prev": self.prev, "hash": self.hash,
        }


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str
    problem: str | None = None
    #: the store's content digest (tracer.store_digest) found equal to the one recorded by audit
    #: entry ``store_entry``; None when no entry recorded one (or the case has no store)
    store_digest: str | None = None
    store_entry: int | None = None


class AuditLogDamagedError(TracerError):
    """A line of the audit log that cannot be read as an entry (exit 1: an integrity problem)."""


class AuditLog:
    """The audit file of one case. Callers serialise writers (the case lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[AuditEntry]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        out.append(AuditEntry(**json.loads(line)))
                    except (ValueError, TypeError):
                        raise AuditLogDamagedError(f"{self.path} line {number} is not an audit entry") from None
        return out

    def head(self) -> str:
        entries = self.entries()
        return entries[-1].hash if entries else GENESIS

    def append(
        self, *, actor: str, action: str, details: dict[str, Any], argv: list[str], tool_version: str,
        now: datetime | None = None,
    ) -> AuditEntry:
        entries = self.entries()
        prev = entries[-1].hash if entries else GENESIS
        moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, Any] = {
            "seq": len(entries) + 1, "time": moment, "actor": actor, "action": action,
            "details": details, "argv": argv, "tool_version": tool_version, "prev": prev,
        }
        body["hash"] = _entry_hash(body)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(canonical_json(body) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return AuditEntry(**body)

    def drop_partial_line(self) -> bool:
        """Cut a last line that a killed writer left without its newline (an append is one write of
        one line ending in a newline, so only the last line can be partial). Call only while a journalled
        step is being recovered: anywhere else a damaged line is evidence, not debris."""
        if not self.path.exists():
            return False
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return False
        keep = data.rfind(b"\n") + 1
        with self.path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def verify(self, expected_head: str | None = None) -> Verification:
        """Recompute every link; report the first broken one."""
        prev = GENESIS
        count = 0
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        except OSError as exc:
            return Verification(False, 0, prev, f"cannot read {self.path}: {exc.strerror}")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                return Verification(False, count, prev, f"line {number} is not valid JSON")
            if not isinstance(entry, dict) or "hash" not in entry:
                return Verification(False, count, prev, f"line {number} is not an audit entry")
            if entry.get("seq") != count + 1:
                return Verification(False, count, prev, f"line {number}: sequence {entry.get('seq')} "
                                    f"where {count + 1} was expected (entry removed or reordered)")
            if entry.get("prev") != prev:
                return Verification(False, count, prev, f"entry {count + 1} does not link to the entry before it")
            if _entry_hash(entry) != entry["hash"]:
                return Verification(False, count, prev, f"entry {count + 1} was modified after it was written")
            prev = entry["hash"]
            count += 1
        if expected_head is not None and expected_head != prev:
            return Verification(False, count, prev,
                                "the log ends before the last recorded entry (entries removed at the end)")
        return Verification(True, count, prev)
