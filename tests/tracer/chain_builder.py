# SPDX-License-Identifier: Apache-2.0
"""Build small, hand-checkable chains as canonical frames for the tracing tests.

``UtxoChain`` adds transactions in chain order (each call is one transaction in a new block);
``AccountChain`` adds transfers. Both produce a :class:`~tracer.schema.FrameSet` that the
reference :class:`~tracer.frontier.FrameFrontier` serves, exactly as a store would;
:func:`run_trace` traces one with the engine and :func:`endings_of` sums its endings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from tracer.frontier import FrameFrontier
from tracer.schema import FRAMES, FrameSet, conform
from tracer.trace import Seed, TraceResult, TraceSpec, trace
from tracer.units import split_for_frame

T0 = 1_700_000_000


def _frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = FRAMES[name]
    return conform(pl.DataFrame(rows, schema=schema.polars_schema, orient="row") if rows else
                   pl.DataFrame(schema=schema.polars_schema), schema)


class UtxoChain:
    """Transactions one per block: ``tx("b", spends=[("a", 0)], pays=[("P", 900)], fee=100)``."""

    def __init__(self, chain: str = "btc-regtest") -> None:
        self.chain = chain
        self.height = 0
        self.txs: list[dict[str, Any]] = []
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.values: dict[tuple[str, int], tuple[str | None, int]] = {}
        self.tags: list[dict[str, Any]] = []

    @staticmethod
    def txid(name: str) -> str:
        return name.encode().hex().ljust(64, "0")[:64]

    def coinbase(self, name: str, pays: list[tuple[str | None, int]]) -> str:
        return self.tx(name, [], pays, coinbase=True)

    def tx(self, name: str, spends: list[tuple[str, int]], pays: list[tuple[str | None, int]],
           *, coinbase: bool = False, same_block: bool = False) -> str:
        txid = self.txid(name)
        if not same_block:
            self.height += 1
        in_value = 0
        for i, (prev, index) in enumerate(spends):
            prev_txid = self.txid(prev)
            address, value = self.values[(prev_txid, index)]
            in_value += value
            self.inputs.append({"chain": self.chain, "txid": txid, "index": i, "prev_txid": prev_txid,
                                "prev_index": index, "address": address, "value": value, "source": "test"})
        out_value = 0
        for i, (address, value) in enumerate(pays):
            out_value += value
            self.values[(txid, i)] = (address, value)
            self.outputs.append({"chain": self.chain, "txid": txid, "index": i, "address": address,
                                 "script_type": "witness_v0_keyhash" if address else "nulldata", "value": value,
                                 "source": "test"})
        fee = 0 if coinbase else in_value - out_value
        assert fee >= 0, f"{name}: outputs exceed inputs"
        position = sum(1 for t in self.txs if t["block_height"] == self.height)
        self.txs.append({"chain": self.chain, "txid": txid, "block_height": self.height,
                         "block_hash": f"{self.height:064x}", "position": position,
                         "timestamp": T0 + 600 * self.height, "fee": Decimal(fee), "is_coinbase": coinbase,
                         "source": "test"})
        return txid

    def coverage(self) -> tuple[tuple[int, int], ...]:
        """Every block built so far, as complete block ranges (``TraceSpec.coverage``)."""
        return ((0, self.height),)

    def tag(self, address: str, label: str, category: str, confidence: int = 90) -> None:
        self.tags.append({"chain": self.chain, "address": address, "label": label, "category": category,
                          "confidence": confidence, "tagpack": "test", "source": "test"})

    def frames(self) -> FrameSet:
        return FrameSet(
            transactions=_frame("transactions", self.txs), inputs=_frame("inputs", self.inputs),
            outputs=_frame("outputs", self.outputs), tags=_frame("tags", self.tags),
        )


class AccountChain:
    """Transfers one transaction per block: ``send("S", "A", 4)``; ``fee("S", 1)``; tokens via ``asset=``."""

    def __init__(self, chain: str = "eth") -> None:
        self.chain = chain
        self.height = 0
        self.rows: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.conversions: list[dict[str, Any]] = []

    def send(self, sender: str, recipient: str | None, value: int, *, asset: str = "native", kind: str | None = None,
             fee: int = 0, same_tx: bool = False, trace_path: str | None = None) -> str:
        if not same_tx:
            self.height += 1
            txid = "0x" + f"{self.height:064x}"
            self.txs.append({"chain": self.chain, "txid": txid, "block_height": self.height,
                             "block_hash": "0x" + f"{self.height:064x}", "position": 0,
                             "timestamp": T0 + 12 * self.height, "fee": Decimal(fee), "is_coinbase": False,
                             "source": "test"})
            if fee:
                self._row(txid, "fee", sender, None, fee, "native", None, "fee")
        txid = self.txs[-1]["txid"]
        kind = kind or ("native" if asset == "native" else "token")
        log_index = sum(1 for r in self.rows if r["txid"] == txid and r["kind"] == "token") if kind == "token" else None
        self._row(txid, kind, sender, recipient, value, asset, log_index, trace_path)
        return txid

    def _row(self, txid: str, kind: str, sender: str, recipient: str | None, value: int, asset: str,
             log_index: int | None, trace_path: str | None) -> None:
        amount, overflow = split_for_frame(value)
        self.rows.append({
            "chain": self.chain, "txid": txid, "block_height": self.height, "block_hash": "0x" + f"{self.height:064x}",
            "tx_index": 0, "timestamp": T0 + 12 * self.height, "kind": kind, "log_index": log_index,
            "trace_path": trace_path, "asset": asset, "token_id": None, "from_address": sender,
            "to_address": recipient, "value": amount, "value_overflow": overflow, "source": "test",
        })

    def convert(self, txid: str, log_index: int, protocol: str, venue: str, trader: str, recipient: str,
                given: tuple[str, int], received: tuple[str, int],
                in_leg: tuple[str, int | None, str | None] | None,
                out_leg: tuple[str, int | None, str | None] | None) -> None:
        """A conversion stated by the event at ``log_index`` of ``txid``: ``given``/``received`` are
        (asset, amount); a leg is the (kind, log_index, trace_path) of the transfers row it names."""
        tx = next(t for t in self.txs if t["txid"] == txid)
        self.conversions.append({
            "chain": self.chain, "txid": txid, "block_height": tx["block_height"], "block_hash": tx["block_hash"],
            "tx_index": 0, "timestamp": tx["timestamp"], "log_index": log_index, "protocol": protocol,
            "venue": venue, "trader": trader, "recipient": recipient, "asset_in": given[0],
            "value_in": Decimal(given[1]), "asset_out": received[0], "value_out": Decimal(received[1]),
            "in_kind": in_leg[0] if in_leg else None, "in_log_index": in_leg[1] if in_leg else None,
            "in_trace_path": in_leg[2] if in_leg else None, "out_kind": out_leg[0] if out_leg else None,
            "out_log_index": out_leg[1] if out_leg else None, "out_trace_path": out_leg[2] if out_leg else None,
            "source": "test",
        })

    def coverage(self) -> tuple[tuple[int, int], ...]:
        """Every block built so far, as complete block ranges (``TraceSpec.coverage``)."""
        return ((0, self.height),)

    def tag(self, address: str, label: str, category: str) -> None:
        self.tags.append({"chain": self.chain, "address": address, "label": label, "category": category,
                          "confidence": 90, "tagpack": "test", "source": "test"})

    def frames(self) -> FrameSet:
        return FrameSet(transactions=_frame("transactions", self.txs), transfers=_frame("transfers", self.rows),
                        tags=_frame("tags", self.tags), conversions=_frame("conversions", self.conversions))


def run_trace(chain: UtxoChain | AccountChain, seeds: list[Seed | str], frames: FrameSet | None = None,
              **spec: Any) -> TraceResult:
    """Trace ``chain`` (or ``frames`` built from it) from ``seeds`` (a str is a received address)."""
    frontier = FrameFrontier(frames if frames is not None else chain.frames())
    named = tuple(Seed(address=s) if isinstance(s, str) else s for s in seeds)
    return trace(TraceSpec(chain=chain.chain, account_model=isinstance(chain, AccountChain), seeds=named, **spec),
                 frontier, frontier.tags)


def endings_of(result: TraceResult) -> dict[tuple[str, str | None], int]:
    """``(ending, address) -> amount`` summed over the result's endings."""
    out: dict[tuple[str, str | None], int] = {}
    for row in result.endings.iter_rows(named=True):
        key = (row["ending"], row["address"])
        out[key] = out.get(key, 0) + int(row["amount"])
    return out
