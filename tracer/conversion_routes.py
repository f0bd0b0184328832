# SPDX-License-Identifier: Apache-2.0
"""Routes: value that changes form inside one transaction (swaps, wrapping), as one traceable movement.

A conversion (:data:`tracer.schema.CONVERSIONS`: a Uniswap V2/V3 ``Swap``, a WETH9 ``Deposit`` or
``Withdrawal``) says that in one transaction a trader gave ``value_in`` of ``asset_in`` to a venue
and a recipient received ``value_out`` of ``asset_out``. Its *legs* are the ``transfers`` rows that
carried the two sides (the trader's payment into the pool, the pool's payment out). Followed as
plain transfers, the legs would end the trail in the pool's balance (a pool of everybody's
liquidity); followed as a conversion, the taint on what was given passes into what was received.

Inside a transaction that converts, contracts also *relay* value: a router receives the user's
tokens or ETH and passes exactly that amount on (Uniswap V2 periphery ``UniswapV2Router02``:
``swapExactETHForTokens`` wraps the ETH it received and pays the pair; ``swapExactTokensForETH``
receives WETH from the pair, unwraps it and pays the user). A relay is recognised when an address
other than the transaction's sender is credited and debited the same asset and the same amount in
that transaction; the credit and the debit are joined. :func:`routes` joins the steps of one
transaction into maximal chains and keeps those that contain a conversion: each is a
:class:`Route` from the first payer to the last recipient, with every step as evidence. Chains
without a conversion are left alone (plain transfers keep their existing meaning), and every
conversion leg is consumed (replaced by its conversion) whether or not it was relayed.

How taint crosses a conversion (:meth:`Route.forward`, :meth:`Route.backward`): for a value-
conserving model in proportion — ``floor(taint * value_out / value_in)`` for haircut and TIHO (a
conversion has one input and one output, so TIHO's "highest out" is that output), the tainted unit
ranges scaled the same way for FIFO and LIFO — and for poison, a tainted input taints the whole
output. Every base unit of taint given ends in the given asset as ``converted``; what arrives in the
received asset is accounted as ``converted_in``, so each asset still reconciles exactly
(Möser, Böhme and Breuker, FC 2014, for the proportional rule; Anderson et al., WEIS 2018, FIFO).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracer.chain_order import KIND_ORDER, transfer_order
from tracer.taint import Model, Ranges, Taint, amount, full

__all__ = ["Step", "Route", "RowKey", "convert", "leg_keys", "routes"]

#: A ``transfers`` row's key inside the engine: (txid, kind, log_index, trace_path).
RowKey = tuple[str, str, int | None, str | None]


@dataclass(frozen=True)
class Step:
    """One movement of a route: a relayed transfer row or a conversion."""

    kind: str  # "transfer", or the conversion's protocol (uniswap_v2, uniswap_v3, weth)
    payer: str
    asset_in: str
    value_in: int
    recipient: str
    asset_out: str
    value_out: int
    venue: str | None  # the converting contract (None for a transfer)
    position: str  # the event's log index (conversion) or the row's position (transfer)
    order: tuple[Any, ...]
    key: RowKey | None  # the transfer row (None for a conversion)

    @property
    def converts(self) -> bool:
        return self.kind != "transfer"


def convert(model: Model, taint: Taint, value_in: int, value_out: int) -> Taint:
    """The taint that ``value_out`` carries when ``value_in`` carrying ``taint`` was given for it."""
    tainted = amount(taint)
    if tainted == 0 or value_in == 0:
        return Ranges(value_out, ()) if model in (Model.FIFO, Model.LIFO) else 0
    if model is Model.POISON:
        return full(model, value_out)
    if model in (Model.FIFO, Model.LIFO):
        spans = taint.spans if isinstance(taint, Ranges) else ((0, tainted),)
        scaled = [(a * value_out // value_in, b * value_out // value_in) for a, b in spans]
        return Ranges(value_out, tuple((a, b) for a, b in scaled if b > a))
    return tainted * value_out // value_in


@dataclass(frozen=True)
class Route:
    """Value given by ``payer`` and received by ``recipient`` in one transaction, through ``steps``."""

    txid: str
    steps: tuple[Step, ...]

    @property
    def payer(self) -> str:
        return self.steps[0].payer

    @property
    def asset_in(self) -> str:
        return self.steps[0].asset_in

    @property
    def value_in(self) -> int:
        return self.steps[0].value_in

    @property
    def recipient(self) -> str:
        return self.steps[-1].recipient

    @property
    def asset_out(self) -> str:
        return self.steps[-1].asset_out

    @property
    def value_out(self) -> int:
        return self.steps[-1].value_out

    @property
    def venue(self) -> str | None:
        """The first converting contract (where the given asset's taint is recorded as converted)."""
        return next(s.venue for s in self.steps if s.converts)

    @property
    def order(self) -> tuple[Any, ...]:
        return min(s.order for s in self.steps)

    def forward(self, model: Model, taint: Taint) -> tuple[Taint, list[tuple[int, int]]]:
        """Taint on what the payer gave -> taint on what the recipient received, and per step (in, out)."""
        per_step = []
        for step in self.steps:
            before = amount(taint)
            if step.converts:
                taint = convert(model, taint, step.value_in, step.value_out)
            per_step.append((before, amount(taint)))
        return taint, per_step

    def backward(self, model: Model, taint: Taint) -> tuple[Taint, list[tuple[int, int]]]:
        """Demand on what the recipient received -> demand on what the payer gave, per step (in, out)."""
        per_step = []
        for step in reversed(self.steps):
            after = amount(taint)
            if step.converts:
                taint = convert(model, taint, step.value_out, step.value_in)
            per_step.append((amount(taint), after))
        per_step.reverse()
        return taint, per_step


def leg_keys(conversion: Mapping[str, Any]) -> list[RowKey]:
    """The keys of a conversion's legs (the transfers rows it replaces)."""
    txid = conversion["txid"]
    out: list[RowKey] = []
    for side in ("in", "out"):
        kind = conversion[f"{side}_kind"]
        if kind is not None:
            out.append((txid, kind, conversion[f"{side}_log_index"], conversion[f"{side}_trace_path"]))
    return out


def _row_position(row: Mapping[str, Any]) -> str:
    if row["kind"] in ("internal", "fee") or row["log_index"] is None:
        return row["trace_path"] or ""
    return str(row["log_index"])


def _conversion_step(conversion: Mapping[str, Any]) -> Step:
    block, position, txid = conversion["block_height"], conversion["tx_index"], conversion["txid"]
    if conversion["in_kind"] is not None:  # it happens where the trader's payment goes in
        order = transfer_order(block, position, txid, conversion["in_kind"], conversion["in_trace_path"],
                               conversion["in_log_index"])
    elif conversion["out_kind"] is not None:
        order = transfer_order(block, position, txid, conversion["out_kind"], conversion["out_trace_path"],
                               conversion["out_log_index"])
    else:
        order = transfer_order(block, position, txid, "token", None, conversion["log_index"])
    return Step(conversion["protocol"], conversion["trader"], conversion["asset_in"], int(conversion["value_in"]),
                conversion["recipient"], conversion["asset_out"], int(conversion["value_out"]), conversion["venue"],
                str(conversion["log_index"]), order, None)


def _transfer_step(row: Mapping[str, Any], value: int) -> Step:
    return Step("transfer", row["from_address"], row["asset"], value, row["to_address"], row["asset"], value, None,
                _row_position(row), transfer_order(row["block_height"], row["tx_index"], row["txid"], row["kind"],
                                                   row["trace_path"], row["log_index"]),
                (row["txid"], row["kind"], row["log_index"], row["trace_path"]))


def _placed_by_log(step: Step) -> bool:
    """Whether a step's place in its transaction is a log index (token rows, events) or a call path."""
    return step.order[3] == KIND_ORDER["token"]


def _sender(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Who signed the transaction: the payer of its fee, else of its own value transfer."""
    for kind in ("fee", "native"):
        for row in rows:
            if row["kind"] == kind:
                return str(row["from_address"])
    return None


def routes(rows: Iterable[Mapping[str, Any]], conversions: Iterable[Mapping[str, Any]],
           skip: frozenset[RowKey] = frozenset()) -> tuple[list[Route], set[RowKey]]:
    """The routes of transactions with conversions, and the transfer rows they replace.

    ``rows`` are the ``transfers`` rows of those transactions as dicts with an exact ``amount``;
    ``conversions`` their ``conversions`` rows; rows in ``skip`` (e.g. a seed's own movement) are
    neither relayed nor consumed. Returns the routes (in chain order) and the consumed row keys:
    every conversion leg, and every transfer relayed into a route.
    """
    by_tx_rows: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_tx_rows[row["txid"]].append(row)
    by_tx_conv: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for conversion in conversions:
        by_tx_conv[conversion["txid"]].append(conversion)
    found: list[Route] = []
    consumed: set[RowKey] = set()
    for txid in sorted(by_tx_conv):
        tx_rows = by_tx_rows.get(txid, [])
        # a conversion one of whose legs is a seed's own movement is not followed as a conversion: its
        # legs stay plain transfers (else the seed's value would be delivered twice, or stranded)
        kept = [c for c in by_tx_conv[txid] if not set(leg_keys(c)) & skip]
        legs = {key for c in kept for key in leg_keys(c)}
        consumed |= legs
        steps = [_conversion_step(c) for c in sorted(kept, key=lambda c: c["log_index"])]
        for row in tx_rows:
            key = (row["txid"], row["kind"], row["log_index"], row["trace_path"])
            if key in legs or key in skip or row["kind"] == "fee" or row["to_address"] is None or row["amount"] <= 0:
                continue
            steps.append(_transfer_step(row, row["amount"]))
        steps.sort(key=lambda s: (s.order, s.kind, s.position))
        chains = _chains(steps, _sender(tx_rows))
        for chain in chains:
            if any(s.converts for s in chain):
                found.append(Route(txid, tuple(chain)))
                consumed |= {s.key for s in chain if s.key is not None}
    found.sort(key=lambda r: r.order)
    return found, consumed


def _chains(steps: list[Step], sender: str | None) -> list[list[Step]]:
    """Join a credit of (address, asset, amount) to a debit of the same, for every address but the
    sender (relays); return the maximal chains, in order of their first step.

    Only an unambiguous pair is joined: exactly one credit and one debit of that key in the
    transaction (two users paid the same amount by one contract are not told apart by guessing), and
    not a debit that the chain shows happening before the credit. Log positions order logs and call
    paths order calls, but a log's place among the calls is not known, so the order is only checked
    between two steps placed the same way."""
    credits: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    debits: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, step in enumerate(steps):
        credits[(step.recipient, step.asset_out, step.value_out)].append(i)
        debits[(step.payer, step.asset_in, step.value_in)].append(i)
    nxt: dict[int, int] = {}
    prv: dict[int, int] = {}
    for key, into in credits.items():
        out_of = debits.get(key, [])
        if key[0] == sender or len(into) != 1 or len(out_of) != 1:
            continue
        a, b = into[0], out_of[0]
        if a == b or (_placed_by_log(steps[a]) == _placed_by_log(steps[b]) and steps[b].order < steps[a].order):
            continue
        nxt[a], prv[b] = b, a
    out: list[list[Step]] = []
    seen: set[int] = set()
    for i in range(len(steps)):
        if i in prv or i in seen:
            continue
        chain = []
        j: int | None = i
        while j is not None and j not in seen:
            seen.add(j)
            chain.append(steps[j])
            j = nxt.get(j)
        out.append(chain)
    for i in range(len(steps)):  # a closed loop of relays (no head): each step stays on its own
        if i not in seen:
            seen.add(i)
            out.append([steps[i]])
    return out
