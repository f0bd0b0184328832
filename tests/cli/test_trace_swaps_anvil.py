# SPDX-License-Identifier: Apache-2.0
"""``tracer trace`` through a real Uniswap V2 swap and WETH wrapping, end to end on anvil.

The route a launderer takes with stolen USDT: swap it for ETH through Uniswap V2's Router02
(``swapExactTokensForETH``: the pair pays WETH to the router, the router unwraps it and sends the
ETH on), wrap the ETH with WETH9 and pay the WETH to an exchange. The contracts are the published
build artifacts (npm ``@uniswap/v2-core``, ``@uniswap/v2-periphery``, ``canonical-weth``), deployed
on a private anvil; the blocks go through ``tracer ingest evm`` into the case's store. Every
conserving model must follow the value from the seed's USDT payment to the exchange's WETH, and
reconcile each asset exactly. The expected amounts are derived here, model by model, from the
chain's own numbers (the swap's output and the launderer's gas fees from the receipts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from eth_utils import to_checksum_address

from testing import devcontracts as dc
from testing.devnodes import Anvil
from testing.uniswap import (
    Deployment,
    LaunderingRoute,
    MultiHop,
    add_liquidity,
    deploy_uniswap,
    laundering_route,
    multi_hop_swap,
)
from tests.conftest import Cli

CHAIN = "eth-devnet"
FUNDING = 10**18  # the launderer's own (clean) ETH for gas: 1 ETH


@dataclass(frozen=True)
class Story:
    node: Anvil
    uniswap: Deployment
    route: LaunderingRoute
    seed: str
    launderer: str
    exchange: str
    fees: dict[str, int]  # the launderer's gas fee per transaction (wei)
    wrap_fee_parts: tuple[int, int]  # the wrap's fee as its two payments: burned base fee, then the miner's tip
    tip: int
    aggregated: MultiHop  # a second theft swapped USDT -> WETH -> TK2 through both pairs in one transaction
    aggregated_pay: str
    aggregated_holder: str


def _fee(rpc: Any, txid: str) -> int:
    found = dc.receipt(rpc, txid)
    return int(found["gasUsed"], 16) * int(found["effectiveGasPrice"], 16)


def _fee_parts(rpc: Any, txid: str) -> tuple[int, int]:
    """EIP-1559: the base fee is burned, the rest goes to the block's miner (two fee rows)."""
    found = dc.receipt(rpc, txid)
    base = int(rpc.call("eth_getBlockByNumber", found["blockNumber"], False)["baseFeePerGas"], 16)
    gas, price = int(found["gasUsed"], 16), int(found["effectiveGasPrice"], 16)
    return gas * base, gas * (price - base)


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    node = Anvil.start()
    try:
        with node.rpc() as rpc:
            uniswap = deploy_uniswap(rpc)
            add_liquidity(rpc, uniswap, uniswap.usdt, 500_000 * 10**6, 200 * 10**18)  # 2,500 USDT per ETH
            seed, launderer, exchange = (to_checksum_address("0x" + w * 10) for w in ("5eed", "1a0d", "e8c0"))
            rpc.call("anvil_autoImpersonateAccount", True)
            deployer = uniswap.deployer
            for who in (seed, launderer):
                dc.receipt(rpc, dc.send(rpc, deployer, who, value=FUNDING))
            dc.receipt(rpc, dc.transact(rpc, "TestToken", uniswap.usdt, "transfer", [seed, 25_000 * 10**6],
                                        sender=deployer))
            route = laundering_route(rpc, uniswap, seed, launderer, exchange)
            fees = {name: _fee(rpc, route.txids[name]) for name in ("approve", "swap", "wrap", "deposit_exchange")}
            parts = _fee_parts(rpc, route.txids["wrap"])
            # a second theft: the trader swaps it through both pairs in one transaction (the router sends
            # pair 1's WETH straight into pair 2), paying the TK2 to a holder
            add_liquidity(rpc, uniswap, uniswap.token2, 10**24, 100 * 10**18)
            trader, holder = (to_checksum_address("0x" + w * 10) for w in ("7ade", "401d"))
            dc.receipt(rpc, dc.send(rpc, deployer, trader, value=FUNDING))
            pay2 = dc.transact(rpc, "TestToken", uniswap.usdt, "transfer", [trader, 5_000 * 10**6], sender=deployer)
            dc.receipt(rpc, pay2)
            aggregated = multi_hop_swap(rpc, uniswap, trader, holder, 5_000 * 10**6)
            tip = int(rpc.call("eth_blockNumber"), 16)
        yield Story(node, uniswap, route, seed, launderer, exchange, fees, parts, tip, aggregated, pay2, holder)
    finally:
        node.stop()


@pytest.fixture()
def case(cli: Cli, tracer_home: Path, tmp_path: Path, story: Story) -> str:
    tracer_home.mkdir(parents=True, exist_ok=True)
    # the anvil WETH9 and Uniswap factory are declared the way a user declares those of a chain
    (tracer_home / "config.toml").write_text(f'[conversions.weth]\n"{CHAIN}" = ["{story.uniswap.weth}"]\n'
                                             f'[conversions.factories]\n"{CHAIN}" = ["{story.uniswap.factory}"]\n')
    assert cli("case", "create", "op-swap").exit_code == 0
    exchanges = tmp_path / "exchange.txt"
    exchanges.write_text(story.exchange + "\n")
    assert cli("tags", "import", str(exchanges), "--format", "list", "--chain", CHAIN, "--label", "Exchange Z",
               "--category", "exchange", "--source", "production order 2026/91").exit_code == 0
    summary = cli.json("ingest", "evm", "--chain", CHAIN, "--node", story.node.url, "--case", "op-swap",
                       "--from", "0", "--to", str(story.tip))
    # each addLiquidityETH wraps the ETH it adds; the swap unwraps; the launderer wraps; two pools route
    assert summary["conversions"] == {"uniswap_v2": 3, "weth": 4} and summary["warnings"] == []
    return "op-swap"


def _expected_at_exchange(story: Story, model: str) -> int:
    """The WETH the exchange received that each model attributes to the stolen USDT (wei).

    The launderer's ETH pool before the wrap: the clean funding less two gas fees, then the swap's
    whole output (all of it tainted: all the USDT swapped was stolen). The wrap transaction's fee
    is paid first (the fee is taken before the call runs), then the wrap of ``route.eth``."""
    eth, fees = story.route.eth, story.fees
    clean = FUNDING - fees["approve"] - fees["swap"]
    if model in ("tiho", "lifo"):  # taint leaves first: the wrap fee takes some, the wrap the rest
        return eth - fees["wrap"]
    if model == "fifo":  # the clean funding leaves first: the fee, then the start of the wrap
        return eth - (clean - fees["wrap"])
    balance, tainted = clean + eth, eth  # haircut: in proportion, rounded down at each payment
    for part in story.wrap_fee_parts:  # the burned part, then the miner's (their order in the store)
        tainted -= part * tainted // balance
        balance -= part
    return eth * tainted // balance


@pytest.mark.parametrize("model", ["haircut", "fifo", "lifo", "tiho"])
def test_stolen_usdt_is_followed_through_the_swap_and_the_wrap_to_the_exchange(
        cli: Cli, case: str, story: Story, model: str) -> None:
    pay = story.route.txids["pay"]
    data = cli.json("trace", case, "--seed", f"{pay}:0", "--chain", CHAIN, "--model", model)
    totals = data["totals"]
    usdt, weth = story.uniswap.usdt, story.uniswap.weth
    assert all(row["reconciled"] for row in totals.values()), totals
    # all 25,000 USDT went into the pair and came out as the swap's ETH, which all entered the ETH pool
    assert totals[usdt]["seed_value"] == str(story.route.usdt) and totals[usdt]["converted"] == str(story.route.usdt)
    assert totals["native"]["converted_in"] == str(story.route.eth)
    exchange = [e for e in data["endings"] if e["address"] == story.exchange]
    assert [(e["ending"], e["asset"], e["label"]) for e in exchange] == [("entity", weth, "Exchange Z")]
    assert int(exchange[0]["amount"]) == _expected_at_exchange(story, model)
    assert totals[weth]["converted_in"] == exchange[0]["amount"]
    # the evidence path from the exchange back to the seed's payment: payment, swap route, wrap, deposit
    path = exchange[0]["path"]
    assert [h["txid"] for h in path] == [story.route.txids[n] for n in ("pay", "swap", "wrap", "deposit_exchange")]
    assert [h["kind"] for h in path] == ["token", "conversion", "conversion", "token"]


def test_the_swap_route_is_kept_as_evidence_and_shown_in_the_report(cli: Cli, case: str, story: Story,
                                                                    tracer_home: Path) -> None:
    pay = story.route.txids["pay"]
    data = cli.json("trace", case, "--seed", f"{pay}:0", "--chain", CHAIN, "--model", "haircut")
    run = Path(data["directory"])
    steps = pl.read_parquet(run / "conversions.parquet").sort("hop_id", "step").to_dicts()
    swap = [s for s in steps if s["txid"] == story.route.txids["swap"]]
    # the pair pays WETH to the router, the router unwraps it, the router pays the ETH on
    assert [(s["kind"], s["from_address"], s["to_address"], s["asset_in"], s["asset_out"]) for s in swap] == [
        ("uniswap_v2", story.launderer, story.uniswap.router, story.uniswap.usdt, story.uniswap.weth),
        ("weth", story.uniswap.router, story.uniswap.router, story.uniswap.weth, "native"),
        ("transfer", story.uniswap.router, story.launderer, "native", "native"),
    ]
    assert swap[0]["venue"] == story.uniswap.pair and swap[0]["value_in"] == swap[0]["taint_in"] == str(
        story.route.usdt)
    assert swap[-1]["value_out"] == swap[-1]["taint_out"] == str(story.route.eth)
    assert cli("case", "verify", case).exit_code == 0
    result = cli("report", case)
    assert result.exit_code == 0, result.output
    html = next((tracer_home / "cases" / case / "reports").glob("*.html")).read_text()
    assert "Conversions followed (swaps, wrapping)" in html and story.uniswap.pair in html
    eth = Decimal(story.route.eth).scaleb(-18)  # exact: wei shown in coin units
    assert f"swapped 25000 USDT for {eth} WETH at pool {story.uniswap.pair} (uniswap_v2)" in html
    assert "unwrapped" in html and "passed on" in html and "(relay inside the transaction)" in html


def test_a_route_through_two_pools_in_one_transaction_is_followed_to_the_token_received(
        cli: Cli, case: str, story: Story) -> None:
    data = cli.json("trace", case, "--seed", f"{story.aggregated_pay}:0", "--chain", CHAIN, "--model", "haircut")
    usdt_in, weth_between, tk2_out = story.aggregated.amounts
    held = [e for e in data["endings"] if e["address"] == story.aggregated_holder]
    assert [(e["ending"], e["asset"], e["amount"]) for e in held] == [("held", story.uniswap.token2, str(tk2_out))]
    assert all(row["reconciled"] for row in data["totals"].values())
    # WETH only passed between the pairs: it is neither converted into nor out of in the totals
    assert story.uniswap.weth not in data["totals"]
    steps = [h for h in held[0]["path"] if h["kind"] == "conversion"]
    assert [h["txid"] for h in steps] == [story.aggregated.txid]
    run = Path(data["directory"])
    route = pl.read_parquet(run / "conversions.parquet").sort("step").to_dicts()
    assert [(s["venue"], s["asset_in"], s["value_in"], s["asset_out"], s["value_out"]) for s in route] == [
        (story.uniswap.pair, story.uniswap.usdt, str(usdt_in), story.uniswap.weth, str(weth_between)),
        (story.uniswap.pair2, story.uniswap.weth, str(weth_between), story.uniswap.token2, str(tk2_out)),
    ]


def test_a_pool_not_made_by_a_declared_factory_is_not_taken_for_a_dex(cli: Cli, tracer_home: Path, tmp_path: Path,
                                                                     story: Story) -> None:
    """Anyone can deploy a contract that emits Swap: without its factory declared, the same pair is
    not a conversion venue, the swap stays plain transfers (with a warning naming the transaction),
    and the stolen USDT stays in the pool's balance instead of being washed into ETH."""
    tracer_home.mkdir(parents=True, exist_ok=True)
    (tracer_home / "config.toml").write_text(f'[conversions.weth]\n"{CHAIN}" = ["{story.uniswap.weth}"]\n')
    assert cli("case", "create", "op-nofactory").exit_code == 0
    summary = cli.json("ingest", "evm", "--chain", CHAIN, "--node", story.node.url, "--case", "op-nofactory",
                       "--from", "0", "--to", str(story.tip))
    assert summary["conversions"] == {"weth": 4}
    swap = [w for w in summary["warnings"] if story.route.txids["swap"] in w]
    assert len(swap) == 1 and f"created by factory {story.uniswap.factory}, not a known DEX factory" in swap[0]
    data = cli.json("trace", "op-nofactory", "--seed", f"{story.route.txids['pay']}:0", "--chain", CHAIN)
    assert [(e["ending"], e["address"], e["amount"]) for e in data["endings"] if e["asset"] == story.uniswap.usdt] \
        == [("held", story.uniswap.pair, str(story.route.usdt))]
