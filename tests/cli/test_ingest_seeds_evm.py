# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest seeds`` for Ethereum seeds: an address's history from the node itself.

On a real ``anvil``: a suspect address receives ETH and a token from A and an internal transfer
from a splitter contract, and pays B. The suspect's transactions are found through ``eth_getLogs``
(token transfers, the address as topic1 or topic2) plus the Otterscan API or ``trace_filter``
(native and internal), read as whole blocks, and only they land in the case's store, with the same
rows a block-range ingest gives; ``--hops 1`` adds the counterparties' transactions, and an
unrelated address's transactions are never loaded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from adapters.evm.address_source import OTTERSCAN, TRACE_FILTER, EvmAddressSource
from adapters.evm.node import EvmNode
from graph.embedded import EmbeddedStore
from testing import devcontracts as dc
from testing.devnodes import Anvil
from tests.conftest import Cli
from tracer.chains import default_registry

CHAIN = "eth-devnet"
DEVNET = default_registry().get(CHAIN)
ETH = 10**18


@dataclass(frozen=True)
class World:
    anvil: Anvil
    suspect: str
    a: str
    b: str
    token: str
    splitter: str
    txs: dict[str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Accounts: 0 deploys the token (and holds it), 1 = A, 2 = the suspect, 3 = B, 4 -> 7 unrelated,
    6 = X, who pays the splitter (deployed by 0) that forwards a third to the suspect, the rest to B."""
    anvil = Anvil.start()
    try:
        with anvil.rpc() as rpc:
            acc = dc.accounts(rpc)
            owner, a, suspect, b, c, d, x, e = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
            t: dict[str, str] = {}
            token, t["deploy_token"] = dc.deploy_with_txid(rpc, "TestToken", ["Seed Token", "SEED", 6, 10**12],
                                                           sender=owner)
            splitter, t["deploy_splitter"] = dc.deploy_with_txid(rpc, "Forwarder", [suspect, b], sender=owner)
            t["fund_a"] = dc.transact(rpc, "TestToken", token, "transfer", [a, 5_000_000], sender=owner)
            t["eth_in"] = dc.send(rpc, a, suspect, value=2 * ETH)
            t["token_in"] = dc.transact(rpc, "TestToken", token, "transfer", [suspect, 1_250_000], sender=a)
            t["split"] = dc.send(rpc, x, splitter, value=3 * ETH, gas=100_000)
            t["eth_out"] = dc.send(rpc, suspect, b, value=ETH // 2)
            t["b_onward"] = dc.send(rpc, b, d, value=ETH // 4)
            t["unrelated"] = dc.send(rpc, c, e, value=ETH)
            t["unrelated_token"] = dc.transact(rpc, "TestToken", token, "transfer", [c, 7], sender=owner)
            for txid in t.values():
                dc.receipt(rpc, txid)
        yield World(anvil, suspect, a, b, token, splitter, t)
    finally:
        anvil.stop()


def _stored(home: Path, case: str) -> Any:
    with EmbeddedStore.open(home / "cases" / case / "graph.lbug", read_only=True) as store:
        return store.read_frames(CHAIN)


def _names(w: World, txids: list[str]) -> set[str]:
    by_id = {v: k for k, v in w.txs.items()}
    return {by_id.get(t, t) for t in txids}


@pytest.mark.parametrize("history", [OTTERSCAN, TRACE_FILTER])
def test_an_address_history_is_its_native_internal_and_token_transactions_newest_first(
    world: World, history: str
) -> None:
    with EvmAddressSource(EvmNode(world.anvil.url, DEVNET), history=history, window=3) as source:
        assert source.history_method() == history
        txids = source.address_txids(world.suspect)
        assert _names(world, txids) == {"eth_in", "token_in", "split", "eth_out"}
        # newest first: the suspect's own payment is the last of the four
        assert [*_names(world, txids[:1])] == ["eth_out"]
        assert len(source.address_txids(world.suspect, limit=2)) == 2
        # a contract's history starts with its creation
        assert _names(world, source.address_txids(world.splitter)) == {"deploy_splitter", "split"}
        frames = source.transactions(txids)
    rows = {(r["kind"], r["from_address"], r["to_address"], r["asset"], int(r["value"]))
            for r in frames.transfers.filter(pl.col("kind") != "fee").iter_rows(named=True)}
    assert rows == {
        ("native", world.a, world.suspect, "native", 2 * ETH),
        ("token", world.a, world.suspect, world.token, 1_250_000),
        ("native", dc_account(world, 6), world.splitter, "native", 3 * ETH),
        ("internal", world.splitter, world.suspect, "native", ETH),
        ("internal", world.splitter, world.b, "native", 2 * ETH),
        ("native", world.suspect, world.b, "native", ETH // 2),
    }
    assert sorted(frames.transactions["txid"].to_list()) == sorted(txids)


def dc_account(world: World, index: int) -> str:
    with world.anvil.rpc() as rpc:
        return dc.accounts(rpc)[index]


def test_seeds_load_exactly_the_suspects_transactions_with_block_ingest_rows(
    cli: Cli, tracer_home: Path, world: World
) -> None:
    cli("case", "create", "op-eth-seed")
    cli("case", "seed", "add", "op-eth-seed", world.suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-eth-seed", "--node", world.anvil.url)
    [chain] = result["chains"]
    assert chain["chain"] == CHAIN and chain["source"] == f"rpc:{world.anvil.url}"
    assert [(h["hop"], h["addresses_queried"], h["transactions_loaded"]) for h in chain["hops"]] == [(0, 1, 4)]
    stored = _stored(tracer_home, "op-eth-seed")
    assert _names(world, stored.transactions["txid"].to_list()) == {"eth_in", "token_in", "split", "eth_out"}

    # the same rows as a block-range ingest of the whole chain gives for these transactions
    cli("case", "create", "op-eth-range")
    cli.json("ingest", "evm", "--chain", CHAIN, "--node", world.anvil.url, "--from", "0", "--case", "op-eth-range")
    everything = _stored(tracer_home, "op-eth-range")
    mine = stored.transfers.drop("source").sort(["txid", "kind", "log_index", "trace_path"], nulls_last=True)
    same = everything.transfers.filter(pl.col("txid").is_in(stored.transactions["txid"])).drop("source").sort(
        ["txid", "kind", "log_index", "trace_path"], nulls_last=True)
    assert mine.equals(same)


def test_one_hop_adds_the_counterparties_transactions_and_nothing_unrelated(
    cli: Cli, tracer_home: Path, world: World
) -> None:
    cli("case", "create", "op-eth-hop")
    cli("case", "seed", "add", "op-eth-hop", world.suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-eth-hop", "--node", world.anvil.url, "--hops", "1")
    hops = result["chains"][0]["hops"]
    # hop 0: the parties of the suspect's four transactions, A, B, X (who paid the splitter) and the
    # splitter; not the miner (it only receives fees) nor the token contract (an asset, not a party).
    # hop 1 finds the owner (who funded A) and D (paid by B): the frontier of a hop 2
    assert [(h["hop"], h["addresses_queried"], h["new_counterparties"]) for h in hops] == [(0, 1, 4), (1, 4, 2)]
    loaded = _names(world, _stored(tracer_home, "op-eth-hop").transactions["txid"].to_list())
    assert loaded == {"eth_in", "token_in", "split", "eth_out",  # the suspect's
                      "fund_a",  # A's token came from the owner
                      "b_onward",  # B paid D
                      "deploy_splitter"}  # the splitter's creation (the owner created it)
    assert not loaded & {"unrelated", "unrelated_token", "deploy_token"}


class _GethLikeProxy(BaseHTTPRequestHandler):
    """Forwards JSON-RPC to anvil but refuses the Otterscan and trace methods, as plain Geth does."""

    upstream = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls = body if isinstance(body, list) else [body]
        refused = {c["id"]: {"jsonrpc": "2.0", "id": c["id"], "error": {
            "code": -32601, "message": f"the method {c['method']} does not exist/is not available"}}
            for c in calls if c["method"].startswith(("ots_", "trace_"))}
        passed = [c for c in calls if c["id"] not in refused]
        answers = requests.post(self.upstream, json=passed, timeout=30).json() if passed else []
        replies = [*answers, *refused.values()]
        data = json.dumps(replies if isinstance(body, list) else replies[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_node_that_cannot_list_native_history_is_a_clear_error(cli: Cli, world: World) -> None:
    handler = type("Handler", (_GethLikeProxy,), {"upstream": world.anvil.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cli("case", "create", "op-eth-geth")
        cli("case", "seed", "add", "op-eth-geth", world.suspect, "--chain", CHAIN)
        result = cli("ingest", "seeds", "op-eth-geth", "--node", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 4
    assert "neither the Otterscan API nor trace_filter" in result.stderr and "tracer ingest evm" in result.stderr
    assert cli.json("case", "log", "op-eth-geth")[-1]["action"] == "ingest.seeds.failed"


# -- --from-store: a chain store filled by a block-range ingest -------------------------------------------


def _chain_store(cli: Cli, tracer_home: Path, world: World) -> Path:
    """The whole devnet ingested into a store outside any case (a unit-wide chain store)."""
    cli.json("ingest", "evm", "--chain", CHAIN, "--node", world.anvil.url, "--from", "0")
    return tracer_home / "graph.lbug"


def test_from_store_copies_whole_transactions_of_the_suspect_and_its_counterparties(
    cli: Cli, tracer_home: Path, world: World
) -> None:
    chain_store = _chain_store(cli, tracer_home, world)
    cli("case", "create", "op-eth-store")
    cli("case", "seed", "add", "op-eth-store", world.suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-eth-store", "--from-store", str(chain_store), "--hops", "1")
    [chain] = result["chains"]
    assert chain["source"] == f"store:{chain_store}"
    # the same frontier as from the node: hop 0 = the suspect's four transactions and four parties
    # (A, B, X, the splitter); hop 1 finds the owner (who funded A) and D (paid by B)
    assert [(h["hop"], h["addresses_queried"], h["transactions_loaded"], h["new_counterparties"])
            for h in chain["hops"]] == [(0, 1, 4, 4), (1, 4, 2, 2)]
    copied = _stored(tracer_home, "op-eth-store")
    # the splitter's creation moved no value: a chain store has no transfer row naming the splitter
    # there, so unlike the node's trace search it is not part of the splitter's history
    assert _names(world, copied.transactions["txid"].to_list()) == {
        "eth_in", "token_in", "split", "eth_out", "fund_a", "b_onward"}

    with EmbeddedStore.open(chain_store, read_only=True) as store:
        everything = store.read_frames(CHAIN)
    txids = copied.transactions["txid"]
    key = ["txid", "kind", "log_index", "trace_path"]
    assert copied.transactions.sort("txid").equals(everything.transactions.filter(pl.col("txid").is_in(txids))
                                                   .sort("txid"))
    # every row of those transactions, with its source, also the ones that touch no queried address
    assert copied.transfers.sort(key, nulls_last=True).equals(
        everything.transfers.filter(pl.col("txid").is_in(txids)).sort(key, nulls_last=True))
    split = copied.transfers.filter((pl.col("txid") == world.txs["split"]) & (pl.col("kind") == "internal"))
    assert sorted(zip(split["to_address"], split["value"].cast(pl.Int64), strict=True)) == sorted(
        [(world.suspect, ETH), (world.b, 2 * ETH)])


def test_from_store_without_hops_loads_only_the_seeds_transactions(
    cli: Cli, tracer_home: Path, world: World
) -> None:
    chain_store = _chain_store(cli, tracer_home, world)
    cli("case", "create", "op-eth-store0")
    cli("case", "seed", "add", "op-eth-store0", world.suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-eth-store0", "--from-store", str(chain_store))
    assert [(h["hop"], h["transactions_loaded"]) for h in result["chains"][0]["hops"]] == [(0, 4)]
    assert _names(world, _stored(tracer_home, "op-eth-store0").transactions["txid"].to_list()) == {
        "eth_in", "token_in", "split", "eth_out"}
    # loading again changes nothing
    again = cli.json("ingest", "seeds", "op-eth-store0", "--from-store", str(chain_store))
    assert again["chains"][0]["hops"][0]["transactions_loaded"] == 4
    assert _stored(tracer_home, "op-eth-store0").transactions.height == 4


def test_from_store_and_etherscan_together_are_refused(cli: Cli, tracer_home: Path, world: World) -> None:
    cli("case", "create", "op-eth-two")
    cli("case", "seed", "add", "op-eth-two", world.suspect, "--chain", CHAIN)
    result = cli("ingest", "seeds", "op-eth-two", "--from-store", str(tracer_home / "x.lbug"),
                 "--etherscan", "http://127.0.0.1:9/api")
    assert result.exit_code == 2 and "not both" in result.stderr
