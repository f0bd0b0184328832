# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the ``tracer watch`` tests: the watch command run in-process (``watch``), and on a
private ``litecoind -regtest`` (``ltc``: the reorg tests invalidate blocks, which must not disturb the
session-wide node) a suspect's money flow a case traces: the seed S receives 1 LTC, pays 0.6 to T and
0.3999 to C; T's and C's outputs are left ``held``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from testing.devnodes import LitecoinRegtest
from tests.conftest import Cli

CHAIN = "ltc-regtest"


@pytest.fixture(scope="module")
def ltc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitecoinRegtest]:
    """A private regtest node with a mining wallet ``w`` (110 blocks) and a wallet ``suspect``."""
    node = LitecoinRegtest.start(tmp_path_factory.mktemp("ltc-watch"))
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "w")
            rpc.call("createwallet", "suspect")
        with node.rpc(wallet="w") as wallet:
            wallet.call("generatetoaddress", 110, wallet.call("getnewaddress"))
        yield node
    finally:
        node.stop()


class Watch:
    """``tracer watch`` in-process (through :mod:`tests.watch.watch_app`)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        from tests.watch.watch_app import app

        return self.runner.invoke(app, ["watch", *args], catch_exceptions=False)

    @staticmethod
    def lines(result: Any) -> list[dict[str, Any]]:
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture()
def watch(tracer_home: Path) -> Watch:
    return Watch()


def mine(node: LitecoinRegtest, blocks: int = 1) -> list[str]:
    with node.rpc(wallet="w") as wallet:
        return [str(h) for h in wallet.call("generatetoaddress", blocks, wallet.call("getnewaddress"))]


def new_address(node: LitecoinRegtest, wallet: str = "suspect") -> str:
    with node.rpc(wallet=wallet) as rpc:
        return str(rpc.call("getnewaddress", "", "bech32"))


def pay(node: LitecoinRegtest, address: str, amount: str) -> tuple[str, int]:
    """The mining wallet pays ``amount`` LTC to ``address`` (not mined); the txid and the output's index."""
    with node.rpc(wallet="w") as wallet:
        txid = str(wallet.call("sendtoaddress", address, Decimal(amount)))
        outputs = wallet.call("getrawtransaction", txid, True)["vout"]
    vout = next(o["n"] for o in outputs if address in _addresses(o["scriptPubKey"]))
    return txid, int(vout)


def _addresses(script: dict[str, Any]) -> list[str]:
    return [script["address"]] if "address" in script else list(script.get("addresses", []))


def spend(node: LitecoinRegtest, inputs: list[tuple[str, int]], outputs: list[tuple[str, str]],
          wallet: str = "suspect") -> str:
    """Spend exactly ``inputs`` to ``outputs`` (address, LTC; in this order) from ``wallet``; not mined."""
    with node.rpc(wallet=wallet) as rpc:
        raw = rpc.call("createrawtransaction", [{"txid": t, "vout": v} for t, v in inputs],
                       [{a: Decimal(v)} for a, v in outputs])
        signed = rpc.call("signrawtransactionwithwallet", raw)
        assert signed["complete"], signed
        return str(rpc.call("sendrawtransaction", signed["hex"]))


@dataclass(frozen=True)
class Flow:
    """The suspect's flow: S received ``funding``; ``split`` paid T (output 0) and C (output 1)."""

    seed: str
    t: str
    c: str
    funding: tuple[str, int]
    split: str


def make_flow(node: LitecoinRegtest) -> Flow:
    seed, t, c = (new_address(node) for _ in range(3))
    funding = pay(node, seed, "1.0")
    mine(node)
    split = spend(node, [funding], [(t, "0.6"), (c, "0.3999")])
    mine(node)
    return Flow(seed, t, c, funding, split)


def traced_case(cli: Cli, node: LitecoinRegtest, flow: Flow, name: str = "op-watch") -> dict[str, Any]:
    """A case with seed S, every block loaded, and a forward haircut trace (T's and C's outputs held)."""
    assert cli("case", "create", name).exit_code == 0
    assert cli("case", "seed", "add", name, flow.seed, "--chain", CHAIN, "--label", "vendor").exit_code == 0
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--case", name)
    traced = cli.json("trace", name, "--model", "haircut")
    held = {(e["txid"], e["position"]) for e in traced["endings"] if e["ending"] == "held"}
    assert {(flow.split, "0"), (flow.split, "1")} <= held, traced["endings"]
    return traced


Runner = Callable[..., Any]
