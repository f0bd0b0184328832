# SPDX-License-Identifier: Apache-2.0
"""Seeds as investigators hold them: what each :class:`~tracer.trace_types.Seed` puts into a trace.

Shared design notes §5. A trace starts from value: the outputs (UTXO) or transfer rows (account
model) a seed names, each fully tainted. The four kinds of seed (see :class:`Seed`):

* **received** (an address): on UTXO chains the outputs locked to it whose creating transaction
  lies in the window; on account chains the engine makes the address a pool whose every receipt in
  the window is seed value (:mod:`tracer.trace_account`), so nothing is resolved here beyond a check
  that it received something;
* **sent** (an address, ``sent=True``): UTXO — the outputs of the transactions in the window that
  spend its outputs, except those that return to it (change); account — its outgoing transfers in
  the window, except fees and transfers to itself. Zero-value rows (address-poisoning spam) are
  never seed value;
* **output** ``txid:vout`` (UTXO) and **transfer** ``txid`` + index (account): that one movement.

A seed that yields nothing to trace is an error naming the seed (nothing received, nothing sent in
the window, no such output or transfer): a trace that silently drops a seed would understate what
it found. One batched store query per kind of look-up, never one per seed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracer.chain_order import UtxoTx, utxo_transactions
from tracer.errors import InputError
from tracer.frontier import Direction, Frontier, TransferFilter, TransferLookup
from tracer.trace_types import Seed, TraceSpec, in_window, window_text

__all__ = ["SeedOutput", "UtxoSeeds", "utxo_seeds", "account_movements"]

_STORE_HINT = "ingest its blocks, run `tracer ingest seeds`, or use --fetch"
#: account chains: --fetch reads UTXO sources only, so it is not suggested there
_ACCOUNT_HINT = "ingest its blocks with `tracer ingest evm`, or run `tracer ingest seeds`"


@dataclass(frozen=True)
class SeedOutput:
    """One seed output (UTXO): fully tainted at the start of a trace."""

    seed: str  # the text of the seed that named it
    txid: str
    index: int
    address: str | None
    value: int
    by_address: bool  # named as an address's receipt: followed even when that address is tagged


@dataclass
class UtxoSeeds:
    """The seed outputs of a UTXO trace, the transactions read to find them, and notes about them."""

    outputs: list[SeedOutput] = field(default_factory=list)
    transactions: dict[str, UtxoTx] = field(default_factory=dict)
    queries: int = 0
    notes: list[str] = field(default_factory=list)


def _nothing(seed: Seed, why: str) -> str:
    return f"seed {seed.text} has nothing to trace: {why}"


def utxo_seeds(spec: TraceSpec, frontier: Frontier) -> UtxoSeeds:
    """Resolve ``spec.seeds`` to outputs (two store queries at most); :class:`InputError` names every
    seed that yields nothing. An output named twice (by its address and its ``txid:vout``) counts once."""
    chain, since, until = spec.chain, spec.since, spec.until
    out = UtxoSeeds()
    addresses = sorted({s.address for s in spec.seeds if s.address is not None})
    owned = pl.DataFrame()
    if addresses:
        owned = frontier.address_outputs(chain, addresses)
        out.queries += 1
    by_address: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in owned.iter_rows(named=True):
        by_address[row["address"]].append(row)
    sent = {s.address for s in spec.seeds if s.kind == "sent" and s.address is not None}
    received = {s.address for s in spec.seeds if s.kind == "received" and s.address is not None}
    wanted = {s.txid for s in spec.seeds if s.kind == "output"}
    for address in sent:
        wanted.update(r["spent_txid"] for r in by_address[address] if r["spent_txid"] is not None)
    for address in received:
        wanted.update(r["txid"] for r in by_address[address])
    if wanted:
        out.transactions = utxo_transactions(frontier.transactions(chain, sorted(t for t in wanted if t)))
        out.queries += 1
    txs = out.transactions
    found: list[SeedOutput] = []
    failures: list[str] = []
    for seed in spec.seeds:
        if seed.kind == "received":
            rows = by_address[seed.address or ""]
            if not rows:
                failures.append(_nothing(seed, f"it received nothing in the store (no transactions in the store "
                                                f"for this address: {_STORE_HINT})"))
                continue
            kept = [r for r in rows if (tx := txs.get(r["txid"])) is None or in_window(tx.timestamp, since, until)]
            if not any(r["value"] for r in kept):
                failures.append(_nothing(seed, f"it received nothing {window_text(since, until)}"))
                continue
            found.extend(SeedOutput(seed.text, r["txid"], r["index"], r["address"], r["value"], True) for r in kept)
        elif seed.kind == "sent":
            spends = sorted({r["spent_txid"] for r in by_address[seed.address or ""] if r["spent_txid"] is not None})
            moved = [txs[t] for t in spends if t in txs and in_window(txs[t].timestamp, since, until)]
            outputs = [SeedOutput(seed.text, tx.txid, index, address, value, False)
                       for tx in moved for index, address, value in tx.outputs
                       if address != seed.address and value > 0]
            if not outputs:
                failures.append(_nothing(seed, f"{seed.address} sent nothing {window_text(since, until)}"))
                continue
            found.extend(outputs)
            shared = [tx.txid for tx in moved if any(a != seed.address for _, _, a, _ in tx.inputs)]
            if shared:
                out.notes.append(
                    f"seed {seed.text}: {len(shared)} of its spending transactions also spend coins of other "
                    f"addresses (first: {shared[0]}); their outputs are counted whole as what it sent"
                )
        else:  # an output txid:vout
            tx = txs.get(seed.txid or "")
            match = [(a, v) for i, a, v in tx.outputs if i == seed.vout] if tx is not None else []
            if not match:
                failures.append(_nothing(seed, "no such output in the store (ingest its block first or use --fetch)"))
            elif tx is not None and not in_window(tx.timestamp, since, until):
                failures.append(_nothing(seed, f"it was not created {window_text(since, until)}"))
            elif not match[0][1]:
                failures.append(_nothing(seed, "the output holds no value"))
            else:
                found.append(SeedOutput(seed.text, seed.txid or "", seed.vout or 0, match[0][0], match[0][1], False))
    if failures:
        raise InputError("; ".join(failures))
    named: dict[tuple[str, int], SeedOutput] = {}
    for item in sorted(found, key=lambda s: (s.seed, s.txid, s.index)):
        point = (item.txid, item.index)
        first = named.setdefault(point, item)
        if item.by_address and not first.by_address:
            named[point] = SeedOutput(first.seed, first.txid, first.index, first.address, first.value, True)
    out.outputs = list(named.values())
    return out


_NONZERO = (pl.col("value") > 0) | pl.col("value_overflow").is_not_null()


def _window(frame: pl.DataFrame, spec: TraceSpec) -> pl.DataFrame:
    keep = [in_window(t, spec.since, spec.until) for t in frame["timestamp"].to_list()]
    return frame.filter(pl.Series(keep, dtype=pl.Boolean)) if frame.height else frame


def account_movements(spec: TraceSpec, frontier: Frontier) -> tuple[pl.DataFrame, int, list[tuple[str, str]]]:
    """The transfer rows named by ``sent`` and ``transfer`` seeds (account model), with a ``seed``
    column (the naming seed's text; a row named twice keeps the first text in sorted order), the
    number of store queries, and (seed text, message) for each seed that yields nothing (the engine
    raises them with its own findings about received seeds, in the order the seeds were given)."""
    where = TransferFilter(assets=spec.assets)
    window = window_text(spec.since, spec.until)
    parts: list[pl.DataFrame] = []
    failures: list[tuple[str, str]] = []
    queries = 0

    def fail(seed: Seed, why: str) -> None:
        failures.append((seed.text, _nothing(seed, why)))

    senders = sorted({s.address for s in spec.seeds if s.kind == "sent" and s.address is not None})
    if senders:
        paid = frontier.transfers(spec.chain, senders, Direction.FORWARD, where)
        queries += 1
        for seed in (s for s in spec.seeds if s.kind == "sent"):
            rows = _window(paid.filter((pl.col("from_address") == seed.address) & (pl.col("kind") != "fee")
                                       & pl.col("to_address").is_not_null()
                                       & (pl.col("to_address") != seed.address) & _NONZERO), spec)
            if rows.height == 0:
                fail(seed, f"{seed.address} sent nothing {window}")
            else:
                parts.append(rows.with_columns(pl.lit(seed.text).alias("seed")))
    named = [s for s in spec.seeds if s.kind == "transfer"]
    if named:
        if not isinstance(frontier, TransferLookup):
            raise InputError("this store cannot look transfers up by transaction: seed an address instead")
        rows_of = frontier.transfers_of(spec.chain, sorted({s.txid for s in named if s.txid is not None}))
        queries += 1
        for seed in named:
            found, why = _transfer(rows_of.filter(pl.col("txid") == seed.txid), seed)
            if found is None:
                fail(seed, why)
            elif spec.assets is not None and found["asset"][0] not in spec.assets:
                fail(seed, f"its asset {found['asset'][0]} is not among the traced assets")
            elif _window(found, spec).height == 0:
                fail(seed, f"it did not move {window}")
            elif found.filter(_NONZERO).height == 0:
                fail(seed, "the transfer moved no value")
            else:
                parts.append(found.with_columns(pl.lit(seed.text).alias("seed")))
    if not parts:
        return pl.DataFrame(), queries, failures
    rows = pl.concat(parts, how="vertical").sort("seed")
    rows = rows.unique(["txid", "kind", "log_index", "trace_path"], keep="first", maintain_order=True)
    return rows, queries, failures


def _transfer(rows: pl.DataFrame, seed: Seed) -> tuple[pl.DataFrame | None, str]:
    """The one non-fee row of a transaction that ``seed.index`` names, or None and why not."""
    if rows.height == 0:
        return None, f"transaction {seed.txid} is not in the store ({_ACCOUNT_HINT})"
    rows = rows.filter(pl.col("kind") != "fee")
    index = seed.index
    log, path = pl.col("log_index"), pl.col("trace_path")
    if index is None:
        found = rows.filter(log.is_null() & path.is_null())
    elif index.startswith("log:") and index[4:].isdigit():
        found = rows.filter(log == int(index[4:]))
    elif index.startswith("path:"):
        found = rows.filter(path == index[5:])
    elif index.isdigit():
        by_log, by_path = rows.filter(log == int(index)), rows.filter(path == index)
        if by_log.height and by_path.height:
            return None, f"{index} is both a log index and a call path here: write log:{index} or path:{index}"
        found = by_log if by_log.height else by_path
    else:
        found = rows.filter(path == index)
    if found.height == 0:
        indexes = ", ".join(sorted({_index_of(r) for r in rows.iter_rows(named=True)})) or "none"
        return None, f"no such transfer in transaction {seed.txid} (its transfers: {indexes})"
    if found.height > 1:
        return None, f"it names {found.height} transfers of {seed.txid}: give a log index or trace path"
    return found, ""


def _index_of(row: dict[str, Any]) -> str:
    if row["log_index"] is not None:
        return str(row["log_index"])
    return row["trace_path"] if row["trace_path"] is not None else "(the transaction's own transfer)"
