# SPDX-License-Identifier: Apache-2.0
"""No data in a case's store without a record: every write to the store is bracketed in the audit log.

A command that writes the case's store records ``<action>.started`` before its first write and,
after its last, ``<action>`` (finished), ``<action>.failed`` or ``<action>.interrupted`` — each
closing entry with the store's row counts per node label and relationship type at that moment.
``tracer case verify`` (:func:`check_store`) then compares the store with the last such entry: a
run that started and never closed (killed), or rows that appeared after the last audited write, are
reported, so data without a record cannot pass for evidence.

The counts are a fingerprint of the store's size, not of every value: cheap to take after every
command on a store of millions of rows, and enough to see data loaded without a record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jobs.workspace import Case

__all__ = ["StoreWrite", "store_write", "check_store", "STORE_KEY"]

#: the details key of an audit entry holding the store's counts after the write
STORE_KEY = "store_counts"


@dataclass
class StoreWrite:
    """What the bracketed work reports: the details of its closing entry."""

    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def store_write(case: Case | None, action: str, argv: list[str], started: dict[str, Any],
                counts: Callable[[], dict[str, int] | None], *, finished: str | None = None) -> Iterator[StoreWrite]:
    """Bracket a write to ``case``'s store (nothing is recorded without a case). ``started`` are the
    details of the ``.started`` entry; the work puts its results into ``StoreWrite.details``;
    ``counts()`` gives the store's row counts (None if the store cannot be read). The closing entry is
    named ``finished`` (default: ``action``)."""
    if case is None:
        yield StoreWrite()
        return
    case.record(f"{action}.started", started, argv)
    run = StoreWrite()
    try:
        yield run
    except BaseException as exc:
        kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        reason = "interrupted" if kind == "interrupted" else f"{type(exc).__name__}: {exc}"
        case.record(f"{action}.{kind}", {**started, **run.details, "error": reason[:500], STORE_KEY: _safe(counts)},
                    argv)
        raise
    case.record(finished or action, {**run.details, STORE_KEY: _safe(counts)}, argv)


def _safe(counts: Callable[[], dict[str, int] | None]) -> dict[str, int] | None:
    try:
        return counts()
    except Exception:  # noqa: BLE001 - a store that cannot be read after a failure is recorded as such
        return None


def check_store(case: Case, counts: dict[str, int] | None) -> str | None:
    """The first problem between the store (``counts``: its row counts now; None: no store) and the
    audit log, or None. Entries written before stores were bracketed carry no counts: a log without
    any bracket is not judged."""
    events = [e for e in case.audit.entries() if e.action.endswith(".started") or STORE_KEY in e.details]
    if not events:
        return None
    last = events[-1]
    if last.action.endswith(".started"):
        action = last.action.removesuffix(".started")
        return (f"{action} started (audit entry {last.seq}) and never finished: the store may hold data no "
                "finished entry covers; run it again (loads are idempotent) to record what the store holds")
    recorded = last.details.get(STORE_KEY)
    if last.action.endswith((".failed", ".interrupted")):
        before = next((e.details.get(STORE_KEY) for e in reversed(events[:-1]) if STORE_KEY in e.details), None)
        wrote = (before is not None) if recorded is None else recorded != (before or dict.fromkeys(recorded, 0))
        if wrote:
            return (f"{last.action} (audit entry {last.seq}) left data in the store that no finished entry "
                    "covers; run it again (loads are idempotent) to complete it")
    if recorded is None or counts is None:
        return None
    changed = {k: (recorded.get(k, 0), v) for k, v in counts.items() if recorded.get(k, 0) != v}
    if changed:
        name, (before, now) = sorted(changed.items())[0]
        return (f"the store changed after audit entry {last.seq} ({last.action}): {name} {before:,} -> {now:,} "
                f"rows; no audit entry covers the difference")
    return None
