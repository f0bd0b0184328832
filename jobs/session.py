# SPDX-License-Identifier: Apache-2.0
"""What a job needs from the invocation that started it: settings, the workspace, the command line
to record in the audit log, and where to send messages meant for the person (never data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.settings import Settings
from jobs.workspace import Workspace

__all__ = ["Session", "quiet"]


def quiet(_message: str) -> None:
    """The default message sink: drop the message (library use, tests)."""


@dataclass(frozen=True)
class Session:
    settings: Settings
    workspace: Workspace
    #: the command line as recorded in audit entries (secrets already masked)
    argv: list[str] = field(default_factory=list)
    #: one line for the person running the job (a warning, a hint); the CLI prints it on stderr
    notify: Callable[[str], None] = quiet
