# SPDX-License-Identifier: Apache-2.0
"""``tracer cluster``: two users and a CoinJoin between them, on a real ``litecoind -regtest``.

Alice and Bob (two wallets of the session node) each receive three coins: one on address 1 and two
on address 2. Each consolidates the coin of address 1 with one coin of address 2 (so 1 and 2 are
provably one owner). Then both bring their other address-2 coin to one CoinJoin: two equal outputs
and two change outputs, each signed by its own wallet. The blocks are ingested with ``tracer ingest
utxo`` and clustered with ``tracer cluster run``:

* with CoinJoin detection (the default), Alice's and Bob's addresses are two clusters;
* with ``--no-coinjoin-filter`` the mix links them, and they become one (what the filter prevents);
* re-running gives the same ids and byte-identical files, and replaces the merged membership;
* ``explain`` names the linking transaction (and answers "not linked" for two owners), ``show`` lists
  the members and the tag that labels them, the chain inferred from the address as ``tags show`` does.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.jsonrpc import JsonRpcClient
from testing.devnodes import LitecoinRegtest
from testing.regtest_workload import COIN, fund_wallet
from tests.conftest import Cli

CHAIN = "ltc-regtest"


@dataclass(frozen=True)
class User:
    name: str
    first: str  # address 1
    second: str  # address 2 (two coins)


@dataclass(frozen=True)
class TwoUsers:
    alice: User
    bob: User
    consolidations: dict[str, str]  # user name -> txid
    coinjoin: str
    from_height: int
    to_height: int


def _coin(rpc: JsonRpcClient, txid: str, address: str) -> dict[str, Any]:
    tx = rpc.call("getrawtransaction", txid, True)
    for out in tx["vout"]:
        spk = out["scriptPubKey"]
        if address in (spk.get("address"), *(spk.get("addresses") or [])):
            return {"txid": txid, "vout": out["n"]}
    raise AssertionError(f"{txid} pays nothing to {address}")


def _sign_and_send(wallets: list[JsonRpcClient], unsigned: str) -> str:
    raw = unsigned
    for wallet in wallets:  # each participant signs its own inputs
        raw = wallet.call("signrawtransactionwithwallet", raw)["hex"]
    return str(wallets[0].call("sendrawtransaction", raw))


@pytest.fixture(scope="module")
def two_users(litecoind: LitecoinRegtest) -> Iterator[TwoUsers]:
    suffix = secrets.token_hex(3)
    with litecoind.rpc() as node:
        for name in ("alice", "bob"):
            node.call("createwallet", f"{name}-{suffix}")
    miner = litecoind.rpc(wallet="miner")
    wallets = {name: litecoind.rpc(wallet=f"{name}-{suffix}") for name in ("alice", "bob")}
    try:
        fund_wallet(miner, blocks=1, min_balance=10 * COIN)
        from_height = int(miner.call("getblockcount")) + 1
        users = {}
        received: dict[str, list[str]] = {}
        for name, wallet in wallets.items():
            user = User(name, wallet.call("getnewaddress", "", "bech32"), wallet.call("getnewaddress", "", "bech32"))
            users[name] = user
            received[name] = [miner.call("sendtoaddress", a, "1.0") for a in (user.first, user.second, user.second)]
        miner.call("generatetoaddress", 1, miner.call("getnewaddress"))
        consolidations = {}
        for name, wallet in wallets.items():
            user, (t1, t2, _) = users[name], received[name]
            inputs = [_coin(wallet, t1, user.first), _coin(wallet, t2, user.second)]
            unsigned = wallet.call("createrawtransaction", inputs, [{wallet.call("getnewaddress"): "1.9999"}])
            consolidations[name] = _sign_and_send([wallet], unsigned)
        mix_inputs = [_coin(wallets[n], received[n][2], users[n].second) for n in ("alice", "bob")]
        mix_outputs = [
            {wallets["alice"].call("getnewaddress"): "0.6"}, {wallets["bob"].call("getnewaddress"): "0.6"},
            {wallets["alice"].call("getnewaddress"): "0.3999"}, {wallets["bob"].call("getnewaddress"): "0.3998"},
        ]
        unsigned = miner.call("createrawtransaction", mix_inputs, mix_outputs)
        coinjoin = _sign_and_send([wallets["alice"], wallets["bob"]], unsigned)
        miner.call("generatetoaddress", 1, miner.call("getnewaddress"))
        to_height = int(miner.call("getblockcount"))
        yield TwoUsers(users["alice"], users["bob"], consolidations, coinjoin, from_height, to_height)
    finally:
        miner.close()
        for wallet in wallets.values():
            wallet.close()


@pytest.fixture()
def case(cli: Cli, two_users: TwoUsers, litecoind: LitecoinRegtest) -> str:
    cli("case", "create", "op-mix")
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", litecoind.url, "--from", str(two_users.from_height),
             "--to", str(two_users.to_height), "--case", "op-mix")
    return "op-mix"


def cluster_of(cli: Cli, case: str, address: str) -> tuple[str, list[str]]:
    shown = cli.json("cluster", "show", case, address, "--chain", CHAIN)
    return shown["cluster_id"], shown["members"]


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_a_coinjoin_between_two_users_does_not_merge_them(cli: Cli, case: str, two_users: TwoUsers) -> None:
    alice, bob = two_users.alice, two_users.bob
    result = cli.json("cluster", "run", case)
    (run,) = result["chains"]
    assert run["chain"] == CHAIN and result["coinjoin_filter"] is True
    assert run["coinjoins_skipped"] >= 1
    assert cluster_of(cli, case, alice.second) == (f"{CHAIN}:{min(alice.first, alice.second)}",
                                                   sorted([alice.first, alice.second]))
    assert cluster_of(cli, case, bob.first) == (f"{CHAIN}:{min(bob.first, bob.second)}",
                                                sorted([bob.first, bob.second]))


def test_the_coinjoin_is_recognised_and_written_with_its_shape(
    cli: Cli, case: str, two_users: TwoUsers, tracer_home: Path
) -> None:
    run = cli.json("cluster", "run", case, "--chain", CHAIN)["chains"][0]
    coinjoins = pl.read_parquet(run["files"]["coinjoins"])
    assert coinjoins.filter(pl.col("txid") == two_users.coinjoin)["shape"].to_list() == ["blocksci"]
    evidence = pl.read_parquet(run["files"]["evidence"])
    assert two_users.coinjoin not in evidence["txid"].to_list()
    assert set(two_users.consolidations.values()) <= set(evidence["txid"].to_list())
    assert Path(run["files"]["evidence"]).parent == tracer_home / "cases" / case / "clusters"


def test_the_chain_may_be_named_in_capitals(cli: Cli, case: str, two_users: TwoUsers) -> None:
    shouted = cli.json("cluster", "run", case, "--chain", CHAIN.upper())
    assert shouted == cli.json("cluster", "run", case, "--chain", CHAIN)
    assert shouted["chains"][0]["chain"] == CHAIN and shouted["chains"][0]["addresses_clustered"] > 0


def test_without_the_coinjoin_filter_the_two_users_are_merged_and_a_rerun_splits_them_again(
    cli: Cli, case: str, two_users: TwoUsers
) -> None:
    alice, bob = two_users.alice, two_users.bob
    cli.json("cluster", "run", case, "--no-coinjoin-filter")
    merged_id, members = cluster_of(cli, case, alice.first)
    assert {alice.first, alice.second, bob.first, bob.second} <= set(members)
    assert cluster_of(cli, case, bob.first)[0] == merged_id
    why = cli.json("cluster", "explain", case, alice.first, bob.first, "--chain", CHAIN)
    assert two_users.coinjoin in [s["txid"] for s in why["steps"]]
    # the default run replaces the merged membership: nobody stays in the old cluster
    cli.json("cluster", "run", case)
    assert cluster_of(cli, case, alice.first)[1] == sorted([alice.first, alice.second])
    assert cluster_of(cli, case, bob.first)[1] == sorted([bob.first, bob.second])


def test_rerunning_gives_the_same_ids_and_identical_files(cli: Cli, case: str, tracer_home: Path) -> None:
    first = cli.json("cluster", "run", case)
    files = digests(tracer_home / "cases" / case / "clusters")
    assert cli.json("cluster", "run", case) == first
    assert digests(tracer_home / "cases" / case / "clusters") == files
    assert {"ltc-regtest-evidence.parquet", "ltc-regtest-clusters.parquet", "ltc-regtest-coinjoins.parquet"} <= set(
        files)
    log = cli.json("case", "log", case)
    assert [e["action"] for e in log[-2:]] == ["cluster.run.started", "cluster.run"]  # bracketed store write
    assert "store_counts" in log[-1]["details"] and cli("case", "verify", case).exit_code == 0
    evidence = tracer_home / "cases" / case / "clusters" / "ltc-regtest-evidence.parquet"
    evidence.write_bytes(evidence.read_bytes() + b"\0")  # cluster evidence edited by hand
    verify = cli("case", "verify", case)
    assert verify.exit_code == 1 and "cluster evidence ltc-regtest-evidence.parquet was changed" in verify.stdout


def test_explain_names_the_consolidation_that_links_two_addresses(cli: Cli, case: str, two_users: TwoUsers) -> None:
    alice = two_users.alice
    cli.json("cluster", "run", case)
    why = cli.json("cluster", "explain", case, alice.first, alice.second, "--chain", CHAIN)
    assert [(s["txid"], s["heuristic"]) for s in why["steps"]] == [(two_users.consolidations["alice"], "multi_input")]
    assert {why["steps"][0]["address"], why["steps"][0]["linked_address"]} == {alice.first, alice.second}


def test_explain_answers_not_linked_for_two_owners(cli: Cli, case: str, two_users: TwoUsers) -> None:
    alice, bob = two_users.alice, two_users.bob
    cli.json("cluster", "run", case)
    answer = cli.json("cluster", "explain", case, alice.first, bob.first, "--chain", CHAIN)  # exit 0: an answer
    assert (answer["linked"], answer["steps"]) == (False, [])
    assert answer["cluster_id"] == f"{CHAIN}:{min(alice.first, alice.second)}"
    assert answer["other_cluster_id"] == f"{CHAIN}:{min(bob.first, bob.second)}"
    human = cli("cluster", "explain", case, alice.first, bob.first, "--chain", CHAIN)
    assert human.exit_code == 0 and "not linked" in human.stdout


def test_a_tag_on_one_member_labels_the_cluster(cli: Cli, case: str, two_users: TwoUsers, tmp_path: Path) -> None:
    alice = two_users.alice
    listing = tmp_path / "alice.txt"
    listing.write_text(alice.first + "\n")
    cli.json("tags", "import", str(listing), "--chain", CHAIN, "--label", "Alice's exchange account",
             "--category", "exchange", "--case", case)
    run = cli.json("cluster", "run", case)["chains"][0]
    assert run["labelled_clusters"] == 1
    labelled = [c for c in run["largest"] if c["labels"]]
    assert labelled == [{"cluster_id": f"{CHAIN}:{min(alice.first, alice.second)}", "members": 2,
                         "labels": ["Alice's exchange account"], "categories": ["exchange"]}]
    shown = cli.json("cluster", "show", case, alice.second, "--chain", CHAIN)
    assert shown["labels"] == ["Alice's exchange account"]


def test_show_infers_the_chain_from_the_address(cli: Cli, case: str, two_users: TwoUsers) -> None:
    alice = two_users.alice
    cli.json("cluster", "run", case)
    inferred = cli.json("cluster", "show", case, alice.second)  # rltc1... is an ltc-regtest address only
    assert inferred == cli.json("cluster", "show", case, alice.second, "--chain", CHAIN)
    assert inferred["chain"] == CHAIN and inferred["members"] == sorted([alice.first, alice.second])
    nowhere = cli("cluster", "show", case, "0x0000000000000000000000000000000000000001")
    assert nowhere.exit_code == 2 and "not a valid address on any UTXO chain" in nowhere.stderr


def test_bad_input_is_refused_and_writes_nothing(cli: Cli, case: str, tracer_home: Path) -> None:
    assert cli("cluster", "run", "no-such-case").exit_code == 2
    assert cli("cluster", "run", case, "--chain", "eth").exit_code == 2
    assert cli("cluster", "run", case, "--chain", "btc").exit_code == 2  # nothing of btc in this case
    assert not (tracer_home / "cases" / case / "clusters").exists()
    assert cli("cluster", "explain", case, "rltc1qnotanaddress", "x", "--chain", CHAIN).exit_code == 2


def test_a_lonely_address_is_its_own_cluster(cli: Cli, case: str, two_users: TwoUsers, litecoind: LitecoinRegtest
                                             ) -> None:
    cli.json("cluster", "run", case)
    with litecoind.rpc(wallet="miner") as miner:
        lonely = miner.call("getnewaddress", "", "bech32")
    assert cluster_of(cli, case, lonely) == (f"{CHAIN}:{lonely}", [lonely])



def test_show_picks_the_chain_the_case_clustered_when_the_form_fits_several(cli: Cli) -> None:
    from tests.cli.test_fixture_trace import FIXTURE, _open_case

    case = _open_case(cli)  # the main job's case: ltc-regtest, with Exchange Alpha's legacy deposit address
    deposit = "mhKMtJhrGrCZwE6LbJvanZsABoRLm8XxZ1"  # a P2PKH form valid on the btc and ltc test networks
    assert deposit in (FIXTURE / "exchange-tagpack.yaml").read_text()
    before = cli("cluster", "show", case, deposit)
    assert before.exit_code == 2 and "pass --chain" in before.stderr  # nothing clustered yet: which chain?
    cli.json("cluster", "run", case)
    shown = cli.json("cluster", "show", case, deposit)
    assert shown["chain"] == "ltc-regtest" and deposit in shown["members"]
