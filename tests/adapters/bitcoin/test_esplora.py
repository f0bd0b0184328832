# SPDX-License-Identifier: Apache-2.0
"""The Esplora adapter (Esplora HTTP API, https://github.com/Blockstream/esplora/blob/master/API.md).

No real Esplora / electrs server can be installed here (shared design notes §1). These tests run
the adapter against ``esplora_fake.FakeEsplora``, a small local HTTP server that serves
Esplora-shaped JSON built from the session's real ``litecoind -regtest`` node, and check the
frames against what ``adapters.bitcoin.mappers.map_block`` makes of the node's own
``getblock <hash> 2`` for the same transactions. That the fake matches real electrs is an
assumption taken from the API document, not something verified here.

The litecoind node is shared with other test modules: this module only adds transactions, to
fresh addresses of its own, and mines with ``generatetoaddress``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
import requests
from polars.testing import assert_frame_equal

from adapters.bitcoin.esplora import EsploraSource, ThirdPartyRefusedError, is_self_hosted
from adapters.bitcoin.mappers import map_block, unresolved_outpoints
from adapters.errors import MalformedResponseError, NodeUnavailableError
from adapters.jsonrpc import JsonRpcClient
from testing.devnodes import LitecoinRegtest, free_port
from tests.adapters.bitcoin.esplora_fake import FakeEsplora
from tracer.chains import default_registry
from tracer.errors import InputError, NotFoundError
from tracer.schema import FrameSet

LTC = default_registry().get("ltc-regtest")
BTC = default_registry().get("btc")
MAPPER_SOURCE = "litecoind-rpc"
FEE = Decimal("0.001")
HUB_PAYMENTS = 30  # > 25: the address history needs more than one page
MIN_BALANCE = Decimal(3)  # LTC this module spends, with room to spare


@dataclass
class Scenario:
    """What this module put on the shared regtest chain."""

    hub: str  # address with more than 25 confirmed transactions
    hub_txids: set[str]
    txids: list[str]  # every confirmed transaction made here, plus one coinbase
    payment: str
    consolidation: str
    op_return: str
    bare_scripts: str  # creates a P2PK and a bare 1-of-2 multisig output
    bare_spend: str  # spends both
    coinbase: str
    mempool_txid: str  # to the hub, left unconfirmed while the fake takes its snapshot


def _serialize(inputs: list[tuple[str, int]], outputs: list[tuple[bytes, int]]) -> str:
    """A version-2 legacy transaction (no witness) with empty scriptSigs, as hex."""
    def varint(n: int) -> bytes:
        assert n < 0xFD
        return bytes([n])

    raw = (2).to_bytes(4, "little") + varint(len(inputs))
    for txid, vout in inputs:
        raw += bytes.fromhex(txid)[::-1] + vout.to_bytes(4, "little") + b"\x00" + b"\xff\xff\xff\xff"
    raw += varint(len(outputs))
    for script, value in outputs:
        raw += value.to_bytes(8, "little") + varint(len(script)) + script
    return (raw + (0).to_bytes(4, "little")).hex()


def _send_raw(wallet: JsonRpcClient, hex_tx: str, prevtxs: list[dict[str, Any]] | None = None) -> str:
    signed = wallet.call("signrawtransactionwithwallet", hex_tx, *([prevtxs] if prevtxs else []))
    assert signed["complete"], signed.get("errors")
    return str(wallet.call("sendrawtransaction", signed["hex"]))


def _sats(amount: Decimal) -> int:
    return int(amount * 100_000_000)


def _build_scenario(node: JsonRpcClient, wallet: JsonRpcClient) -> Scenario:
    miner = wallet.call("getnewaddress", "", "bech32")

    def mine(n: int = 1) -> list[str]:
        return list(node.call("generatetoaddress", n, miner))

    # as few blocks as it takes: other modules look at heights (the regtest subsidy halves every 150)
    for _ in range(300):
        balances = wallet.call("getbalances")["mine"]
        if Decimal(balances["trusted"]) >= MIN_BALANCE:
            break
        mine(1 if Decimal(balances["immature"]) else 101)
    else:
        pytest.fail(f"miner wallet still holds less than {MIN_BALANCE} LTC")
    txids: list[str] = []

    # a payment with change
    payment = wallet.call("sendtoaddress", wallet.call("getnewaddress", "", "bech32"), "1.5")
    txids.append(payment)

    # more than 25 transactions to one address, over several blocks
    hub = wallet.call("getnewaddress", "", "bech32")
    hub_txids: set[str] = set()
    for i in range(HUB_PAYMENTS):
        hub_txids.add(wallet.call("sendtoaddress", hub, "0.01"))
        if i in (HUB_PAYMENTS // 2, HUB_PAYMENTS - 1):
            mine()
    txids += sorted(hub_txids)

    # a many-input consolidation spending twelve of the hub's outputs
    utxos = [u for u in wallet.call("listunspent", 1, 9999999, [hub])][:12]
    assert len(utxos) == 12
    total = sum(Decimal(u["amount"]) for u in utxos)
    consolidation_raw = wallet.call(
        "createrawtransaction", [{"txid": u["txid"], "vout": u["vout"]} for u in utxos],
        [{wallet.call("getnewaddress", "", "bech32"): str(total - FEE)}],
    )
    consolidation = _send_raw(wallet, consolidation_raw)
    hub_txids.add(consolidation)
    txids.append(consolidation)

    # an OP_RETURN output next to a legacy (P2PKH) change output
    coin = max(wallet.call("listunspent", 1), key=lambda u: Decimal(u["amount"]))
    op_return_raw = wallet.call(
        "createrawtransaction", [{"txid": coin["txid"], "vout": coin["vout"]}],
        [{"data": b"tracer esplora".hex()},
         {wallet.call("getnewaddress", "", "legacy"): str(Decimal(coin["amount"]) - FEE)}],
    )
    op_return = _send_raw(wallet, op_return_raw)
    txids.append(op_return)

    # P2PK and bare multisig outputs (createrawtransaction only takes addresses: serialize by hand)
    keys = [bytes.fromhex(wallet.call("getaddressinfo", wallet.call("getnewaddress", "", "legacy"))["pubkey"])
            for _ in range(2)]
    p2pk = bytes([len(keys[0])]) + keys[0] + b"\xac"
    multisig = b"\x51" + b"".join(bytes([len(k)]) + k for k in keys) + b"\x52\xae"
    coin = max(wallet.call("listunspent", 1), key=lambda u: Decimal(u["amount"]))
    change = bytes.fromhex(wallet.call("getaddressinfo", wallet.call("getnewaddress", "", "bech32"))["scriptPubKey"])
    bare_value = 30_000_000
    bare_scripts = _send_raw(wallet, _serialize(
        [(coin["txid"], coin["vout"])],
        [(p2pk, bare_value), (multisig, bare_value),
         (change, _sats(Decimal(coin["amount"]) - FEE) - 2 * bare_value)],
    ))
    txids.append(bare_scripts)
    mine()
    prevtxs = [{"txid": bare_scripts, "vout": i, "scriptPubKey": script.hex(), "amount": "0.3"}
               for i, script in enumerate((p2pk, multisig))]
    back = bytes.fromhex(wallet.call("getaddressinfo", wallet.call("getnewaddress", "", "bech32"))["scriptPubKey"])
    bare_spend = _send_raw(wallet, _serialize([(bare_scripts, 0), (bare_scripts, 1)],
                                              [(back, 2 * bare_value - _sats(FEE))]), prevtxs)
    txids.append(bare_spend)
    [last_block] = mine()
    coinbase = node.call("getblock", last_block, 1)["tx"][0]
    txids.append(coinbase)

    mempool_txid = wallet.call("sendtoaddress", hub, "0.02")
    return Scenario(hub, hub_txids, txids, payment, consolidation, op_return, bare_scripts, bare_spend,
                    coinbase, mempool_txid)


@pytest.fixture(scope="module")
def scenario_and_fake(litecoind: LitecoinRegtest) -> Iterator[tuple[Scenario, FakeEsplora]]:
    with litecoind.rpc() as node, litecoind.rpc(wallet="miner") as wallet:
        scenario = _build_scenario(node, wallet)
        try:
            with FakeEsplora.start(litecoind) as fake:
                yield scenario, fake
        finally:
            # leave an empty mempool for the other modules sharing the node
            node.call("generatetoaddress", 1, wallet.call("getnewaddress", "", "bech32"))


@pytest.fixture()
def scenario(scenario_and_fake: tuple[Scenario, FakeEsplora]) -> Scenario:
    return scenario_and_fake[0]


@pytest.fixture()
def fake(scenario_and_fake: tuple[Scenario, FakeEsplora]) -> Iterator[FakeEsplora]:
    server = scenario_and_fake[1]
    server.mode = "ok"
    try:
        yield server
    finally:
        server.mode = "ok"


def _mapper_frames(litecoind: LitecoinRegtest, txids: list[str]) -> FrameSet:
    """What the RPC mapper makes of the node's own blocks, restricted to ``txids``.

    Inputs spending earlier blocks are resolved as the mapper's docs say: ``getrawtransaction``
    of the spent transaction, whose output is then read through the mapper itself (its block).
    """
    wanted = set(txids)
    with litecoind.rpc() as node:
        block_hashes = sorted({node.call("getrawtransaction", t, True)["blockhash"] for t in txids})
        mapped: dict[str, Any] = {}

        def spent_output(prev_txid: str, index: int) -> tuple[str | None, int]:
            block_hash = node.call("getrawtransaction", prev_txid, True)["blockhash"]
            if block_hash not in mapped:
                mapped[block_hash] = map_block(node.call("getblock", block_hash, 2), LTC, source=MAPPER_SOURCE)
            row = mapped[block_hash].outputs.filter((pl.col("txid") == prev_txid) & (pl.col("index") == index))
            assert row.height == 1
            return row["address"][0], int(row["value"][0])

        parts = []
        for block_hash in block_hashes:
            block = node.call("getblock", block_hash, 2)
            prevouts = {outpoint: spent_output(*outpoint) for outpoint in unresolved_outpoints(block)}
            frames = map_block(block, LTC, source=MAPPER_SOURCE, prevouts=prevouts)
            assert frames.complete
            parts.append(FrameSet(transactions=frames.transactions.filter(pl.col("txid").is_in(wanted)),
                                  inputs=frames.inputs.filter(pl.col("txid").is_in(wanted)),
                                  outputs=frames.outputs.filter(pl.col("txid").is_in(wanted))))
    return FrameSet.concat(parts)


def _without_source(frames: FrameSet) -> dict[str, pl.DataFrame]:
    ordered = frames.sorted()
    return {name: getattr(ordered, name).drop("source") for name in ("transactions", "inputs", "outputs")}


# --- data -------------------------------------------------------------------------------------


def test_address_txids_follows_paging_and_skips_the_mempool(
    litecoind: LitecoinRegtest, scenario: Scenario, fake: FakeEsplora
) -> None:
    with EsploraSource(fake.url, LTC) as source:
        txids = source.address_txids(scenario.hub)
        assert source.mempool_skipped == 1
        assert len(txids) == len(scenario.hub_txids) > 25
        assert set(txids) == scenario.hub_txids
        assert scenario.mempool_txid not in txids
        assert fake.requested(f"/address/{scenario.hub}/txs/chain/")  # a second page was needed

        # newest first, by the node's own heights
        with litecoind.rpc() as node:
            heights = [node.call("getblockheader", node.call("getrawtransaction", t, True)["blockhash"])["height"]
                       for t in txids]
        assert heights == sorted(heights, reverse=True)

        assert source.address_txids(scenario.hub, limit=27) == txids[:27]
        assert source.address_txids(scenario.hub, limit=3) == txids[:3]
        assert source.address_txids(scenario.hub, limit=0) == []
        fresh = "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9"
        assert source.address_txids(fresh) == []


def test_transactions_equal_the_rpc_mapper_frames_column_for_column(
    litecoind: LitecoinRegtest, scenario: Scenario, fake: FakeEsplora
) -> None:
    with EsploraSource(fake.url, LTC) as source:
        frames = source.transactions(scenario.txids)
        assert source.unconfirmed_skipped == ()
    frames.validate()
    assert frames.transactions.height == len(scenario.txids)
    assert set(frames.transactions["source"]) == {f"esplora:{fake.url}"}
    expected = _mapper_frames(litecoind, scenario.txids)
    got, want = _without_source(frames), _without_source(expected)
    for name in want:
        assert_frame_equal(got[name], want[name], check_exact=True)

    # the cases the comparison is meant to cover are really in it
    outputs, inputs, txs = frames.outputs, frames.inputs, frames.transactions
    assert inputs.filter(pl.col("txid") == scenario.consolidation).height == 12
    assert outputs.filter(pl.col("txid") == scenario.op_return)["script_type"].to_list() == ["nulldata", "p2pkh"]
    assert outputs.filter(pl.col("txid") == scenario.op_return)["address"][0] is None
    bare = outputs.filter(pl.col("txid") == scenario.bare_scripts).sort("index")
    assert bare["script_type"].to_list() == ["p2pk", "multisig", "p2wpkh"]
    assert bare["address"][0] is not None and bare["address"][0].startswith(("m", "n"))
    assert bare["address"][1] is None
    spent = inputs.filter(pl.col("txid") == scenario.bare_spend).sort("index")
    assert spent["address"].to_list() == [bare["address"][0], None]
    assert spent["value"].to_list() == [30_000_000, 30_000_000]
    coinbase_inputs = inputs.filter(pl.col("txid") == scenario.coinbase)
    assert coinbase_inputs.select("prev_txid", "prev_index", "address", "value").rows() == [(None, None, None, None)]
    assert txs.filter(pl.col("txid") == scenario.coinbase)["fee"].to_list() == [Decimal(0)]
    assert txs.filter(pl.col("txid") == scenario.coinbase)["position"].to_list() == [0]
    assert outputs.filter(pl.col("txid") == scenario.coinbase)["script_type"].to_list()[-1] == "nulldata"


def test_block_txids_are_fetched_once_per_block(scenario: Scenario, fake: FakeEsplora) -> None:
    with EsploraSource(fake.url, LTC) as source:
        before = len(fake.requested("/block/"))
        frames = source.transactions(sorted(scenario.hub_txids))
        blocks = frames.transactions["block_hash"].n_unique()
        assert len(fake.requested("/block/")) - before == blocks < frames.transactions.height


def test_unconfirmed_transaction_is_skipped_and_reported(scenario: Scenario, fake: FakeEsplora) -> None:
    with EsploraSource(fake.url, LTC) as source:
        frames = source.transactions([scenario.mempool_txid, scenario.payment])
        assert source.unconfirmed_skipped == (scenario.mempool_txid,)
    assert frames.transactions["txid"].to_list() == [scenario.payment]


def test_tip_height_is_the_node_height_of_the_snapshot(litecoind: LitecoinRegtest, fake: FakeEsplora) -> None:
    with EsploraSource(fake.url, LTC) as source, litecoind.rpc() as node:
        assert source.tip_height() == fake.tip_height
        assert node.call("getblockhash", fake.tip_height) == fake.tip_hash


# --- privacy guard ------------------------------------------------------------------------------


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a request was made")

    monkeypatch.setattr(requests.Session, "request", refuse)


@pytest.mark.parametrize("url", ["https://blockstream.info/api", "https://mempool.space/api",
                                 "http://8.8.8.8:3000", "http://electrs.example.com", "http://notlocalhost:3002",
                                 "http://10.0.0.5.nip.io"])
def test_third_party_explorer_is_refused_without_the_flag(url: str, no_network: None) -> None:
    with pytest.raises(ThirdPartyRefusedError) as caught:
        EsploraSource(url, BTC)
    message = str(caught.value)
    assert "--allow-third-party" in message
    assert "discloses the investigation" in message
    assert isinstance(caught.value, InputError)


def test_third_party_explorer_is_accepted_with_the_flag_and_nothing_is_requested(no_network: None) -> None:
    with EsploraSource("https://blockstream.info/api", BTC, allow_third_party=True) as source:
        assert source.source == "esplora:https://blockstream.info/***"


@pytest.mark.parametrize("url", ["http://127.0.0.1:3002", "http://10.0.0.5:3000", "http://electrs.local:3000",
                                 "http://192.168.1.20", "http://172.31.0.2/api", "http://[::1]:3002",
                                 "http://[fd00::5]:80", "http://localhost:3002", "http://esplora.internal",
                                 "http://169.254.1.1"])
def test_self_hosted_servers_are_accepted(url: str, no_network: None) -> None:
    with EsploraSource(url, BTC) as source:
        assert source.source.startswith("esplora:http")


def test_self_hosted_rules() -> None:
    assert not is_self_hosted("172.32.0.1")  # just outside 172.16.0.0/12
    assert is_self_hosted("::ffff:10.1.2.3")
    assert is_self_hosted("Electrs.Local.")


def test_credentials_never_reach_the_source_label_or_messages() -> None:
    port = free_port()
    with EsploraSource(f"http://user:hunter2@127.0.0.1:{port}/key/abc", LTC, retries=0) as source:
        assert "hunter2" not in source.source and "abc" not in source.source
        with pytest.raises(NodeUnavailableError) as caught:
            source.tip_height()
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value) and "/blocks/tip/height" in str(caught.value)


# --- errors -------------------------------------------------------------------------------------


def test_server_down_is_node_unavailable() -> None:
    with EsploraSource(f"http://127.0.0.1:{free_port()}", LTC, retries=1, backoff=0.01) as source:
        with pytest.raises(NodeUnavailableError, match="cannot connect"):
            source.address_txids("rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9")


def test_http_500_is_retried_then_node_unavailable(scenario: Scenario, fake: FakeEsplora) -> None:
    fake.mode = "error500"
    path = f"/tx/{scenario.payment}"
    before = len(fake.requested(path))
    with EsploraSource(fake.url, LTC, retries=2, backoff=0.01) as source:
        with pytest.raises(NodeUnavailableError, match="HTTP 500"):
            source.transactions([scenario.payment])
    assert len(fake.requested(path)) - before == 3


def test_http_429_is_retried_then_node_unavailable(scenario: Scenario, fake: FakeEsplora) -> None:
    fake.mode = "error429"
    path = f"/address/{scenario.hub}/txs"
    before = len(fake.requested(path))
    with EsploraSource(fake.url, LTC, retries=1, backoff=5.0) as source:  # Retry-After: 0 overrides the backoff
        with pytest.raises(NodeUnavailableError, match="HTTP 429"):
            source.address_txids(scenario.hub)
    assert len(fake.requested(path)) - before == 2


def test_hanging_server_times_out(fake: FakeEsplora) -> None:
    fake.mode = "hang"
    with EsploraSource(fake.url, LTC, timeout=0.3, retries=0) as source:
        with pytest.raises(NodeUnavailableError, match="timed out"):
            source.tip_height()


@pytest.mark.parametrize("mode", ["malformed", "bad_fee", "float_amounts"])
def test_malformed_answers_are_refused(mode: str, scenario: Scenario, fake: FakeEsplora) -> None:
    fake.mode = mode
    with EsploraSource(fake.url, LTC, retries=0) as source:
        with pytest.raises(MalformedResponseError):
            source.transactions([scenario.payment])


def test_malformed_history_page_is_refused(scenario: Scenario, fake: FakeEsplora) -> None:
    fake.mode = "malformed"
    with EsploraSource(fake.url, LTC, retries=0) as source:
        with pytest.raises(MalformedResponseError, match="non-JSON"):
            source.address_txids(scenario.hub)


def test_unknown_transaction_is_not_found(fake: FakeEsplora) -> None:
    with EsploraSource(fake.url, LTC) as source:
        with pytest.raises(NotFoundError, match="HTTP 404"):
            source.transactions(["ab" * 32])
        with pytest.raises(InputError, match="64 hexadecimal"):
            source.transactions(["../blocks/tip/height"])
