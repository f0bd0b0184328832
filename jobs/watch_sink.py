# SPDX-License-Identifier: Apache-2.0
"""Where an alert goes: the case's audit log (``watch.alert``), the ``--alerts`` file, the person
watching (a callback: the CLI prints a JSON or a human line) and the ``--exec`` hook.

Order per alert: audit entry, alert file, then — only for an alert this process raised for the
first time — the callback and the hook. An alert already in the audit log is not raised again (a
restart re-evaluates the blocks whose checkpoint had not moved); the file is still brought up to
date. So the audit log and the file hold every alert exactly once; the hook runs at most once per
alert (a kill between the file and the hook loses that one call: the alert itself is kept).

The hook runs without a shell (``shlex.split``), with the alert's JSON line on stdin and in
``TRACER_ALERT``, and a timeout; a hook that fails or times out is reported, never fatal.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.watch_state import ALERT_ACTION, AlertFile, AlertLog
from jobs.workspace import Case
from tracer.errors import InputError
from tracer.watch_rules import alert_line

__all__ = ["ExecHook", "AlertSink", "ALERT_ENV"]

#: the environment variable holding the alert's JSON line for an ``--exec`` hook
ALERT_ENV = "TRACER_ALERT"


class ExecHook:
    """``--exec CMD``: checked when given (a program that cannot be found is bad input)."""

    def __init__(self, command: str, timeout: float) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise InputError(f"--exec {command!r}: {exc}") from None
        if not self.argv:
            raise InputError("--exec is empty: give a program to run for each alert")
        program = self.argv[0]
        found = shutil.which(program) if os.sep not in program else (
            program if os.access(program, os.X_OK) and Path(program).is_file() else None)
        if found is None:
            raise InputError(f"--exec: {program!r} is not an executable program (no shell is used: give the "
                             "program and its arguments)")
        if timeout <= 0:
            raise InputError("--exec-timeout must be more than 0 seconds")
        self.timeout = timeout

    def run(self, line: str) -> str | None:
        """Run the hook for one alert; what went wrong, or None."""
        try:
            done = subprocess.run(self.argv, input=line.encode("utf-8") + b"\n", capture_output=True,  # noqa: S603
                                  env={**os.environ, ALERT_ENV: line}, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return f"timed out after {self.timeout:g} s"
        except OSError as exc:
            return f"could not start: {exc.strerror or exc}"
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"exit {done.returncode}" + (f": {said[-1][:200]}" if said else "")
        return None


class AlertSink:
    """Records and delivers alerts (see the module docstring). Thread-safe: the ingest's loader
    thread raises most alerts."""

    def __init__(self, case: Case, argv: list[str], alert_file: Path | None, hook: ExecHook | None,
                 shown: Callable[[dict[str, Any]], None], notify: Callable[[str], None]) -> None:
        self.case, self.argv, self.hook, self.shown, self.notify = case, argv, hook, shown, notify
        self.log = AlertLog(case)
        self.file = AlertFile(alert_file) if alert_file is not None else None
        self.raised = 0
        self.lock = threading.Lock()

    def emit(self, alert: dict[str, Any]) -> bool:
        """Record and deliver ``alert``; True if it is new (not raised before by any run)."""
        with self.lock:
            line = alert_line(alert)
            new = not self.log.knows(alert)
            if new:
                self.case.record(ALERT_ACTION, alert, self.argv)
                self.log.add(alert)
            if self.file is not None and not self.file.holds(alert):
                self.file.append(line, alert)
            if not new:
                return False
            self.raised += 1
            self.shown(alert)
            if self.hook is not None:
                failed = self.hook.run(line)
                if failed:
                    self.notify(f"--exec for alert {alert['id']} ({alert['rule']}) failed: {failed}")
            return True
