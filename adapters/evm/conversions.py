# SPDX-License-Identifier: Apache-2.0
"""Conversions inside one transaction (swaps, wrapping), decoded with their legs (pure, no I/O).

A ``conversions`` row (:data:`tracer.schema.CONVERSIONS`) says: in transaction ``txid``, ``trader``
gave ``value_in`` of ``asset_in`` to ``venue`` and ``recipient`` received ``value_out`` of
``asset_out``, as the event at ``log_index`` states. Its legs are the ``transfers`` rows of the same
transaction that carried the two sides, named by their key ``(kind, log_index, trace_path)``; the
trace engine replaces the legs by the conversion, so a leg is only named when it matches exactly.

Input: one block's receipts (the events) and the ``transfers`` rows already mapped from that block
(:func:`adapters.evm.mappers.map_block` plus :func:`~adapters.evm.mappers.map_traces`: the token
rows and the native/internal rows). Pool tokens are an input (``pools``: pool -> ``(token0,
token1)``), read by the caller with ``token0()``/``token1()`` calls
(:meth:`adapters.evm.node.EvmNode.pool_tokens`); :func:`swap_pools` lists the pools to read.

Events
------
* **Uniswap V2** (and forks emitting the same event), ``UniswapV2Pair.swap``
  (https://github.com/Uniswap/v2-core/blob/master/contracts/UniswapV2Pair.sol; Adams, Zinsmeister,
  Robinson, "Uniswap v2 Core", 2020, §2.2 and §3.2)::

      Swap(address indexed sender, uint amount0In, uint amount1In, uint amount0Out, uint amount1Out,
           address indexed to)

  The pair first sends the output token(s) to ``to`` (``_safeTransfer``), then computes the input
  as what its balance grew beyond the reserves, then emits ``Swap``. So both legs are ``Transfer``
  logs *before* the event: the in-leg is the nearest earlier token row of ``asset_in`` into the pair
  with exactly the amount, the out-leg the nearest earlier token row of ``asset_out`` from the pair to
  ``to`` with exactly the amount. A swap converts when exactly one token went in and the other came
  out (``amount0In > 0, amount1Out > 0`` and the other two zero, or the mirror case).
* **Uniswap V3**, ``UniswapV3Pool.swap``
  (https://github.com/Uniswap/v3-core/blob/main/contracts/UniswapV3Pool.sol, ``IUniswapV3PoolEvents``;
  "Uniswap v3 Core", 2021, §6.2)::

      Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1,
           uint160 sqrtPriceX96, uint128 liquidity, int24 tick)

  Amounts are the pool's balance deltas: positive = into the pool. The pool pays the output to
  ``recipient``, takes the input in the ``uniswapV3SwapCallback`` and then emits ``Swap``: both legs
  are earlier ``Transfer`` logs, found as for V2. It converts when one amount is positive and the
  other negative.
* **WETH9** (https://github.com/gnosis/canonical-weth/blob/master/contracts/WETH9.sol, mainnet
  0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2): ``Deposit(address indexed dst, uint wad)`` credits
  ``wad`` WETH to ``msg.sender`` for the ``msg.value`` received, with no ``Transfer`` event, so the
  in-leg is the ``native`` (the transaction's own value) or ``internal`` row of ``wad`` from ``dst``
  into the WETH contract and there is no out-leg (``out_*`` null); ``Withdrawal(address indexed src,
  uint wad)`` burns ``wad`` WETH of ``src`` (no in-leg) and sends ``wad`` ETH back with
  ``msg.sender.transfer(wad)``: the out-leg is the ``internal`` row WETH -> ``src`` of ``wad``. Trace
  rows have no log index: the k-th ``Deposit`` of an amount by ``dst`` in a transaction takes the
  k-th such row in call order (each ``Deposit`` is emitted in the call that received the value), and
  likewise for withdrawals. Which contracts are WETH is a parameter (``weth``; default
  :data:`DEFAULT_WETH`), because the same event signatures are common elsewhere.

Trader and recipient
--------------------
``trader`` is the ``from_address`` of the in-leg and ``recipient`` the ``to_address`` of the out-leg
(for WETH, where one leg does not exist: ``dst`` / ``src`` of the event, which equal the other
leg's ends). **Chained swaps**: in a multi-pool route (``UniswapV2Router02`` with a path of three
tokens) pair 1 pays its output straight into pair 2, so one token row (pair1 -> pair2) is the
out-leg of swap 1 and the in-leg of swap 2, and both rows name its key. Swap 1's ``recipient`` is
then pair 2, and swap 2's ``trader`` is set to the same address, *swap 1's recipient* (= the shared
row's ``to_address`` = swap 2's own venue), not pair 1: each conversion's ``recipient`` equals the
next one's ``trader`` with the same asset and amount, and each conversion's ``out_*`` key equals
the next one's ``in_*`` key, so the engine can link the route either way.

Anything that does not balance is not a conversion: an event that does not decode, a pool whose
tokens are unknown, a swap with both or neither side in, an amount of 10**38 or more (beyond the
frame's ``Decimal(38, 0)``), or no leg of exactly the amount. It gives no row (its transfers stay
plain transfers) and a :class:`ConversionWarning` naming the transaction, event and reason in
``stats.conversion_warnings``; nothing raises for one bad event.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from adapters.errors import MalformedResponseError
from adapters.evm.mappers import MapStats, parse_address, parse_quantity
from tracer.schema import CONVERSIONS, NATIVE_ASSET, conform, empty
from tracer.units import FRAME_DECIMAL_LIMIT, join_from_frame

__all__ = [
    "V2_SWAP_TOPIC",
    "V3_SWAP_TOPIC",
    "WETH_DEPOSIT_TOPIC",
    "WETH_WITHDRAWAL_TOPIC",
    "MAINNET_WETH9",
    "DEFAULT_WETH",
    "ConversionWarning",
    "swap_pools",
    "decode_conversions",
]

#: keccak256("Swap(address,uint256,uint256,uint256,uint256,address)"): Uniswap V2 pairs and forks
V2_SWAP_TOPIC = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
#: keccak256("Swap(address,address,int256,int256,uint160,uint128,int24)"): Uniswap V3 pools
V3_SWAP_TOPIC = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
#: keccak256("Deposit(address,uint256)"): WETH9 wrap
WETH_DEPOSIT_TOPIC = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
#: keccak256("Withdrawal(address,uint256)"): WETH9 unwrap
WETH_WITHDRAWAL_TOPIC = "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"
SWAP_TOPICS = frozenset({V2_SWAP_TOPIC, V3_SWAP_TOPIC})
_TOPICS = {V2_SWAP_TOPIC: "uniswap_v2", V3_SWAP_TOPIC: "uniswap_v3", WETH_DEPOSIT_TOPIC: "weth",
           WETH_WITHDRAWAL_TOPIC: "weth"}

#: the canonical WETH9 on Ethereum mainnet
MAINNET_WETH9 = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
DEFAULT_WETH: frozenset[str] = frozenset({MAINNET_WETH9})

_WORD = 64
_TOPIC_ADDRESS = re.compile(r"^0x0{24}[0-9a-fA-F]{40}$")
_LEG_KINDS = ("native", "token", "internal")


@dataclass(frozen=True)
class ConversionWarning:
    """An event that states a conversion but gave no ``conversions`` row, and why."""

    txid: str
    log_index: int | None
    protocol: str
    venue: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.txid} log {self.log_index} ({self.protocol} at {self.venue}): {self.reason}"


class _Unbalanced(Exception):
    """One event gives no conversion (the message says why)."""


@dataclass(slots=True)
class _Leg:
    """One value-carrying ``transfers`` row of a transaction, as the matcher needs it."""

    row: dict[str, Any]
    kind: str
    log_index: int | None
    trace_path: str | None
    asset: str
    sender: str
    recipient: str | None
    value: int
    order: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Event:
    txid: str
    log_index: int
    topic0: str
    venue: str
    topics: list[Any]
    body: str


def swap_pools(receipts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Contracts that emitted a Uniswap V2 or V3 ``Swap`` in these receipts (EIP-55) -> the height of
    the first block they did so in (where to read their ``token0()``/``token1()``)."""
    pools: dict[str, int] = {}
    for receipt in receipts:
        for log in receipt.get("logs") or ():
            topics = log.get("topics") if isinstance(log, Mapping) else None
            if not topics or not isinstance(topics[0], str) or topics[0].lower() not in SWAP_TOPICS:
                continue
            try:
                pool = parse_address(log.get("address"), "address of a Swap log")
                height = parse_quantity(log.get("blockNumber") or receipt.get("blockNumber"), "blockNumber")
            except MalformedResponseError:
                continue  # decode_conversions names it
            pools.setdefault(pool, height)
    return pools


def decode_conversions(
    receipts: Iterable[Mapping[str, Any]],
    transfers: pl.DataFrame,
    *,
    pools: Mapping[str, tuple[str, str] | str | None],
    weth: Collection[str] = DEFAULT_WETH,
    stats: MapStats | None = None,
    check: bool = True,
) -> pl.DataFrame:
    """The ``conversions`` rows stated by the events of ``receipts`` (see the module docstring).

    ``transfers`` holds (at least) the rows of those receipts' transactions; rows of other blocks are
    ignored. ``pools`` maps a pool (any spelling) to ``(token0, token1)``, or to ``None`` when they
    could not be read; ``weth`` lists the WETH9 contracts. Warnings go to ``stats`` (a fresh
    :class:`MapStats` if not given). ``check=False`` skips :func:`tracer.schema.conform`.
    """
    stats = stats if stats is not None else MapStats()
    pool_tokens = {_norm(p): (t if t is None or isinstance(t, str) else (_norm(t[0]), _norm(t[1])))
                   for p, t in pools.items()}
    weth_set = frozenset(_norm(w) for w in weth)
    events: dict[str, list[_Event]] = defaultdict(list)
    for receipt in receipts:
        for log in receipt.get("logs") or ():
            event = _event(receipt, log, weth_set, stats)
            if event is not None:
                events[event.txid].append(event)
    if not events:
        return empty(CONVERSIONS)
    legs = _legs(transfers, events.keys())
    out: list[dict[str, Any]] = []
    for txid, tx_events in events.items():
        matcher = _Matcher(legs.get(txid, []))
        for event in sorted(tx_events, key=lambda e: e.log_index):
            protocol = _TOPICS[event.topic0]
            try:
                out.append(matcher.convert(event, protocol, pool_tokens))
            except _Unbalanced as why:
                stats.conversion_warnings.append(
                    ConversionWarning(txid, event.log_index, protocol, event.venue, str(why)))
    stats.conversions += len(out)
    if not out:
        return empty(CONVERSIONS)
    frame = pl.DataFrame(out, schema=CONVERSIONS.polars_schema)
    return conform(frame, CONVERSIONS) if check else frame


# --- helpers -------------------------------------------------------------------------------------


def _norm(address: str) -> str:
    return parse_address(address, "contract address")


def _event(receipt: Mapping[str, Any], log: Any, weth: frozenset[str], stats: MapStats) -> _Event | None:
    """The log as an event this module decodes, or None (another event, or WETH events elsewhere)."""
    topics = log.get("topics") if isinstance(log, Mapping) else None
    if not topics or not isinstance(topics[0], str):
        return None
    topic0 = topics[0].lower()
    protocol = _TOPICS.get(topic0)
    if protocol is None:
        return None
    txid = str(log.get("transactionHash") or receipt.get("transactionHash") or "").lower()
    try:
        venue = parse_address(log.get("address"), f"address of a log of {txid}")
        if protocol == "weth" and venue not in weth:
            return None
        log_index = parse_quantity(log.get("logIndex"), f"logIndex of a log of {txid}")
        data = log.get("data")
        if not isinstance(data, str) or not data.startswith("0x") or len(data) % 2:
            raise MalformedResponseError(f"data {data!r} is not hex bytes")
        int(data[2:] or "0", 16)
    except (MalformedResponseError, ValueError) as exc:
        stats.conversion_warnings.append(ConversionWarning(txid, None, protocol, None, f"undecodable log: {exc}"))
        return None
    return _Event(txid, log_index, topic0, venue, topics, data[2:])


def _legs(transfers: pl.DataFrame, txids: Iterable[str]) -> dict[str, list[_Leg]]:
    """Value-carrying rows (native, token without token id, internal) of ``txids``, per transaction."""
    rows = transfers.filter(
        pl.col("txid").is_in(list(txids)) & pl.col("kind").is_in(_LEG_KINDS) & pl.col("token_id").is_null()
    )
    out: dict[str, list[_Leg]] = defaultdict(list)
    for row in rows.iter_rows(named=True):
        path = row["trace_path"]
        if row["kind"] == "internal":
            order = (1, *(int(p) for p in str(path).split(".") if p.isdigit()))
        else:
            order = (0,) if row["kind"] == "native" else (2, row["log_index"])
        out[row["txid"]].append(_Leg(row, row["kind"], row["log_index"], path, row["asset"], row["from_address"],
                                     row["to_address"], join_from_frame(row["value"], row["value_overflow"]), order))
    for legs in out.values():
        legs.sort(key=lambda leg: leg.order)
    return out


def _words(event: _Event, topics: int, words: int, name: str) -> list[int]:
    if len(event.topics) != topics or len(event.body) != words * _WORD:
        raise _Unbalanced(f"does not decode as {name}: {len(event.topics)} topics and {len(event.body) // 2} data "
                          f"bytes, expected {topics} and {words * 32}")
    return [int(event.body[i * _WORD : (i + 1) * _WORD], 16) for i in range(words)]


def _topic_address(event: _Event, index: int) -> str:
    topic = event.topics[index]
    if not isinstance(topic, str) or not _TOPIC_ADDRESS.fullmatch(topic):
        raise _Unbalanced(f"topic {index} is not an address: {topic!r}")
    return parse_address("0x" + topic[-40:], "topic address")


def _signed(word: int) -> int:
    return word - (1 << 256) if word >> 255 else word


class _Matcher:
    """Matches the events of one transaction, in log order, to its rows (each row is the in-leg of at
    most one conversion and the out-leg of at most one)."""

    def __init__(self, legs: list[_Leg]) -> None:
        self.legs = legs
        self.used_in: set[int] = set()
        self.used_out: set[int] = set()

    def convert(self, event: _Event, protocol: str,
                pools: Mapping[str, tuple[str, str] | str | None]) -> dict[str, Any]:
        venue = event.venue
        if protocol == "weth":
            deposit = event.topic0 == WETH_DEPOSIT_TOPIC
            (wad,) = _words(event, 2, 1, "a WETH9 " + ("Deposit" if deposit else "Withdrawal"))
            who = _topic_address(event, 1)
            _fits(wad, wad)
            if wad == 0:
                raise _Unbalanced("zero amount: nothing converted")
            if deposit:
                leg = self._first(lambda g: g.kind != "token" and g.asset == NATIVE_ASSET and g.recipient == venue
                                  and g.sender == who and g.value == wad, self.used_in,
                                  f"no native or internal transfer of {wad} wei from {who} into {venue}")
                return _row(event, protocol, who, who, NATIVE_ASSET, wad, venue, wad, leg, None)
            leg = self._first(lambda g: g.kind == "internal" and g.asset == NATIVE_ASSET and g.sender == venue
                              and g.recipient == who and g.value == wad, self.used_out,
                              f"no internal transfer of {wad} wei from {venue} to {who} (traces missing?)")
            return _row(event, protocol, who, who, venue, wad, NATIVE_ASSET, wad, None, leg)
        if protocol == "uniswap_v2":
            a0_in, a1_in, a0_out, a1_out = _words(event, 3, 4, "a Uniswap V2 Swap")
            to: str | None = _topic_address(event, 2)
            tokens = self._tokens(pools, venue)
            if a0_in and not a1_in and a1_out and not a0_out:
                asset_in, value_in, asset_out, value_out = tokens[0], a0_in, tokens[1], a1_out
            elif a1_in and not a0_in and a0_out and not a1_out:
                asset_in, value_in, asset_out, value_out = tokens[1], a1_in, tokens[0], a0_out
            else:
                raise _Unbalanced(f"does not balance: amount0In={a0_in} amount1In={a1_in} amount0Out={a0_out} "
                                  f"amount1Out={a1_out} (one token in and the other out expected)")
        else:
            w0, w1, _, _, _ = _words(event, 3, 5, "a Uniswap V3 Swap")
            a0, a1 = _signed(w0), _signed(w1)
            to = _topic_address(event, 2)
            tokens = self._tokens(pools, venue)
            if a0 > 0 > a1:
                asset_in, value_in, asset_out, value_out = tokens[0], a0, tokens[1], -a1
            elif a1 > 0 > a0:
                asset_in, value_in, asset_out, value_out = tokens[1], a1, tokens[0], -a0
            else:
                raise _Unbalanced(f"does not balance: amount0={a0} amount1={a1} (one positive, one negative expected)")
        _fits(value_in, value_out)
        before = event.log_index
        in_leg = self._nearest(lambda g: g.asset == asset_in and g.recipient == venue and g.value == value_in
                               and g.log_index is not None and g.log_index < before, self.used_in,
                               f"no transfer of exactly {value_in} of {asset_in} into the pool before the event")
        out_leg = self._nearest(lambda g: g.asset == asset_out and g.sender == venue and g.value == value_out
                                and g.recipient == to and g.log_index is not None and g.log_index < before,
                                self.used_out,
                                f"no transfer of exactly {value_out} of {asset_out} from the pool to {to} before "
                                "the event")
        # a chained swap's in-leg is the previous swap's out-leg: trader = that swap's recipient
        trader = str(in_leg.recipient) if id(in_leg) in self.used_out else in_leg.sender
        self.used_in.add(id(in_leg))
        self.used_out.add(id(out_leg))
        return _row(event, protocol, trader, str(out_leg.recipient), asset_in, value_in, asset_out, value_out,
                    in_leg, out_leg)

    @staticmethod
    def _tokens(pools: Mapping[str, tuple[str, str] | str | None], venue: str) -> tuple[str, str]:
        if venue not in pools:
            raise _Unbalanced("the pool's token0/token1 were not resolved")
        tokens = pools[venue]
        if tokens is None:
            raise _Unbalanced("the pool's token0()/token1() could not be read (not a Uniswap pool?)")
        if isinstance(tokens, str):  # the caller's reason not to take this contract for a pool
            raise _Unbalanced(tokens)
        return tokens

    def _first(self, wanted: Callable[[_Leg], bool], used: set[int], missing: str) -> _Leg:
        for leg in self.legs:
            if id(leg) not in used and wanted(leg):
                used.add(id(leg))
                return leg
        raise _Unbalanced(missing)

    def _nearest(self, wanted: Callable[[_Leg], bool], used: set[int], missing: str) -> _Leg:
        for leg in reversed(self.legs):
            if leg.kind == "token" and id(leg) not in used and wanted(leg):
                return leg
        raise _Unbalanced(missing)


def _fits(value_in: int, value_out: int) -> None:
    if max(value_in, value_out) >= FRAME_DECIMAL_LIMIT:
        raise _Unbalanced(f"amount {max(value_in, value_out)} is 10**38 or more (beyond the conversions frame)")


def _row(event: _Event, protocol: str, trader: str, recipient: str, asset_in: str, value_in: int, asset_out: str,
         value_out: int, in_leg: _Leg | None, out_leg: _Leg | None) -> dict[str, Any]:
    where = in_leg or out_leg
    if where is None:
        raise ValueError("a conversion needs at least one leg")
    block = where.row
    return {
        "chain": block["chain"], "txid": event.txid, "block_height": block["block_height"],
        "block_hash": block["block_hash"], "tx_index": block["tx_index"], "timestamp": block["timestamp"],
        "log_index": event.log_index, "protocol": protocol, "venue": event.venue, "trader": trader,
        "recipient": recipient, "asset_in": asset_in, "value_in": Decimal(value_in), "asset_out": asset_out,
        "value_out": Decimal(value_out),
        "in_kind": in_leg.kind if in_leg else None, "in_log_index": in_leg.log_index if in_leg else None,
        "in_trace_path": in_leg.trace_path if in_leg else None,
        "out_kind": out_leg.kind if out_leg else None, "out_log_index": out_leg.log_index if out_leg else None,
        "out_trace_path": out_leg.trace_path if out_leg else None,
        "source": block["source"],
    }
