# SPDX-License-Identifier: Apache-2.0
"""Tron JSON -> canonical frames, on real answers recorded from TronGrid (fixtures/tron/ledger-live,
MIT, see its README): TRX, TRC-10 and USDT transfers to exact amounts, the fee burned by the owner.

Each recorded transaction is checked first: its txID is the SHA-256 of its raw_data_hex (Tron's rule),
and the recorded fields agree with those bytes, so the excerpt is what the chain holds."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.tron.mappers import (
    TxContext,
    frames_from_blocks,
    frames_from_trongrid_transactions,
    frames_from_trongrid_trc20,
    is_failed,
)
from tracer.chains import default_registry
from tracer.schema import TRANSACTIONS, TRANSFERS, validate
from tracer.units import join_from_frame

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "tron" / "ledger-live"
TRX = default_registry().get("trx")
HOLDER = "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


TXS = _load("fetchTronAccountTxs.excerpt.json")[HOLDER][""]["data"]
TRC20 = _load("fetchTronAccountTxsTrc20.excerpt.json")[HOLDER]["data"]
INFOS = _load("getTransactionInfoById.excerpt.json")


def _rows(frames: Any) -> list[tuple[Any, ...]]:
    return sorted((r["txid"][2:10], r["kind"], r["asset"], r["from_address"], r["to_address"],
                   join_from_frame(r["value"], r["value_overflow"]), r["log_index"], r["trace_path"])
                  for r in frames.transfers.to_dicts())


def test_the_recorded_transactions_are_authentic() -> None:
    for tx in [*TXS, *(item["detail"] for item in TRC20)]:
        assert hashlib.sha256(bytes.fromhex(tx["raw_data_hex"])).hexdigest() == tx["txID"]


def test_trongrid_transactions_with_their_infos_decode_to_exact_amounts() -> None:
    frames = frames_from_trongrid_transactions(TXS, TRX, source="test", infos=INFOS)
    validate(frames.transactions, TRANSACTIONS)
    validate(frames.transfers, TRANSFERS)
    assert _rows(frames) == sorted([
        # TRC-10 token 1005065, 8,888.88 of it (6 decimals) into the holder
        ("034897cb", "token", "1005065", "TGkKgKy8dKNE6u1wmwo8Tnf5XsZrrJ8Lbz", HOLDER, 8_888_880_000, None, None),
        ("5144c4f5", "native", "native", "TD3UjWy82fFre6VEqEVpK2J2HKm3NewYE3", HOLDER, 1, None, None),
        # 150.46632 TRX out, and 1.1 TRX burned (0.1 bandwidth + 1 TRX to activate the new account)
        ("3f8b651b", "native", "native", HOLDER, "TBy2NECVVZRS4Aia4oYXe669HuhgKAiYE3", 150_466_320, None, None),
        ("3f8b651b", "fee", "native", HOLDER, None, 1_100_000, None, "burn"),
        # 41.677389 USDT out, from the Transfer log, and 26.4201 TRX of energy burned
        ("0130dfde", "token", USDT, HOLDER, "TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx", 41_677_389, 0, None),
        ("0130dfde", "fee", "native", HOLDER, None, 26_420_100, None, "burn"),
    ])
    txs = {r["txid"][2:10]: r for r in frames.transactions.to_dicts()}
    assert (txs["0130dfde"]["block_height"], txs["0130dfde"]["timestamp"], int(txs["0130dfde"]["fee"])) == (
        69316562, 1738601505, 26_420_100)


def test_without_infos_the_fee_comes_from_the_listing_and_no_log_is_guessed() -> None:
    frames = frames_from_trongrid_transactions(TXS, TRX, source="test")
    kinds = sorted((r[0], r[1], r[5]) for r in _rows(frames))
    assert ("0130dfde", "fee", 26_420_100) in kinds and not any(k == ("0130dfde", "token") for k in
                                                                  (r[:2] for r in kinds))


def test_trongrid_trc20_items_decode_to_exact_amounts_beyond_64_bits() -> None:
    frames = frames_from_trongrid_trc20(TRC20, TRX, source="test")
    assert _rows(frames) == sorted([
        ("0130dfde", "token", USDT, HOLDER, "TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx", 41_677_389, None, "trc20:1"),
        ("05397e25", "token", USDT, "TJtEySoVuAkk3xwXghLgrUFVKSMq9JkE18", HOLDER, 41_499_389, None, "trc20:1"),
        ("629adf1e", "token", "TXL6rJbvmjD46zeN1JssfgxvSo99qC8MRT", "TZ8iWgdQ8WArWR5iYwY63BiYUojyRj7m2e", HOLDER,
         13_409_316_000_000_000_000, None, "trc20:1"),
        ("46710419", "token", USDT, HOLDER, "TCB8H6cKtfLZJyt3tXkbN1a8Nxrh2x14RB", 1_000, None, "trc20:1"),
    ])


def _block(number: int, txs: list[dict[str, Any]]) -> dict[str, Any]:
    """HAND-BUILT getblockbynum envelope (blockID and header invented for the test) around REAL recorded
    transactions: no licensed recording of a whole Tron block was found (see fixtures/tron/README.md)."""
    return {"blockID": f"{number:016x}" + "ab" * 24,
            "block_header": {"raw_data": {"number": number, "timestamp": txs[0]["block_timestamp"]}},
            "transactions": [{k: v for k, v in tx.items() if k in ("ret", "signature", "txID", "raw_data",
                                                                    "raw_data_hex")} for tx in txs]}


def test_full_node_blocks_with_their_infos_give_the_same_rows_as_trongrid() -> None:
    blocks = [_block(tx["blockNumber"], [tx]) for tx in TXS]
    from_node = frames_from_blocks(blocks, INFOS.values(), TRX, source="node")
    from_grid = frames_from_trongrid_transactions(TXS, TRX, source="grid", infos=INFOS)
    assert _rows(from_node) == _rows(from_grid)
    assert sorted(from_node.transactions["block_height"].to_list()) == sorted(t["blockNumber"] for t in TXS)
    assert from_node.transfers["block_hash"].str.starts_with("0x").all()


def test_a_failed_transaction_moves_nothing_but_pays_its_fee() -> None:
    # HAND-MODIFIED from the recorded USDT transfer 0130dfde: marked as reverted (contractRet / receipt result)
    tx = copy.deepcopy(next(t for t in TXS if t["txID"].startswith("0130dfde")))
    info = copy.deepcopy(INFOS[tx["txID"]])
    tx["ret"][0]["contractRet"] = "REVERT"
    info["receipt"]["result"] = "REVERT"
    assert is_failed(tx, info)
    frames = frames_from_trongrid_transactions([tx], TRX, source="test", infos={tx["txID"]: info})
    assert _rows(frames) == [("0130dfde", "fee", "native", HOLDER, None, 26_420_100, None, "burn")]
    # the receipt alone is enough (TronGrid listings say SUCCESS for the envelope, the VM said otherwise)
    tx["ret"][0]["contractRet"] = "SUCCESS"
    assert is_failed(tx, info) and not is_failed(tx, INFOS[tx["txID"]])


def test_a_bad_address_in_an_answer_is_a_malformed_response() -> None:
    from adapters.errors import MalformedResponseError

    tx = copy.deepcopy(TXS[1])
    tx["raw_data"]["contract"][0]["parameter"]["value"]["to_address"] = "41" + "zz" * 20
    with pytest.raises(MalformedResponseError):
        frames_from_trongrid_transactions([tx], TRX, source="test")
    assert TxContext(1, None, None, None).height == 1
