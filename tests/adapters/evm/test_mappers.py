# SPDX-License-Identifier: Apache-2.0
"""The Ethereum mappers against real mainnet JSON-RPC answers (ethereum-etl's test fixtures) and hand-built cases.

Each real-data test compares our rows with the values ethereum-etl's own expected output lists for
the same responses, exactly as integers. The hand-built tests each state one rule.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.errors import MalformedResponseError, SchemaDriftError
from adapters.evm.mappers import (
    TRANSFER_TOPIC,
    MapStats,
    decode_traces,
    failed_transactions,
    map_block,
    map_traces,
)
from tracer.chains import default_registry
from tracer.units import join_from_frame

ETH = default_registry().get("eth")
BLOCK_483920 = "test_export_blocks_job/block_with_logs/web3_response.eth_getBlockByNumber_0x76250_true.json"


def _etl(shared_data: Path) -> Path:
    return shared_data / "rpc" / "ethereum-etl"


def _result(path: Path) -> Any:
    return json.loads(path.read_text())["result"]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _rows(frame: Any, **where: str) -> list[dict[str, Any]]:
    rows = frame.to_dicts()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def _amount(row: dict[str, Any]) -> int:
    return join_from_frame(row["value"], row["value_overflow"])


def _block_483920(shared_data: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    etl = _etl(shared_data)
    block = _result(etl / BLOCK_483920)
    receipts = [_result(p) for p in sorted((etl / "test_export_receipts_job/receipts_with_logs").glob("web3_*.json"))]
    return block, receipts


# --- real mainnet responses ----------------------------------------------------------------------


def test_block_483920_native_token_and_fee_rows_match_ethereum_etl(shared_data: Path) -> None:
    """Block 483920 (pre-Byzantium, no receipt status): two ETH payments, two ERC-20 transfers, four fees."""
    etl = _etl(shared_data)
    block, receipts = _block_483920(shared_data)
    frames = map_block(block, receipts, ETH, source="ethereum-etl", failed=set()).validate()
    transfers = frames.transfers

    expected_native = {
        r["hash"]: (r["from_address"], r["to_address"], int(r["value"]))
        for r in _csv(etl / "test_export_blocks_job/block_with_logs/expected_transactions.csv")
        if int(r["value"]) > 0
    }
    native = {
        r["txid"]: (r["from_address"].lower(), r["to_address"].lower(), _amount(r))
        for r in _rows(transfers, kind="native")
    }
    assert native == expected_native

    expected_tokens = {
        (r["transaction_hash"], int(r["log_index"])): (
            r["token_address"], r["from_address"], r["to_address"], int(r["value"])
        )
        for r in _csv(etl / "test_export_token_transfers_job/block_with_transfers/expected_token_transfers.csv")
    }
    tokens = {
        (r["txid"], r["log_index"]): (r["asset"].lower(), r["from_address"].lower(), r["to_address"].lower(),
                                      _amount(r))
        for r in _rows(transfers, kind="token")
    }
    assert tokens == expected_tokens

    # fee = gasUsed x effectiveGasPrice, all to the miner before London (no burn row)
    receipts_csv = _csv(etl / "test_export_receipts_job/receipts_with_logs/expected_receipts.csv")
    expected_fees = {r["transaction_hash"]: int(r["gas_used"]) * int(r["effective_gas_price"]) for r in receipts_csv}
    assert {r["txid"]: int(r["fee"]) for r in frames.transactions.to_dicts()} == expected_fees
    fees = _rows(transfers, kind="fee")
    assert {r["txid"]: _amount(r) for r in fees} == expected_fees
    assert {r["to_address"] for r in fees} == {"0x52bc44d5378309EE2abF1539BF71dE1b7d7bE3b5"}  # EIP-55 of the miner
    assert all(r["trace_path"] is None for r in fees)


def test_token_transfer_from_a_later_block_matches_ethereum_etl(shared_data: Path) -> None:
    """Block 1755635: a 5e18 ERC-20 transfer; the block's other (non-Transfer) log is ignored."""
    directory = _etl(shared_data) / "test_stream/blocks_1755634_1755635"
    block = _result(directory / "web3_response.eth_getBlockByNumber_0x1ac9f3_true.json")
    receipts = [_result(p) for p in sorted(directory.glob("web3_response.eth_getTransactionReceipt_*.json"))]
    stats = MapStats()
    frames = map_block(block, receipts, ETH, source="etl", failed=set(), stats=stats)
    expected = [json.loads(line) for line in (directory / "expected_token_transfers.json").read_text().splitlines()]
    expected = [e for e in expected if e["block_number"] == 1755635]
    tokens = _rows(frames.transfers, kind="token")
    assert [(r["txid"], r["log_index"], r["asset"].lower(), r["from_address"].lower(), r["to_address"].lower(),
             _amount(r)) for r in tokens] == [
        (e["transaction_hash"], e["log_index"], e["token_address"], e["from_address"], e["to_address"], e["value"])
        for e in expected
    ]
    assert stats.skipped_transfer_logs == 0


@pytest.mark.parametrize(
    "case", ["block_with_create", "block_with_error", "block_with_subtraces", "block_with_suicide"]
)
def test_decoded_traces_match_ethereum_etl(shared_data: Path, case: str) -> None:
    """Every trace entry's from, to and value (exact) and its success flag, as ethereum-etl reads them."""
    directory = _etl(shared_data) / "test_export_traces_job" / case
    traces = _result(next(directory.glob("web3_response.trace_block_*.json")))
    expected = _csv(directory / "expected_traces.csv")
    decoded = decode_traces(traces)
    assert [
        ((t.from_address or "").lower(), (t.to_address or "").lower(), t.value, 0 if t.reverted else 1)
        for t in decoded
    ] == [(e["from_address"], e["to_address"], int(e["value"]), int(e["status"])) for e in expected]


def _trace_block(traces: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hash": traces[0]["blockHash"], "number": hex(traces[0]["blockNumber"]), "timestamp": "0x5"}


def test_selfdestruct_sends_the_balance_to_the_refund_address(shared_data: Path) -> None:
    traces = _result(next((_etl(shared_data) / "test_export_traces_job/block_with_suicide").glob("web3_*.json")))
    rows = map_traces(traces, _trace_block(traces), ETH, source="etl").to_dicts()
    assert [(r["kind"], r["trace_path"], r["from_address"], r["to_address"], _amount(r)) for r in rows] == [
        ("internal", "0", "0x474Faa5018639791952fae334E2911700ac7FE9b", "0x83973747eec131bf9a08Ac64FB1A518E891bDf4b",
         50_000_000_000_000_000)
    ]


def test_callcode_moves_no_value_and_top_level_calls_are_the_native_rows(shared_data: Path) -> None:
    """Block 1000000: the only sub-call is a ``callcode`` (value from the caller to itself): no internal row."""
    traces = _result(next((_etl(shared_data) / "test_export_traces_job/block_with_subtraces").glob("web3_*.json")))
    stats = MapStats()
    assert map_traces(traces, _trace_block(traces), ETH, source="etl", stats=stats).height == 0
    assert stats.non_transfer_calls == 1 and stats.reward_traces == 1


def test_failed_top_level_trace_marks_the_transaction_failed(shared_data: Path) -> None:
    traces = _result(next((_etl(shared_data) / "test_export_traces_job/block_with_error").glob("web3_*.json")))
    assert failed_transactions(traces) == {"0xa2f089480e6fd907e786a88d928ba20feeca2ca37ffa84c2d54bae42f5d989c9"}


# --- rules, on hand-built responses --------------------------------------------------------------

BLOCK_HASH = "0x" + "ab" * 32
MINER = "0x" + "11" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
TOKEN = "0x" + "70" * 20


def _txid(n: int) -> str:
    return "0x" + f"{n:064x}"


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _tx(n: int, *, to: str | None = BOB, value: int = 0) -> dict[str, Any]:
    return {"hash": _txid(n), "transactionIndex": hex(n), "from": ALICE, "to": to, "value": hex(value),
            "gasPrice": hex(30), "type": "0x2", "maxFeePerGas": hex(40), "maxPriorityFeePerGas": hex(5)}


def _receipt(n: int, *, status: str | None = "0x1", logs: list[dict[str, Any]] | None = None,
             contract: str | None = None) -> dict[str, Any]:
    return {"transactionHash": _txid(n), "blockHash": BLOCK_HASH, "status": status, "gasUsed": hex(21_000),
            "effectiveGasPrice": hex(30), "contractAddress": contract, "logs": logs or []}


def _block(txs: list[dict[str, Any]], base_fee: int | None = 25) -> dict[str, Any]:
    block: dict[str, Any] = {"hash": BLOCK_HASH, "number": hex(20_000_000), "timestamp": hex(1_700_000_000),
                             "miner": MINER, "transactions": txs}
    if base_fee is not None:
        block["baseFeePerGas"] = hex(base_fee)
    return block


def _transfer_log(index: int, n: int, topics: list[str], data: str) -> dict[str, Any]:
    return {"address": TOKEN, "topics": [TRANSFER_TOPIC, *topics], "data": data, "logIndex": hex(index),
            "transactionHash": _txid(n), "blockHash": BLOCK_HASH, "removed": False}


def test_failed_transaction_moves_no_value_but_pays_its_fee(shared_data: Path) -> None:
    block, receipts = _block_483920(shared_data)
    receipts = copy.deepcopy(receipts)
    payment = "0x463d53f0ad57677a3b430a007c1c31d15d62c37fab5eee598551697c297c235c"
    for receipt in receipts:
        receipt["status"] = "0x0" if receipt["transactionHash"] == payment else "0x1"
    transfers = map_block(block, receipts, ETH, source="t").transfers
    assert [r["kind"] for r in _rows(transfers, txid=payment)] == ["fee"]
    assert _amount(_rows(transfers, txid=payment)[0]) == 21_000 * 50_000_000_000
    # the same through traces for a pre-Byzantium receipt: the caller names the failed transaction
    block, receipts = _block_483920(shared_data)
    transfers = map_block(block, receipts, ETH, source="t", failed={payment}).transfers
    assert [r["kind"] for r in _rows(transfers, txid=payment)] == ["fee"]


def test_receipt_without_status_needs_the_failed_set(shared_data: Path) -> None:
    block, receipts = _block_483920(shared_data)
    with pytest.raises(ValueError, match="pre-Byzantium"):
        map_block(block, receipts, ETH, source="t")


def test_fee_after_london_is_split_into_tip_to_the_miner_and_burned_base_fee() -> None:
    frames = map_block(_block([_tx(0, value=7)]), [_receipt(0)], ETH, source="t").validate()
    assert int(frames.transactions["fee"][0]) == 21_000 * 30
    fees = {r["trace_path"]: (r["to_address"], _amount(r)) for r in _rows(frames.transfers, kind="fee")}
    assert fees == {None: ("0x1111111111111111111111111111111111111111", 21_000 * 5), "burn": (None, 21_000 * 25)}
    assert sum(v for _, v in fees.values()) == int(frames.transactions["fee"][0])
    assert [_amount(r) for r in _rows(frames.transfers, kind="native")] == [7]


def test_contract_creation_value_goes_to_the_created_contract() -> None:
    created = "0x" + "c0" * 20
    frames = map_block(_block([_tx(0, to=None, value=10**18)]), [_receipt(0, contract=created)], ETH, source="t")
    (native,) = _rows(frames.transfers, kind="native")
    assert native["to_address"].lower() == created and _amount(native) == 10**18


def test_erc721_transfer_is_an_item_not_an_amount() -> None:
    token_id = 2**255 + 12345
    log = _transfer_log(3, 0, [_topic(ALICE), _topic(BOB), "0x" + f"{token_id:064x}"], "0x")
    frames = map_block(_block([_tx(0)]), [_receipt(0, logs=[log])], ETH, source="t")
    (row,) = _rows(frames.transfers, kind="token")
    assert row["token_id"] == str(token_id) and _amount(row) == 1 and row["log_index"] == 3


def test_uint256_amount_beyond_10_pow_38_is_exact_in_value_overflow() -> None:
    amount = 2**256 - 1
    log = _transfer_log(0, 0, [_topic(ALICE), _topic(BOB)], "0x" + f"{amount:064x}")
    frames = map_block(_block([_tx(0)]), [_receipt(0, logs=[log])], ETH, source="t").validate()
    (row,) = _rows(frames.transfers, kind="token")
    assert row["value"] is None and row["value_overflow"] == str(amount) and _amount(row) == amount
    assert row["asset"] == "0x7070707070707070707070707070707070707070"


def test_transfer_logs_of_other_shapes_are_skipped_and_counted() -> None:
    unindexed = _transfer_log(0, 0, [], "0x" + "00" * 96)  # CryptoKitties-style: everything in data
    dirty_topic = _transfer_log(1, 0, ["0x" + "ff" * 32, _topic(BOB)], "0x" + "00" * 32)
    stats = MapStats()
    frames = map_block(_block([_tx(0)]), [_receipt(0, logs=[unindexed, dirty_topic])], ETH, source="t", stats=stats)
    assert _rows(frames.transfers, kind="token") == []
    assert stats.skipped_transfer_logs == 2 and stats.skipped_logs == [(_txid(0), 0), (_txid(0), 1)]


def _call(path: list[int], value: int, *, call_type: str = "call", error: str | None = None) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "action": {"callType": call_type, "from": ALICE, "to": BOB, "gas": "0x0", "input": "0x", "value": hex(value)},
        "blockHash": BLOCK_HASH, "blockNumber": 20_000_000, "result": {"gasUsed": "0x0", "output": "0x"},
        "subtraces": 0, "traceAddress": path, "transactionHash": _txid(0), "transactionPosition": 0, "type": "call",
    }
    if error is not None:
        trace["error"] = error
        trace["result"] = None
    return trace


def test_reverted_subtree_moves_no_value() -> None:
    traces = [
        _call([], 100),  # the transaction itself: its native row, not an internal one
        _call([0], 5, error="Reverted"),  # reverted: it and everything below it moved nothing
        _call([0, 0], 3),
        _call([1], 9),
        _call([1, 0], 4, call_type="delegatecall"),  # delegatecall's value is the parent's msg.value
    ]
    create = {
        "action": {"from": BOB, "gas": "0x0", "init": "0x", "value": hex(2)}, "blockHash": BLOCK_HASH,
        "blockNumber": 20_000_000, "result": {"address": "0x" + "c0" * 20, "code": "0x", "gasUsed": "0x0"},
        "subtraces": 0, "traceAddress": [1, 1], "transactionHash": _txid(0), "transactionPosition": 0, "type": "create",
    }
    stats = MapStats()
    frame = map_traces([*traces, create], _block([]), ETH, source="t", stats=stats)
    assert [(r["trace_path"], r["to_address"].lower(), _amount(r)) for r in frame.to_dicts()] == [
        ("1", BOB, 9), ("1.1", "0x" + "c0" * 20, 2)
    ]
    assert stats.reverted_traces == 2 and stats.non_transfer_calls == 1


def test_bad_hex_and_unknown_fields_are_refused() -> None:
    bad = _tx(0, value=1)
    bad["value"] = "0x1g"
    with pytest.raises(MalformedResponseError, match="hex quantity"):
        map_block(_block([bad]), [_receipt(0)], ETH, source="t")
    drift = _receipt(0)
    drift["l1Fee"] = "0x1"  # an L2 receipt: a value-bearing field this mapper does not know
    with pytest.raises(SchemaDriftError, match="l1Fee"):
        map_block(_block([_tx(0)]), [drift], ETH, source="t")
    foreign = _receipt(0)
    foreign["blockHash"] = "0x" + "cd" * 32  # from a reorged sibling block
    with pytest.raises(MalformedResponseError, match="reorg"):
        map_block(_block([_tx(0)]), [foreign], ETH, source="t")
    with pytest.raises(MalformedResponseError, match="no receipt"):
        map_block(_block([_tx(0)]), [], ETH, source="t")
