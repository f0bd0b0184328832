# SPDX-License-Identifier: Apache-2.0
"""The main job's fixture case (``fixtures/op-fixture``), built through the CLI for the Neo4j tests.

:func:`build_case` does what ``scripts/main_job.sh`` does, with fewer traces: the case and its
seeds, the committed frames, the exchange's TagPack, common-input clustering, and two traces
(Litecoin forward FIFO over 12 hops, Ethereum forward FIFO over 4). :func:`fixture_home` runs it
once per test module in its own ``TRACER_HOME``; :func:`push` copies it to a Bolt database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"
CASE = "op-fixture"
LTC, ETH = "ltc-regtest", "eth-devnet"


def story() -> dict[str, Any]:
    """``story.json``: every address, txid and amount of ``STORY.md`` as data."""
    return dict(json.loads((FIXTURE / "story.json").read_text()))


@contextmanager
def tracer_env(home: Path, bolt: Any | None = None) -> Iterator[Cli]:
    """A CLI runner with ``TRACER_HOME=home`` (and the Bolt server's credentials in ``NEO4J_*``)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("TRACER_", "NEO4J_")):
                patch.delenv(name)
        patch.setenv("TRACER_HOME", str(home))
        patch.setenv("TRACER_ACTOR", "analyst@unit-test")
        patch.setenv("XDG_CONFIG_HOME", str(home.parent / "xdg-config"))
        if bolt is not None:
            patch.setenv("NEO4J_USER", bolt.user)
            patch.setenv("NEO4J_PASSWORD", bolt.password)
        yield Cli()


def run(cli: Cli, *args: str) -> Any:
    """One command that must succeed; its ``--json`` output."""
    return cli.json(*args)


def build_case(cli: Cli, name: str = CASE) -> str:
    """The fixture case ``name``: seeds, frames, tags, clusters and two traces (runs 1 and 2)."""
    spec = json.loads((FIXTURE / "case.json").read_text())
    assert cli("case", "create", name).exit_code == 0
    for seed in spec["seeds"]:
        result = cli("case", "seed", "add", name, seed["address"], "--chain", seed["chain"], "--label", seed["label"])
        assert result.exit_code == 0, result.output
    run(cli, "ingest", "frames", str(FIXTURE / "frames"), "--case", name)
    tags = cli("tags", "import", str(FIXTURE / "exchange-tagpack.yaml"), "--case", name)
    assert tags.exit_code == 0, tags.output
    run(cli, "cluster", "run", name)
    run(cli, "trace", name, "--chain", LTC, "--direction", "forward", "--model", "fifo", "--hops", "12")
    run(cli, "trace", name, "--chain", ETH, "--direction", "forward", "--model", "fifo", "--hops", "4")
    return name


def push(cli: Cli, bolt: Any, database: str, case: str = CASE, *extra: str) -> Any:
    """``tracer graph push`` of ``case`` to ``database`` on the Bolt server; its JSON result."""
    return run(cli, "graph", "push", case, "--neo4j", bolt.uri, "--database", database, *extra)
