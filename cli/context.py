# SPDX-License-Identifier: Apache-2.0
"""What every command needs from its invocation: settings, the workspace, a safe argv."""

from __future__ import annotations

import re
import sys
from contextvars import ContextVar
from functools import cached_property

from cli.output import notice
from jobs.session import Session
from jobs.settings import Settings, load_settings
from jobs.workspace import Workspace
from tracer.redaction import redact_url

__all__ = ["AppContext", "app_context", "current", "set_context", "safe_argv"]

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SECRET_OPTIONS = {"--password", "--neo4j-password", "--api-key", "--token"}


def safe_argv(argv: list[str]) -> list[str]:
    """``argv`` with passwords in URLs and values of secret options masked (for the audit log)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in _SECRET_OPTIONS:
            if eq:
                out.append(f"{name}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        if _URL.match(arg):
            out.append(redact_url(arg))
        elif eq and _URL.match(arg[len(name) + 1:]):
            out.append(f"{name}={redact_url(arg[len(name) + 1:])}")
        else:
            out.append(arg)
    return out


class AppContext:
    """Lazily loaded settings and workspace (a bad config file only fails commands that need it)."""

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.cases_dir)

    @property
    def argv(self) -> list[str]:
        return safe_argv(["tracer", *sys.argv[1:]])

    @property
    def session(self) -> Session:
        """What a job needs of this invocation; its messages go to stderr."""
        return Session(self.settings, self.workspace, self.argv, notice)


_CURRENT: ContextVar[AppContext | None] = ContextVar("tracer_app_context", default=None)


def set_context(context: AppContext) -> None:
    """Called by the root callback at the start of every invocation."""
    _CURRENT.set(context)


def current() -> AppContext | None:
    return _CURRENT.get()


def app_context() -> AppContext:
    """The context of the running invocation."""
    context = _CURRENT.get()
    if context is None:
        context = AppContext()
        _CURRENT.set(context)
    return context
