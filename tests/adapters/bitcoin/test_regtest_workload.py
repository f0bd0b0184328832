# SPDX-License-Identifier: Apache-2.0
"""The regtest workload makes what it says it makes, checked against the node's own answers.

Runs against the session ``litecoind`` (shared with other modules: the workload only adds blocks
and transactions). Every claim of :func:`build_scenarios` is re-read with ``getrawtransaction
<txid> true``; :func:`make_payments` is checked for count, confirmation and shape (its rate is
printed, not asserted: timings depend on the machine).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.jsonrpc import Call, JsonRpcClient
from testing.devnodes import LitecoinRegtest
from testing.regtest_workload import (
    COIN,
    Scenarios,
    ScenarioTx,
    build_scenarios,
    fund_wallet,
    make_payments,
)
from tracer.units import to_base_units


@pytest.fixture(scope="module")
def wallet(litecoind: LitecoinRegtest) -> Iterator[JsonRpcClient]:
    with litecoind.rpc(wallet="miner") as client:
        yield client


@pytest.fixture(scope="module")
def scenarios(wallet: JsonRpcClient) -> Scenarios:
    return build_scenarios(wallet)


def _raw(wallet: JsonRpcClient, txid: str) -> dict[str, Any]:
    return dict(wallet.call("getrawtransaction", txid, True))


def _address(script_pub_key: dict[str, Any]) -> str | None:
    addresses = script_pub_key.get("addresses") or ([script_pub_key["address"]] if "address" in script_pub_key else [])
    return addresses[0] if len(addresses) == 1 else None


def _input_addresses(wallet: JsonRpcClient, raw: dict[str, Any]) -> list[str | None]:
    prevs = wallet.batch([Call("getrawtransaction", [i["txid"], True]) for i in raw["vin"]])
    return [_address(p["vout"][i["vout"]]["scriptPubKey"]) for p, i in zip(prevs, raw["vin"], strict=True)]


def test_fund_wallet_mines_and_matures_coinbases(wallet: JsonRpcClient) -> None:
    # few blocks: the node is shared and other modules look at heights (the subsidy halves at 150)
    start = wallet.call("getblockcount")
    balance = fund_wallet(wallet, 1, min_balance=COIN)
    assert wallet.call("getblockcount") >= start + 1
    assert balance >= COIN
    assert balance == to_base_units(wallet.call("getbalances")["mine"]["trusted"], 8)
    assert fund_wallet(wallet, 0, min_balance=balance + 10 * COIN) >= balance + 10 * COIN


def test_every_scenario_transaction_is_confirmed_as_described(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    txs = scenarios.transactions()
    assert len({tx.txid for tx in txs.values()}) == len(txs) >= 20
    for name, tx in txs.items():
        raw = _raw(wallet, tx.txid)
        assert raw["confirmations"] >= 1, name
        assert raw["blockhash"] == tx.block_hash, name
        assert wallet.call("getblockheader", raw["blockhash"])["height"] == tx.block_height, name
        assert [(i.spends.txid, i.spends.index) for i in tx.inputs] == [(v["txid"], v["vout"]) for v in raw["vin"]]
        assert [(o.index, o.value, o.script_type, o.script_hex) for o in tx.outputs] == [
            (v["n"], to_base_units(v["value"], 8), v["scriptPubKey"]["type"], v["scriptPubKey"]["hex"])
            for v in raw["vout"]
        ], name
        assert all(isinstance(o.value, int) for o in tx.outputs)
        assert tx.fee == sum(i.value for i in tx.inputs) - sum(o.value for o in tx.outputs) > 0, name
    low, high = scenarios.block_heights
    assert low < high


def test_payment_has_one_payment_and_wallet_change(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    tx = scenarios.payment
    assert len(tx.outputs) == 2
    assert tx.output("payment").value == 125_000_000
    change = tx.output("change")
    assert change.address is not None
    assert wallet.call("getaddressinfo", change.address)["ischange"] is True
    assert wallet.call("getaddressinfo", tx.output("payment").address)["ischange"] is False


def test_consolidation_merges_three_distinct_addresses(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    tx = scenarios.consolidation
    raw = _raw(wallet, tx.txid)
    assert len(raw["vin"]) >= 3 and len(raw["vout"]) == 1
    addresses = _input_addresses(wallet, raw)
    assert None not in addresses and len(set(addresses)) == len(addresses)
    assert {i.address for i in tx.inputs} == set(addresses)
    assert tx.output("consolidated").value == sum(i.value for i in tx.inputs) - tx.fee


def test_peel_chain_links_six_remainders(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    chain = scenarios.peel_chain
    assert len(chain) == 6
    seen: set[str] = set()
    for step, tx in enumerate(chain):
        raw = _raw(wallet, tx.txid)
        assert len(raw["vin"]) == 1 and len(raw["vout"]) == 2
        peel, remainder = tx.output("peel"), tx.output("remainder")
        assert peel.value < remainder.value
        assert peel.address and remainder.address and not {peel.address, remainder.address} & seen
        seen |= {peel.address, remainder.address}
        if step:
            previous = chain[step - 1]
            spent = raw["vin"][0]
            assert (spent["txid"], spent["vout"]) == (previous.txid, previous.output("remainder").index)
            assert tx.block_height > previous.block_height
    last = chain[-1]
    assert wallet.call("gettxout", last.txid, last.output("remainder").index) is not None  # end of the chain


def test_coinjoin_has_equal_outputs_and_distinct_participants(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    tx = scenarios.coinjoin
    raw = _raw(wallet, tx.txid)
    addresses = _input_addresses(wallet, raw)
    assert len(raw["vin"]) >= 5 and len(set(addresses)) >= 5
    values = Counter(to_base_units(v["value"], 8) for v in raw["vout"])
    denomination, count = values.most_common(1)[0]
    assert denomination == scenarios.coinjoin_denomination and count >= 5
    mixed = [v for v in raw["vout"] if to_base_units(v["value"], 8) == denomination]
    assert len({_address(v["scriptPubKey"]) for v in mixed}) == len(mixed)
    change = tx.with_role("change")
    assert len(change) >= 2 and len({o.value for o in change}) == len(change)
    assert denomination not in {o.value for o in change}
    # BlockSci's CoinJoin rule holds: participants = ceil(outputs / 2) <= inputs, modal value count == participants
    participants = math.ceil(len(raw["vout"]) / 2)
    assert participants <= len(raw["vin"]) and count == participants


@pytest.mark.parametrize(("made", "spent", "script_type"), [
    ("p2sh", "p2sh_spend", "scripthash"),
    ("p2wsh", "p2wsh_spend", "witness_v0_scripthash"),
])
def test_script_hash_outputs_are_created_and_spent(wallet: JsonRpcClient, scenarios: Scenarios, made: str,
                                                   spent: str, script_type: str) -> None:
    creation: ScenarioTx = getattr(scenarios, made)
    spend: ScenarioTx = getattr(scenarios, spent)
    output = creation.output(made)
    raw = _raw(wallet, creation.txid)
    assert raw["vout"][output.index]["scriptPubKey"]["type"] == script_type
    spend_raw = _raw(wallet, spend.txid)
    assert [(v["txid"], v["vout"]) for v in spend_raw["vin"]] == [(creation.txid, output.index)]
    if script_type == "witness_v0_scripthash":  # 2-of-3: empty, two signatures, the witness script
        assert len(spend_raw["vin"][0]["txinwitness"]) == 4
    else:
        assert spend_raw["vin"][0]["scriptSig"]["asm"].endswith("ae")  # redeem script ends in OP_CHECKMULTISIG


def test_op_return_sits_next_to_a_payment(wallet: JsonRpcClient, scenarios: Scenarios) -> None:
    tx = scenarios.op_return
    raw = _raw(wallet, tx.txid)
    data = raw["vout"][tx.output("data").index]
    assert data["scriptPubKey"]["type"] == "nulldata"
    assert data["scriptPubKey"]["asm"] == f"OP_RETURN {scenarios.op_return_data}"
    assert to_base_units(data["value"], 8) == 0 and tx.output("data").address is None
    assert {o.role for o in tx.outputs} == {"payment", "data", "change"}


@pytest.mark.parametrize(("made", "spent", "script_type"), [
    ("p2pk", "p2pk_spend", "pubkey"),
    ("bare_multisig", "bare_multisig_spend", "multisig"),
    ("p2tr", None, "witness_v1_taproot"),
])
def test_hand_made_scripts_or_a_stated_reason(wallet: JsonRpcClient, scenarios: Scenarios, made: str,
                                              spent: str | None, script_type: str) -> None:
    creation: ScenarioTx | None = getattr(scenarios, made)
    if creation is None:
        assert scenarios.unsupported[made]
        return
    output = creation.output(made)
    assert _raw(wallet, creation.txid)["vout"][output.index]["scriptPubKey"]["type"] == script_type
    if made == "bare_multisig":
        assert output.address is None  # owned by several keys: no single address
    if spent is None:
        assert wallet.call("gettxout", creation.txid, output.index) is not None
        assert scenarios.unsupported[f"{made}_spend"]
        return
    spend: ScenarioTx | None = getattr(scenarios, spent)
    if spend is None:
        assert scenarios.unsupported[spent]
        return
    spend_raw = _raw(wallet, spend.txid)
    assert [(v["txid"], v["vout"]) for v in spend_raw["vin"]] == [(creation.txid, output.index)]


def test_make_payments_creates_confirmed_two_output_payments(wallet: JsonRpcClient) -> None:
    start = wallet.call("getblockcount")
    began = time.perf_counter()
    txids = make_payments(wallet, 300, per_block=100)
    elapsed = time.perf_counter() - began
    print(f"make_payments: {len(txids)} transactions in {elapsed:.2f}s ({len(txids) / elapsed:.0f}/s)")
    assert len(txids) >= 300 and len(set(txids)) == len(txids)
    txs = wallet.batch([Call("getrawtransaction", [t, True]) for t in txids])
    assert all(tx.get("confirmations", 0) >= 1 for tx in txs)
    assert {len(tx["vout"]) for tx in txs} == {2}
    shapes = Counter(len(tx["vin"]) for tx in txs)
    assert set(shapes) <= {1, 2, 3} and len(shapes) >= 2
    assert wallet.call("getblockcount") >= start + 3  # a block per 100, plus the pool split
    assert {o["scriptPubKey"]["type"] for tx in txs for o in tx["vout"]} == {"pubkeyhash", "witness_v0_keyhash"}
