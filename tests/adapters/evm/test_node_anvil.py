# SPDX-License-Identifier: Apache-2.0
"""The EVM node adapter against a real ``anvil``: every kind of value movement, exact to the wei.

One private anvil per module runs :func:`testing.devcontracts.build_scenario` (plain ETH, two
ERC-20 tokens with 6 and 18 decimals, a bytes32-symbol token without ``decimals()``, a forwarder
that splits ETH between two addresses, a failed call, a call whose inner transfer reverts, a
self-destruct, and a block holding three transactions). The contracts are the committed solc-js
output in ``fixtures/contracts/`` (no compiler at test time).

Fees are checked against the node's own receipts: the tip row (to the block's fee recipient) is
``gasUsed x (effectiveGasPrice - baseFeePerGas)``, the burn row ``gasUsed x baseFeePerGas``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.errors import HeightPastTipError, WrongNetworkError
from adapters.evm.completeness import check_balances, touched_addresses
from adapters.evm.node import DEBUG_TRACE, TRACE_BLOCK, EvmNode, FetchedBlocks
from adapters.evm.tokens import TokenMetadata, decode_decimals, decode_text
from adapters.jsonrpc import JsonRpcClient
from testing import devcontracts as dc
from testing.devnodes import Anvil
from tracer.chains import default_registry
from tracer.units import join_from_frame

DEVNET = default_registry().get("anvil")
ETH = 10**18


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, dc.Scenario]]:
    node = Anvil.start()
    try:
        with node.rpc() as rpc:
            scenario = dc.build_scenario(rpc)
        yield node, scenario
    finally:
        node.stop()


@pytest.fixture(scope="module")
def fetched(chain: tuple[Anvil, dc.Scenario]) -> FetchedBlocks:
    anvil, scenario = chain
    with EvmNode(anvil.url, DEVNET) as node:
        return node.fetch(list(range(scenario.first_block, scenario.last_block + 1)))


def _rows(fetched: FetchedBlocks, txid: str) -> list[dict[str, Any]]:
    rows = fetched.frames.transfers.filter(pl.col("txid") == txid.lower()).sort("kind", "trace_path", "log_index")
    return [{"kind": r["kind"], "from": r["from_address"], "to": r["to_address"], "asset": r["asset"],
             "value": join_from_frame(r["value"], r["value_overflow"]), "log_index": r["log_index"],
             "trace_path": r["trace_path"]} for r in rows.to_dicts()]


def _value_rows(fetched: FetchedBlocks, txid: str) -> list[dict[str, Any]]:
    return [r for r in _rows(fetched, txid) if r["kind"] != "fee"]


def _fee_parts(rpc: JsonRpcClient, txid: str) -> tuple[int, int]:
    receipt = rpc.call("eth_getTransactionReceipt", txid)
    block = rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    gas, price, base = (int(receipt["gasUsed"], 16), int(receipt["effectiveGasPrice"], 16),
                        int(block["baseFeePerGas"], 16))
    return gas * (price - base), gas * base


def test_the_node_is_asked_once_what_it_supports(chain: tuple[Anvil, dc.Scenario]) -> None:
    anvil, _ = chain
    with EvmNode(anvil.url, DEVNET) as node:
        caps = node.capabilities()
    assert (caps.chain_id, caps.block_receipts, caps.traces) == (31337, True, TRACE_BLOCK)
    assert caps.client.startswith("anvil/")


def test_committed_bytecode_was_compiled_from_the_committed_sources() -> None:
    for artifact in sorted(dc.CONTRACTS_DIR.glob("*.json")):
        record = json.loads(artifact.read_text())
        source = (dc.CONTRACTS_DIR / record["source"]).read_text()
        assert hashlib.sha256(source.encode()).hexdigest() == record["source_sha256"], (
            f"{record['source']} changed since {artifact.name} was compiled: run fixtures/contracts/compile.py"
        )
        assert record["compiler"].startswith("solc-js 0.8.37")


def test_a_plain_eth_payment_is_one_native_row_and_two_fee_rows(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    anvil, s = chain
    a = s.accounts
    with anvil.rpc() as rpc:
        tip, burned = _fee_parts(rpc, s.txs["eth_plain"])
    assert _rows(fetched, s.txs["eth_plain"]) == [
        {"kind": "fee", "from": a[0], "to": "0x0000000000000000000000000000000000000000", "asset": "native",
         "value": tip, "log_index": None, "trace_path": None},
        {"kind": "fee", "from": a[0], "to": None, "asset": "native", "value": burned, "log_index": None,
         "trace_path": "burn"},
        {"kind": "native", "from": a[0], "to": a[5], "asset": "native", "value": 1_500_000_000_000_000_000,
         "log_index": None, "trace_path": None},
    ]
    assert a[5] == "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"  # EIP-55 spelling
    tx = fetched.frames.transactions.filter(pl.col("txid") == s.txs["eth_plain"]).row(0, named=True)
    assert int(tx["fee"]) == tip + burned == 21_000 * (tip + burned) // 21_000


def test_erc20_transfers_are_token_rows_in_base_units_with_the_contract_as_asset(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    _, s = chain
    a, c = s.accounts, s.contracts
    assert _value_rows(fetched, s.txs["six_transfer"]) == [
        {"kind": "token", "from": a[0], "to": a[6], "asset": c["six"], "value": 1_234_567_890, "log_index": 0,
         "trace_path": None}]
    assert _value_rows(fetched, s.txs["eighteen_transfer"]) == [
        {"kind": "token", "from": a[0], "to": a[7], "asset": c["eighteen"], "value": 2_500_000_000_000_000_000,
         "log_index": 0, "trace_path": None}]
    assert _value_rows(fetched, s.txs["b32_transfer"]) == [
        {"kind": "token", "from": a[0], "to": a[6], "asset": c["b32"], "value": 777, "log_index": 0,
         "trace_path": None}]
    # the mint at deployment is a Transfer from the zero address
    assert _value_rows(fetched, s.txs["deploy_six"]) == [
        {"kind": "token", "from": "0x0000000000000000000000000000000000000000", "to": a[0], "asset": c["six"],
         "value": 10**12, "log_index": 0, "trace_path": None}]
    assert set(fetched.token_contracts) == {c["six"], c["eighteen"], c["b32"]}


def test_eth_forwarded_by_a_contract_becomes_internal_rows_with_their_trace_path(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    _, s = chain
    a, fwd = s.accounts, s.contracts["forwarder"]
    assert _value_rows(fetched, s.txs["forward"]) == [
        {"kind": "internal", "from": fwd, "to": a[2], "asset": "native", "value": ETH, "log_index": None,
         "trace_path": "0"},
        {"kind": "internal", "from": fwd, "to": a[3], "asset": "native", "value": 2 * ETH + 2, "log_index": None,
         "trace_path": "1"},
        {"kind": "native", "from": a[1], "to": fwd, "asset": "native", "value": 3 * ETH + 2, "log_index": None,
         "trace_path": None},
    ]


def test_a_reverted_call_moves_no_value_but_pays_its_fee(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    anvil, s = chain
    with anvil.rpc() as rpc:
        assert rpc.call("eth_getTransactionReceipt", s.txs["reject"])["status"] == "0x0"
        tip, burned = _fee_parts(rpc, s.txs["reject"])
    rows = _rows(fetched, s.txs["reject"])
    assert [(r["kind"], r["from"], r["value"]) for r in rows] == [
        ("fee", s.accounts[1], tip), ("fee", s.accounts[1], burned)]


def test_an_inner_call_that_reverts_moves_nothing_while_its_transaction_succeeds(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    _, s = chain
    assert _value_rows(fetched, s.txs["try_forward"]) == [
        {"kind": "native", "from": s.accounts[1], "to": s.contracts["forwarder"], "asset": "native",
         "value": ETH // 2, "log_index": None, "trace_path": None}]
    assert fetched.stats.reverted_traces == 2  # this inner call and the failed `reject` transaction


def test_a_self_destruct_sends_the_contract_balance_as_an_internal_row(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    _, s = chain
    assert _value_rows(fetched, s.txs["destroy"]) == [
        {"kind": "internal", "from": s.contracts["forwarder"], "to": s.accounts[4], "asset": "native",
         "value": ETH // 2, "log_index": None, "trace_path": "0"}]


def test_three_transactions_in_one_block_keep_their_positions(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    _, s = chain
    txs = fetched.frames.transactions.filter(pl.col("block_height") == s.last_block).sort("position")
    assert txs["txid"].to_list() == [s.txs["batch_a"], s.txs["batch_b"], s.txs["batch_c"]]
    assert _value_rows(fetched, s.txs["batch_c"])[0]["log_index"] == 0
    assert _value_rows(fetched, s.txs["batch_b"])[0]["value"] == ETH // 5


def test_geth_call_tracer_gives_the_same_rows_as_trace_block(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    anvil, s = chain
    with EvmNode(anvil.url, DEVNET, traces=DEBUG_TRACE) as node:
        assert node.capabilities().traces == DEBUG_TRACE
        again = node.fetch(list(range(s.first_block, s.last_block + 1)))
    key = ["txid", "kind", "log_index", "trace_path"]
    assert again.frames.transfers.sort(key).equals(fetched.frames.transfers.sort(key))


def test_token_metadata_copes_with_bytes32_symbols_missing_decimals_and_plain_accounts(
    chain: tuple[Anvil, dc.Scenario], tmp_path: Path
) -> None:
    anvil, s = chain
    c = s.contracts
    cache = tmp_path / "tokens-eth-devnet.json"
    with anvil.rpc() as rpc:
        tokens = TokenMetadata(rpc, DEVNET, cache)
        info = tokens.get([c["six"], c["eighteen"], c["b32"].lower(), s.accounts[5]])
        tokens.save()
    assert (info[c["six"]].symbol, info[c["six"]].name, info[c["six"]].decimals) == ("SIX", "Six Decimals", 6)
    assert (info[c["eighteen"]].symbol, info[c["eighteen"]].decimals) == ("EIG", 18)
    assert (info[c["b32"]].symbol, info[c["b32"]].name, info[c["b32"]].decimals) == ("B32", "Bytes Thirty-Two", None)
    assert (info[s.accounts[5]].symbol, info[s.accounts[5]].decimals) == (None, None)
    # the cache answers without the node (this client points at a closed port)
    offline = TokenMetadata(JsonRpcClient("http://127.0.0.1:9", retries=0), DEVNET, cache)
    assert offline.get([c["six"]])[c["six"]].decimals == 6


def test_token_metadata_decoding_rules() -> None:
    word = "0x" + "00" * 31 + "12"
    assert decode_decimals(word) == 18
    assert decode_decimals("0x" + "ff" * 32) is None  # not a uint8
    assert decode_decimals("0x") is None
    assert decode_text("0x" + b"MKR".hex() + "00" * 29) == "MKR"
    assert decode_text("0x") is None


def test_every_touched_balance_reconciles_with_the_node(
    chain: tuple[Anvil, dc.Scenario], fetched: FetchedBlocks
) -> None:
    anvil, s = chain
    transfers = fetched.frames.transfers
    addresses = touched_addresses(transfers)
    a = s.accounts
    assert {s.contracts["forwarder"], *a[:6], a[8], a[9]} <= set(addresses)
    assert a[6] not in addresses and a[7] not in addresses  # they only received tokens
    with EvmNode(anvil.url, DEVNET) as node:
        before = node.balances(addresses, s.first_block - 1)
        after = node.balances(addresses, s.last_block)
    assert check_balances(transfers, before, after) == []
    # leaving out one internal transfer is caught, for both ends of it
    without = transfers.filter(~((pl.col("kind") == "internal") & (pl.col("txid") == s.txs["destroy"])))
    wrong = check_balances(without, before, after)
    assert {m.address for m in wrong} == {s.contracts["forwarder"], s.accounts[4]}
    assert {m.difference for m in wrong} == {ETH // 2, -ETH // 2}


def test_a_node_of_another_chain_is_refused(chain: tuple[Anvil, dc.Scenario]) -> None:
    anvil, _ = chain
    with EvmNode(anvil.url, default_registry().get("eth")) as node, pytest.raises(WrongNetworkError) as caught:
        node.check_network()
    assert "31337" in str(caught.value) and "eth" in str(caught.value)


def test_a_height_past_the_tip_is_named(chain: tuple[Anvil, dc.Scenario]) -> None:
    anvil, s = chain
    with EvmNode(anvil.url, DEVNET) as node, pytest.raises(HeightPastTipError) as caught:
        node.fetch([s.last_block + 5])
    assert f"no block at height {s.last_block + 5}" in str(caught.value)
