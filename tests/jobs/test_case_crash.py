# SPDX-License-Identifier: Apache-2.0
"""A case change killed half-way is completed or rolled back on the next open, never left broken.

``case seed add`` is one journalled step: intent file, audit entry, ``case.json``, ``seeds.json``.
A process is killed (SIGKILL, through the ``jobs.workspace.step_done`` seam) after each step in
turn; the case is then opened again and must verify, with the seed there exactly when its audit
entry landed. Without the journal, a kill between the entry and the files left a case that failed
``case verify`` for good ("entries removed at the end" / "seeds.json does not match").
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from jobs.workspace import Workspace

ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
STEPS = ["intent", "appended", "case.json", "seeds.json", "done"]


def _add_seed_and_die_after(cases_dir: str, step: str) -> None:
    import jobs.workspace

    def kill_here(done: str) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGKILL)

    jobs.workspace.step_done = kill_here
    case = Workspace(Path(cases_dir)).open("op-kill")
    case.add_seed(chain="btc", address=ADDRESS, kind="p2wpkh", label="vendor", note=None, argv=["tracer"])


@pytest.mark.parametrize("step", STEPS)
def test_a_seed_add_killed_after_each_step_leaves_a_case_that_verifies(tmp_path: Path, step: str) -> None:
    workspace = Workspace(tmp_path / "cases")
    workspace.create("op-kill", "", ["tracer", "case", "create", "op-kill"])
    process = multiprocessing.get_context("spawn").Process(
        target=_add_seed_and_die_after, args=(str(tmp_path / "cases"), step))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    case = workspace.open("op-kill")  # completes or rolls back what the killed process left
    check = case.verify()
    assert check.ok, check.problem
    landed = step != "intent"  # from "appended" on, the audit entry exists: the step is completed
    assert [s.address for s in case.seeds()] == ([ADDRESS] if landed else [])
    assert [e.action for e in case.audit.entries()] == ["case.create", *(["seed.add"] if landed else [])]
    assert not (case.dir / ".pending.json").exists()
    seed, added = case.add_seed(chain="btc", address=ADDRESS, kind="p2wpkh", label="vendor", note=None,
                                argv=["tracer"])
    assert added is not landed and case.verify().ok


def test_a_half_written_audit_line_is_cut_when_the_change_is_rolled_back(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "cases")
    case = workspace.create("op-cut", "", ["tracer"])
    head = case.audit.entries()[-1]
    (case.dir / ".pending.json").write_text(json.dumps({"action": "seed.add", "seq": 2, "prev": head.hash}))
    with case.audit.path.open("a") as log:
        log.write('{"seq": 2, "time": "2026-12-03T10:00:00Z", "act')  # killed in the middle of the write
    reopened = workspace.open("op-cut")
    assert reopened.verify().ok and len(reopened.audit.entries()) == 1


def test_a_damaged_log_without_a_pending_change_is_still_reported(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "cases")
    case = workspace.create("op-tamper", "", ["tracer"])
    with case.audit.path.open("a") as log:
        log.write('{"seq": 2, "partial')  # no journalled change: evidence, not debris
    check = workspace.open("op-tamper").verify()
    assert not check.ok and "line 2" in (check.problem or "")
