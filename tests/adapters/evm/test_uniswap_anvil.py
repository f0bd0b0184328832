# SPDX-License-Identifier: Apache-2.0
"""Conversions on a real chain: the real Uniswap V2 factory, Router02 and WETH9 on anvil, read back
through the node adapter.

The contracts are their published npm builds (:mod:`testing.uniswap`; nothing is compiled). The
scenario is a laundering route: a seed pays USDT (6 decimals) to a launderer, who swaps it for ETH
(``swapExactTokensForETH``: the pair pays WETH to the router, the router unwraps it and sends the
ETH on), wraps the ETH again (``WETH.deposit``) and pays the WETH to an exchange; plus a two-pool
route USDT -> WETH -> TK2. The blocks are fetched with :class:`adapters.evm.node.EvmNode` (receipts,
``trace_block``, pool tokens by ``eth_call``) and the ``conversions`` rows are asserted exactly,
each leg against the ``transfers`` frame of the same fetch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from adapters.evm.node import EvmNode, FetchedBlocks
from testing import devcontracts as dc
from testing import uniswap as uni
from testing.devnodes import Anvil
from tracer.chains import default_registry
from tracer.schema import CONVERSIONS, validate

DEVNET = default_registry().get("anvil")
ETH = 10**18
USDT = 10**6


@dataclass(frozen=True)
class World:
    d: uni.Deployment
    accounts: list[str]
    route: uni.LaunderingRoute
    hop: uni.MultiHop
    fetched: FetchedBlocks


@pytest.fixture(scope="module")
def world(anvil: Anvil) -> Iterator[World]:
    with anvil.rpc() as rpc:
        acc = dc.accounts(rpc)
        start = int(rpc.call("eth_blockNumber"), 16) + 1
        d = uni.deploy_uniswap(rpc, acc[0])
        uni.add_liquidity(rpc, d, d.usdt, 500_000 * USDT, 200 * ETH)
        uni.add_liquidity(rpc, d, d.token2, 10**23, 100 * ETH)
        dc.receipt(rpc, dc.transact(rpc, "TestToken", d.usdt, "transfer", [acc[1], 100_000 * USDT], sender=acc[0]))
        route = uni.laundering_route(rpc, d, acc[1], acc[2], acc[3], usdt=25_000 * USDT)
        dc.receipt(rpc, dc.transact(rpc, "TestToken", d.usdt, "transfer", [acc[4], 1_000 * USDT], sender=acc[0]))
        hop = uni.multi_hop_swap(rpc, d, acc[4], acc[5], 1_000 * USDT)
        end = int(rpc.call("eth_blockNumber"), 16)
    with EvmNode(anvil.url, DEVNET, weth=[d.weth]) as node:
        fetched = node.fetch(list(range(start, end + 1)))
    yield World(d, acc, route, hop, fetched)


def _conversions(w: World, txid: str) -> list[dict[str, Any]]:
    keep = ["log_index", "protocol", "venue", "trader", "recipient", "asset_in", "value_in", "asset_out", "value_out",
            "in_kind", "in_log_index", "in_trace_path", "out_kind", "out_log_index", "out_trace_path"]
    return w.fetched.frames.conversions.filter(pl.col("txid") == txid.lower()).sort("log_index").select(keep).to_dicts()


def _conv(log_index: int, protocol: str, venue: str, trader: str, recipient: str, asset_in: str, value_in: int,
          asset_out: str, value_out: int, in_leg: tuple[Any, ...], out_leg: tuple[Any, ...]) -> dict[str, Any]:
    return {"log_index": log_index, "protocol": protocol, "venue": venue, "trader": trader, "recipient": recipient,
            "asset_in": asset_in, "value_in": Decimal(value_in), "asset_out": asset_out,
            "value_out": Decimal(value_out),
            "in_kind": in_leg[0], "in_log_index": in_leg[1], "in_trace_path": in_leg[2],
            "out_kind": out_leg[0], "out_log_index": out_leg[1], "out_trace_path": out_leg[2]}


NO_LEG = (None, None, None)


def test_the_router_and_the_factory_agree_on_the_pair_init_code_hash(world: World) -> None:
    assert uni.init_code_hash() == ("0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f", True)
    # the router found the pairs the factory created (else every swap above would have reverted)
    assert world.d.pair != world.d.pair2


def test_swap_for_eth_is_a_v2_swap_then_a_weth_withdrawal_by_the_router(world: World) -> None:
    d, r, launderer = world.d, world.route, world.accounts[2]
    assert _conversions(world, r.txids["swap"]) == [
        # USDT transferFrom launderer -> pair (log 0), pair pays WETH to the router (log 1), Sync, Swap
        _conv(3, "uniswap_v2", d.pair, launderer, d.router, d.usdt, 25_000 * USDT, d.weth, r.eth,
              ("token", 0, None), ("token", 1, None)),
        # router.withdraw: WETH burns the router's WETH and sends the ETH back by an internal call
        _conv(4, "weth", d.weth, d.router, d.router, d.weth, r.eth, "native", r.eth, NO_LEG, ("internal", None, "3.0")),
    ]
    relay = world.fetched.frames.transfers.filter((pl.col("txid") == r.txids["swap"].lower())
                                                  & (pl.col("kind") == "internal") & (pl.col("trace_path") == "4"))
    assert relay.select("from_address", "to_address", "value").rows() == [(d.router, launderer, Decimal(r.eth))]


def test_wrapping_is_a_weth_deposit_whose_leg_is_the_transactions_own_value(world: World) -> None:
    d, r, launderer = world.d, world.route, world.accounts[2]
    assert _conversions(world, r.txids["wrap"]) == [
        _conv(0, "weth", d.weth, launderer, launderer, "native", r.eth, d.weth, r.eth, ("native", None, None), NO_LEG)]
    paid = world.fetched.frames.transfers.filter(pl.col("txid") == r.txids["deposit_exchange"].lower())
    assert paid.filter(pl.col("kind") == "token").select("asset", "from_address", "to_address", "value").rows() == [
        (d.weth, launderer, world.accounts[3], Decimal(r.weth))]
    assert _conversions(world, r.txids["pay"]) == [] and _conversions(world, r.txids["deposit_exchange"]) == []


def test_adding_liquidity_with_eth_is_a_deposit_by_the_router(world: World) -> None:
    d = world.d
    rows = world.fetched.frames.conversions.filter(pl.col("protocol") == "weth")
    adds = rows.filter(pl.col("in_kind") == "internal").sort("block_height")
    assert adds.select("trader", "recipient", "value_in", "in_trace_path").rows() == [
        (d.router, d.router, Decimal(200 * ETH), "3"), (d.router, d.router, Decimal(100 * ETH), "3")]


def test_two_pool_route_shares_the_middle_transfer(world: World) -> None:
    d, h = world.d, world.hop
    trader, recipient = world.accounts[4], world.accounts[5]
    assert _conversions(world, h.txid) == [
        _conv(3, "uniswap_v2", d.pair, trader, d.pair2, d.usdt, h.amounts[0], d.weth, h.amounts[1],
              ("token", 0, None), ("token", 1, None)),
        # chained: pair 1 paid pair 2 directly; the trader is swap 1's recipient (pair 2)
        _conv(6, "uniswap_v2", d.pair2, d.pair2, recipient, d.weth, h.amounts[1], d.token2, h.amounts[2],
              ("token", 1, None), ("token", 4, None)),
    ]


def test_every_leg_key_is_a_transfers_row_and_nothing_was_left_unexplained(world: World) -> None:
    frames = world.fetched.frames
    validate(frames.conversions, CONVERSIONS)
    keys = set(frames.transfers.select("txid", "kind", "log_index", "trace_path").rows())
    for c in frames.conversions.to_dicts():
        for side in ("in", "out"):
            if c[f"{side}_kind"] is not None:
                assert (c["txid"], c[f"{side}_kind"], c[f"{side}_log_index"], c[f"{side}_trace_path"]) in keys
    assert world.fetched.stats.conversion_warnings == []
    assert world.fetched.stats.conversions == frames.conversions.height == 7
    assert frames.conversions.group_by("protocol").len().sort("protocol").rows() == [("uniswap_v2", 3), ("weth", 4)]


def test_without_the_weth_address_the_wrapping_events_are_not_conversions(world: World, anvil: Anvil) -> None:
    heights = sorted(set(world.fetched.heights))
    with EvmNode(anvil.url, DEVNET) as node:  # default: mainnet WETH9 only
        again = node.fetch(heights)
    assert set(again.frames.conversions["protocol"]) == {"uniswap_v2"}
    assert again.frames.transfers.equals(world.fetched.frames.transfers)
