# SPDX-License-Identifier: Apache-2.0
"""Child process of :class:`testing.devserver.ArcadeBoltServer`: runs ArcadeDB with its Bolt plugin.

ArcadeDB runs a JVM through JPype, so it never runs inside the calling (test) process. Usage::

    python -m testing.arcadedb_child ROOT_DIR BOLT_PORT HTTP_PORT

The root password is read from the ``ARCADEDB_ROOT_PASSWORD`` environment variable (never from
the command line, where ``ps`` would show it). The JVM ignores SIGTERM while the main thread is
blocked, so the signal handler stops the server itself; the parent falls back to SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType


def main(argv: list[str]) -> int:
    root, bolt_port, http_port = argv[0], int(argv[1]), int(argv[2])
    password = os.environ.get("ARCADEDB_ROOT_PASSWORD")
    from arcadedb_embedded.server import ArcadeDBServer

    server = ArcadeDBServer(
        root_path=root,
        root_password=password,
        config={
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
            "http_port": http_port,
        },
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while not done.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
