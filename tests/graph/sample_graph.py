# SPDX-License-Identifier: Apache-2.0
"""A small graph whose every answer is known, for the store contract tests.

UTXO (``ltc-regtest``), amounts in litoshi::

    c1 (block 1, coinbase)  -> 0: A 5_000_000_000
    t2 (block 2) spends c1:0 -> 0: B 3_000_000_000, 1: A 1_999_990_000        fee 10_000
    t3 (block 3) spends t2:0, t2:1 -> 0: C 4_999_970_000, 1: OP_RETURN 0       fee 20_000

Account (``eth-devnet``), amounts in wei; token ``T``::

    e1 (block 10, t=1000): native X->Y 10**18; fee X->(burned) 21_000 gwei;
                            token T X->Z 2**70; token T Y->Z 10**40 (beyond DECIMAL(38): overflow text)
    e2 (block 11, t=2000): internal Y->Z 5*10**17 at call path 0.1; native Z->X 2**64 + 1 (beyond int64)

Tags: A is an exchange whose label is hostile Cypher; Y is sanctioned. Cluster k1 = {A, B}.
Case ``op-x`` seeds A and X.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from tracer.schema import (
    CLUSTERS,
    INPUTS,
    OUTPUTS,
    SEEDS,
    TAGS,
    TRANSACTIONS,
    TRANSFERS,
    FrameSet,
    conform,
)

LTC = "ltc-regtest"
ETH = "eth-devnet"
A, B, C = "rltc1qaaaa", "rltc1qbbbb", "QcCcC"
X = "0x1111111111111111111111111111111111111111"
Y = "0x2222222222222222222222222222222222222222"
Z = "0x3333333333333333333333333333333333333333"
TOKEN = "0x4444444444444444444444444444444444444444"
HOSTILE_LABEL = 'Exch "big" \\ \'x\' }) DETACH DELETE n //'
SRC = "rpc:127.0.0.1"


def _tx(chain: str, txid: str, height: int, ts: int, fee: int, coinbase: bool = False) -> dict[str, object]:
    return {
        "chain": chain, "txid": txid, "block_height": height, "block_hash": f"h{height}", "position": 0,
        "timestamp": ts, "fee": Decimal(fee), "is_coinbase": coinbase, "source": SRC,
    }


def _transfer(
    txid: str, height: int, ts: int, kind: str, frm: str, to: str | None, value: int,
    log_index: int | None = None, trace_path: str | None = None, asset: str = "native",
) -> dict[str, object]:
    small = value < 10**38
    return {
        "chain": ETH, "txid": txid, "block_height": height, "block_hash": f"h{height}", "tx_index": 0,
        "timestamp": ts, "kind": kind, "log_index": log_index, "trace_path": trace_path, "asset": asset,
        "token_id": None, "from_address": frm, "to_address": to,
        "value": Decimal(value) if small else None, "value_overflow": None if small else str(value),
        "source": SRC,
    }


def sample_frames() -> FrameSet:
    transactions = [
        _tx(LTC, "c1", 1, 100, 0, coinbase=True),
        _tx(LTC, "t2", 2, 200, 10_000),
        _tx(LTC, "t3", 3, 300, 20_000),
        _tx(ETH, "e1", 10, 1000, 21_000 * 10**9),
        _tx(ETH, "e2", 11, 2000, 0),
    ]
    inputs = [
        {"chain": LTC, "txid": "c1", "index": 0, "prev_txid": None, "prev_index": None, "address": None,
         "value": None, "source": SRC},
        {"chain": LTC, "txid": "t2", "index": 0, "prev_txid": "c1", "prev_index": 0, "address": A,
         "value": 5_000_000_000, "source": SRC},
        {"chain": LTC, "txid": "t3", "index": 0, "prev_txid": "t2", "prev_index": 0, "address": B,
         "value": 3_000_000_000, "source": SRC},
        {"chain": LTC, "txid": "t3", "index": 1, "prev_txid": "t2", "prev_index": 1, "address": A,
         "value": 1_999_990_000, "source": SRC},
    ]
    outputs = [
        {"chain": LTC, "txid": "c1", "index": 0, "address": A, "script_type": "witness_v0_keyhash",
         "value": 5_000_000_000, "source": SRC},
        {"chain": LTC, "txid": "t2", "index": 0, "address": B, "script_type": "witness_v0_keyhash",
         "value": 3_000_000_000, "source": SRC},
        {"chain": LTC, "txid": "t2", "index": 1, "address": A, "script_type": "witness_v0_keyhash",
         "value": 1_999_990_000, "source": SRC},
        {"chain": LTC, "txid": "t3", "index": 0, "address": C, "script_type": "pubkeyhash",
         "value": 4_999_970_000, "source": SRC},
        {"chain": LTC, "txid": "t3", "index": 1, "address": None, "script_type": "nulldata", "value": 0,
         "source": SRC},
    ]
    transfers = [
        _transfer("e1", 10, 1000, "native", X, Y, 10**18),
        _transfer("e1", 10, 1000, "fee", X, None, 21_000 * 10**9),
        _transfer("e1", 10, 1000, "token", X, Z, 2**70, log_index=0, asset=TOKEN),
        _transfer("e1", 10, 1000, "token", Y, Z, 10**40, log_index=1, asset=TOKEN),
        _transfer("e2", 11, 2000, "internal", Y, Z, 5 * 10**17, trace_path="0.1"),
        _transfer("e2", 11, 2000, "native", Z, X, 2**64 + 1),
    ]
    tags = [
        {"chain": LTC, "address": A, "label": HOSTILE_LABEL, "category": "exchange", "confidence": 80,
         "tagpack": "test-pack", "source": "https://example.org/a"},
        {"chain": ETH, "address": Y, "label": "OFAC SDN Y", "category": "sanctioned", "confidence": 100,
         "tagpack": "ofac", "source": "https://ofac.treasury.gov"},
    ]
    clusters = [
        {"chain": LTC, "address": A, "cluster_id": "k1", "source": "multi-input"},
        {"chain": LTC, "address": B, "cluster_id": "k1", "source": "multi-input"},
    ]
    seeds = [
        {"case": "op-x", "chain": LTC, "address": A, "label": "suspect wallet", "source": "case op-x"},
        {"case": "op-x", "chain": ETH, "address": X, "label": None, "source": "case op-x"},
    ]
    return FrameSet(
        transactions=conform(pl.DataFrame(transactions, schema_overrides={"fee": pl.Decimal(38, 0)}), TRANSACTIONS),
        inputs=conform(pl.DataFrame(inputs, schema=dict(INPUTS.columns)), INPUTS),
        outputs=conform(pl.DataFrame(outputs, schema=dict(OUTPUTS.columns)), OUTPUTS),
        transfers=conform(pl.DataFrame(transfers, schema=dict(TRANSFERS.columns)), TRANSFERS),
        tags=conform(pl.DataFrame(tags, schema=dict(TAGS.columns)), TAGS),
        clusters=conform(pl.DataFrame(clusters, schema=dict(CLUSTERS.columns)), CLUSTERS),
        seeds=conform(pl.DataFrame(seeds, schema=dict(SEEDS.columns)), SEEDS),
    ).sorted()


def only_transactions(frames: FrameSet, txids: set[str]) -> FrameSet:
    """The chain rows of these transactions only (tags, clusters and seeds dropped)."""

    def pick(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("txid").is_in(sorted(txids)))

    return FrameSet(
        transactions=pick(frames.transactions),
        inputs=pick(frames.inputs),
        outputs=pick(frames.outputs),
        transfers=pick(frames.transfers),
    )
