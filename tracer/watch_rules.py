# SPDX-License-Identifier: Apache-2.0
"""Watch rules: which movements in newly loaded blocks raise an alert (pure: frames in, alerts out).

``tracer watch`` hands every store load of its ingest (the canonical frames of a run of blocks) to
:func:`utxo_alerts` or :func:`account_alerts` with the case's :class:`Targets`:

==================  ===============================================================================
rule                raised when
==================  ===============================================================================
``seed_received``   a seed address receives (UTXO: an output locked to it; account: a transfer to it)
``seed_sent``       a seed address sends (an input it signs, a transfer from it), or a seed output
                    ``TXID:VOUT`` is spent
``held_moved``      what a trace left ``held`` moves: UTXO, that exact output is spent; account, the
                    address sends the held asset
``exchange_reached`` value leaves an address a forward trace passed value through and reaches an
                    address tagged with a service category (exchange, ...): a freeze request can go out
``risk_rise``       a watch-list wallet's risk level rises when it is screened again (:func:`risk_alert`)
``retracted``       the block of an earlier alert left the node's best chain (:func:`retraction`)
==================  ===============================================================================

Fee rows of account chains never raise an alert (paying gas is not a movement of the held value).
An alert is a plain dict (one JSON line, :func:`alert_line`); everything in it comes from the block,
the targets and the tags, never from a clock, so the same blocks give the same alerts byte for byte
and :func:`alert_id` is stable across restarts: ``sha256(case, chain, rule, block hash, txid,
subject)``. Amounts are exact integers as text, with coin units for the chain's native asset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tracer.schema import FrameSet
from tracer.units import format_units, join_from_frame

__all__ = ["RULES", "HeldRef", "Tagged", "Targets", "alert_id", "utxo_alerts", "account_alerts",
           "exchange_candidates", "risk_alert", "retraction", "alert_line", "human_line", "order_alerts"]

RULES = ("seed_received", "seed_sent", "held_moved", "exchange_reached", "risk_rise", "retracted")
_RULE_ORDER = {rule: i for i, rule in enumerate(RULES)}


@dataclass(frozen=True)
class HeldRef:
    """A ``held`` ending of the case's trace runs: the runs that left it (oldest first), the traced
    amount and model of the latest of them."""

    runs: tuple[str, ...]
    address: str | None
    asset: str
    amount: int
    model: str


@dataclass(frozen=True)
class Tagged:
    """A tag of a service address (label and category)."""

    label: str
    category: str


@dataclass(frozen=True)
class Targets:
    """What a case watches on one chain."""

    case: str
    chain: str
    symbol: str
    decimals: int
    account: bool
    seed_addresses: frozenset[str] = frozenset()
    seed_outpoints: frozenset[tuple[str, int]] = frozenset()
    #: UTXO: (txid, output index) -> the held ending
    held_outputs: Mapping[tuple[str, int], HeldRef] = field(default_factory=dict)
    #: account chains: (address, asset) -> the held ending
    held_accounts: Mapping[tuple[str, str], HeldRef] = field(default_factory=dict)
    #: address a forward trace passed value through -> the latest run that did
    traced: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.seed_addresses or self.seed_outpoints or self.held_outputs or self.held_accounts
                    or self.traced)


def alert_id(case: str, chain: str, rule: str, block_hash: str, txid: str, subject: str) -> str:
    """The stable id of an alert: the same movement in the same block always gets the same id."""
    text = json.dumps([case, chain, rule, block_hash.lower(), txid.lower(), subject], separators=(",", ":"))
    return "wa-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _utc(timestamp: int | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(targets: Targets, asset: str, value: int) -> dict[str, Any]:
    native = asset == "native"
    return {"asset": asset, "amount": str(value),
            "coins": format_units(value, targets.decimals) if native else None,
            "unit": targets.symbol if native else None}


def _amount_text(entry: Mapping[str, Any]) -> str:
    if entry["coins"] is not None:
        return f"{entry['coins']} {entry['unit']}"
    return f"{entry['amount']} base units of {entry['asset']}"


@dataclass
class _Draft:
    """An alert being built: where it happened and what moved."""

    rule: str
    txid: str
    block: tuple[int, str, int]  # height, hash, timestamp
    subject: str
    address: str | None
    amounts: dict[str, int] = field(default_factory=dict)
    outpoint: str | None = None
    held: HeldRef | None = None
    run: str | None = None
    counterparty: dict[str, Any] | None = None
    source: str | None = None
    seed_ref: str | None = None  # a --seed for the next trace (TXID:VOUT or TXID[:INDEX])


def _finish(targets: Targets, draft: _Draft) -> dict[str, Any]:
    height, block_hash, timestamp = draft.block
    amounts = [_amount(targets, a, v) for a, v in sorted(draft.amounts.items())]
    traced = None
    runs: tuple[str, ...] = (draft.run,) if draft.run else ()
    if draft.held is not None:
        traced = _amount(targets, draft.held.asset, draft.held.amount)
        runs = draft.held.runs
    alert = {
        "id": alert_id(targets.case, targets.chain, draft.rule, block_hash, draft.txid, draft.subject),
        "rule": draft.rule, "case": targets.case, "chain": targets.chain, "txid": draft.txid,
        "block_height": height, "block_hash": block_hash, "time": _utc(timestamp),
        "address": draft.address, "outpoint": draft.outpoint, "amounts": amounts, "traced_amount": traced,
        "trace_run": runs[-1] if runs else None, "trace_runs": list(runs), "counterparty": draft.counterparty,
        "risk": None, "retracted_rule": None,
    }
    alert["summary"] = _summary(alert, draft)
    alert["next"] = _next_command(targets, draft, alert)
    return alert


def _summary(alert: Mapping[str, Any], draft: _Draft) -> str:
    moved = " + ".join(_amount_text(a) for a in alert["amounts"]) or "nothing"
    rule, address = alert["rule"], alert["address"]
    if rule == "held_moved" and alert["outpoint"]:
        traced = _amount_text(alert["traced_amount"])
        return f"held output {alert['outpoint']} ({traced} traced by {alert['trace_run']}) was spent ({moved})"
    if rule == "held_moved":
        return f"{address}, left held by {alert['trace_run']}, sent {moved}"
    if rule == "seed_received":
        return f"seed {address} received {moved}"
    if rule == "seed_sent":
        return f"seed {alert['outpoint'] or address} sent {moved}"
    counterparty = alert["counterparty"] or {}
    return (f"{moved} from traced address {draft.source} (run {alert['trace_run']}) reached "
            f"{counterparty.get('label')} ({counterparty.get('category')}) at {address}")


def _next_command(targets: Targets, draft: _Draft, alert: Mapping[str, Any]) -> str:
    case, chain = targets.case, targets.chain
    model = draft.held.model if draft.held is not None else "haircut"
    if draft.rule == "held_moved" and draft.outpoint:
        return f"tracer trace {case} --chain {chain} --seed {draft.outpoint} --model {model}"
    if draft.rule == "held_moved" or (draft.rule == "seed_sent" and draft.address):
        return (f"tracer trace {case} --chain {chain} --seed-sent {draft.address} --since {alert['time']} "
                f"--model {model}")
    if draft.rule == "exchange_reached":
        return f"tracer trace {case} --chain {chain} --seed {draft.seed_ref} --direction backward --model haircut"
    return f"tracer trace {case} --chain {chain} --seed {draft.seed_ref} --model haircut"


def _blocks(frame: pl.DataFrame) -> dict[str, tuple[int, str, int, int]]:
    """txid -> (height, block hash, timestamp, position in block) of the transactions in ``frame``."""
    rows = frame.select("txid", "block_height", "block_hash", "timestamp", "position").iter_rows()
    return {t: (int(h), str(b), int(ts), int(p) if p is not None else 0) for t, h, b, ts, p in rows}


def _add(drafts: dict[tuple[str, str, str], _Draft], draft: _Draft, asset: str, value: int) -> None:
    key = (draft.rule, draft.txid, draft.subject)
    kept = drafts.setdefault(key, draft)
    kept.amounts[asset] = kept.amounts.get(asset, 0) + value


def exchange_candidates(targets: Targets, frames: FrameSet) -> set[str]:
    """Addresses that received value in a transaction sending from a traced address: the only ones
    whose tags :func:`utxo_alerts` / :func:`account_alerts` need (looked up in one batch)."""
    if not targets.traced:
        return set()
    traced = list(targets.traced)
    if targets.account:
        rows = frames.transfers.filter(pl.col("from_address").is_in(traced) & (pl.col("kind") != "fee"))
        return set(rows["to_address"].drop_nulls().to_list())
    txids = frames.inputs.filter(pl.col("address").is_in(traced))["txid"].unique()
    outputs = frames.outputs.filter(pl.col("txid").is_in(txids.implode()))
    return set(outputs["address"].drop_nulls().to_list()) - set(traced)


def utxo_alerts(targets: Targets, frames: FrameSet, tagged: Mapping[str, Tagged]) -> list[dict[str, Any]]:
    """The alerts the transactions of ``frames`` (a UTXO chain's blocks) raise, in block order."""
    blocks = _blocks(frames.transactions)
    drafts: dict[tuple[str, str, str], _Draft] = {}
    inputs = frames.inputs.filter(pl.col("prev_txid").is_not_null())
    seeds = list(targets.seed_addresses)
    for txid, index, address, value in frames.outputs.filter(pl.col("address").is_in(seeds)).select(
            "txid", "index", "address", "value").sort("txid", "index").iter_rows():
        _add(drafts, _Draft("seed_received", txid, blocks[txid][:3], address, address,
                            seed_ref=f"{txid}:{index}"), "native", int(value))
    spends = inputs.select("txid", "prev_txid", "prev_index", "address", "value").sort("txid", "prev_txid",
                                                                                      "prev_index").rows()
    for txid, prev_txid, prev_index, address, value in spends:
        block = blocks[txid][:3]
        outpoint = (prev_txid, int(prev_index))
        held = targets.held_outputs.get(outpoint)
        if held is not None:
            name = f"{prev_txid}:{prev_index}"
            _add(drafts, _Draft("held_moved", txid, block, name, address, outpoint=name, held=held),
                 "native", int(value or 0))
        if address in targets.seed_addresses:
            _add(drafts, _Draft("seed_sent", txid, block, address, address), "native", int(value or 0))
        elif outpoint in targets.seed_outpoints:
            name = f"{prev_txid}:{prev_index}"
            _add(drafts, _Draft("seed_sent", txid, block, name, address, outpoint=name, seed_ref=name),
                 "native", int(value or 0))
    if tagged and targets.traced:
        _utxo_exchange(targets, frames, tagged, blocks, drafts)
    return order_alerts([_finish(targets, d) for d in drafts.values()], blocks)


def _utxo_exchange(targets: Targets, frames: FrameSet, tagged: Mapping[str, Tagged],
                   blocks: Mapping[str, tuple[int, str, int, int]], drafts: dict[tuple[str, str, str], _Draft]) -> None:
    sources: dict[str, str] = {}
    for txid, address in frames.inputs.filter(pl.col("address").is_in(list(targets.traced))).select(
            "txid", "address").sort("txid", "address").iter_rows():
        sources.setdefault(txid, address)
    if not sources:
        return
    outputs = frames.outputs.filter(pl.col("txid").is_in(list(sources)) & pl.col("address").is_in(list(tagged)))
    for txid, index, address, value in outputs.select("txid", "index", "address", "value").sort(
            "txid", "index").iter_rows():
        tag = tagged[address]
        source = sources[txid]
        _add(drafts, _Draft("exchange_reached", txid, blocks[txid][:3], address, address,
                            run=targets.traced[source], source=source, seed_ref=f"{txid}:{index}",
                            counterparty={"address": address, "label": tag.label, "category": tag.category}),
             "native", int(value))


def account_alerts(targets: Targets, frames: FrameSet, tagged: Mapping[str, Tagged]) -> list[dict[str, Any]]:
    """The alerts the transfers of ``frames`` (an account chain's blocks) raise, in block order."""
    blocks = _blocks(frames.transactions)
    watched = set(targets.seed_addresses) | {a for a, _ in targets.held_accounts} | set(targets.traced)
    rows = frames.transfers.filter((pl.col("kind") != "fee") & (
        pl.col("from_address").is_in(list(watched)) | pl.col("to_address").is_in(list(targets.seed_addresses))))
    drafts: dict[tuple[str, str, str], _Draft] = {}
    columns = ("txid", "kind", "log_index", "trace_path", "asset", "from_address", "to_address", "value",
               "value_overflow")
    for txid, kind, log_index, path, asset, sender, recipient, value, overflow in rows.select(columns).sort(
            "txid", "log_index", "trace_path", nulls_last=True).iter_rows():
        amount = join_from_frame(value, overflow)
        block = blocks[txid][:3]
        ref = txid if kind == "native" else f"{txid}:{log_index if log_index is not None else path}"
        held = targets.held_accounts.get((sender, asset))
        if held is not None:
            _add(drafts, _Draft("held_moved", txid, block, f"{sender}|{asset}", sender, held=held), asset, amount)
        if recipient in targets.seed_addresses:
            _add(drafts, _Draft("seed_received", txid, block, recipient, recipient, seed_ref=ref), asset, amount)
        if sender in targets.seed_addresses:
            _add(drafts, _Draft("seed_sent", txid, block, sender, sender, seed_ref=ref), asset, amount)
        if sender in targets.traced and recipient in tagged:
            tag = tagged[recipient]
            _add(drafts, _Draft("exchange_reached", txid, block, recipient, recipient, run=targets.traced[sender],
                                source=sender, seed_ref=ref,
                                counterparty={"address": recipient, "label": tag.label, "category": tag.category}),
                 asset, amount)
    return order_alerts([_finish(targets, d) for d in drafts.values()], blocks)


def order_alerts(alerts: Iterable[dict[str, Any]],
                 blocks: Mapping[str, tuple[int, str, int, int]] | None = None) -> list[dict[str, Any]]:
    """Alerts in chain order: block height, position in the block, rule, subject (then id)."""
    def key(alert: Mapping[str, Any]) -> tuple[Any, ...]:
        position = blocks[alert["txid"]][3] if blocks and alert["txid"] in blocks else 0
        return (alert["block_height"], position, alert["txid"], _RULE_ORDER.get(alert["rule"], 99),
                alert["address"] or "", alert["outpoint"] or "", alert["id"])

    return sorted(alerts, key=key)


def risk_alert(targets: Targets, wallet: str, before: str, after: str, reason: str,
               where: tuple[str, int, str, int]) -> dict[str, Any]:
    """A watch-list wallet's risk rose from ``before`` to ``after`` after its transaction ``where``
    (txid, block height, block hash, timestamp); ``reason``: the rule that set the new level."""
    txid, height, block_hash, timestamp = where
    return {
        "id": alert_id(targets.case, targets.chain, "risk_rise", block_hash, txid, f"{wallet}|{after}"),
        "rule": "risk_rise", "case": targets.case, "chain": targets.chain, "txid": txid,
        "block_height": height, "block_hash": block_hash, "time": _utc(timestamp), "address": wallet,
        "outpoint": None, "amounts": [], "traced_amount": None, "trace_run": None, "trace_runs": [],
        "counterparty": None, "risk": {"from": before, "to": after, "reason": reason}, "retracted_rule": None,
        "summary": f"watch-list wallet {wallet}: risk {before} -> {after} ({reason})",
        "next": f"tracer tags show {wallet} --chain {targets.chain}",
    }


def retraction(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The retraction of ``alert``, whose block is no longer on the node's best chain: the same id and
    fields, rule ``retracted`` (the original rule in ``retracted_rule``)."""
    return {**alert, "rule": "retracted", "retracted_rule": alert["rule"], "next": None,
            "summary": (f"RETRACTED {alert['rule']} {alert['id']}: block {alert['block_height']} "
                        f"{alert['block_hash']} left the node's best chain; was: {alert['summary']}")}


def alert_line(alert: Mapping[str, Any]) -> str:
    """One alert as one canonical JSON line (sorted keys, no spaces, no newline)."""
    return json.dumps(alert, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def human_line(alert: Mapping[str, Any]) -> str:
    """One alert as one line for people."""
    line = (f"{alert['time']} {alert['chain']} block {alert['block_height']} {alert['rule'].upper()} "
            f"[{alert['id']}] {alert['summary']} (tx {alert['txid']})")
    return f"{line}; next: {alert['next']}" if alert.get("next") else line
