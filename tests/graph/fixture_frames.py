# SPDX-License-Identifier: Apache-2.0
"""A small but complete hand-built batch of canonical frames for the export and browser-file tests.

UTXO (``btc-regtest``): a coinbase with an OP_RETURN output (no address), a spend with change that
also spends an output of a transaction not in the batch. Account (``eth``): native, token (2**70),
token above 10**38 (``value_overflow``), internal and fee (no recipient) transfers, a fee above 2**63.
Tags with a hostile label, a cluster, seeds of one case.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from tracer.schema import FRAMES, FrameSet, conform
from tracer.units import split_for_frame

HOSTILE_LABEL = 'Evil "quotes", commas, \\backslashes\\, newline\nand }) DETACH DELETE n //'
CASE = "case-2026-001"
BTC = "btc-regtest"
ETH = "eth"
CB_TXID, SPEND_TXID, UNLOADED_TXID = "aa" * 32, "bb" * 32, "cc" * 32
ETH_TXID = "0x" + "dd" * 32
A, B, C, D = "bcrt1qaaaa", "bcrt1qbbbb", "bcrt1qcccc", "mDDDDunloaded"
E, F, H = "0x" + "e1" * 20, "0x" + "f2" * 20, "0x" + "a3" * 20
TOKEN = "0x" + "70" * 20
BIG_TOKEN_VALUE = 2**70
HUGE_TOKEN_VALUE = 10**40 + 7
BIG_FEE = 2**64 + 1


def _frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = FRAMES[name]
    return conform(pl.DataFrame(rows, schema=schema.polars_schema), schema)


def _transfer(kind: str, to: str | None, value: int, **over: Any) -> dict[str, Any]:
    amount, overflow = split_for_frame(value)
    row: dict[str, Any] = {
        "chain": ETH, "txid": ETH_TXID, "block_height": 20, "block_hash": "0x" + "0b" * 32, "tx_index": 2,
        "timestamp": 1_700_000_100, "kind": kind, "log_index": None, "trace_path": None, "asset": "native",
        "token_id": None, "from_address": E, "to_address": to, "value": amount, "value_overflow": overflow,
        "source": "anvil",
    }
    row.update(over)
    return row


def sample_frames() -> FrameSet:
    tx = [
        {"chain": BTC, "txid": CB_TXID, "block_height": 101, "block_hash": "0f" * 32, "position": 0,
         "timestamp": 1_700_000_000, "fee": Decimal(0), "is_coinbase": True, "source": "litecoind"},
        {"chain": BTC, "txid": SPEND_TXID, "block_height": None, "block_hash": None, "position": None,
         "timestamp": None, "fee": Decimal(10_000), "is_coinbase": False, "source": "litecoind"},
        {"chain": ETH, "txid": ETH_TXID, "block_height": 20, "block_hash": "0x" + "0b" * 32, "position": 2,
         "timestamp": 1_700_000_100, "fee": Decimal(BIG_FEE), "is_coinbase": False, "source": "anvil"},
    ]
    ins = [
        {"chain": BTC, "txid": CB_TXID, "index": 0, "prev_txid": None, "prev_index": None, "address": None,
         "value": None, "source": "litecoind"},
        {"chain": BTC, "txid": SPEND_TXID, "index": 0, "prev_txid": CB_TXID, "prev_index": 0, "address": A,
         "value": 5_000_000_000, "source": "litecoind"},
        {"chain": BTC, "txid": SPEND_TXID, "index": 1, "prev_txid": UNLOADED_TXID, "prev_index": 3, "address": D,
         "value": 1_000, "source": "litecoind"},
    ]
    outs = [
        {"chain": BTC, "txid": CB_TXID, "index": 0, "address": A, "script_type": "witness_v0_keyhash",
         "value": 5_000_000_000, "source": "litecoind"},
        {"chain": BTC, "txid": CB_TXID, "index": 1, "address": None, "script_type": "nulldata", "value": 0,
         "source": "litecoind"},
        {"chain": BTC, "txid": SPEND_TXID, "index": 0, "address": B, "script_type": "witness_v0_keyhash",
         "value": 3_000_000_000, "source": "litecoind"},
        {"chain": BTC, "txid": SPEND_TXID, "index": 1, "address": C, "script_type": "witness_v0_keyhash",
         "value": 1_999_991_000, "source": "litecoind"},
    ]
    transfers = [
        _transfer("native", F, 10**18),
        _transfer("token", F, BIG_TOKEN_VALUE, log_index=5, asset=TOKEN),
        _transfer("token", H, HUGE_TOKEN_VALUE, log_index=6, asset=TOKEN),
        _transfer("internal", H, 5, trace_path="0.1", from_address=F),
        _transfer("fee", None, BIG_FEE),
    ]
    tags = [
        {"chain": BTC, "address": A, "label": HOSTILE_LABEL, "category": "exchange", "confidence": 80,
         "tagpack": "test-pack", "source": "https://example.org/tags, 2026"},
        {"chain": ETH, "address": H, "label": "OFAC SDN list entry", "category": "sanctioned", "confidence": 100,
         "tagpack": None, "source": "ofac"},
    ]
    clusters = [
        {"chain": BTC, "address": A, "cluster_id": "cl-1", "source": "multi-input"},
        {"chain": BTC, "address": C, "cluster_id": "cl-1", "source": "multi-input"},
    ]
    seeds = [
        {"case": CASE, "chain": BTC, "address": A, "label": "victim's wallet", "source": "complaint"},
        {"case": CASE, "chain": ETH, "address": E, "label": None, "source": "complaint"},
    ]
    return FrameSet(
        transactions=_frame("transactions", tx),
        inputs=_frame("inputs", ins),
        outputs=_frame("outputs", outs),
        transfers=_frame("transfers", transfers),
        tags=_frame("tags", tags),
        clusters=_frame("clusters", clusters),
        seeds=_frame("seeds", seeds),
    )
