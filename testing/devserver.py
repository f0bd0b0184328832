# SPDX-License-Identifier: Apache-2.0
"""A local ArcadeDB server with its Neo4j Bolt listener, for tests and benchmarks of the Neo4j backend.

Neo4j itself is not installable on these machines; ArcadeDB (``pip install arcadedb-embedded``)
speaks Bolt and Cypher to the official ``neo4j`` driver unchanged (shared design notes §1). The
server runs in a **subprocess** (:mod:`testing.arcadedb_child`), never in the calling process: it
starts a JVM through JPype. Every listener is bound to 127.0.0.1 on a free port.

Example::

    server = ArcadeBoltServer.start(tmp_path)
    server.create_database("tracer")
    store = Neo4jStore(server.uri, server.user, server.password, database="tracer")
    ...
    server.stop()
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

__all__ = ["ArcadeBoltServer", "free_port"]

_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class ArcadeBoltServer:
    """An ArcadeDB server process with Bolt on ``uri`` and the HTTP API on ``http_port``."""

    user = "root"

    def __init__(
        self, process: subprocess.Popen[bytes], root_dir: Path, password: str, bolt_port: int, http_port: int
    ) -> None:
        self.process: subprocess.Popen[bytes] | None = process
        self.root_dir = root_dir
        self._password = password
        self.bolt_port = bolt_port
        self.http_port = http_port

    @classmethod
    def start(cls, root_dir: Path, password: str | None = None, *, timeout: float = 60.0) -> ArcadeBoltServer:
        """Start a server whose databases live under ``root_dir``; returns once Bolt and HTTP answer.

        Raises
        ------
        RuntimeError
            The child exited before answering (message carries the tail of its stderr).
        TimeoutError
            Nothing answered within ``timeout`` seconds (the child is killed).
        """
        root = Path(root_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        # ArcadeDB requires a root password of at least 8 characters
        password = password if password is not None else secrets.token_urlsafe(18)
        bolt_port, http_port = free_port(), free_port()
        while http_port == bolt_port:
            http_port = free_port()
        log = root / "arcadedb.stderr.log"
        env = {**os.environ, "ARCADEDB_ROOT_PASSWORD": password}
        args = [sys.executable, "-m", "testing.arcadedb_child", str(root), str(bolt_port), str(http_port)]
        repo = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
        with log.open("wb") as err:
            process = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, cwd=str(root), env=env
            )
        server = cls(process, root, password, bolt_port, http_port)
        try:
            server._wait_ready(timeout, log)
        except BaseException:
            server._terminate(grace=5.0)
            raise
        return server

    def _wait_ready(self, timeout: float, log: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"ArcadeDB server exited with code {code} before answering; stderr tail:\n{tail}")
            if _port_open(self.bolt_port) and self._http_ready():
                return
            time.sleep(0.1)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise TimeoutError(
            f"ArcadeDB Bolt listener on 127.0.0.1:{self.bolt_port} did not answer within {timeout:g}s; "
            f"stderr tail:\n{tail}"
        )

    def _http_ready(self) -> bool:
        try:
            response = requests.get(f"http://127.0.0.1:{self.http_port}/api/v1/ready", timeout=1.0)
        except requests.RequestException:
            return False
        ok = response.status_code < 300
        response.close()
        return ok

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def password(self) -> str:
        return self._password

    def __repr__(self) -> str:  # never show the password
        return f"ArcadeBoltServer(uri={self.uri!r}, http_port={self.http_port}, root_dir={str(self.root_dir)!r})"

    def create_database(self, name: str) -> None:
        """Create database ``name`` through the HTTP API (a Bolt session can only name an existing one)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must be letters, digits, '_' or '-', starting with a letter")
        response = requests.post(
            f"http://127.0.0.1:{self.http_port}/api/v1/server",
            json={"command": f"create database {name}"},
            auth=(self.user, self._password),
            timeout=60,
        )
        try:
            if response.status_code >= 300:
                raise RuntimeError(
                    f"ArcadeDB refused to create database {name!r}: HTTP {response.status_code} {response.text[:500]}"
                )
        finally:
            response.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (signal, then SIGKILL after ``timeout`` seconds); idempotent."""
        self._terminate(grace=timeout)

    def _terminate(self, grace: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> ArcadeBoltServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
