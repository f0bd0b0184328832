# SPDX-License-Identifier: Apache-2.0
"""Tracing through swaps and wrapping: taint given in one asset continues in the asset received.

The chain below is the route of a launderer who receives stolen USDT, swaps it for ETH through a
Uniswap V2 router (the pair pays WETH to the router, the router unwraps it and pays the ETH on),
wraps part of the ETH and pays the WETH to an exchange. Every amount is checked by hand in the
comments. The engine must follow the value across both conversions and through the router (a
relay: credited and debited the same amount in one transaction), end the USDT as ``converted``
at the pair, and still reconcile every asset exactly under every value-conserving model.
"""

from __future__ import annotations

import pytest

from tests.tracer.chain_builder import AccountChain, endings_of
from tracer.conversion_routes import routes
from tracer.frontier import Direction, FrameFrontier
from tracer.report import model_totals
from tracer.schema import FrameSet
from tracer.taint import Model
from tracer.trace import Seed, TraceResult, TraceSpec, reconcile, trace

USDT, WETH = "0xUSDT", "0xWETH"


@pytest.fixture()
def route() -> tuple[AccountChain, str]:
    chain = AccountChain()
    chain.send("F", "L", 1000)  # the launderer's own (clean) ETH, for gas
    theft = chain.send("S", "L", 1000, asset=USDT)  # the stolen USDT (token log 0): the seed
    swap = chain.send("L", "P", 1000, asset=USDT, fee=5)  # in-leg: L -> pair (log 0)
    chain.send("P", "R", 400, asset=WETH, same_tx=True)  # out-leg: pair -> router, WETH (log 1)
    chain.send("W", "R", 400, kind="internal", trace_path="0.3", same_tx=True)  # WETH.withdraw pays the router
    chain.send("R", "L", 400, kind="internal", trace_path="0.4", same_tx=True)  # the router pays the ETH on
    chain.convert(swap, 2, "uniswap_v2", "P", "L", "R", (USDT, 1000), (WETH, 400), ("token", 0, None),
                  ("token", 1, None))
    chain.convert(swap, 3, "weth", WETH, "R", "R", (WETH, 400), ("native", 400), None, ("internal", None, "0.3"))
    wrap = chain.send("L", WETH, 300, fee=5)  # WETH.deposit with 300 wei of ETH
    chain.convert(wrap, 0, "weth", WETH, "L", "L", ("native", 300), (WETH, 300), ("native", None, None), None)
    chain.send("L", "X", 300, asset=WETH, fee=5)  # paid to the exchange
    chain.tag("X", "Exchange", "exchange")
    return chain, theft


def _trace(chain: AccountChain, seed: Seed, model: Model, frames: FrameSet | None = None,
           direction: Direction = Direction.FORWARD) -> TraceResult:
    frontier = FrameFrontier(frames if frames is not None else chain.frames())
    spec = TraceSpec(chain=chain.chain, account_model=True, seeds=(seed,), model=model, direction=direction,
                     coverage=chain.coverage())
    return trace(spec, frontier, frontier.tags)


def _by_asset(result: TraceResult) -> dict[tuple[str, str, str | None], int]:
    out: dict[tuple[str, str, str | None], int] = {}
    for row in result.endings.iter_rows(named=True):
        key = (row["asset"], row["ending"], row["address"])
        out[key] = out.get(key, 0) + int(row["amount"])
    return out


def test_haircut_follows_usdt_through_the_swap_the_router_and_the_wrap_to_the_exchange(route) -> None:
    chain, theft = route
    result = _trace(chain, Seed(txid=theft, index="0"), Model.HAIRCUT)
    # USDT: all 1000 given to the pair; ETH: 400 tainted arrive at L (995 clean there), the gas of the
    # wrap takes floor(5*400/1395) = 1, the wrap floor(300*399/1390) = 86, the last gas floor(5*313/1090) = 1
    assert _by_asset(result) == {
        (USDT, "converted", "P"): 1000,
        ("native", "converted", WETH): 86,
        ("native", "fee", None): 2,
        ("native", "held", "L"): 312,
        (WETH, "entity", "X"): 86,
    }
    assert reconcile(result) == {USDT: 0, "native": 0, WETH: 0}
    assert result.totals["native"]["converted_in"] == 400 and result.totals[WETH]["converted_in"] == 86
    assert "converted_in" not in result.totals[USDT]


def test_each_conversion_is_a_hop_with_every_step_as_evidence(route) -> None:
    chain, theft = route
    result = _trace(chain, Seed(txid=theft, index="0"), Model.HAIRCUT)
    hops = result.hops.filter(result.hops["kind"] == "conversion").to_dicts()
    assert [(h["from_address"], h["to_address"], h["asset"], h["value"], h["taint"]) for h in hops] == [
        ("L", "L", "native", "400", "400"), ("L", "L", WETH, "300", "86")]
    steps = result.conversions.to_dicts()
    assert [(s["hop_id"], s["step"], s["kind"], s["venue"], s["from_address"], s["to_address"], s["asset_in"],
             s["value_in"], s["taint_in"], s["asset_out"], s["value_out"], s["taint_out"]) for s in steps] == [
        (hops[0]["hop_id"], 0, "uniswap_v2", "P", "L", "R", USDT, "1000", "1000", WETH, "400", "400"),
        (hops[0]["hop_id"], 1, "weth", WETH, "R", "R", WETH, "400", "400", "native", "400", "400"),
        (hops[0]["hop_id"], 2, "transfer", None, "R", "L", "native", "400", "400", "native", "400", "400"),
        (hops[1]["hop_id"], 0, "weth", WETH, "L", "L", "native", "300", "86", WETH, "300", "86"),
    ]
    # the exchange deposit links back through the wrap to the swap
    deposit = result.hops.filter(result.hops["to_address"] == "X").row(0, named=True)
    assert deposit["previous_hop"] == hops[1]["hop_id"]
    assert all(s["txid"] and s["block_height"] for s in steps)


@pytest.mark.parametrize(("model", "exchange", "native"), [
    # FIFO: the clean ETH is older, so gas and the wrap spend it: nothing tainted reaches the exchange
    (Model.FIFO, 0, {("native", "held", "L"): 400}),
    # LIFO and TIHO: the newest / tainted ETH goes first: the wrap carries 300, each gas 5
    (Model.LIFO, 300, {("native", "fee", None): 10, ("native", "converted", WETH): 300, ("native", "held", "L"): 90}),
    (Model.TIHO, 300, {("native", "fee", None): 10, ("native", "converted", WETH): 300, ("native", "held", "L"): 90}),
])
def test_every_conserving_model_reconciles_across_conversions(route, model, exchange, native) -> None:
    chain, theft = route
    result = _trace(chain, Seed(txid=theft, index="0"), model)
    found = _by_asset(result)
    assert found.get((WETH, "entity", "X"), 0) == exchange
    assert {k: v for k, v in found.items() if k[0] == "native"} == native
    assert found[(USDT, "converted", "P")] == 1000
    assert set(reconcile(result).values()) == {0}


def test_poison_taints_the_whole_output_of_a_tainted_conversion(route) -> None:
    chain, theft = route
    result = _trace(chain, Seed(txid=theft, index="0"), Model.POISON)
    assert _by_asset(result)[(WETH, "entity", "X")] == 300


def test_without_conversions_the_trail_ends_in_the_pool(route) -> None:
    chain, theft = route
    frames = chain.frames()
    bare = FrameSet(transactions=frames.transactions, transfers=frames.transfers, tags=frames.tags)
    result = _trace(chain, Seed(txid=theft, index="0"), Model.HAIRCUT, frames=bare)
    assert endings_of(result) == {("held", "P"): 1000}  # lost in the pair's USDT balance


def test_backward_from_the_exchange_finds_the_stolen_usdt(route) -> None:
    chain, _ = route
    result = _trace(chain, Seed(address="X"), Model.HAIRCUT, direction=Direction.BACKWARD)
    assert set(reconcile(result).values()) == {0}
    found = _by_asset(result)
    # the 300 WETH came from L's wrap of 300 ETH; L's ETH before it was 995 clean + 400 from the swap,
    # so the demand reaches the swap, and through the router and the pair, the USDT that paid it
    assert found[(WETH, "converted", WETH)] == 300
    usdt = {k: v for k, v in found.items() if k[0] == USDT}
    assert sum(usdt.values()) == result.totals[USDT]["converted_in"] > 0
    assert any(k[2] == "S" for k in usdt)


def _row(log: int, sender: str, recipient: str, asset: str, amount: int) -> dict[str, object]:
    return {"txid": "0xt", "kind": "token", "log_index": log, "trace_path": None, "from_address": sender,
            "to_address": recipient, "asset": asset, "amount": amount, "block_height": 7, "tx_index": 0}


def _swap(log: int, trader: str, recipient: str, given: tuple[str, int], received: tuple[str, int],
          in_log: int, out_log: int) -> dict[str, object]:
    return {"txid": "0xt", "block_height": 7, "tx_index": 0, "log_index": log, "protocol": "uniswap_v2",
            "venue": "P", "trader": trader, "recipient": recipient, "asset_in": given[0], "value_in": given[1],
            "asset_out": received[0], "value_out": received[1], "in_kind": "token", "in_log_index": in_log,
            "in_trace_path": None, "out_kind": "token", "out_log_index": out_log, "out_trace_path": None}


def test_two_users_paid_the_same_amount_by_one_contract_are_not_told_apart_by_guessing() -> None:
    """A and B each pay the contract G 100 USDT; G swaps 100 and pays B the WETH: whose USDT it was is
    not shown by the chain, so the route starts at G, not at A or B."""
    rows = [_row(0, "A", "G", USDT, 100), _row(1, "B", "G", USDT, 100), _row(2, "G", "P", USDT, 100),
            _row(3, "P", "G", WETH, 40), _row(5, "G", "B", WETH, 40)]
    found, consumed = routes(rows, [_swap(4, "G", "G", (USDT, 100), (WETH, 40), 2, 3)])
    assert [(r.payer, r.recipient, [s.kind for s in r.steps]) for r in found] == [
        ("G", "B", ["uniswap_v2", "transfer"])]
    assert ("0xt", "token", 0, None) not in consumed and ("0xt", "token", 1, None) not in consumed


def test_a_payment_made_before_the_swap_paid_out_is_not_its_relay() -> None:
    rows = [_row(0, "C", "B", WETH, 400), _row(1, "L", "P", USDT, 1000), _row(2, "P", "C", WETH, 400)]
    found, _ = routes(rows, [_swap(3, "L", "C", (USDT, 1000), (WETH, 400), 1, 2)])
    assert [(r.payer, r.recipient) for r in found] == [("L", "C")]


def test_a_swap_whose_leg_is_a_seed_stays_plain_transfers() -> None:
    rows = [_row(1, "L", "P", USDT, 1000), _row(2, "P", "L", WETH, 400)]
    found, consumed = routes(rows, [_swap(3, "L", "L", (USDT, 1000), (WETH, 400), 1, 2)],
                             skip=frozenset({("0xt", "token", 2, None)}))
    assert found == [] and consumed == set()


def test_a_conversion_that_carries_nothing_traceable_says_so() -> None:
    """1 stolen unit among 1,000 swapped for 1 WETH: haircut carries floor(1 x 1 / 1000) = 0."""
    chain = AccountChain()
    chain.send("F", "L", 999, asset=USDT)
    theft = chain.send("S", "L", 1, asset=USDT)
    swap = chain.send("L", "P", 1000, asset=USDT)
    chain.send("P", "L", 1, asset=WETH, same_tx=True)
    chain.convert(swap, 2, "uniswap_v2", "P", "L", "L", (USDT, 1000), (WETH, 1), ("token", 0, None), ("token", 1, None))
    result = _trace(chain, Seed(txid=theft, index="0"), Model.HAIRCUT)
    assert _by_asset(result) == {(USDT, "converted", "P"): 1}
    assert any("1 conversion(s) carried no traceable share" in n and swap in n for n in result.notes)


def test_models_side_by_side_show_an_asset_only_some_of_them_reached(route) -> None:
    chain, theft = route
    results = {str(m): _trace(chain, Seed(txid=theft, index="0"), m) for m in (Model.HAIRCUT, Model.FIFO)}
    assert WETH not in results["fifo"].totals  # FIFO spends the clean ETH on the wrap: no WETH traced
    totals = model_totals(results)[WETH]
    assert (totals["haircut"]["converted_in"], totals["haircut"]["reached_entities"]) == ("86", "86")
    assert (totals["fifo"]["converted_in"], totals["fifo"]["reached_entities"], totals["fifo"]["ended"]) == (
        "0", "0", "0")
    assert model_totals(results)[USDT]["fifo"]["converted"] == "1000"


def test_token_ids_of_one_contract_are_not_mixed() -> None:
    """ERC-1155 (and ERC-721) ids are not fungible: stolen id 2 does not taint a payment of id 1."""
    chain = AccountChain()
    chain.send("F", "L", 100, asset="0xMULTI")
    chain.rows[-1]["token_id"] = "1"
    theft = chain.send("S", "L", 100, asset="0xMULTI")
    chain.rows[-1]["token_id"] = "2"
    chain.send("L", "X", 100, asset="0xMULTI")
    chain.rows[-1]["token_id"] = "1"
    result = _trace(chain, Seed(txid=theft, index="0"), Model.HAIRCUT)
    assert _by_asset(result) == {("0xMULTI#2", "held", "L"): 100}
