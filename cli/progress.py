# SPDX-License-Identifier: Apache-2.0
"""A rich progress bar on stderr for the jobs' :class:`~jobs.progress.Progress` (items/s and tx/s)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli.output import stderr

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shown only on a terminal, and not with ``--json`` (``enabled=False``)."""

    def __init__(self, *, enabled: bool = True, rates: bool = True) -> None:
        self.enabled = enabled and stderr.is_terminal
        self.rates = rates
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.unit = ""
        self.transactions = 0

    def start(self, total: int | None, unit: str, *, done: int = 0) -> None:
        self.unit = unit
        self.transactions = 0
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"), TimeElapsedColumn(),
            console=stderr, disable=not self.enabled, transient=False,
        )
        self.task = self.progress.add_task(unit, total=total, rates="", completed=done)
        self.progress.start()

    def advance(self, items: int, transactions: int = 0) -> None:
        if self.progress is None or self.task is None:
            return
        self.transactions += transactions
        self.progress.advance(self.task, items)
        task = self.progress.tasks[0]
        elapsed = task.elapsed or 0.0
        if elapsed > 0:
            text = f"{task.completed / elapsed:,.1f} {self.unit}/s"
            if self.rates:
                text += f"  {self.transactions / elapsed:,.0f} tx/s"
            self.progress.update(self.task, rates=text)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
