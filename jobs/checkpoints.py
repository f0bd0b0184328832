# SPDX-License-Identifier: Apache-2.0
"""Ingest progress per chain: which block heights are completely in the store.

A checkpoint is a small JSON file written atomically (write, fsync, rename) after each batch of
blocks has been loaded, so a run killed at any point (even SIGKILL) resumes after the last
batch that landed; the batch in flight is loaded again, which the stores make idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jobs.files import write_atomic
from tracer.errors import TracerError

__all__ = ["Checkpoint", "CheckpointDamagedError"]


class CheckpointDamagedError(TracerError):
    """The checkpoint file cannot be read; it names the file so the user can inspect or remove it."""


@dataclass
class Checkpoint:
    """Completed height intervals ``[lo, hi]`` (inclusive, merged, sorted) of one chain."""

    path: Path
    chain: str
    done: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, chain: str) -> Checkpoint:
        if not path.exists():
            return cls(path, chain)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("chain") != chain:
                raise ValueError(f"it belongs to chain {data.get('chain')!r}")
            done = [(int(lo), int(hi)) for lo, hi in data["done"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointDamagedError(
                f"ingest checkpoint {path} is unreadable ({exc}); move it away to start over"
            ) from None
        checkpoint = cls(path, chain)
        for lo, hi in done:
            checkpoint.add(lo, hi)
        return checkpoint

    def save(self) -> None:
        write_atomic(self.path, json.dumps({"chain": self.chain, "done": [list(i) for i in self.done]}).encode())

    def add(self, lo: int, hi: int) -> None:
        """Mark ``lo..hi`` complete (merging with neighbours)."""
        intervals = sorted([*self.done, (lo, hi)])
        merged: list[tuple[int, int]] = []
        for a, b in intervals:
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.done = merged

    def truncate(self, from_height: int) -> None:
        """Forget everything at or above ``from_height`` (a reorg replaced those blocks)."""
        self.done = [(a, min(b, from_height - 1)) for a, b in self.done if a < from_height]

    def forget(self, heights: list[int]) -> None:
        """Mark these heights as not done (they will be fetched again)."""
        gone = set(heights)
        kept: list[tuple[int, int]] = []
        for a, b in self.done:
            run_start: int | None = None
            for h in range(a, b + 1):
                if h in gone:
                    if run_start is not None:
                        kept.append((run_start, h - 1))
                        run_start = None
                elif run_start is None:
                    run_start = h
            if run_start is not None:
                kept.append((run_start, b))
        self.done = kept

    def missing(self, lo: int, hi: int) -> list[int]:
        """Heights in ``lo..hi`` not yet complete, ascending."""
        heights: list[int] = []
        h = lo
        for a, b in self.done:
            if b < h:
                continue
            if a > hi:
                break
            heights.extend(range(h, min(a, hi + 1)))
            h = max(h, b + 1)
        heights.extend(range(h, hi + 1))
        return heights

    @property
    def highest(self) -> int | None:
        return self.done[-1][1] if self.done else None
