# SPDX-License-Identifier: Apache-2.0
"""Two agencies on one machine, each with its own TRACER_HOME: unit A holds the main job's case
(built once per module through the real CLI by ``tests/report/conftest.py``) and an Ed25519 key
unit B trusts; unit B starts empty. The packages A exports are made once per module."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.report.conftest import built_case  # noqa: F401 - the main job's case, built once per module

CASE = "op-fixture"


@dataclass(frozen=True)
class Agencies:
    """Unit A's home (the case, its keys) and the packages it exported; B's trust store."""

    home_a: Path
    trusted_b: Path
    #: the signed package, the same case exported a second time, a redacted one, one signed by a key
    #: unit B does not trust
    signed: Path
    again: Path
    redacted: Path
    untrusted: Path


def use_home(patch: pytest.MonkeyPatch, home: Path) -> None:
    """Make ``home`` the TRACER_HOME of the next CLI calls (no other tracer variable inherited)."""
    for name in list(os.environ):
        if name.startswith(("TRACER_", "NEO4J_")):
            patch.delenv(name)
    patch.setenv("TRACER_HOME", str(home))
    patch.setenv("TRACER_ACTOR", "analyst@unit-test")
    patch.setenv("XDG_CONFIG_HOME", str(home.parent / "xdg"))


def _run(cli: Cli, *args: str) -> None:
    result = cli(*args)
    assert result.exit_code == 0, (args, result.output)


@pytest.fixture(scope="module")
def agencies(built_case: Path, tmp_path_factory: pytest.TempPathFactory) -> Agencies:  # noqa: F811
    root = tmp_path_factory.mktemp("agencies")
    home_a, home_b = root / "unit-a" / "home", root / "unit-b-keys" / "home"
    shutil.copytree(built_case, home_a)
    cli = Cli()
    paths = {name: root / f"{name}.tar" for name in ("signed", "again", "redacted", "untrusted")}
    with pytest.MonkeyPatch.context() as patch:
        use_home(patch, home_a)
        _run(cli, "keys", "create", "unit-a", "--contact", "unit A duty officer")
        _run(cli, "keys", "create", "unit-a-old")
        _run(cli, "keys", "export", "unit-a", "--out", str(root / "unit-a.pub"))
        _run(cli, "case", "export", CASE, "--out", str(paths["signed"]), "--sign", "unit-a")
        _run(cli, "case", "export", CASE, "--out", str(paths["again"]), "--sign", "unit-a")
        _run(cli, "case", "export", CASE, "--out", str(paths["redacted"]), "--sign", "unit-a", "--redact",
             "labels,notes")
        _run(cli, "case", "export", CASE, "--out", str(paths["untrusted"]), "--sign", "unit-a-old")
        use_home(patch, home_b)
        _run(cli, "keys", "trust", str(root / "unit-a.pub"), "--name", "partner-unit-a")
        _run(cli, "keys", "list")  # (its key directories, as any keys command leaves them: jobs.keys makes them)
    return Agencies(home_a=home_a, trusted_b=home_b / "keys", **paths)


@pytest.fixture()
def unit_b(agencies: Agencies, tracer_home: Path) -> Path:
    """Unit B's home for this test (``tracer_home``, the TRACER_HOME of the ``cli`` fixture): it
    trusts unit A's key and holds no case."""
    shutil.copytree(agencies.trusted_b, tracer_home / "keys")
    return tracer_home
