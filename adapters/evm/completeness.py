# SPDX-License-Identifier: Apache-2.0
"""Ethereum completeness check: balances reconstructed from ``transfers`` rows versus the node's balances.

Shared design notes §5: for every address an ingest touched, the native, internal and fee
movements reconstructed from the frames (or the graph) must equal the change of ``eth_getBalance``
over the same blocks, including failed transactions (the fee is paid, the value does not move) and
self-destructs. A mismatch means a value movement the adapter did not see (a trace missing, an
unsupported transaction type, beacon-chain withdrawals or block rewards, which are issuance and not
transfers: pass them as ``issuance``).

Pure: the caller fetches balances (``EvmNode.balances``) and hands them in.

For an address ``a`` over blocks ``lo..hi``::

    balance(a, hi) - balance(a, lo - 1) == sum(value to a) - sum(value from a) + issuance(a)

over rows with ``asset == "native"`` and kind ``native``, ``internal`` or ``fee`` (a burned fee has
no recipient: it only leaves its payer). For ``lo == 0`` the balance "before" is the genesis
allocation, which is the balance at block 0 (the genesis block holds no transactions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from tracer.schema import NATIVE_ASSET
from tracer.units import join_from_frame

__all__ = ["BalanceMismatch", "native_deltas", "touched_addresses", "check_balances", "VALUE_KINDS"]

#: transfer kinds that move the chain's own coin between accounts
VALUE_KINDS = ("native", "internal", "fee")


@dataclass(frozen=True)
class BalanceMismatch:
    """One address whose reconstructed balance change differs from the node's."""

    address: str
    before: int
    after: int
    reconstructed: int  # net change from the transfers

    @property
    def expected(self) -> int:
        return self.after - self.before

    @property
    def difference(self) -> int:
        """What the node saw that the transfers did not (node change - reconstructed change)."""
        return self.expected - self.reconstructed

    def as_dict(self) -> dict[str, object]:
        return {"address": self.address, "before": str(self.before), "after": str(self.after),
                "reconstructed_change": str(self.reconstructed), "difference": str(self.difference)}


def _native(transfers: pl.DataFrame) -> pl.DataFrame:
    return transfers.filter((pl.col("asset") == NATIVE_ASSET) & pl.col("kind").is_in(list(VALUE_KINDS)))


def touched_addresses(transfers: pl.DataFrame) -> list[str]:
    """Every address that sent or received the native coin in ``transfers``, sorted."""
    native = _native(transfers)
    both = pl.concat([native["from_address"], native["to_address"]]).drop_nulls().unique().sort()
    return [str(a) for a in both.to_list()]


def native_deltas(transfers: pl.DataFrame) -> dict[str, int]:
    """Net change of each address's native balance implied by ``transfers`` (exact integers)."""
    deltas: dict[str, int] = {}
    native = _native(transfers).select("from_address", "to_address", "value", "value_overflow")
    for sender, recipient, value, overflow in native.iter_rows():
        amount = join_from_frame(value, overflow)
        deltas[sender] = deltas.get(sender, 0) - amount
        if recipient is not None:
            deltas[recipient] = deltas.get(recipient, 0) + amount
    return deltas


def check_balances(
    transfers: pl.DataFrame,
    before: Mapping[str, int],
    after: Mapping[str, int],
    *,
    issuance: Mapping[str, int] | None = None,
) -> list[BalanceMismatch]:
    """Addresses of ``after`` whose balance change is not what ``transfers`` (plus ``issuance``) explain.

    ``before`` and ``after`` map every address to check (normally :func:`touched_addresses`) to its
    balance before the first block and at the last block of the range. An address missing from
    ``before`` counts as 0. Returns the mismatches, sorted by address (empty: complete).
    """
    deltas = native_deltas(transfers)
    extra = issuance or {}
    mismatches: list[BalanceMismatch] = []
    for address in sorted(after):
        reconstructed = deltas.get(address, 0) + extra.get(address, 0)
        was, now = before.get(address, 0), after[address]
        if now - was != reconstructed:
            mismatches.append(BalanceMismatch(address, was, now, reconstructed))
    return mismatches
