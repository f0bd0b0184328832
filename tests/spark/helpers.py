# SPDX-License-Identifier: Apache-2.0
"""Reference answers of the single-machine jobs, for the Spark equality tests."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from jobs.screening import ScreenParams, screen_batch
from tracer.clustering import clusters, multi_input_links
from tracer.coinjoin import coinjoin_transactions
from tracer.frontier import FrameFrontier
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, FrameSet, conform

COMPARED = ["chain", "wallet", "side", "category", "asset", "amount", "total", "share_bp"]


def reference_clusters(inputs: pl.DataFrame, outputs: pl.DataFrame, chain: str) -> dict[str, pl.DataFrame]:
    """What ``tracer cluster run`` computes (multi-input, CoinJoins skipped)."""
    found = coinjoin_transactions(inputs, outputs)
    edges = multi_input_links(inputs, found)
    return {"clusters": clusters(edges, None, chain, "tracer cluster: multi_input"), "evidence": edges,
            "coinjoins": found}


def reference_exposures(frames: FrameSet, chain: str, wallets: list[str], tags: pl.DataFrame, hops: int,
                        max_edges: int = 10_000) -> pl.DataFrame:
    """What ``tracer screen`` computes (``jobs.screening.screen_batch`` over the same frames)."""
    params = ScreenParams(chain=chain, account_model=frames.transfers.height > 0, hops=hops, max_edges=max_edges)
    _, rows, _ = screen_batch(FrameFrontier(frames), params, [(w, i + 1) for i, w in enumerate(wallets)], tags)
    return rows.select(COMPARED).sort(COMPARED) if rows.height else pl.DataFrame(schema={c: rows.schema[c]
                                                                                          for c in COMPARED})


def synthetic_utxo(chain: str, transactions: int, seed: int = 7) -> FrameSet:
    """A UTXO chain where every spent output is in the frames: payments between a pool of addresses
    (1-4 inputs, 1-3 outputs), with CoinJoin-shaped rounds (5 equal outputs of 5 participants plus
    change, BlockSci's rule) mixed in; ~2 inputs and ~2 outputs per transaction."""
    rng = random.Random(seed)
    addresses = [f"a{i:07d}" for i in range(max(50, transactions // 2))]
    unspent: list[tuple[str, int, str, int]] = []  # txid, index, address, value
    tx_rows, in_rows, out_rows = [], [], []
    for n in range(transactions):
        txid = f"{n:064x}"
        coinjoin = n > 20 and n % 97 == 0 and len(unspent) > 10
        coinbase = len(unspent) < 8 or (not coinjoin and rng.random() < 0.05)
        spend: list[tuple[str, int, str, int]] = []
        if coinbase:
            in_rows.append({"txid": txid, "index": 0, "prev_txid": None, "prev_index": None, "address": None,
                            "value": None})
            total = rng.randint(10_000, 5_000_000_000)
        else:
            count = 5 if coinjoin else rng.choice([1, 1, 2, 2, 3, 4])
            for _ in range(min(count, len(unspent))):
                spend.append(unspent.pop(rng.randrange(len(unspent))))
            for i, (ptx, pix, addr, val) in enumerate(spend):
                in_rows.append({"txid": txid, "index": i, "prev_txid": ptx, "prev_index": pix, "address": addr,
                                "value": val})
            total = sum(s[3] for s in spend)
        fee = min(total // 100, 1_000)
        left = total - fee
        if coinjoin:
            denom = left // (2 * len(spend))
            values = [denom] * len(spend) + [left // (2 * len(spend)) - i - 1 for i in range(len(spend))]
        else:
            parts = rng.choice([1, 2, 2, 3])
            cuts = sorted(rng.randint(1, max(1, left - 1)) for _ in range(parts - 1))
            values = [b - a for a, b in zip([0, *cuts], [*cuts, left], strict=True)]
        for i, value in enumerate(values):
            address = rng.choice(addresses)
            out_rows.append({"txid": txid, "index": i, "address": address, "value": max(value, 0)})
            unspent.append((txid, i, address, max(value, 0)))
        tx_rows.append({"txid": txid, "block_height": n // 100, "block_hash": f"{n // 100:064x}",
                        "position": n % 100, "timestamp": 1_700_000_000 + n, "fee": fee, "is_coinbase": coinbase})

    def frame(rows: list[dict[str, object]], schema: object) -> pl.DataFrame:
        base = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.lit(chain).alias("chain"),
                                                                         pl.lit("synthetic").alias("source"))
        if "script_type" not in base.columns and schema is OUTPUTS:
            base = base.with_columns(pl.lit("witness_v0_keyhash").alias("script_type"))
        return conform(base, schema)  # type: ignore[arg-type]

    return FrameSet(transactions=frame(tx_rows, TRANSACTIONS), inputs=frame(in_rows, INPUTS),
                    outputs=frame(out_rows, OUTPUTS))


def write_frames(frames: FrameSet, root: Path, chain: str) -> Path:
    """``root/<chain>/<frame>.parquet`` as ``tracer ingest frames`` reads them."""
    folder = root / chain
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("transactions", "inputs", "outputs", "transfers"):
        getattr(frames, name).write_parquet(folder / f"{name}.parquet")
    return root
