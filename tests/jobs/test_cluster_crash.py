# SPDX-License-Identifier: Apache-2.0
"""A clustering killed half-way is reported as unfinished and repaired by running it again.

``cluster run`` replaces the chain's clusters in the store, rewrites its evidence files (each one
whole: a temporary file renamed over the old one) and records them in a ``cluster.run`` entry with
their hashes. The process is killed (SIGKILL, through the ``jobs.workspace.step_done`` seam) at each
step of that closing entry. Killed before the entry landed, ``case verify`` names the unfinished run
and says to run it again (not that the evidence "was changed"); killed after, the next open completes
the step and the case verifies. No evidence file is ever half-written, and running it again leaves a
case that verifies with the same cluster files, byte for byte.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from tests.jobs.fixture_case import _case, _env, _tracer

STEPS = ["intent", "appended", "case.json", "done"]


def _cluster_and_die_after(home: str, step: str) -> None:
    import jobs.workspace

    _env(Path(home))
    records = []

    def kill_here(done: str) -> None:  # the second record of the run is its closing cluster.run entry
        if done == "done":
            records.append(done)
        if len(records) >= 1 and done == step and (step != "done" or len(records) == 2):
            os.kill(os.getpid(), signal.SIGKILL)

    jobs.workspace.step_done = kill_here
    _tracer("cluster", "run", "op-kill")


def _digests(home: Path) -> dict[str, str]:
    folder = home / "cases" / "op-kill" / "clusters"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


@pytest.mark.parametrize("step", STEPS)
def test_a_clustering_killed_at_each_step_of_its_record_is_repaired_by_a_rerun(
        tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = tmp_path / "reference"
    with monkeypatch.context():
        _case(reference)
        assert _tracer("cluster", "run", "op-kill").exit_code == 0  # type: ignore[attr-defined]
        expected = _digests(reference)
    home = tmp_path / "home"
    with monkeypatch.context():
        _case(home)
        process = multiprocessing.get_context("spawn").Process(target=_cluster_and_die_after, args=(str(home), step))
        process.start()
        process.join(timeout=120)
        assert process.exitcode == -signal.SIGKILL
        assert _digests(home) == expected          # every evidence file whole
        verify = _tracer("case", "verify", "op-kill")
        if step != "intent":  # the closing entry landed: the next open completed the step
            assert verify.exit_code == 0, verify.output  # type: ignore[attr-defined]
        else:
            assert verify.exit_code == 1  # type: ignore[attr-defined]
            assert "cluster.run started" in verify.output and "run it again" in verify.output  # type: ignore[attr-defined]
        assert _tracer("cluster", "run", "op-kill").exit_code == 0  # type: ignore[attr-defined]
        assert _digests(home) == expected
        assert _tracer("case", "verify", "op-kill").exit_code == 0  # type: ignore[attr-defined]
