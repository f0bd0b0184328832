# SPDX-License-Identifier: Apache-2.0
"""The fixture chain in a fresh case, through the real CLI, for tests that kill a job half-way."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"


def _env(home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            del os.environ[name]
    os.environ.update(TRACER_HOME=str(home), TRACER_ACTOR="analyst@unit-test", XDG_CONFIG_HOME=str(home / "xdg"))


def _tracer(*args: str) -> object:
    from cli.app import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _case(home: Path) -> None:
    _env(home)
    spec = json.loads((FIXTURE / "case.json").read_text())
    assert _tracer("case", "create", "op-kill").exit_code == 0  # type: ignore[attr-defined]
    for seed in spec["seeds"]:
        assert _tracer("case", "seed", "add", "op-kill", seed["address"], "--chain",  # type: ignore[attr-defined]
                       seed["chain"]).exit_code == 0
    assert _tracer("ingest", "frames", str(FIXTURE / "frames"), "--case", "op-kill").exit_code == 0  # type: ignore[attr-defined]


