# SPDX-License-Identifier: Apache-2.0
"""A trace killed half-way leaves no half-written result and a case that says how to repair it.

A trace run stages its result folder, records its ``trace.run`` audit entry (which names the
folder) and publishes the folder as the entry lands. The process is killed (SIGKILL, through the
``jobs.workspace.step_done`` seam) after each step in turn; the case is then opened again: a run
whose entry landed has its complete folder, one whose entry did not has none (no orphan folder, no
staging litter after the next run), the only problem ``case verify`` reports is the unfinished
trace, and running the trace again leaves a case that verifies.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from tests.jobs.fixture_case import _case, _env, _tracer

STEPS = ["trace.staged", "intent", "appended", "case.json", "trace.published", "done"]
TRACE = ["trace", "op-kill", "--chain", "ltc-regtest", "--model", "haircut", "--hops", "12"]


def _trace_and_die_after(home: str, step: str) -> None:
    import jobs.workspace

    _env(Path(home))

    staged = []

    def kill_here(done: str) -> None:  # the steps of the trace.run entry: after the folder is staged
        if done == "trace.staged":
            staged.append(done)
        if staged and done == step:
            os.kill(os.getpid(), signal.SIGKILL)

    jobs.workspace.step_done = kill_here
    _tracer(*TRACE)


@pytest.mark.parametrize("step", STEPS)
def test_a_trace_killed_after_each_step_leaves_no_half_result(tmp_path: Path, step: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    with monkeypatch.context():
        _case(home)
        process = multiprocessing.get_context("spawn").Process(target=_trace_and_die_after, args=(str(home), step))
        process.start()
        process.join(timeout=120)
        assert process.exitcode == -signal.SIGKILL
        verify = _tracer("case", "verify", "op-kill")
        landed = step not in ("trace.staged", "intent")
        traces = home / "cases" / "op-kill" / "traces"
        folders = sorted(p.name for p in traces.iterdir() if not p.name.startswith("."))
        assert len(folders) == (1 if landed else 0)
        if landed:
            assert sorted(p.name for p in (traces / folders[0]).iterdir()) == [
                "endings.parquet", "hops.parquet", "manifest.json", "result.json", "seeds.parquet",
                "shortfalls.parquet", "tags.parquet"]
        assert verify.exit_code == 1  # type: ignore[attr-defined]
        assert "trace started" in verify.output and "never finished" in verify.output  # type: ignore[attr-defined]
        again = _tracer(*TRACE)
        assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
        assert not list(traces.glob(".staging-*"))
        assert _tracer("case", "verify", "op-kill").exit_code == 0  # type: ignore[attr-defined]
