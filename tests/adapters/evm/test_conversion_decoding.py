# SPDX-License-Identifier: Apache-2.0
"""Decoding conversions (Uniswap V2/V3 swaps, WETH9 wrapping) and ERC-1155 transfers from receipt logs (pure).

The real part reads two mainnet blocks (17,173,049-17,173,050) from ethereum-etl's test data in
``../shared/data`` (skipped when absent): the blocks, transactions and logs are put back into the
JSON-RPC shapes a node returns, mapped by :func:`adapters.evm.mappers.map_block`, and the conversions
decoded from the same receipts. That export has no traces, so internal transfers are missing: every
WETH ``Withdrawal`` (its ETH leaves the WETH contract by an internal call) and every ``Deposit`` made
by a router must give a warning, not a row. The pools' ``token0``/``token1`` (which the node adapter
reads with ``eth_call``) are taken here from the two tokens each pool moved in the block, in address
order (both Uniswap factories sort them: ``token0 < token1``).

The rest builds logs by hand to pin each rule: what balances, what does not (a warning naming the
transaction, never a silent drop or an exception), the chained-swap ``trader`` convention, and the
ERC-1155 single/batch shapes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_utils import to_checksum_address

from adapters.evm.conversions import (
    V2_SWAP_TOPIC,
    V3_SWAP_TOPIC,
    WETH_DEPOSIT_TOPIC,
    WETH_WITHDRAWAL_TOPIC,
    decode_conversions,
    swap_pools,
)
from adapters.evm.erc1155 import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC
from adapters.evm.mappers import TRANSFER_TOPIC, MapStats, map_block
from tracer.chain_order import path_key
from tracer.chains import default_registry
from tracer.schema import CONVERSIONS, TRANSFERS, validate

ETH = default_registry().get("eth")
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


# --- real mainnet blocks (ethereum-etl export) ---------------------------------------------------------


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rpc_blocks(directory: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The export's blocks as ``eth_getBlockByNumber(n, true)`` results with their receipts."""
    blocks, txs, logs = (_lines(directory / f"expected_{n}.json") for n in ("blocks", "transactions", "logs"))
    out = []
    for b in blocks:
        block: dict[str, Any] = {"number": hex(b["number"]), "hash": b["hash"], "parentHash": b["parent_hash"],
                                 "miner": b["miner"], "timestamp": hex(b["timestamp"]),
                                 "baseFeePerGas": hex(b["base_fee_per_gas"]), "transactions": []}
        receipts = []
        for t in sorted((t for t in txs if t["block_number"] == b["number"]), key=lambda t: t["transaction_index"]):
            block["transactions"].append({"hash": t["hash"], "from": t["from_address"], "to": t["to_address"],
                                          "value": hex(t["value"]), "gasPrice": hex(t["gas_price"]),
                                          "transactionIndex": hex(t["transaction_index"])})
            tx_logs = sorted((g for g in logs if g["transaction_hash"] == t["hash"]), key=lambda g: g["log_index"])
            receipts.append({
                "transactionHash": t["hash"], "blockHash": b["hash"], "blockNumber": hex(b["number"]),
                "status": hex(t["receipt_status"]), "gasUsed": hex(t["receipt_gas_used"]),
                "effectiveGasPrice": hex(t["receipt_effective_gas_price"]),
                "contractAddress": t["receipt_contract_address"],
                "logs": [{"address": g["address"], "topics": g["topics"], "data": g["data"],
                          "logIndex": hex(g["log_index"]), "transactionHash": g["transaction_hash"],
                          "blockHash": b["hash"], "blockNumber": hex(b["number"])} for g in tx_logs],
            })
        out.append((block, receipts))
    return out


def _pools_from_rows(receipts: list[dict[str, Any]], transfers: pl.DataFrame) -> dict[str, tuple[str, str] | None]:
    pools: dict[str, tuple[str, str] | None] = {}
    for pool in swap_pools(receipts):
        moved = transfers.filter((pl.col("kind") == "token") & ((pl.col("from_address") == pool)
                                                                | (pl.col("to_address") == pool)))
        tokens = sorted(set(moved["asset"].to_list()), key=str.lower)
        pools[pool] = (tokens[0], tokens[1]) if len(tokens) == 2 else None
    return pools


@pytest.fixture()
def mainnet(shared_data: Path) -> list[tuple[list[dict[str, Any]], pl.DataFrame, pl.DataFrame, MapStats]]:
    directory = shared_data / "rpc/ethereum-etl/test_stream/blocks_17173049_17173050"
    if not directory.is_dir():
        pytest.skip(f"ethereum-etl stream test data not present at {directory}")
    out = []
    for block, receipts in _rpc_blocks(directory):
        transfers = map_block(block, receipts, ETH, source="ethereum-etl").transfers
        stats = MapStats()
        conversions = decode_conversions(receipts, transfers, pools=_pools_from_rows(receipts, transfers),
                                         stats=stats)
        out.append((receipts, transfers, conversions, stats))
    return out


def _conversion_events(receipts: list[dict[str, Any]]) -> int:
    return sum(1 for r in receipts for g in r["logs"]
               if g["topics"][0] in (V2_SWAP_TOPIC, V3_SWAP_TOPIC)
               or (g["topics"][0] in (WETH_DEPOSIT_TOPIC, WETH_WITHDRAWAL_TOPIC) and g["address"] == WETH.lower()))


def test_real_chained_v2_route_usdt_weth_token_gives_two_linked_conversions(mainnet: list[Any]) -> None:
    _, _, conversions, _ = mainnet[1]
    rows = conversions.filter(
        pl.col("txid") == "0x24f11d9f91360b9a429481d2283d5f463a8f8e677690125c986ea07a65bc52b3").sort("log_index")
    pair1, pair2 = "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852", "0x4360658E680026E4c636E8Be0F7D0B9f976C46F0"
    user = "0xEE61D14B941654a249421Aa1fA9457872eDCD66a"
    keep = ["log_index", "protocol", "venue", "trader", "recipient", "asset_in", "value_in", "asset_out", "value_out",
            "in_kind", "in_log_index", "in_trace_path", "out_kind", "out_log_index", "out_trace_path"]
    assert rows.select(keep).to_dicts() == [
        {"log_index": 11, "protocol": "uniswap_v2", "venue": pair1, "trader": user, "recipient": pair2,
         "asset_in": USDT, "value_in": Decimal(500_000_000), "asset_out": WETH,
         "value_out": Decimal(272366209894377473), "in_kind": "token", "in_log_index": 8, "in_trace_path": None,
         "out_kind": "token", "out_log_index": 9, "out_trace_path": None},
        # chained: its in-leg is swap 1's out-leg (log 9), its trader swap 1's recipient
        {"log_index": 14, "protocol": "uniswap_v2", "venue": pair2, "trader": pair2, "recipient": user,
         "asset_in": WETH, "value_in": Decimal(272366209894377473),
         "asset_out": "0x15F20f9DFDf96CCf6AC96653b7C0aBfe4A9C9f0f",
         "value_out": Decimal(2018391280111522936728527039), "in_kind": "token", "in_log_index": 9,
         "in_trace_path": None, "out_kind": "token", "out_log_index": 12, "out_trace_path": None},
    ]
    assert rows["block_height"].to_list() == [17173050, 17173050] and rows["tx_index"].to_list() == [1, 1]


def test_real_v3_swap_reads_signed_amounts(mainnet: list[Any]) -> None:
    receipts, _, conversions, _ = mainnet[1]
    row = conversions.filter((pl.col("txid") == "0xd9bda14ce031d98af00d9a7ffef7b4a054d58fed1114e36b45fbe5aeaf2a81a0")
                             & (pl.col("log_index") == 75)).to_dicts()[0]
    log = next(g for r in receipts for g in r["logs"]
               if g["transactionHash"] == row["txid"] and g["logIndex"] == "0x4b")
    amount0 = int.from_bytes(bytes.fromhex(log["data"][2:66]), "big", signed=True)
    amount1 = int.from_bytes(bytes.fromhex(log["data"][66:130]), "big", signed=True)
    assert amount0 < 0 < amount1  # token1 (WETH) in, token0 (DAI) out
    assert (row["protocol"], row["asset_in"], row["value_in"], row["asset_out"], row["value_out"]) == (
        "uniswap_v3", WETH, Decimal(amount1), "0x6B175474E89094C44Da98b954EedeAC495271d0F", Decimal(-amount0))
    assert (row["in_log_index"], row["out_log_index"]) == (74, 73)  # V3 pays out first, then takes the input


def test_every_real_leg_is_a_transfer_of_exactly_the_amount_and_nothing_is_dropped_silently(
    mainnet: list[Any],
) -> None:
    for receipts, transfers, conversions, stats in mainnet:
        validate(conversions, CONVERSIONS)
        validate(transfers, TRANSFERS)
        keyed = {(r["txid"], r["kind"], r["log_index"], r["trace_path"]): r for r in transfers.to_dicts()}
        for c in conversions.to_dicts():
            if c["in_kind"] is not None:
                leg = keyed[(c["txid"], c["in_kind"], c["in_log_index"], c["in_trace_path"])]
                assert (leg["asset"], leg["to_address"], leg["value"]) == (c["asset_in"], c["venue"], c["value_in"])
                assert leg["log_index"] < c["log_index"]
            if c["out_kind"] is not None:
                leg = keyed[(c["txid"], c["out_kind"], c["out_log_index"], c["out_trace_path"])]
                assert (leg["asset"], leg["from_address"], leg["to_address"], leg["value"]) == (
                    c["asset_out"], c["venue"], c["recipient"], c["value_out"])
        # every event is a row or a warning
        assert conversions.height + len(stats.conversion_warnings) == _conversion_events(receipts)
        assert stats.conversions == conversions.height
    counts = [c.group_by("protocol").len().sort("protocol").rows() for _, _, c, _ in mainnet]
    assert counts == [[("uniswap_v2", 23), ("uniswap_v3", 5)], [("uniswap_v2", 39), ("uniswap_v3", 5)]]


def test_real_weth_events_without_traces_are_warnings_naming_the_transaction(mainnet: list[Any]) -> None:
    for receipts, _, conversions, stats in mainnet:
        assert conversions.filter(pl.col("protocol") == "weth").height == 0
        withdrawals = {(r["transactionHash"], int(g["logIndex"], 16)) for r in receipts for g in r["logs"]
                       if g["topics"][0] == WETH_WITHDRAWAL_TOPIC and g["address"] == WETH.lower()}
        warned = {(w.txid, w.log_index): w.reason for w in stats.conversion_warnings if w.protocol == "weth"}
        assert withdrawals and withdrawals <= warned.keys()
        assert all("traces missing?" in warned[k] for k in withdrawals)
    reasons = [w.reason for _, _, _, s in mainnet for w in s.conversion_warnings if w.protocol == "uniswap_v2"]
    assert reasons and all(r.startswith("no transfer of exactly") for r in reasons)  # fee-on-transfer tokens


def test_real_erc1155_transfer_single_is_a_token_row_with_its_id(mainnet: list[Any]) -> None:
    _, transfers, _, _ = mainnet[1]
    row = transfers.filter((pl.col("txid") == "0x038d6b45ca812f889227b950d34704aeb14564cc5a88a22c26ce7e7c6f2828ab")
                           & (pl.col("log_index") == 336)).to_dicts()
    assert [(r["kind"], r["asset"], r["token_id"], r["from_address"], r["to_address"], r["value"], r["trace_path"])
            for r in row] == [("token", "0x977e43AB3eB8C0aECe1230ba187740342865EE78", "0",
                               "0x0000000000000000000000000000000000000000",
                               "0x17c72771bB6B283baDe0C07E0901744C37Ff8c41", Decimal(1), None)]


# --- hand-built logs: the rules ------------------------------------------------------------------------

POOL = to_checksum_address("0x" + "11" * 20)
POOL2 = to_checksum_address("0x" + "22" * 20)
TOKEN_A = to_checksum_address("0x" + "aa" * 20)
TOKEN_B = to_checksum_address("0x" + "bb" * 20)
TOKEN_C = to_checksum_address("0x" + "cc" * 20)
ALICE = to_checksum_address("0xa11ce" + "0" * 35)
BOB = to_checksum_address("0xb0b" + "0" * 37)
ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
TX = "0x" + "ab" * 32
BLOCK = "0x" + "cd" * 32
PAIRS = {POOL: (TOKEN_A, TOKEN_B), POOL2: (TOKEN_B, TOKEN_C)}


def _t(address: str) -> str:
    return "0x" + "0" * 24 + address[2:].lower()


def _w(value: int) -> str:
    return f"{value % (1 << 256):064x}"


def _log(index: int, address: str, topics: list[str], words: list[int]) -> dict[str, Any]:
    return {"address": address, "topics": topics, "data": "0x" + "".join(_w(v) for v in words),
            "logIndex": hex(index), "transactionHash": TX, "blockHash": BLOCK, "blockNumber": "0x10"}


def _transfer(index: int, token: str, sender: str, recipient: str, value: int) -> dict[str, Any]:
    return _log(index, token, [TRANSFER_TOPIC, _t(sender), _t(recipient)], [value])


def _v2(index: int, pool: str, amounts: list[int], to: str) -> dict[str, Any]:
    return _log(index, pool, [V2_SWAP_TOPIC, _t(ROUTER), _t(to)], amounts)


def _rows(*rows: tuple[str, int | None, str | None, str, str, str | None, int]) -> pl.DataFrame:
    """transfers rows (kind, log_index, trace_path, asset, from, to, value) of transaction TX in block 16."""
    data = [{"chain": "eth", "txid": TX, "block_height": 16, "block_hash": BLOCK, "tx_index": 3, "timestamp": 1700,
             "kind": k, "log_index": li, "trace_path": tp, "asset": a, "token_id": None, "from_address": f,
             "to_address": t, "value": Decimal(v), "value_overflow": None, "source": "test"}
            for k, li, tp, a, f, t, v in rows]
    return pl.DataFrame(data, schema=TRANSFERS.polars_schema)


def _decode(logs: list[dict[str, Any]], rows: pl.DataFrame, **kw: Any) -> tuple[list[dict[str, Any]], MapStats]:
    stats = MapStats()
    kw.setdefault("pools", PAIRS)
    frame = decode_conversions([{"transactionHash": TX, "logs": logs}], rows, stats=stats, **kw)
    return frame.to_dicts(), stats


def test_v2_swap_token1_in_token0_out_names_both_legs() -> None:
    logs = [_transfer(0, TOKEN_A, POOL, BOB, 70), _transfer(1, TOKEN_B, ALICE, POOL, 100),
            _v2(2, POOL, [0, 100, 70, 0], BOB)]
    rows = _rows(("token", 0, None, TOKEN_A, POOL, BOB, 70), ("token", 1, None, TOKEN_B, ALICE, POOL, 100))
    found, stats = _decode(logs, rows)
    assert [(c["trader"], c["recipient"], c["asset_in"], c["value_in"], c["asset_out"], c["value_out"],
             c["in_log_index"], c["out_log_index"], c["tx_index"], c["source"]) for c in found] == [
        (ALICE, BOB, TOKEN_B, Decimal(100), TOKEN_A, Decimal(70), 1, 0, 3, "test")]
    assert stats.conversion_warnings == []


def test_the_in_leg_is_the_nearest_earlier_transfer_of_exactly_the_amount() -> None:
    logs = [_transfer(0, TOKEN_A, ALICE, POOL, 100), _transfer(1, TOKEN_A, BOB, POOL, 100),
            _transfer(2, TOKEN_B, POOL, BOB, 50), _v2(3, POOL, [100, 0, 0, 50], BOB),
            _transfer(4, TOKEN_A, ALICE, POOL, 100)]  # after the event: not its leg
    rows = _rows(("token", 0, None, TOKEN_A, ALICE, POOL, 100), ("token", 1, None, TOKEN_A, BOB, POOL, 100),
                 ("token", 2, None, TOKEN_B, POOL, BOB, 50), ("token", 4, None, TOKEN_A, ALICE, POOL, 100))
    found, _ = _decode(logs, rows)
    assert [(c["trader"], c["in_log_index"]) for c in found] == [(BOB, 1)]


def test_chained_swap_shares_the_middle_row_and_takes_the_previous_recipient_as_trader() -> None:
    logs = [_transfer(0, TOKEN_A, ALICE, POOL, 100), _transfer(1, TOKEN_B, POOL, POOL2, 60),
            _v2(2, POOL, [100, 0, 0, 60], POOL2), _transfer(3, TOKEN_C, POOL2, BOB, 30),
            _v2(4, POOL2, [60, 0, 0, 30], BOB)]
    rows = _rows(("token", 0, None, TOKEN_A, ALICE, POOL, 100), ("token", 1, None, TOKEN_B, POOL, POOL2, 60),
                 ("token", 3, None, TOKEN_C, POOL2, BOB, 30))
    found, _ = _decode(logs, rows)
    first, second = found
    assert (first["trader"], first["recipient"], first["out_log_index"]) == (ALICE, POOL2, 1)
    assert (second["trader"], second["recipient"], second["in_log_index"]) == (POOL2, BOB, 1)
    assert first["recipient"] == second["trader"] and first["out_log_index"] == second["in_log_index"]


def test_v3_positive_amount_is_into_the_pool() -> None:
    logs = [_transfer(0, TOKEN_B, POOL, BOB, 5), _transfer(1, TOKEN_A, ALICE, POOL, 9),
            _log(2, POOL, [V3_SWAP_TOPIC, _t(ROUTER), _t(BOB)], [9, -5, 2**96, 10**18, (-3) % (1 << 256)])]
    rows = _rows(("token", 0, None, TOKEN_B, POOL, BOB, 5), ("token", 1, None, TOKEN_A, ALICE, POOL, 9))
    found, _ = _decode(logs, rows)
    assert [(c["protocol"], c["asset_in"], c["value_in"], c["asset_out"], c["value_out"]) for c in found] == [
        ("uniswap_v3", TOKEN_A, Decimal(9), TOKEN_B, Decimal(5))]


@pytest.mark.parametrize(("logs", "pools", "reason"), [
    ([_v2(2, POOL, [100, 5, 0, 60], BOB)], PAIRS, "does not balance"),  # both sides in
    ([_v2(2, POOL, [0, 0, 0, 60], BOB)], PAIRS, "does not balance"),  # neither side in
    ([_log(2, POOL, [V2_SWAP_TOPIC, _t(ROUTER)], [100, 0, 0, 60])], PAIRS, "does not decode"),
    ([_log(2, POOL, [V2_SWAP_TOPIC, _t(ROUTER), _t(BOB)], [100, 0, 0])], PAIRS, "does not decode"),
    ([_log(2, POOL, [V3_SWAP_TOPIC, _t(ROUTER), _t(BOB)], [9, 5, 0, 0, 0])], PAIRS, "does not balance"),
    ([_v2(2, POOL, [100, 0, 0, 60], BOB)], {}, "were not resolved"),
    ([_v2(2, POOL, [100, 0, 0, 60], BOB)], {POOL: None}, "could not be read"),
    ([_v2(2, POOL, [100, 0, 0, 61], BOB)], PAIRS, "no transfer of exactly 61"),  # no out-leg of that amount
    ([_v2(2, POOL, [10**38, 0, 0, 60], BOB)], PAIRS, "10**38 or more"),
])
def test_what_does_not_balance_is_a_warning_and_the_legs_stay_transfers(
    logs: list[dict[str, Any]], pools: dict[str, Any], reason: str
) -> None:
    rows = _rows(("token", 0, None, TOKEN_A, ALICE, POOL, 100), ("token", 1, None, TOKEN_B, POOL, BOB, 60))
    found, stats = _decode([_transfer(0, TOKEN_A, ALICE, POOL, 100), _transfer(1, TOKEN_B, POOL, BOB, 60), *logs],
                           rows, pools=pools)
    assert found == []
    assert [(w.txid, w.log_index, w.venue) for w in stats.conversion_warnings] == [(TX, 2, POOL)]
    assert reason in stats.conversion_warnings[0].reason, stats.conversion_warnings[0]
    assert TX in str(stats.conversion_warnings[0])


def test_weth_deposit_takes_the_kth_payment_in_call_order_and_withdrawal_the_internal_refund() -> None:
    weth = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    logs = [_log(0, weth, [WETH_DEPOSIT_TOPIC, _t(ROUTER)], [7]), _log(1, weth, [WETH_DEPOSIT_TOPIC, _t(ROUTER)], [7]),
            _log(2, weth, [WETH_WITHDRAWAL_TOPIC, _t(ROUTER)], [5]),
            _log(3, weth, [WETH_DEPOSIT_TOPIC, _t(ALICE)], [4]),  # nobody paid 4 wei in: a warning
            _log(4, ROUTER, [WETH_DEPOSIT_TOPIC, _t(ALICE)], [4])]  # not a WETH contract: ignored
    rows = _rows(("native", None, None, "native", ALICE, ROUTER, 14),
                 ("internal", None, "1.2", "native", ROUTER, weth, 7),
                 ("internal", None, "0", "native", ROUTER, weth, 7),
                 ("internal", None, "3.0", "native", weth, ROUTER, 5))
    found, stats = _decode(logs, rows, weth=[weth])
    assert [(c["log_index"], c["trader"], c["recipient"], c["asset_in"], c["asset_out"], c["value_in"],
             c["in_kind"], c["in_trace_path"], c["out_kind"], c["out_trace_path"]) for c in found] == [
        (0, ROUTER, ROUTER, "native", weth, Decimal(7), "internal", "0", None, None),
        (1, ROUTER, ROUTER, "native", weth, Decimal(7), "internal", "1.2", None, None),
        (2, ROUTER, ROUTER, weth, "native", Decimal(5), None, None, "internal", "3.0"),
    ]
    assert [(w.log_index, w.protocol) for w in stats.conversion_warnings] == [(3, "weth")]
    # the default WETH set is mainnet WETH9 only
    assert _decode(logs, rows)[0] == []


def test_path_order_of_erc1155_items_and_internal_calls() -> None:
    assert path_key("item.3") == (3,) and path_key("1.2") == (1, 2)


# --- ERC-1155 (hand-built; the real TransferSingle is tested above) -------------------------------------


def _block_with(logs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    block = {"number": "0x10", "hash": BLOCK, "timestamp": "0x6553f100", "miner": BOB, "baseFeePerGas": "0x1",
             "transactions": [{"hash": TX, "from": ALICE, "to": POOL, "value": "0x0", "gasPrice": "0x1",
                               "transactionIndex": "0x0"}]}
    receipt = {"transactionHash": TX, "blockHash": BLOCK, "status": "0x1", "gasUsed": "0x5208",
               "effectiveGasPrice": "0x1", "logs": logs}
    return block, [receipt]


def _batch_data(ids: list[int], values: list[int]) -> list[int]:
    return [0x40, 0x40 + 32 * (1 + len(ids)), len(ids), *ids, len(values), *values]


def test_erc1155_batch_items_are_rows_told_apart_by_item_path() -> None:
    batch = _log(0, TOKEN_C, [TRANSFER_BATCH_TOPIC, _t(ROUTER), _t(ALICE), _t(BOB)],
                 _batch_data([7, 2**200, 9], [1, 25, 10**40]))
    single = _log(1, TOKEN_C, [TRANSFER_SINGLE_TOPIC, _t(ROUTER), _t("0x" + "0" * 40), _t(BOB)], [42, 3])
    block, receipts = _block_with([batch, single])
    rows = map_block(block, receipts, ETH, source="test").transfers.filter(pl.col("kind") == "token")
    assert rows.select("log_index", "trace_path", "token_id", "from_address", "to_address", "value",
                       "value_overflow").rows() == [
        (0, "item.0", "7", ALICE, BOB, Decimal(1), None),
        (0, "item.1", str(2**200), ALICE, BOB, Decimal(25), None),
        (0, "item.2", "9", ALICE, BOB, None, str(10**40)),
        (1, None, "42", "0x0000000000000000000000000000000000000000", BOB, Decimal(3), None),
    ]
    assert set(rows["asset"]) == {TOKEN_C}


@pytest.mark.parametrize("log", [
    _log(0, TOKEN_C, [TRANSFER_BATCH_TOPIC, _t(ROUTER), _t(ALICE), _t(BOB)], _batch_data([1, 2], [3])),  # lengths
    _log(0, TOKEN_C, [TRANSFER_BATCH_TOPIC, _t(ROUTER), _t(ALICE), _t(BOB)], [0x40, 0x400, 1, 1]),  # offset
    _log(0, TOKEN_C, [TRANSFER_SINGLE_TOPIC, _t(ROUTER), _t(ALICE)], [1, 2]),  # 3 topics
    _log(0, TOKEN_C, [TRANSFER_SINGLE_TOPIC, _t(ROUTER), _t(ALICE), "0x" + "f" * 64], [1, 2]),  # not an address
    _log(0, TOKEN_C, [TRANSFER_SINGLE_TOPIC, _t(ROUTER), _t(ALICE), _t(BOB)], [1]),  # short data
])
def test_erc1155_logs_of_other_shapes_are_skipped_and_counted(log: dict[str, Any]) -> None:
    block, receipts = _block_with([log])
    stats = MapStats()
    transfers = map_block(block, receipts, ETH, source="test", stats=stats).transfers
    assert transfers.filter(pl.col("kind") == "token").height == 0
    assert stats.skipped_logs == [(TX, 0)]
