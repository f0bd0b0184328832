# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest seeds``: the transactions of a case's seed addresses, and hop by hop of their
counterparties, copied into the case's own store from a source that knows address histories.

Here the source is a unit-wide chain store filled by ``tracer ingest utxo`` from a real
``litecoind -regtest``; the answers are checked against the reference frontier over that store's
frames. (The Esplora source has its own tests in ``tests/adapters/bitcoin/test_esplora.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from testing.devnodes import LitecoinRegtest
from tests.conftest import Cli
from tracer.frontier import FrameFrontier

CHAIN = "ltc-regtest"


@pytest.fixture(scope="module")
def funded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LitecoinRegtest, str, str]]:
    """A private node where a 'suspect' address receives three payments and forwards one of them."""
    node = LitecoinRegtest.start(tmp_path_factory.mktemp("ltc-seeds"))
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "w")
            rpc.call("createwallet", "suspect")
        with node.rpc(wallet="w") as wallet, node.rpc(wallet="suspect") as suspect_wallet:
            wallet.call("generatetoaddress", 105, wallet.call("getnewaddress"))
            suspect = suspect_wallet.call("getnewaddress")
            for amount in ("1.5", "2.25", "0.75"):
                wallet.call("sendtoaddress", suspect, Decimal(amount))
            wallet.call("generatetoaddress", 1, wallet.call("getnewaddress"))
            onward = wallet.call("getnewaddress")
            suspect_wallet.call("sendtoaddress", onward, Decimal("3"))
            wallet.call("generatetoaddress", 1, wallet.call("getnewaddress"))
        yield node, suspect, onward
    finally:
        node.stop()


@pytest.fixture()
def chain_store(cli: Cli, tracer_home: Path, funded: tuple[LitecoinRegtest, str, str]) -> Path:
    node, _, _ = funded
    cli.json("ingest", "utxo", "--chain", CHAIN, "--node", node.url, "--from", "0")
    return tracer_home / "graph.lbug"  # without --case: the home's own store


def _frames(path: Path) -> object:
    with EmbeddedStore.open(path, read_only=True) as store:
        return store.read_frames(CHAIN)


def test_seed_transactions_are_copied_into_the_case(cli: Cli, tracer_home: Path, chain_store: Path,
                                                    funded: tuple[LitecoinRegtest, str, str]) -> None:
    _, suspect, _ = funded
    cli("case", "create", "op-seeds")
    cli("case", "seed", "add", "op-seeds", suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-seeds", "--from-store", str(chain_store))
    hop0 = result["chains"][0]["hops"][0]
    assert (hop0["hop"], hop0["addresses_queried"]) == (0, 1)
    chain_frames = _frames(chain_store)
    expected = set(FrameFrontier(chain_frames).address_flows(CHAIN, [suspect])["txid"])  # type: ignore[arg-type]
    assert len(expected) == 4  # three payments in, one spend out
    case_frames = _frames(tracer_home / "cases" / "op-seeds" / "graph.lbug")
    assert set(case_frames.transactions["txid"]) == expected  # type: ignore[attr-defined]
    assert hop0["transactions_loaded"] == 4
    assert cli.json("case", "log", "op-seeds")[-1]["action"] == "ingest.seeds"


def test_one_hop_adds_the_counterparties_transactions(cli: Cli, tracer_home: Path, chain_store: Path,
                                                      funded: tuple[LitecoinRegtest, str, str]) -> None:
    _, suspect, onward = funded
    cli("case", "create", "op-hops")
    cli("case", "seed", "add", "op-hops", suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-hops", "--from-store", str(chain_store), "--hops", "1")
    hops = result["chains"][0]["hops"]
    assert [h["hop"] for h in hops] == [0, 1]
    case_frames = _frames(tracer_home / "cases" / "op-hops" / "graph.lbug")
    reference = FrameFrontier(_frames(chain_store))  # type: ignore[arg-type]
    hop0 = reference.address_flows(CHAIN, [suspect])
    counterparties = (
        pl.concat([
            reference.transactions(CHAIN, hop0["txid"].unique().to_list()).inputs.select("address"),
            reference.transactions(CHAIN, hop0["txid"].unique().to_list()).outputs.select("address"),
        ]).drop_nulls()["address"].unique().to_list()
    )
    assert onward in counterparties
    expected = set(reference.address_flows(CHAIN, counterparties)["txid"])
    assert set(case_frames.transactions["txid"]) == expected  # type: ignore[attr-defined]
    assert hops[1]["addresses_queried"] == len([a for a in counterparties if a != suspect])


def test_an_address_above_the_limit_is_an_entity_and_is_not_expanded(
    cli: Cli, chain_store: Path, funded: tuple[LitecoinRegtest, str, str]
) -> None:
    _, suspect, _ = funded
    cli("case", "create", "op-big")
    cli("case", "seed", "add", "op-big", suspect, "--chain", CHAIN)
    result = cli.json("ingest", "seeds", "op-big", "--from-store", str(chain_store), "--hops", "1",
                      "--max-txs-per-address", "2")
    hop0 = result["chains"][0]["hops"][0]
    assert hop0["large_entities"] == [suspect]
    assert hop0["transactions_loaded"] == 2


def test_a_public_explorer_is_refused_without_the_flag(cli: Cli, funded: tuple[LitecoinRegtest, str, str]) -> None:
    _, suspect, _ = funded
    cli("case", "create", "op-priv")
    cli("case", "seed", "add", "op-priv", suspect, "--chain", CHAIN)
    result = cli("ingest", "seeds", "op-priv", "--esplora", "https://blockstream.info/api")
    assert result.exit_code == 2
    assert "--allow-third-party" in result.stderr
    assert cli.json("case", "log", "op-priv")[-1]["action"] != "ingest.seeds"


def test_no_source_and_no_utxo_seed_are_clear_errors(cli: Cli, funded: tuple[LitecoinRegtest, str, str]) -> None:
    _, suspect, _ = funded
    cli("case", "create", "op-none")
    assert cli("ingest", "seeds", "op-none").exit_code == 2  # no seeds at all
    cli("case", "seed", "add", "op-none", suspect, "--chain", CHAIN)
    result = cli("ingest", "seeds", "op-none")
    assert result.exit_code == 2 and "--esplora" in result.stderr


def test_the_case_store_cannot_be_its_own_source(cli: Cli, tracer_home: Path,
                                                 funded: tuple[LitecoinRegtest, str, str]) -> None:
    _, suspect, _ = funded
    cli("case", "create", "op-self")
    cli("case", "seed", "add", "op-self", suspect, "--chain", CHAIN)
    own = tracer_home / "cases" / "op-self" / "graph.lbug"
    result = cli("ingest", "seeds", "op-self", "--from-store", str(own))
    assert result.exit_code == 2 and "own store" in result.stderr
