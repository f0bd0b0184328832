# SPDX-License-Identifier: Apache-2.0
"""What ``tracer watch`` keeps between runs, so a restart (even after SIGKILL) neither repeats nor
loses an alert.

* The case's **audit log** is the record of every alert raised: one ``watch.alert`` entry each (the
  alert itself as details). :class:`AlertLog` reads it back: which alerts were raised and which are
  still standing (raised and not retracted), for the reorg check.
* The **watch state** per chain, ``<case>/watch/<chain>.json`` (written atomically): the height the
  watch started from, the top block it last saw (height and hash, to notice a reorg that leaves the
  height unchanged) and the risk level of each watch-list wallet.
* The **alert file** (``--alerts FILE``): one JSON line per alert, appended and fsynced;
  :class:`AlertFile` drops a line a kill left half-written and skips ids the file already holds.

The ingest's own checkpoint says which blocks are in the store; alerts of a load are recorded
before that checkpoint moves (:func:`jobs.block_ingest.ingest_range`'s ``on_load``), so blocks whose
alerts may be missing are always loaded and evaluated again.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.files import write_atomic
from jobs.workspace import Case
from tracer.errors import InputError

__all__ = ["WATCH_DIR", "ALERT_ACTION", "WatchState", "AlertLog", "AlertFile", "watch_lock"]

WATCH_DIR = "watch"
#: the audit action of an alert
ALERT_ACTION = "watch.alert"


@dataclass
class WatchState:
    """One chain's watch state (see the module docstring)."""

    path: Path
    chain: str
    from_height: int | None = None
    top: tuple[int, str] | None = None
    risk: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, case: Case, chain: str) -> WatchState:
        path = case.dir / WATCH_DIR / f"{chain}.json"
        if not path.exists():
            return cls(path, chain)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            top = data.get("top")
            return cls(path, chain, data.get("from_height"), (int(top[0]), str(top[1])) if top else None,
                       {str(k): str(v) for k, v in (data.get("risk") or {}).items()})
        except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise InputError(f"watch state {path} is unreadable ({exc}); move it away to start watching afresh") \
                from None

    def save(self) -> None:
        data = {"chain": self.chain, "from_height": self.from_height, "top": list(self.top) if self.top else None,
                "risk": dict(sorted(self.risk.items()))}
        write_atomic(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))


class AlertLog:
    """The alerts a case's audit log records (``watch.alert`` entries), read once and kept up to date
    by :meth:`add` as this process records more."""

    def __init__(self, case: Case) -> None:
        #: id -> the alert as last recorded (a retraction replaces what it retracts)
        self.latest: dict[str, dict[str, Any]] = {}
        for entry in case.audit.entries():
            if entry.action == ALERT_ACTION:
                self.add(entry.details)

    def add(self, alert: dict[str, Any]) -> None:
        self.latest[str(alert["id"])] = alert

    def knows(self, alert: dict[str, Any]) -> bool:
        """Whether this alert (id and rule) was recorded and still stands as recorded: an alert
        retracted and raised again (the chain went back) is new again."""
        latest = self.latest.get(str(alert["id"]))
        return latest is not None and latest["rule"] == alert["rule"]

    def standing(self, chain: str) -> list[dict[str, Any]]:
        """Alerts of ``chain`` raised and not retracted, in the order they were raised."""
        return [a for a in self.latest.values() if a["chain"] == chain and a["rule"] != "retracted"]


class AlertFile:
    """``--alerts FILE``: JSON lines, appended with fsync; ids already in the file are not written again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: id -> the rule of its last line (``retracted`` after a retraction)
        self.latest: dict[str, str] = {}
        if not path.parent.is_dir():
            raise InputError(f"--alerts {path}: the folder {path.parent} does not exist")
        if path.exists():
            self._repair()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    alert = json.loads(line)
                    self.latest[str(alert["id"])] = str(alert["rule"])
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"--alerts {path}, line {number}: not an alert line written by tracer watch; "
                                     "give another file") from None

    def _repair(self) -> None:
        """Cut a last line a kill left without its newline (it is written again whole)."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())

    def holds(self, alert: dict[str, Any]) -> bool:
        """Whether the file's last line of this alert's id has its rule (nothing to write)."""
        return self.latest.get(str(alert["id"])) == alert["rule"]

    def append(self, line: str, alert: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.latest[str(alert["id"])] = str(alert["rule"])


@contextmanager
def watch_lock(case: Case) -> Iterator[None]:
    """One watch per case at a time (a second would record every alert twice); released by the
    operating system when the process dies, even by SIGKILL."""
    directory = case.dir / WATCH_DIR
    directory.mkdir(exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another `tracer watch {case.name}` is running; stop it first") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
