# SPDX-License-Identifier: Apache-2.0
"""Taint models: how tainted value is shared out by one transaction or one address pool.

Shared design notes §5 is the specification. For one transaction with inputs ``I`` and outputs
``O`` (the fee is a sink):

* **poison** — if any input is tainted, every output is fully tainted (not value-conserving;
  Möser, Böhme and Breuker, "Towards Risk Scoring of Bitcoin Transactions", FC 2014).
* **haircut** — each output gets ``floor(value(o) * tainted(I) / value(I))`` (Möser et al., FC
  2014), rounded down per output; what rounding and the fee leave over goes to the fee sink
  (BlockSci's convention: Kalodner et al., "BlockSci: Design and applications of a blockchain
  analysis platform", USENIX Security 2020).
* **fifo** — inputs queued in input order, outputs filled in output order, the fee last; the
  first tainted unit in is the first out (Clayton's Case; Anderson et al., "Bitcoin Redux",
  WEIS 2018). Taint is tracked as exact ranges of base units.
* **lifo** — the same with the input queue reversed (last input first).
* **tiho** — taint in, highest out (Tironsakkul et al., "Probing the Mystery of Cryptocurrency
  Theft: An Investigation into Methods for Taint Analysis", 2019): all tainted input value is
  pooled and assigned to outputs in descending order of value (ties: lower index first), each
  filled up to its value; any excess goes to the fee.

:func:`split` shares a transaction's taint forward; :func:`split_backward` is its transpose for a
backward trace (outputs and the untainted fee shared back among the inputs), so everything a
model means, in both directions, is in this module. The account model (an address is a pool
over time) applies the same rules to the time-ordered stream of an address's incoming and
outgoing transfers: :class:`Pool` (a backward trace runs it backward in time, receipts and
payments swapped).

Amounts are Python ``int`` base units throughout (exact for uint256). A taint is an ``int``
(tainted base units) for poison, haircut and tiho, and :class:`Ranges` (exact tainted unit
ranges inside the value) for fifo and lifo; :func:`amount` reads either.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tracer.errors import InputError

__all__ = [
    "Model",
    "MODELS",
    "CONSERVING",
    "Ranges",
    "Taint",
    "amount",
    "full",
    "none",
    "split",
    "split_backward",
    "Pool",
    "parse_model",
]


class Model(StrEnum):
    """A taint model (shared design notes §5)."""

    POISON = "poison"
    HAIRCUT = "haircut"
    FIFO = "fifo"
    LIFO = "lifo"
    TIHO = "tiho"


MODELS: tuple[Model, ...] = tuple(Model)
#: Models under which tainted value is neither created nor destroyed (every total reconciles).
CONSERVING: frozenset[Model] = frozenset({Model.HAIRCUT, Model.FIFO, Model.LIFO, Model.TIHO})


def parse_model(text: str) -> Model:
    """The model named ``text`` (case-insensitive), or :class:`InputError` listing the known ones."""
    try:
        return Model(text.strip().lower())
    except ValueError:
        raise InputError(f"unknown taint model {text!r}; known models: {', '.join(MODELS)}") from None


@dataclass(frozen=True)
class Ranges:
    """Tainted base units inside a value of ``size`` units: sorted, disjoint ``[start, end)`` pairs."""

    size: int
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def tainted(self) -> int:
        return sum(end - start for start, end in self.spans)

    @staticmethod
    def whole(size: int) -> Ranges:
        return Ranges(size, ((0, size),) if size > 0 else ())

    def shifted(self, offset: int) -> list[tuple[int, int]]:
        return [(start + offset, end + offset) for start, end in self.spans]


Taint = int | Ranges


def amount(taint: Taint) -> int:
    """Tainted base units of a taint value."""
    return taint.tainted if isinstance(taint, Ranges) else taint


def full(model: Model, value: int) -> Taint:
    """A fully tainted value (a seed) under ``model``."""
    return Ranges.whole(value) if model in (Model.FIFO, Model.LIFO) else value


def none(model: Model, value: int) -> Taint:
    """An untainted value under ``model``."""
    return Ranges(value) if model in (Model.FIFO, Model.LIFO) else 0


def _clip(spans: Sequence[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """``spans`` intersected with ``[start, end)``, re-based to ``start``, merged."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        lo, hi = max(a, start), min(b, end)
        if lo < hi:
            lo, hi = lo - start, hi - start
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
    return tuple(out)


def split(
    model: Model, inputs: Sequence[tuple[int, Taint]], outputs: Sequence[int], fee: int
) -> tuple[list[Taint], Taint]:
    """Share the taint of ``inputs`` (value, taint) among ``outputs`` (values) and the fee.

    Returns the taint of each output (in output order) and of the fee. ``fee`` is
    ``sum(input values) - sum(outputs)``; a negative fee (inconsistent data) is refused.

    >>> split(Model.HAIRCUT, [(60, 60), (40, 0)], [50, 45], 5)
    ([30, 27], 3)
    >>> split(Model.TIHO, [(60, 60), (40, 0)], [50, 45], 5)
    ([50, 10], 0)
    """
    total_in = sum(v for v, _ in inputs)
    if fee < 0 or total_in != sum(outputs) + fee:
        raise InputError(
            f"inputs ({total_in}) do not equal outputs ({sum(outputs)}) plus fee ({fee}): inconsistent transaction data"
        )
    if model is Model.POISON:
        hit = any(amount(t) > 0 for _, t in inputs)
        return ([v if hit else 0 for v in outputs], fee if hit else 0)
    if model is Model.HAIRCUT:
        tainted = sum(amount(t) for _, t in inputs)
        if tainted == 0 or total_in == 0:
            return [0] * len(outputs), 0
        shares: list[Taint] = [v * tainted // total_in for v in outputs]
        return shares, tainted - sum(amount(s) for s in shares)
    if model is Model.TIHO:
        pool = sum(amount(t) for _, t in inputs)
        result: list[Taint] = [0] * len(outputs)
        for index in sorted(range(len(outputs)), key=lambda i: (-outputs[i], i)):
            take = min(outputs[index], pool)
            result[index] = take
            pool -= take
        return result, pool
    # FIFO / LIFO: lay the inputs end to end (LIFO: last input first), then cut outputs and fee.
    queue = list(inputs) if model is Model.FIFO else list(reversed(inputs))
    spans: list[tuple[int, int]] = []
    offset = 0
    for value, taint in queue:
        if isinstance(taint, Ranges):
            ranges = taint
        else:  # an amount without positions: its first units
            ranges = Ranges(value, ((0, min(taint, value)),) if taint > 0 else ())
        spans.extend(ranges.shifted(offset))
        offset += value
    outs: list[Taint] = []
    start = 0
    for value in outputs:
        outs.append(Ranges(value, _clip(spans, start, start + value)))
        start += value
    return outs, Ranges(fee, _clip(spans, start, start + fee))


def split_backward(
    model: Model, outputs: Sequence[tuple[int, Taint]], inputs: Sequence[int], fee: int
) -> tuple[list[Taint], Taint]:
    """Share the taint of ``outputs`` (value, taint) back among ``inputs`` (values): :func:`split` transposed.

    A backward trace asks where a transaction's tainted outputs came from. The transaction is
    read with inputs and outputs swapped: the outputs, in output order, with the fee laid after
    them as one more *untainted* value (the fee is spending that carries none of the traced
    value), are shared out among the inputs, which play the outputs' part. Returns the taint of
    each input (in input order) and what is left over: the units haircut loses to rounding
    down, 0 under the other models. ``fee`` is ``sum(inputs) - sum(output values)``;
    inconsistent data is refused as by :func:`split`.

    Per model, the forward rule read backward:

    * **fifo** — outputs and fee laid end to end against the inputs in input order: an input
      gets the tainted units at the same positions forward FIFO would have sent on.
    * **lifo** — the same against the reversed input queue (last input first), as forward LIFO
      lays it out; the result is given back in input order.
    * **tiho** — the tainted value fills the largest inputs first (ties: lower index first);
      nothing is left over, as the inputs hold at least the outputs' value.
    * **haircut** — each input gets ``floor(value(i) * tainted(O) / (value(O) + fee))``: the fee
      dilutes the share like an untainted output; the units lost to rounding down are returned
      as the left-over taint (the ``rounding`` ending).
    * **poison** — if any output is tainted, every input is fully tainted; nothing left over.

    Output ``0`` (51 units, fully tainted) and output ``1`` (44, untainted) with a fee of 5,
    back to inputs of 60 and 40:

    >>> split_backward(Model.HAIRCUT, [(51, 51), (44, 0)], [60, 40], 5)
    ([30, 20], 1)
    >>> split_backward(Model.TIHO, [(51, 51), (44, 0)], [60, 40], 5)
    ([51, 0], 0)
    >>> split_backward(Model.POISON, [(51, 51), (44, 0)], [60, 40], 5)
    ([60, 40], 0)
    >>> laid = [(51, Ranges.whole(51)), (44, Ranges(44))]
    >>> [t.spans for t in split_backward(Model.FIFO, laid, [60, 40], 5)[0]]
    [((0, 51),), ()]
    >>> [t.spans for t in split_backward(Model.LIFO, laid, [60, 40], 5)[0]]
    [((0, 11),), ((0, 40),)]
    """
    laid = [*outputs, (fee, none(model, fee))]
    if model is Model.LIFO:  # forward LIFO reads the inputs last first: cut against that queue
        reversed_inputs, rest = split(Model.FIFO, laid, list(reversed(inputs)), 0)
        return list(reversed(reversed_inputs)), rest
    return split(model, laid, list(inputs), 0)


@dataclass
class _Segment:
    size: int
    spans: tuple[tuple[int, int], ...]


class Pool:
    """One address's balance of one asset, as a pool that tainted value flows into and out of.

    Events are applied in the order they happened (or, for a backward trace, in reverse with
    receipts and payments swapped). Under **haircut** each payment carries
    ``floor(value * tainted / balance)`` and the rounding stays in the pool (so the pool still
    conserves value); **tiho** lets every payment carry as much taint as it can
    (``min(value, tainted)``); **fifo**/**lifo** keep the received amounts as a queue/stack of
    exact unit ranges; **poison** taints every payment once the pool holds any taint.

    A payment larger than the known balance (history the store does not have) is paid from
    the balance first and the rest counts as untainted value of unknown origin
    (``shortfall``), so a gap in the data can only lower the taint, never invent it.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.balance = 0
        self.tainted = 0
        self.shortfall = 0
        self._segments: deque[_Segment] = deque()

    def receive(self, value: int, taint: Taint) -> None:
        """Add a receipt of ``value`` units carrying ``taint``."""
        self.balance += value
        self.tainted += amount(taint)
        if self.model in (Model.FIFO, Model.LIFO):
            spans = taint.spans if isinstance(taint, Ranges) else (((0, taint),) if taint else ())
            self._segments.append(_Segment(value, spans))

    def pay(self, value: int) -> Taint:
        """Take a payment of ``value`` units out of the pool; returns the taint it carries."""
        if value > self.balance:
            self.shortfall += value - self.balance
        available = min(value, self.balance)
        if self.model is Model.POISON:
            carried: Taint = value if self.tainted > 0 else 0
            self.balance -= available
            if self.balance == 0:
                self.tainted = 0
            return carried
        if self.model is Model.HAIRCUT:
            share = available * self.tainted // self.balance if self.balance else 0
            self.balance -= available
            self.tainted -= share
            return share
        if self.model is Model.TIHO:
            share = min(available, self.tainted)
            self.balance -= available
            self.tainted -= share
            return share
        spans: list[tuple[int, int]] = []
        taken = 0
        while taken < available:
            # FIFO: the oldest receipt first; LIFO: the newest; either way its units in order
            segment = self._segments[0] if self.model is Model.FIFO else self._segments[-1]
            part = min(segment.size, available - taken)
            piece = _clip(segment.spans, 0, part)
            segment.spans = _clip(segment.spans, part, segment.size)
            segment.size -= part
            if segment.size == 0:
                if self.model is Model.FIFO:
                    self._segments.popleft()
                else:
                    self._segments.pop()
            spans.extend((a + taken, b + taken) for a, b in piece)
            taken += part
        self.balance -= available
        carried_ranges = Ranges(value, _clip(spans, 0, value))
        self.tainted -= carried_ranges.tainted
        return carried_ranges
