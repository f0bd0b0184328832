# SPDX-License-Identifier: Apache-2.0
"""Two analysts on one case at once: every audit entry lands, in one unbroken hash chain.

Four processes each record 50 entries on the same case at the same time (the case lock serialises
them; every atomic file write has a temporary file of its own). Afterwards the log has all 200
entries plus the creation, ``case.json`` names its head, and the case verifies.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from jobs.workspace import Workspace

WRITERS = 4
RECORDS = 50


def _record_many(cases_dir: str, writer: int) -> None:
    case = Workspace(Path(cases_dir)).open("shared")
    for n in range(RECORDS):
        case.record("note.add", {"writer": writer, "n": n}, ["tracer", "test"])


def test_four_concurrent_writers_leave_a_case_that_verifies(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "cases")
    workspace.create("shared", "two analysts, one case", ["tracer", "case", "create", "shared"])
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_record_many, args=(str(tmp_path / "cases"), w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    case = workspace.open("shared")
    check = case.verify()
    assert check.ok, check.problem
    entries = case.audit.entries()
    assert len(entries) == 1 + WRITERS * RECORDS
    for writer in range(WRITERS):  # each writer's entries, in its own order
        assert [e.details["n"] for e in entries if e.details.get("writer") == writer] == list(range(RECORDS))
    assert case.info().audit_head == entries[-1].hash
    assert not list((tmp_path / "cases" / "shared").glob(".*.tmp"))


def test_a_lock_held_by_this_thread_can_be_taken_again(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "cases")
    case = workspace.create("solo", "", ["tracer"])
    with case.locked(), case.locked():  # record() takes the lock itself, also inside a locked block
        case.record("note.add", {"n": 1}, ["tracer"])
    assert case.verify().ok
