# SPDX-License-Identifier: Apache-2.0
"""Case workspaces: one directory per case under ``$TRACER_HOME/cases``.

A case directory holds:

* ``case.json``  — name, description, who created it and when, the audit head hash;
* ``seeds.json`` — the seed addresses (validated, normalized, with chain, label and note);
* ``audit.jsonl`` — the hash-chained log of every change (``jobs/audit_log.py``);
* ``traces/`` — one folder per trace run, checked against the audit log (``jobs/trace_results.py``);
* ``clusters/``, the embedded store ``graph.lbug`` and its ingest checkpoints.

Writes are atomic (temporary file + ``os.replace``) and serialised by an exclusive lock on
``.lock``, so two commands on one case cannot interleave. A command that fails validation
writes nothing.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.audit_log import GENESIS, AuditEntry, AuditLog, Verification
from jobs.files import write_atomic
from jobs.trace_results import verify_runs
from tracer import __version__
from tracer.errors import ConflictError, InputError, NotFoundError, TracerError

__all__ = ["Seed", "CaseInfo", "Case", "Workspace", "current_actor", "CASE_NAME_RULE"]

CASE_NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMAT_VERSION = 1


def step_done(step: str) -> None:
    """Called after each step of a case change (``intent``, ``appended``, ``case.json``, ``seeds.json``
    or ``trace.published``, ``done``; a trace run also calls it with ``trace.staged``). A test seam:
    the crash tests replace it to kill the process exactly there."""

#: per thread: the case directories whose lock this thread holds, and how deeply (``Case.locked``)
_LOCKS_HELD = threading.local()


class CaseDamagedError(TracerError):
    """A case file that no longer has the shape this tool wrote (exit 1: an integrity problem)."""


def current_actor() -> str:
    """Who is acting: ``$TRACER_ACTOR`` or ``user@host``."""
    explicit = os.environ.get("TRACER_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read: {exc}") from None


@dataclass(frozen=True)
class Seed:
    """A starting point of an investigation: an address (``kind`` its address type; ``role``
    ``received`` or ``sent``), or a movement — one output ``TXID:VOUT`` (``kind`` ``output``) or one
    transfer ``TXID[:INDEX]`` (``kind`` ``transfer``) — kept as ``address`` in normal form."""

    chain: str
    address: str
    kind: str
    label: str | None
    note: str | None
    added_at: str
    added_by: str
    role: str = "received"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.role == "received":  # the form every seed had before roles: logs written then still verify
            del data["role"]
        return data


@dataclass(frozen=True)
class CaseInfo:
    name: str
    description: str
    created_at: str
    created_by: str
    audit_head: str
    format: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Case:
    """One case directory. Obtain it from :class:`Workspace`."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.audit = AuditLog(directory / "audit.jsonl")

    @property
    def name(self) -> str:
        return self.dir.name

    def info(self) -> CaseInfo:
        data = _read_json(self.dir / "case.json")
        try:
            return CaseInfo(**data)
        except TypeError:
            raise CaseDamagedError(f"{self.dir / 'case.json'} is damaged (unexpected or missing fields)") from None

    def seeds(self) -> list[Seed]:
        path = self.dir / "seeds.json"
        if not path.exists():
            return []
        rows = _read_json(path)
        try:
            return [Seed(**row) for row in rows]
        except TypeError:
            raise CaseDamagedError(f"{path} is damaged (a seed has unexpected or missing fields)") from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the case's exclusive lock (other processes wait); re-entrant within one thread."""
        key = self.dir.resolve()
        held: dict[Path, int] = _LOCKS_HELD.__dict__.setdefault("depth", {})
        if held.get(key, 0):
            held[key] += 1
            try:
                yield
            finally:
                held[key] -= 1
            return
        with (self.dir / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            held[key] = 1
            try:
                yield
            finally:
                held.pop(key, None)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def record(self, action: str, details: dict[str, Any], argv: list[str]) -> AuditEntry:
        """Append an audit entry and bring the case files up to it, as one recoverable step under the
        case lock (two analysts recording at once get two consecutive entries, never a broken chain).

        The step is journalled: an intent file (``.pending.json``) is written first, then the entry
        is appended, then ``case.json`` (its head hash) and, for ``seed.add``, ``seeds.json`` follow
        it, then the intent is removed. Killed anywhere in between, the next open of the case
        completes the step (the entry landed) or rolls it back (it did not): :meth:`recover`.
        """
        with self.locked():
            self.recover()
            entries = self.audit.entries()
            intent = {"action": action, "seq": len(entries) + 1, "prev": entries[-1].hash if entries else GENESIS}
            _write_json_atomic(self._pending, intent)
            step_done("intent")
            entry = self.audit.append(
                actor=current_actor(), action=action, details=details, argv=argv, tool_version=__version__
            )
            step_done("appended")
            self._follow(entry, step=True)
            self._pending.unlink()
            step_done("done")
            return entry

    @property
    def _pending(self) -> Path:
        return self.dir / ".pending.json"

    def _follow(self, entry: AuditEntry, *, step: bool = False) -> None:
        """Bring ``case.json`` (and, for a seed, ``seeds.json``) up to ``entry``; idempotent."""
        info = _read_json(self.dir / "case.json")
        if info.get("audit_head") != entry.hash:
            info["audit_head"] = entry.hash
            _write_json_atomic(self.dir / "case.json", info)
        if step:
            step_done("case.json")
        if entry.action == "trace.run":  # a result folder staged before its entry: published after it
            from jobs.trace_results import follow_run_entry

            follow_run_entry(self.dir, entry.details)
            if step:
                step_done("trace.published")
        if entry.action == "seed.add":
            seeds = [s.as_dict() for s in self.seeds()]
            if seeds[-1:] != [entry.details]:
                _write_json_atomic(self.dir / "seeds.json", [*seeds, entry.details])
            if step:
                step_done("seeds.json")

    def recover(self) -> str | None:
        """Finish or undo a step a killed process left half-done (see :meth:`record`); what was done,
        or None. Call under :meth:`locked` (:meth:`Workspace.open` does)."""
        if not self._pending.exists():
            return None
        try:
            intent = json.loads(self._pending.read_text(encoding="utf-8"))
            seq, prev = int(intent["seq"]), str(intent["prev"])
        except (OSError, ValueError, KeyError, TypeError):
            raise CaseDamagedError(f"{self._pending} is damaged: the case cannot tell whether its last change "
                                   "completed; move the file away and run `tracer case verify`") from None
        self.audit.drop_partial_line()
        entries = self.audit.entries()
        last = entries[-1] if entries else None
        if last is not None and last.seq == seq and last.prev == prev:
            self._follow(last)
            outcome = f"completed {last.action} (audit entry {seq})"
        else:
            outcome = f"rolled back {intent.get('action')} (it never reached the audit log)"
        self._pending.unlink()
        return outcome

    def add_seed(
        self, *, chain: str, address: str, kind: str, label: str | None, note: str | None, argv: list[str],
        role: str = "received",
    ) -> tuple[Seed, bool]:
        """Add a validated, normalized seed. Returns ``(seed, added)``; re-adding is a no-op."""
        with self.locked():
            seeds = self.seeds()
            for existing in seeds:
                if existing.chain == chain and existing.address == address and existing.role == role:
                    return existing, False
            seed = Seed(chain, address, kind, label, note, _now(), current_actor(), role)
            self.record("seed.add", seed.as_dict(), argv)  # the entry, then seeds.json: one recoverable step
            return seed, True

    def verify(self) -> Verification:
        """Check the audit chain, its head, and that the seeds on disk are those the log records."""
        try:
            info = self.info()
            result = self.audit.verify(info.audit_head)
            if not result.ok:
                return result
            entries = self.audit.entries()
            seeds = [s.as_dict() for s in self.seeds()]
        except (CaseDamagedError, InputError) as exc:
            return Verification(False, 0, "", str(exc))
        logged = [e.details for e in entries if e.action == "seed.add"]
        if logged != seeds:
            return Verification(False, result.entries, result.head,
                                "seeds.json does not match the seeds recorded in the audit log")
        results = verify_runs(self.dir, entries)
        if results is not None:
            return Verification(False, result.entries, result.head, results)
        created = entries[0].details if entries and entries[0].action == "case.create" else {}
        recorded = {k: created.get(k) for k in ("name", "description", "created_at", "created_by")}
        actual = {"name": info.name, "description": info.description, "created_at": info.created_at,
                  "created_by": info.created_by}
        if recorded != actual:
            return Verification(False, result.entries, result.head,
                                "case.json does not match the case creation recorded in the audit log")
        return result


class Workspace:
    """All cases under one home directory."""

    def __init__(self, cases_dir: Path) -> None:
        self.cases_dir = cases_dir

    @staticmethod
    def check_name(name: str) -> str:
        if not CASE_NAME_RULE.fullmatch(name):
            raise InputError(
                f"invalid case name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return name

    def create(self, name: str, description: str, argv: list[str]) -> Case:
        self.check_name(name)
        directory = self.cases_dir / name
        if directory.exists():
            raise ConflictError(f"case {name!r} already exists ({directory})")
        try:
            self.cases_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the case directory {self.cases_dir}: {exc.strerror}") from None
        with (self.cases_dir / ".lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            if directory.exists():
                raise ConflictError(f"case {name!r} already exists ({directory})")
            staging = Path(tempfile.mkdtemp(dir=self.cases_dir, prefix=f".{name}."))
            try:
                info = CaseInfo(name, description, _now(), current_actor(), audit_head="")
                _write_json_atomic(staging / "case.json", info.as_dict())
                _write_json_atomic(staging / "seeds.json", [])
                Case(staging).record("case.create", {"name": name, "description": description,
                                                     "created_at": info.created_at,
                                                     "created_by": info.created_by}, argv)
                os.rename(staging, directory)  # atomic: the case appears complete or not at all
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return Case(directory)

    def open(self, name: str) -> Case:
        """The case ``name``; a change a killed process left half-done is completed or rolled back."""
        self.check_name(name)
        directory = self.cases_dir / name
        if not (directory / "case.json").is_file():
            raise NotFoundError(f"no case named {name!r} in {self.cases_dir}")
        case = Case(directory)
        if case._pending.exists():
            with case.locked():
                case.recover()
        return case

    def list(self) -> list[Case]:
        if not self.cases_dir.is_dir():
            return []
        return [
            Case(p) for p in sorted(self.cases_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / "case.json").is_file()
        ]
