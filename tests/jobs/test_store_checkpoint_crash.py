# SPDX-License-Identifier: Apache-2.0
"""A writer killed while LadybugDB checkpoints the store does not leave the case unreadable.

LadybugDB writes a committed transaction to its write-ahead log and then, in a checkpoint, into the
store file through a shadow file. A process killed between the two leaves the checkpoint half
applied, and LadybugDB refuses to open such a file read-only ("checkpoint recovery is pending"):
before the fix, ``graph stats``, ``graph query`` and screening workers, which read the store
read-only, then failed with "is not an embedded store" until some read-write command happened to
run. Here a writer process is killed the moment the checkpoint's shadow file appears, and the
read-only commands must then work, showing the store as of its last complete transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from tests.conftest import Cli
from tests.graph.fixture_frames import sample_frames

ROOT = Path(__file__).resolve().parents[2]

#: the writer: load many transfers into the store (a long checkpoint), then exit
WRITER = """
import sys
sys.path[:0] = [{root!r}, {bench!r}]
from pathlib import Path
from store_load import synthetic_transfers
from graph.embedded import EmbeddedStore
frames = synthetic_transfers(200_000, 40_000, seed=3)
store = EmbeddedStore.open(Path({path!r}))
print("ready", flush=True)
store.load(frames)
store.close()
"""


def _kill_during_checkpoint(path: Path) -> None:
    """Run the writer and SIGKILL it when the checkpoint's shadow file appears (busy-polled)."""
    shadow = path.with_name(path.name + ".shadow")
    for _ in range(3):  # the shadow file exists for a fraction of a second: poll without sleeping
        script = WRITER.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), path=str(path))
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if shadow.exists():
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                child.stdout.close()
                assert shadow.exists(), "the checkpoint finished before the kill landed"
                return
        child.kill()
        child.wait()
        child.stdout.close()
    pytest.fail("the writer never reached a checkpoint in three tries")


def test_read_only_commands_work_after_a_writer_died_in_a_checkpoint(cli: Cli, tracer_home: Path) -> None:
    assert cli("case", "create", "op-ckpt").exit_code == 0
    path = tracer_home / "cases" / "op-ckpt" / "graph.lbug"
    with EmbeddedStore.open(path) as store:
        store.ensure_schema()
        store.load(sample_frames())
        before = store.stats()
    _kill_during_checkpoint(path)
    import ladybug

    with pytest.raises(RuntimeError, match="checkpoint recovery is pending"):  # what LadybugDB itself says
        ladybug.Database(str(path), read_only=True)
    stats = cli.json("graph", "stats", "op-ckpt")
    # the store as of its last complete store transaction: a load commits its tables one COPY at a time,
    # so the interrupted one may have landed its transactions and not yet its transfers (never part of a
    # table); a CLI ingest brackets this in the audit log, and running it again completes it
    assert stats["relationships"]["TRANSFER"] - before["TRANSFER"] in (0, 200_000)
    assert stats["nodes"]["Transaction"] >= before["Transaction"]
    assert not path.with_name(path.name + ".shadow").exists()
    rows = cli.json("graph", "query", "op-ckpt", "MATCH (t:Transaction) RETURN count(t) AS n")
    assert rows == [{"n": stats["nodes"]["Transaction"]}]
    with EmbeddedStore.open(path, read_only=True) as store:  # the data loaded before is all there
        for chain in sample_frames().transactions["chain"].unique().to_list():
            frames = store.read_frames(chain)
            assert frames.transactions.filter(pl.col("txid").is_in(
                sample_frames().transactions.filter(pl.col("chain") == chain)["txid"].implode())).height == \
                sample_frames().transactions.filter(pl.col("chain") == chain).height
