# SPDX-License-Identifier: Apache-2.0
"""No data in a case's store without a record: every write to the store is bracketed in the audit log.

A command that writes the case's store records ``<action>.started`` before its first write and,
after its last, ``<action>`` (finished), ``<action>.failed`` or ``<action>.interrupted`` — each
closing entry with the store's row counts per node label and relationship type and its content
digest (:mod:`tracer.store_digest`: one SHA-256 per canonical frame and per trace-result table, and
one over them) at that moment. ``tracer case verify`` (:func:`check_store`) then compares the store
with the last such entry: a run that started and never closed (killed), rows that appeared after
the last audited write, or a value changed in place (same counts, other content) are reported, so
data without a record cannot pass for evidence.

Counting is cheap; digesting reads the parts it covers. A write names the parts it can change
(``touches``): only those are read and digested again, the others are carried from the previous
closing entry. Carrying is safe: a part changed behind the log's back keeps its recorded digest, so
``case verify`` (which digests every part) still finds the difference. Nothing is carried over a
write left open, on a store other cases write, or from another construction or tool version
(:func:`_baseline`). Before it writes, a bracket compares the parts it will change with the last
audited write (:func:`_changed_outside_log`), so no later write can make an earlier change look
audited.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from graph.base import TRACE_PARTS
from jobs.audit_log import AuditEntry
from jobs.stores import DIGEST_PARTS
from jobs.workspace import Case
from tracer import __version__
from tracer.schema import FRAMES
from tracer.store_digest import CONSTRUCTION, store_digest

__all__ = ["StoreWrite", "StoreCheck", "store_write", "fingerprint", "check_store", "STORE_KEY", "DIGEST_KEY",
           "CHAIN_PARTS", "FRAME_PARTS", "TRACE_RESULT_PARTS", "SEED_PARTS", "TAG_PARTS",
           "CLUSTER_PARTS", "OUTSIDE_KEY"]

#: the details key of an audit entry holding the store's counts after the write
STORE_KEY = "store_counts"
#: the details key holding the store's content digest after the write:
#: ``{"construction", "sha256", "parts": {part: sha256}}``
DIGEST_KEY = "store_digest"
#: the details key of a ``.started`` entry that found the store changed since the last audited
#: write: ``{"parts": [...], "since_entry": seq}``
OUTSIDE_KEY = "store_changed_outside_log"

#: what the parts of a write are, by what it writes. Every write opens the case's store with its
#: seeds loaded (:func:`jobs.stores.open_case_store`), so every write touches the seeds.
SEED_PARTS: tuple[str, ...] = ("seeds",)
#: a chain write; a reorg repair deletes transactions, and with them the links of saved traces to them
CHAIN_PARTS: tuple[str, ...] = ("transactions", "inputs", "outputs", "transfers", "conversions", "bridge_events",
                                "trace_traced", *SEED_PARTS)
FRAME_PARTS: tuple[str, ...] = tuple(FRAMES)
TRACE_RESULT_PARTS: tuple[str, ...] = (*TRACE_PARTS, *SEED_PARTS)
TAG_PARTS: tuple[str, ...] = ("tags", *SEED_PARTS)
CLUSTER_PARTS: tuple[str, ...] = ("clusters", *SEED_PARTS)


class StoreReads(Protocol):
    """Reads the store a case uses (:class:`jobs.stores.StoreProbe`); None: no store (yet).
    ``shared``: other cases write the same store (a configured ``store.path``, or Neo4j)."""

    @property
    def shared(self) -> bool: ...

    def counts(self) -> dict[str, int] | None: ...

    def digests(self, parts: Collection[str] | None = None) -> dict[str, str] | None: ...


@dataclass
class StoreWrite:
    """What the bracketed work reports: the details of its closing entry."""

    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def store_write(case: Case | None, action: str, argv: list[str], started: dict[str, Any], probe: StoreReads,
                *, touches: Collection[str] | None = None, finished: str | None = None) -> Iterator[StoreWrite]:
    """Bracket a write to ``case``'s store (nothing is recorded without a case). ``started`` are the
    details of the ``.started`` entry; the work puts its results into ``StoreWrite.details``;
    ``probe`` reads the store's counts and digests; ``touches`` names the digest parts the work can
    change (None: any). The closing entry is named ``finished`` (default: ``action``).

    Before the work, the parts it will change are digested and compared with the last audited
    write (:func:`_changed_outside_log`): a difference means the store was changed behind the log,
    and is recorded in the ``.started`` entry (``case verify`` reports it from then on), so a later
    write cannot make an earlier change look audited."""
    if case is None:
        yield StoreWrite()
        return
    outside = _changed_outside_log(case, probe, touches)
    case.record(f"{action}.started", {**started, **({OUTSIDE_KEY: outside} if outside else {})}, argv)
    run = StoreWrite()
    try:
        yield run
    except BaseException as exc:
        kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        reason = "interrupted" if kind == "interrupted" else f"{type(exc).__name__}: {exc}"
        case.record(f"{action}.{kind}", {**started, **run.details, "error": reason[:500],
                                         **fingerprint(case, probe, touches, own_bracket=True)}, argv)
        raise
    case.record(finished or action, {**run.details, **fingerprint(case, probe, touches, own_bracket=True)}, argv)


def fingerprint(case: Case, probe: StoreReads, touches: Collection[str] | None, *,
                own_bracket: bool = False) -> dict[str, Any]:
    """The audit details that describe the store now: its counts (:data:`STORE_KEY`) and its content
    digest (:data:`DIGEST_KEY`), the parts not in ``touches`` carried from the last audited write
    when that is safe (:func:`_baseline`), else every part read again. Either is None when the
    store cannot be read (recorded as such after a failure). ``own_bracket``: called from inside a
    bracket, whose own ``.started`` entry is not a write left open."""
    counts = _safe(probe.counts)
    if counts is None:
        return {STORE_KEY: None, DIGEST_KEY: None}
    baseline = _baseline(case, probe, own_bracket=own_bracket) if touches is not None else None
    previous = baseline.details[DIGEST_KEY]["parts"] if baseline is not None else {}
    carried = {k: v for k, v in previous.items() if k in DIGEST_PARTS and k not in (touches or ())}
    fresh = _safe(lambda: probe.digests([p for p in DIGEST_PARTS if p not in carried]))
    if fresh is None:
        return {STORE_KEY: counts, DIGEST_KEY: None}
    parts = dict(sorted({**carried, **fresh}.items()))
    digest = {"construction": CONSTRUCTION, "sha256": store_digest(parts), "parts": parts}
    return {STORE_KEY: counts, DIGEST_KEY: digest}


def _baseline(case: Case, probe: StoreReads, *, own_bracket: bool) -> AuditEntry | None:
    """The last audited write, if what it recorded can stand for the store's parts now; None when
    it cannot: no digest yet (or one of another construction or tool version, whose reading of the
    store may differ), a store other cases also write (:attr:`StoreReads.shared`), or a write
    still open — started and never closed (killed, or running), which may have changed any part."""
    if probe.shared:
        return None
    entries = case.audit.entries()
    open_brackets: list[str] = []
    last: AuditEntry | None = None
    for entry in entries:
        if entry.action.endswith(".started"):
            open_brackets.append(entry.action.removesuffix(".started"))
        elif STORE_KEY in entry.details:
            closed = next((a for a in open_brackets if entry.action == a or entry.action.startswith(a + ".")), None)
            if closed is not None:
                open_brackets.remove(closed)
            last = entry
    if len(open_brackets) > (1 if own_bracket else 0) or last is None:
        return None
    recorded = last.details.get(DIGEST_KEY)
    if not isinstance(recorded, dict) or recorded.get("construction") != CONSTRUCTION \
            or last.tool_version != __version__:
        return None
    return last


def _changed_outside_log(case: Case, probe: StoreReads, touches: Collection[str] | None) -> dict[str, Any] | None:
    """The parts a write is about to change that no longer match the last audited write (None: all
    match, or there is nothing to compare with: :func:`_baseline`)."""
    seen = len(case.audit.entries())
    baseline = _baseline(case, probe, own_bracket=False)
    if baseline is None:
        return None
    recorded = baseline.details[DIGEST_KEY]["parts"]
    parts = [p for p in recorded if touches is None or p in touches]
    now = _safe(lambda: probe.digests(parts))
    # another command recorded something while the parts were read (a write of its own may have
    # begun): what was read may be its work, not a change behind the log; nothing is concluded
    if now is None or len(case.audit.entries()) != seen:
        return None
    differing = sorted(p for p in parts if now.get(p) != recorded[p])
    return {"parts": differing, "since_entry": baseline.seq} if differing else None


def _safe(read: Any) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - a store that cannot be read after a failure is recorded as such
        return None


@dataclass(frozen=True)
class StoreCheck:
    """What :func:`check_store` found: a problem, or the digest the store still has and the entry
    that recorded it (both None when no entry recorded a digest)."""

    problem: str | None = None
    digest: str | None = None
    entry: int | None = None


def check_store(case: Case, probe: StoreReads) -> StoreCheck:
    """The first problem between the store ``probe`` reads and the audit log. Entries written
    before stores were bracketed carry no counts: a log without any bracket is not judged; entries
    written before digests were recorded are judged on their counts only."""
    entries = case.audit.entries()
    outside = next((e for e in entries if e.action.endswith(".started") and OUTSIDE_KEY in e.details), None)
    if outside is not None:
        found = outside.details[OUTSIDE_KEY]
        return StoreCheck(f"the store's {', '.join(found['parts'])} changed outside the audit log after audit "
                          f"entry {found['since_entry']}: found when {outside.action.removesuffix('.started')} "
                          f"started (audit entry {outside.seq}); no audit entry covers the difference"
                          + _shared_note(probe))
    problem, last = _store_problem(case, probe)
    if problem is not None or last is None:
        return StoreCheck(problem)
    digest = last.details.get(DIGEST_KEY)
    if not isinstance(digest, dict) or digest.get("construction") != CONSTRUCTION:
        return StoreCheck()
    now_parts = probe.digests(sorted(digest["parts"]))
    if now_parts is None:
        return StoreCheck(f"the store of audit entry {last.seq} ({last.action}) is gone")
    differing = sorted(p for p, value in digest["parts"].items() if now_parts.get(p) != value)
    if differing and last.tool_version != __version__:
        return StoreCheck(f"the store's {', '.join(differing)} do not match the content digest audit entry "
                          f"{last.seq} ({last.action}) recorded with tracer {last.tool_version}; this is tracer "
                          f"{__version__}, which may read the store differently: verify with tracer "
                          f"{last.tool_version} before concluding the store was changed")
    if differing:
        return StoreCheck(f"the store's content changed after audit entry {last.seq} ({last.action}) with the same "
                          f"row counts: {', '.join(differing)} no longer match the content digest recorded then "
                          f"({digest['sha256'][:16]}…); no audit entry covers the difference" + _shared_note(probe))
    return StoreCheck(None, str(digest["sha256"]), last.seq)


def _shared_note(probe: StoreReads) -> str:
    return (" (this store is shared with other cases: their writes show here too)" if probe.shared else "")


def _store_problem(case: Case, probe: StoreReads) -> tuple[str | None, AuditEntry | None]:
    """The counts' verdict: a problem, or the last entry to compare the content with (None: nothing
    to compare)."""
    events = [e for e in case.audit.entries() if e.action.endswith(".started") or STORE_KEY in e.details]
    if not events:
        return None, None
    last = events[-1]
    if last.action.endswith(".started"):
        action = last.action.removesuffix(".started")
        return (f"{action} started (audit entry {last.seq}) and never finished: the store may hold data no "
                "finished entry covers; run it again (loads are idempotent) to record what the store holds"), None
    recorded = last.details.get(STORE_KEY)
    if last.action.endswith((".failed", ".interrupted")):
        before = next((e.details.get(STORE_KEY) for e in reversed(events[:-1]) if STORE_KEY in e.details), None)
        wrote = (before is not None) if recorded is None else recorded != (before or dict.fromkeys(recorded, 0))
        if wrote:
            return (f"{last.action} (audit entry {last.seq}) left data in the store that no finished entry "
                    "covers; run it again (loads are idempotent) to complete it"), None
    counts = probe.counts()
    if recorded is None or counts is None:
        return None, None
    changed = {k: (recorded.get(k, 0), v) for k, v in counts.items() if recorded.get(k, 0) != v}
    if changed:
        name, (before, now) = sorted(changed.items())[0]
        return (f"the store changed after audit entry {last.seq} ({last.action}): {name} {before:,} -> {now:,} "
                f"rows; no audit entry covers the difference{_shared_note(probe)}"), None
    return None, last
