# SPDX-License-Identifier: Apache-2.0
"""The main job's case, built once per test module through the real CLI and copied per test: the
fixture chain (fixtures/op-fixture, made on real litecoind -regtest and anvil), the exchange's tags,
clustering, and the main job's traces (forward haircut, every model, the Ethereum leg, backward)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"
LTC, ETH = "ltc-regtest", "eth-devnet"


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACER_", "NEO4J_"))}
    env.update(TRACER_HOME=str(home), TRACER_ACTOR="analyst@unit-test", XDG_CONFIG_HOME=str(home.parent / "xdg"))
    return env


def _build(cli: Cli) -> None:
    spec = json.loads((FIXTURE / "case.json").read_text())
    story = json.loads((FIXTURE / "story.json").read_text())
    steps: list[tuple[str, ...]] = [("case", "create", "op-fixture", "--description", spec["description"])]
    steps += [("case", "seed", "add", "op-fixture", s["address"], "--chain", s["chain"], "--label", s["label"])
              for s in spec["seeds"]]
    steps += [("ingest", "frames", str(FIXTURE / "frames"), "--case", "op-fixture"),
              ("tags", "import", str(FIXTURE / "exchange-tagpack.yaml"), "--case", "op-fixture"),
              ("cluster", "run", "op-fixture"),
              ("trace", "op-fixture", "--chain", LTC, "--direction", "forward", "--model", "haircut", "--hops", "12"),
              ("trace", "op-fixture", "--chain", LTC, "--direction", "forward", "--model", "all", "--hops", "12"),
              ("trace", "op-fixture", "--chain", ETH, "--direction", "forward", "--model", "fifo", "--hops", "4"),
              ("trace", "op-fixture", "--chain", LTC, "--seed", story["ltc"]["exchange_deposit"]["address"],
               "--direction", "backward", "--model", "haircut", "--hops", "12")]
    for step in steps:
        result = cli(*step)
        assert result.exit_code == 0, (step, result.output)


@pytest.fixture(scope="module")
def built_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TRACER_HOME holding the main job's case with its 8 trace runs (built once per module)."""
    home = tmp_path_factory.mktemp("report-case") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("TRACER_", "NEO4J_")):
                patch.delenv(name)
        for key, value in _environment(home).items():
            patch.setenv(key, value)
        _build(Cli())
    return home


@pytest.fixture()
def case_home(built_case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own copy of the built case's home, set as TRACER_HOME."""
    home = tmp_path / "home"
    shutil.copytree(built_case, home)
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            monkeypatch.delenv(name)
    for key, value in _environment(home).items():
        monkeypatch.setenv(key, value)
    yield home
