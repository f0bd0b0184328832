# SPDX-License-Identifier: Apache-2.0
"""Chain order: the order in which value moved, which both trace engines replay.

Shared design notes §5: taint propagates "in chain order" — a UTXO transaction after the
transactions whose outputs it spends, an account's transfers in the order its balance changed.
The store gives that order as block height and position in the block, but not always: an
unconfirmed transaction has neither, a transaction loaded from an address history or an explorer
may lack its position, and a transfer imported from a CSV file has no log index or call path. This
module turns what the data does say into a total order that never puts a spend before the value
it spends:

* **UTXO** (:func:`chain_order`): block by block (unconfirmed last); inside a block, a
  topological order of the spend graph (Kahn's algorithm), which takes the lowest position first
  and then the lowest txid among the transactions whose parents are all placed. With positions
  that respect the spend graph (every valid block) it is exactly (height, position); with
  positions missing, a child still follows its parent.
* **Account model** (:func:`transfer_order`): block, position in the block, transaction, kind
  (fee first: it is paid before the call runs), then the call path (``"0.1"``) or, for CSV rows,
  their ordinal in the file (``"csv:<n>"``), then the log index.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tracer.errors import InputError
from tracer.schema import FrameSet

__all__ = ["UtxoTx", "utxo_transactions", "chain_order", "transfer_order", "path_key", "KIND_ORDER"]

_LAST = 1 << 62  # sorts after every real height or position
#: Order of transfer kinds inside one transaction: the fee is paid first, then value moves.
KIND_ORDER = {"fee": 0, "native": 1, "internal": 2, "token": 3}


@dataclass
class UtxoTx:
    """One UTXO transaction with its inputs and outputs, as the engines read it."""

    txid: str
    block_height: int | None
    block_hash: str | None
    position: int | None
    timestamp: int | None
    fee: int
    coinbase: bool
    source: str
    inputs: list[tuple[str | None, int | None, str | None, int]]  # prev_txid, prev_index, address, value
    outputs: list[tuple[int, str | None, int]]  # index, address, value


def utxo_transactions(frames: FrameSet) -> dict[str, UtxoTx]:
    """The transactions of ``frames`` by txid, inputs and outputs in index order."""
    inputs: dict[str, list[Any]] = defaultdict(list)
    for row in frames.inputs.sort(["txid", "index"]).iter_rows(named=True):
        inputs[row["txid"]].append((row["prev_txid"], row["prev_index"], row["address"], row["value"] or 0))
    outputs: dict[str, list[Any]] = defaultdict(list)
    for row in frames.outputs.sort(["txid", "index"]).iter_rows(named=True):
        outputs[row["txid"]].append((row["index"], row["address"], row["value"]))
    out: dict[str, UtxoTx] = {}
    for row in frames.transactions.iter_rows(named=True):
        txid = row["txid"]
        out[txid] = UtxoTx(
            txid, row["block_height"], row["block_hash"], row["position"], row["timestamp"], int(row["fee"]),
            bool(row["is_coinbase"]), row["source"], inputs.get(txid, []), outputs.get(txid, []),
        )
    return out


def chain_order(txs: Mapping[str, UtxoTx]) -> list[UtxoTx]:
    """Transactions in chain order: by block height (unconfirmed last); inside a block (and among
    the unconfirmed ones, which have no order of their own) parents before children, ties by
    position, then txid."""
    blocks: dict[int, list[UtxoTx]] = defaultdict(list)
    for tx in txs.values():
        blocks[tx.block_height if tx.block_height is not None else _LAST].append(tx)
    out: list[UtxoTx] = []
    for height in sorted(blocks):
        out.extend(_spend_order(blocks[height], height))
    return out


def _spend_order(group: list[UtxoTx], height: int) -> list[UtxoTx]:
    """Kahn's algorithm over the spends inside ``group``; ready transactions by (position, txid)."""
    if len(group) == 1:
        return group
    by_id = {tx.txid: tx for tx in group}
    waiting = {tx.txid: {p for p, _, _, _ in tx.inputs if p in by_id and p != tx.txid} for tx in group}
    children: dict[str, list[str]] = defaultdict(list)
    for txid, parents in waiting.items():
        for parent in parents:
            children[parent].append(txid)

    def key(tx: UtxoTx) -> tuple[int, str]:
        return (tx.position if tx.position is not None else _LAST, tx.txid)

    ready = [key(tx) for tx in group if not waiting[tx.txid]]
    heapq.heapify(ready)
    out: list[UtxoTx] = []
    while ready:
        _, txid = heapq.heappop(ready)
        out.append(by_id[txid])
        for child in children.get(txid, ()):
            parents = waiting[child]
            parents.discard(txid)
            if not parents:
                heapq.heappush(ready, key(by_id[child]))
    if len(out) != len(group):
        where = "unconfirmed transactions" if height == _LAST else f"transactions of block {height}"
        raise InputError(f"{where} in the store spend each other in a cycle: the data is damaged")
    return out


def path_key(path: str | None) -> tuple[int, ...]:
    """A transfer's place inside its transaction from its path: a call path ``"0.1"`` -> ``(0, 1)``,
    a CSV row ``"csv:12"`` -> ``(12,)`` (file order); anything else (``"burn"``, none) -> ``()``."""
    if not path:
        return ()
    return tuple(int(p) for p in path.removeprefix("csv:").split(".") if p.isdigit())


def transfer_order(block: int | None, position: int | None, txid: str, kind: str, path: str | None,
                   log_index: int | None) -> tuple[Any, ...]:
    """A transfer row's place in chain order (see the module notes)."""
    return (
        block if block is not None else _LAST, position if position is not None else _LAST, txid,
        KIND_ORDER[kind], path_key(path), log_index if log_index is not None else -1,
    )

