# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest utxo``: a block range from a real ``litecoind -regtest -txindex`` into the case's store.

Resumable (checkpoint per batch; a SIGKILL half-way loses nothing and duplicates nothing),
idempotent (a re-run loads nothing), reorg-aware (blocks that left the node's best chain are
removed and the new ones loaded), and clear about bad input (exit 2) and unreachable nodes (exit 4).

These tests start their own node: the reorg test invalidates blocks, which must not disturb the
session-wide node other modules use.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.jsonrpc import JsonRpcClient
from graph.embedded import EmbeddedStore
from testing.devnodes import LitecoinRegtest, free_port
from tests.conftest import Cli

CHAIN = "ltc-regtest"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitecoinRegtest]:
    """A private regtest node with 120 blocks and a few dozen wallet payments."""
    started = LitecoinRegtest.start(tmp_path_factory.mktemp("ltc-ingest"))
    try:
        with started.rpc() as rpc:
            rpc.call("createwallet", "w")
        with started.rpc(wallet="w") as wallet:
            mine_to = wallet.call("getnewaddress")
            wallet.call("generatetoaddress", 110, mine_to)
            for round_ in range(5):
                for _ in range(6):
                    wallet.call("sendtoaddress", wallet.call("getnewaddress"), Decimal("0.3") + Decimal(round_))
                wallet.call("generatetoaddress", 2, mine_to)
        yield started
    finally:
        started.stop()


def _rpc(node: LitecoinRegtest) -> JsonRpcClient:
    return node.rpc()


def _chain_transactions(node: LitecoinRegtest, lo: int, hi: int) -> set[str]:
    with _rpc(node) as rpc:
        txids: set[str] = set()
        for height in range(lo, hi + 1):
            txids.update(rpc.call("getblock", rpc.call("getblockhash", height), 1)["tx"])
    return txids


def _stored(home: Path, case: str) -> Any:
    with EmbeddedStore.open(home / "cases" / case / "graph.lbug", read_only=True) as store:
        return store.read_frames(CHAIN)


def test_a_block_range_lands_whole_and_exact(cli: Cli, tracer_home: Path, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    with _rpc(node) as rpc:
        tip = rpc.call("getblockcount")
    summary = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--case", "op-ltc")
    assert (summary["from_height"], summary["to_height"], summary["blocks_loaded"]) == (0, tip, tip + 1)
    assert node.password not in json.dumps(summary)
    frames = _stored(tracer_home, "op-ltc")
    assert set(frames.transactions["txid"]) == _chain_transactions(node, 0, tip)
    assert frames.transactions["txid"].is_unique().all()
    # every non-coinbase input is linked to the output it spends, with the exact value
    spends = frames.inputs.filter(pl.col("prev_txid").is_not_null())
    linked = spends.join(frames.outputs, left_on=["prev_txid", "prev_index"], right_on=["txid", "index"], how="inner")
    assert linked.height == spends.height
    assert (linked["value"] == linked["value_right"]).all()
    assert (linked["address"] == linked["address_right"]).all()
    # fee = inputs - outputs, per transaction, in litoshi
    with _rpc(node) as rpc:
        some = spends["txid"][0]
        raw = rpc.call("getrawtransaction", some, True)
    paid = sum(int(Decimal(str(v["value"])) * 10**8) for v in raw["vout"])
    received = spends.filter(pl.col("txid") == some)["value"].sum()
    assert frames.transactions.filter(pl.col("txid") == some)["fee"][0] == Decimal(received - paid)
    assert cli.json("case", "log", "op-ltc")[-1]["action"] == "ingest.utxo"


def test_running_the_same_ingest_again_loads_nothing(cli: Cli, tracer_home: Path, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    args = ("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", "115", "--case", "op-ltc")
    cli.json(*args)
    before = _stored(tracer_home, "op-ltc")
    again = cli.json(*args)
    assert again["blocks_loaded"] == 0 and again["blocks_already_done"] == 116
    after = _stored(tracer_home, "op-ltc")
    for name, frame in before.frames().items():
        assert after.frames()[name].equals(frame), name


def test_a_later_range_resolves_its_inputs_from_the_store(cli: Cli, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", "110", "--case", "op-ltc")
    later = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "111", "--case", "op-ltc")
    assert later["prevouts_from_store"] > 0
    assert later["prevouts_from_node"] == 0


def test_a_range_whose_inputs_are_elsewhere_asks_the_node(cli: Cli, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    later = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "111", "--case", "op-ltc")
    assert later["prevouts_from_node"] > 0


def test_sigkill_half_way_then_resume_gives_every_transaction_exactly_once(
    tracer_home: Path, cli: Cli, node: LitecoinRegtest
) -> None:
    cli("case", "create", "op-kill")
    with _rpc(node) as rpc:
        tip = rpc.call("getblockcount")
    env = {**os.environ, "TRACER_HOME": str(tracer_home)}
    command = [sys.executable, "-c", "from cli.app import main; main()", "ingest", "utxo", "--chain", CHAIN,
               "--node", node.url, "--from", "0", "--to", str(tip), "--case", "op-kill", "--batch-blocks", "2"]
    checkpoint = tracer_home / "cases" / "op-kill" / "graph.lbug.ingest" / f"{CHAIN}.json"
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["done"][0][1] >= 9:
            break
        time.sleep(0.01)
    assert process.poll() is None, "ingest finished before it could be killed; make the range longer"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stderr is not None
    process.stderr.close()
    half = json.loads(checkpoint.read_text())["done"]
    assert half[0][1] < tip
    resumed = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", str(tip),
                       "--case", "op-kill")
    assert resumed["blocks_already_done"] >= 10
    frames = _stored(tracer_home, "op-kill")
    assert frames.transactions["txid"].is_unique().all()
    assert set(frames.transactions["txid"]) == _chain_transactions(node, 0, tip)
    cli("case", "create", "op-clean")
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", str(tip),
             "--case", "op-clean")
    clean = _stored(tracer_home, "op-clean")
    for name, frame in clean.frames().items():
        if name != "seeds":
            assert frames.frames()[name].to_dicts() == frame.to_dicts(), name


def test_a_reorg_replaces_the_orphaned_blocks(cli: Cli, tracer_home: Path, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-reorg")
    with node.rpc(wallet="w") as wallet:
        doomed = wallet.call("sendtoaddress", wallet.call("getnewaddress"), Decimal("1.25"))
        mine_to = wallet.call("getnewaddress")
        fork_block = wallet.call("generatetoaddress", 1, mine_to)[0]
        wallet.call("generatetoaddress", 1, mine_to)
        tip = wallet.call("getblockcount")
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--case", "op-reorg")
    assert doomed in set(_stored(tracer_home, "op-reorg").transactions["txid"])
    with node.rpc(wallet="w") as wallet:
        fork_height = wallet.call("getblock", fork_block)["height"]
        wallet.call("invalidateblock", fork_block)
        competitor = wallet.call("getnewaddress")
        for _ in range(3):  # a longer competing chain whose blocks leave the payment out
            wallet.call("generateblock", competitor, [])
        new_tip = wallet.call("getblockcount")
    assert new_tip == tip + 1
    summary = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--case", "op-reorg")
    assert summary["reorgs"][0]["fork_height"] == fork_height
    assert summary["reorgs"][0]["removed_transactions"] >= 3  # two coinbases and the payment
    frames = _stored(tracer_home, "op-reorg")
    assert doomed not in set(frames.transactions["txid"])
    assert set(frames.transactions["txid"]) == _chain_transactions(node, 0, new_tip)
    with _rpc(node) as rpc:
        node_hashes = [rpc.call("getblockhash", h) for h in range(fork_height, new_tip + 1)]
    stored_hashes = (
        frames.transactions.filter(pl.col("block_height") >= fork_height)
        .select("block_height", "block_hash").unique().sort("block_height")["block_hash"].to_list()
    )
    assert stored_hashes == node_hashes


def test_height_past_the_tip_is_bad_input_and_writes_nothing(cli: Cli, tracer_home: Path,
                                                             node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    result = cli("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", "999999",
                 "--case", "op-ltc")
    assert result.exit_code == 2
    assert "past the node's tip" in result.stderr
    assert node.password not in result.stderr
    assert not (tracer_home / "cases" / "op-ltc" / "graph.lbug.ingest").exists()


def test_unreachable_node_exits_4_and_wrong_password_exits_2(cli: Cli, node: LitecoinRegtest) -> None:
    cli("case", "create", "op-ltc")
    down = cli("ingest", "utxo", "--chain", CHAIN, "--node", f"http://u:p@127.0.0.1:{free_port()}", "--from", "0",
               "--case", "op-ltc")
    assert down.exit_code == 4
    assert "cannot connect" in down.stderr and ":p@" not in down.stderr
    wrong = node.url.replace(node.password, "not-the-password")
    refused = cli("ingest", "utxo", "--chain", CHAIN, "--node", wrong, "--from", "0", "--case", "op-ltc")
    assert refused.exit_code == 2
    assert "credentials refused" in refused.stderr and "not-the-password" not in refused.stderr


def test_an_account_chain_or_unknown_chain_is_refused(cli: Cli, node: LitecoinRegtest) -> None:
    assert cli("ingest", "utxo", "--chain", "eth", "--node", node.url, "--from", "0").exit_code == 2
    assert cli("ingest", "utxo", "--chain", "doge", "--node", node.url, "--from", "0").exit_code == 2


def test_a_node_without_txindex_is_named_as_the_problem(cli: Cli, tmp_path: Path) -> None:
    bare = LitecoinRegtest.start(tmp_path / "no-txindex", txindex=False)
    try:
        with bare.rpc() as rpc:
            rpc.call("createwallet", "w")
        with bare.rpc(wallet="w") as wallet:
            wallet.call("generatetoaddress", 101, wallet.call("getnewaddress"))
            wallet.call("sendtoaddress", wallet.call("getnewaddress"), Decimal("1"))
            wallet.call("generatetoaddress", 1, wallet.call("getnewaddress"))
        cli("case", "create", "op-bare")
        result = cli("ingest", "utxo", "--chain", CHAIN, "--node", bare.url, "--from", "102", "--case", "op-bare")
        assert result.exit_code == 2
        assert "-txindex" in result.stderr
    finally:
        bare.stop()


def test_cookie_authentication_reads_the_node_cookie_file(cli: Cli, tmp_path: Path, node: LitecoinRegtest) -> None:
    """``--rpc-cookie`` reads ``user:secret`` from the node's ``.cookie`` file; the URL then carries none."""
    cookie = tmp_path / ".cookie"
    cookie.write_text(f"{node.user}:{node.password}")
    cli("case", "create", "op-cookie")
    summary = cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.public_url, "--rpc-cookie", str(cookie),
                       "--from", "0", "--to", "5", "--case", "op-cookie")
    assert summary["blocks_loaded"] == 6
    missing = cli("ingest", "utxo", "--chain", CHAIN, "--node", node.public_url, "--rpc-cookie",
                  str(tmp_path / "absent"), "--from", "0", "--to", "5", "--case", "op-cookie")
    assert missing.exit_code == 2 and "cookie" in missing.stderr


def test_a_node_of_another_coin_or_network_is_refused_before_anything_is_written(
    cli: Cli, tracer_home: Path, node: LitecoinRegtest
) -> None:
    cli("case", "create", "op-net")
    for chain in ("btc-regtest", "ltc-testnet"):
        result = cli("ingest", "utxo", "--chain", chain, "--node", node.url, "--from", "0", "--to", "3",
                     "--case", "op-net")
        assert result.exit_code == 2, result.stderr
        assert "not" in result.stderr and node.password not in result.stderr
    assert not (tracer_home / "cases" / "op-net" / "graph.lbug.ingest").exists()


def test_heights_the_checkpoint_claims_but_the_store_lacks_are_fetched_again(
    cli: Cli, tracer_home: Path, node: LitecoinRegtest
) -> None:
    """A run killed between forgetting orphaned blocks and removing them, or a store file replaced
    under an old checkpoint, must not leave a silent gap."""
    cli("case", "create", "op-gap")
    args = ("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0", "--to", "20", "--case", "op-gap")
    cli.json(*args)
    store_path = tracer_home / "cases" / "op-gap" / "graph.lbug"
    with EmbeddedStore.open(store_path) as store:
        store.remove_blocks(CHAIN, 15)  # as if the process died right after the removal
    again = cli.json(*args)
    assert again["blocks_loaded"] == 6
    assert set(_stored(tracer_home, "op-gap").transactions["txid"]) == _chain_transactions(node, 0, 20)
