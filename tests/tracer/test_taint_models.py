# SPDX-License-Identifier: Apache-2.0
"""Taint models on one transaction and on one address pool, with numbers checkable by hand.

Shared design notes §5: poison, haircut (floor per output, rest to the fee), FIFO / LIFO (exact
unit ranges, fee last), TIHO (tainted value to the largest outputs first, ties by index).
"""

from __future__ import annotations

import random

import pytest

from tracer.errors import InputError
from tracer.taint import CONSERVING, MODELS, Model, Pool, Ranges, amount, full, none, parse_model, split

# Two equal inputs of 50, the first tainted; outputs 60 and 30, fee 10.
EQUAL_INPUTS = [(50, 50), (50, 0)]


@pytest.mark.parametrize(
    ("model", "outputs", "fee"),
    [
        (Model.POISON, [60, 30], 10),  # everything downstream of taint is tainted
        (Model.HAIRCUT, [30, 15], 5),  # 60*50//100, 30*50//100; the fee keeps the rest
        (Model.FIFO, [50, 0], 0),  # units 0..49 are tainted and fill the first output
        (Model.LIFO, [10, 30], 10),  # the untainted input goes first: units 50..99 are tainted
        (Model.TIHO, [50, 0], 0),  # all 50 tainted units to the largest output
    ],
)
def test_equal_inputs_under_every_model(model: Model, outputs: list[int], fee: int) -> None:
    ins = [(value, full(model, t) if t else none(model, value)) for value, t in EQUAL_INPUTS]
    out, fee_taint = split(model, ins, [60, 30], 10)
    assert [amount(t) for t in out] == outputs
    assert amount(fee_taint) == fee


def test_fifo_keeps_exact_unit_ranges_across_several_tainted_inputs() -> None:
    # input A (10 units, units 2..4 tainted), input B (10 units, all tainted); outputs 7 and 13
    out, fee = split(Model.FIFO, [(10, Ranges(10, ((2, 5),))), (10, Ranges.whole(10))], [7, 13], 0)
    assert out == [Ranges(7, ((2, 5),)), Ranges(13, ((3, 13),))]
    assert amount(fee) == 0


def test_lifo_reverses_the_input_queue_but_not_the_outputs() -> None:
    out, fee = split(Model.LIFO, [(10, Ranges.whole(10)), (10, Ranges(10))], [5, 12], 3)
    # queue: input 2 (untainted) 0..9, input 1 (tainted) 10..19; output 1 takes 0..4, output 2 5..16
    assert [amount(t) for t in out] == [0, 7]
    assert fee == Ranges(3, ((0, 3),))


def test_haircut_rounds_down_per_output_and_the_fee_absorbs_the_rest() -> None:
    # 1 tainted unit of 7 spread over three outputs of 2: floor(2/7) = 0 each; the unit goes to the fee
    out, fee = split(Model.HAIRCUT, [(3, 1), (4, 0)], [2, 2, 2], 1)
    assert out == [0, 0, 0]
    assert fee == 1


def test_haircut_with_unequal_inputs_and_dust_output() -> None:
    # 100_000 of 150_000 tainted; outputs 90_000 / 59_454 / 546 (dust); fee 0
    out, fee = split(Model.HAIRCUT, [(100_000, 100_000), (50_000, 0)], [90_000, 59_454, 546], 0)
    assert out == [60_000, 39_636, 364]
    assert fee == 0


def test_tiho_ties_go_to_the_lower_output_index() -> None:
    out, fee = split(Model.TIHO, [(13, 7)], [5, 5, 3], 0)
    assert out == [5, 2, 0]
    assert fee == 0


def test_tiho_excess_goes_to_the_fee() -> None:
    out, fee = split(Model.TIHO, [(10, 10)], [4, 4], 2)
    assert out == [4, 4]
    assert fee == 2


def test_no_taint_in_means_no_taint_out() -> None:
    for model in MODELS:
        out, fee = split(model, [(10, none(model, 10))], [9], 1)
        assert [amount(t) for t in out] == [0] and amount(fee) == 0


def test_inconsistent_transaction_is_refused() -> None:
    with pytest.raises(InputError, match="inconsistent"):
        split(Model.HAIRCUT, [(10, 10)], [11], 0)


def test_conserving_models_never_create_or_lose_a_unit() -> None:
    rng = random.Random(20261123)
    for _ in range(300):
        ins_values = [rng.randint(1, 10**6) for _ in range(rng.randint(1, 5))]
        outs = [rng.randint(1, 10**5) for _ in range(rng.randint(1, 6))]
        fee = sum(ins_values) - sum(outs)
        if fee < 0:
            continue
        for model in CONSERVING:
            ins = [(v, full(model, v) if rng.random() < 0.5 else none(model, v)) for v in ins_values]
            out, fee_taint = split(model, ins, outs, fee)
            assert sum(amount(t) for t in out) + amount(fee_taint) == sum(amount(t) for _, t in ins)
            assert all(amount(t) <= v for t, v in zip(out, outs, strict=True))


def test_amounts_are_exact_for_uint256() -> None:
    big = 2**256 - 1
    out, fee = split(Model.HAIRCUT, [(big, big // 3)], [big - 1], 1)
    assert out == [(big - 1) * (big // 3) // big]
    assert amount(out[0]) + amount(fee) == big // 3


class TestAccountPool:
    """An address is a pool over time: receipts in, payments out (shared design notes §5)."""

    def test_haircut_pays_the_tainted_share_and_keeps_rounding_in_the_pool(self) -> None:
        pool = Pool(Model.HAIRCUT)
        pool.receive(100, 40)
        pool.receive(100, 0)
        assert pool.pay(50) == 10  # 50 * 40 / 200
        assert pool.pay(149) == 29  # 149 * 30 // 150
        assert (pool.balance, pool.tainted) == (1, 1)

    def test_fifo_pays_the_oldest_receipt_first(self) -> None:
        pool = Pool(Model.FIFO)
        pool.receive(100, Ranges.whole(100))
        pool.receive(100, Ranges(100))
        assert amount(pool.pay(150)) == 100
        assert amount(pool.pay(50)) == 0

    def test_lifo_pays_the_newest_receipt_first(self) -> None:
        pool = Pool(Model.LIFO)
        pool.receive(100, Ranges.whole(100))
        pool.receive(100, Ranges(100))
        assert amount(pool.pay(150)) == 50
        assert amount(pool.pay(50)) == 50

    def test_tiho_pays_taint_first(self) -> None:
        pool = Pool(Model.TIHO)
        pool.receive(100, 30)
        pool.receive(100, 0)
        assert pool.pay(20) == 20
        assert pool.pay(20) == 10
        assert pool.tainted == 0

    def test_poison_taints_every_payment_until_the_pool_is_empty(self) -> None:
        pool = Pool(Model.POISON)
        pool.receive(100, 1)
        pool.receive(100, 0)
        assert pool.pay(150) == 150
        assert pool.pay(50) == 50
        pool.receive(10, 0)
        assert pool.pay(10) == 0

    def test_paying_more_than_the_known_balance_invents_no_taint(self) -> None:
        pool = Pool(Model.HAIRCUT)
        pool.receive(10, 10)
        assert pool.pay(30) == 10
        assert pool.shortfall == 20


def test_model_names_are_checked() -> None:
    assert parse_model(" FIFO ") is Model.FIFO
    with pytest.raises(InputError, match="known models: poison, haircut, fifo, lifo, tiho"):
        parse_model("fofi")
