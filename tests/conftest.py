# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: real nodes on 127.0.0.1, an isolated tracer home, the CLI runner.

The node fixtures start real software (``litecoind -regtest -txindex`` and ``anvil``) once per
test session on free loopback ports with temporary data directories, and stop them at the end.
They fail, not skip, when the binaries are missing: the README's test command installs them
(``scripts/install_nodes.sh``), and a silently skipped integration test would hide a broken
adapter.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from testing.devnodes import Anvil, LitecoinRegtest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def litecoind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitecoinRegtest]:
    """A running ``litecoind -regtest -txindex`` with a loaded wallet named ``miner``."""
    node = LitecoinRegtest.start(tmp_path_factory.mktemp("litecoind"))
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "miner")
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A running ``anvil`` (chain id 31337, ten funded accounts)."""
    node = Anvil.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """ArcadeDB with its Neo4j Bolt listener on 127.0.0.1, in a subprocess (it runs a JVM)."""
    from testing.devserver import ArcadeBoltServer

    server = ArcadeBoltServer.start(tmp_path_factory.mktemp("arcadedb"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def shared_data() -> Path:
    """``../shared/data`` (third-party test data, never copied into the repository)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party test data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def tracer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``TRACER_HOME`` with no config file and no inherited tracer variables."""
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("TRACER_HOME", str(home))
    monkeypatch.setenv("TRACER_ACTOR", "analyst@unit-test")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return home


class Cli:
    """Runs ``tracer`` in-process and returns the result (exit code, stdout, stderr)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        from cli.app import app

        return self.runner.invoke(app, list(args), catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture()
def cli(tracer_home: Path) -> Cli:
    return Cli()
