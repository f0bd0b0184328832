# SPDX-License-Identifier: Apache-2.0
"""Test support for ``tracer deconflict``: agencies as separate workspaces (one ``TRACER_HOME``
each) on one machine, each with an Ed25519 key, running the real CLI in-process.

The chain is the hand-checked one of ``tests/cli/test_case_links.py`` (real ``ltc-regtest``
addresses): S's 100,000 units and U's 50,000 are spent together (tx b, to P and Q; so S and U are
one cluster), and P's output goes to the exchange deposit E and to R (tx c). Agency A's case
``op-a`` traces S forward and so reaches E; agency B's case ``op-b`` starts from E and U (an
exchange's reply, say) and an address nobody else knows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.embedded import EmbeddedStore
from jobs.keys import Signer, load_signer
from jobs.settings import load_settings
from tests.cli.test_case_links import ADDR, CHAIN, UNRELATED
from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain

__all__ = ["Agencies", "ADDR", "CHAIN", "UNRELATED", "two_agencies", "built_once", "copy_of"]


def chain() -> UtxoChain:
    built = UtxoChain(CHAIN)
    built.coinbase("a", [(ADDR["S"], 100_000)])
    built.coinbase("x", [(ADDR["U"], 50_000)])
    built.tx("b", [("a", 0), ("x", 0)], [(ADDR["P"], 90_000), (ADDR["Q"], 59_000)])
    built.tx("c", [("b", 0)], [(ADDR["E"], 80_000), (ADDR["R"], 9_500)])
    return built


class Agencies:
    """Workspaces ``root/<name>``; :meth:`run` runs ``tracer`` as that agency."""

    def __init__(self, cli: Cli, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cli, self.root, self.monkeypatch = cli, root, monkeypatch

    def home(self, name: str) -> Path:
        return self.root / name

    def run(self, name: str, *args: str) -> Any:
        self.monkeypatch.setenv("TRACER_HOME", str(self.home(name)))
        return self.cli(*args)

    def json(self, name: str, *args: str) -> Any:
        result = self.run(name, *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def key(self, name: str, contact: str) -> None:
        assert self.run(name, "keys", "create", name, "--contact", contact).exit_code == 0
        assert self.run(name, "keys", "export", name, "--out", str(self.root / f"{name}.pub")).exit_code == 0

    def trust(self, name: str, other: str) -> None:
        assert self.run(name, "keys", "trust", str(self.root / f"{other}.pub")).exit_code == 0

    def case(self, name: str, case: str, seeds: list[str], *, store: bool = True) -> None:
        assert self.run(name, "case", "create", case).exit_code == 0
        for seed in seeds:
            assert self.run(name, "case", "seed", "add", case, seed, "--chain", CHAIN).exit_code == 0
        if store:
            with EmbeddedStore.open(self.home(name) / "cases" / case / "graph.lbug") as db:
                db.ensure_schema()
                db.load(chain().frames())

    def signer(self, name: str) -> Signer:
        return load_signer(load_settings({"TRACER_HOME": str(self.home(name))}), name, None)

    def log(self, name: str, case: str) -> list[dict[str, Any]]:
        return list(self.json(name, "case", "log", case))


def two_agencies(cli: Cli, root: Path, monkeypatch: pytest.MonkeyPatch) -> Agencies:
    """Agencies ``a`` and ``b`` that trust each other; ``op-a`` traced forward from S, ``op-b``
    seeded with E, U and an unrelated address; both with the chain in their stores."""
    agencies = Agencies(cli, root, monkeypatch)
    agencies.key("a", "FIU A duty desk +351 000")
    agencies.key("b", "BKA SO 41 +49 000")
    agencies.trust("a", "b")
    agencies.trust("b", "a")
    agencies.case("a", "op-a", [ADDR["S"]])
    assert agencies.run("a", "trace", "op-a").exit_code == 0
    agencies.case("b", "op-b", [ADDR["E"], ADDR["U"], UNRELATED])
    return agencies


def built_once(root: Path) -> Iterator[Path]:
    """:func:`two_agencies` built once under ``root`` (for a module-scoped fixture: the cases, the
    trace and the stores take seconds), in an environment as isolated as ``tracer_home``'s."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in list(os.environ):
            if name.startswith(("TRACER_", "NEO4J_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("TRACER_ACTOR", "analyst@unit-test")
        monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg-config"))
        two_agencies(Cli(), root / "agencies", monkeypatch)
        yield root / "agencies"


def copy_of(template: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Agencies:
    """A private copy of the agencies built by :func:`built_once`, for one test to change."""
    shutil.copytree(template, tmp_path / "agencies", symlinks=True)
    return Agencies(cli, tmp_path / "agencies", monkeypatch)
