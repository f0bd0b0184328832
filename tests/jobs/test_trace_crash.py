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

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"
STEPS = ["trace.staged", "intent", "appended", "case.json", "trace.published", "done"]
TRACE = ["trace", "op-kill", "--chain", "ltc-regtest", "--model", "haircut", "--hops", "12"]


def _env(home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            del os.environ[name]
    os.environ.update(TRACER_HOME=str(home), TRACER_ACTOR="analyst@unit-test", XDG_CONFIG_HOME=str(home / "xdg"))


def _tracer(*args: str) -> object:
    from cli.app import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


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


def _case(home: Path) -> None:
    _env(home)
    spec = json.loads((FIXTURE / "case.json").read_text())
    assert _tracer("case", "create", "op-kill").exit_code == 0  # type: ignore[attr-defined]
    for seed in spec["seeds"]:
        assert _tracer("case", "seed", "add", "op-kill", seed["address"], "--chain",  # type: ignore[attr-defined]
                       seed["chain"]).exit_code == 0
    assert _tracer("ingest", "frames", str(FIXTURE / "frames"), "--case", "op-kill").exit_code == 0  # type: ignore[attr-defined]


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
