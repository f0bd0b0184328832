# SPDX-License-Identifier: Apache-2.0
"""Screening workers end with the screening process, even when it is killed with SIGKILL.

``screen --workers K`` runs batches in K spawned processes started through
``jobs.screen_run.die_with_parent``; a killed parent used to leave its workers running for minutes.
Here a parent starts a pool the same way, reports its workers' process ids, and is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from jobs.screen_run import die_with_parent


def _pid_after_a_while(_: int) -> int:
    time.sleep(0.5)
    return os.getpid()


def _parent(report: str) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pids = sorted(set(pool.map(_pid_after_a_while, range(8))))
        Path(report).write_text(",".join(map(str, pids)))
        time.sleep(600)  # the workers idle, waiting for work, until the parent is killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended; it only waits to be reaped
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_killing_the_screening_process_ends_its_workers(tmp_path: Path) -> None:
    report = tmp_path / "workers"
    parent = multiprocessing.get_context("spawn").Process(target=_parent, args=(str(report),))
    parent.start()
    deadline = time.monotonic() + 60
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p) for p in report.read_text().split(",")]
    assert workers and all(_alive(pid) for pid in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
