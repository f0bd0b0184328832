# SPDX-License-Identifier: Apache-2.0
"""Trace findings that hold up as evidence: what the engine may claim, and what it must say it cannot.

Every chain is built by hand (``chain_builder``); amounts are worked out in the comments. Blocks
are numbered from 1, one transaction per block unless a test says otherwise.
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.tracer.chain_builder import AccountChain, UtxoChain, endings_of, run_trace
from tracer.errors import InputError, IntegrityError, TracerError
from tracer.frontier import Direction
from tracer.schema import FrameSet
from tracer.taint import Model
from tracer.trace import UNRESOLVED, Ending, Seed, TraceResult, TraceSpec, reconcile


def _through(result: TraceResult, ending: str, address: str) -> int | None:
    """The ``through_block`` of the one ``ending`` row at ``address``."""
    rows = result.endings.filter((pl.col("ending") == ending) & (pl.col("address") == address))
    return rows["through_block"].item()


# -- held means proven unspent -------------------------------------------------------------------


@pytest.fixture()
def peel() -> UtxoChain:
    """S gets 1_000 (block 1); b pays A 600 and B 390, fee 10 (block 2); c moves A's 600 to C (block 3)."""
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("b", [("a", 0)], [("A", 600), ("B", 390)])
    c.tx("c", [("b", 0)], [("C", 600)])
    return c


def test_an_unspent_output_is_held_only_inside_a_complete_block_range(peel: UtxoChain) -> None:
    # the store holds blocks 0-5 completely: any spend of B (block 2) or C (block 3) up to block 5 would be there
    result = run_trace(peel, ["S"], coverage=((0, 5),))
    assert endings_of(result) == {("held", "C"): 600, ("held", "B"): 390, ("fee", None): 10}
    assert _through(result, "held", "C") == 5
    # only blocks 0-2 are complete: B is proven unspent through block 2, C (block 3) is not proven at all
    result = run_trace(peel, ["S"], coverage=((0, 2),))
    assert endings_of(result) == {("unverified", "C"): 600, ("held", "B"): 390, ("fee", None): 10}
    assert (_through(result, "held", "B"), _through(result, "unverified", "C")) == (2, None)
    assert reconcile(result) == {"native": 0}
    assert Ending.UNVERIFIED in UNRESOLVED


def test_without_coverage_nothing_unspent_is_claimed_held_and_a_note_says_why(peel: UtxoChain) -> None:
    result = run_trace(peel, ["S"])
    assert endings_of(result) == {("unverified", "C"): 600, ("unverified", "B"): 390, ("fee", None): 10}
    assert result.endings.filter(pl.col("ending") == "fee")["through_block"].to_list() == [None]
    assert reconcile(result) == {"native": 0}
    assert any(n.startswith("native: 990 base units (99.00% of the seed value) are unspent as far as the store knows")
               and "complete block ranges: none given" in n and "--fetch" in n for n in result.notes), result.notes


def test_coverage_is_evidence_not_a_parameter(peel: UtxoChain) -> None:
    spec = TraceSpec(chain=peel.chain, account_model=False, seeds=(Seed(address="S"),), coverage=((3, 4), (0, 2)))
    assert spec.coverage == ((0, 4),)  # adjacent inclusive ranges merge: 0-2 and 3-4 are 0-4
    assert spec.evidence() == {"coverage": [[0, 4]]}
    assert "coverage" not in spec.parameters()
    plain = TraceSpec(chain=peel.chain, account_model=False, seeds=(Seed(address="S"),))
    assert spec.parameters() == plain.parameters()
    assert (spec.covered_through(0), spec.covered_through(4), spec.covered_through(5)) == (4, 4, None)
    with pytest.raises(InputError, match="coverage interval 5-2 is not a block range"):
        TraceSpec(chain=peel.chain, account_model=False, seeds=(Seed(address="S"),), coverage=((5, 2),))


def test_an_account_balance_is_held_only_if_the_block_its_taint_arrived_in_is_covered() -> None:
    c = AccountChain()
    c.send("F", "S", 1_000)  # block 1: seed value arrives at S
    c.send("S", "A", 600)  # block 2: taint arrives at A
    c.send("A", "B", 200)  # block 3: taint arrives at B
    # FIFO: S keeps 400, A 400, B 200. Blocks 1-2 complete: S and A proven through 2, B's block 3 is not
    result = run_trace(c, ["S"], model=Model.FIFO, coverage=((1, 2),))
    assert endings_of(result) == {("held", "S"): 400, ("held", "A"): 400, ("unverified", "B"): 200}
    assert (_through(result, "held", "S"), _through(result, "held", "A")) == (2, 2)
    # blocks 2-3 complete: S's value arrived in block 1, which may hold a payment the store lacks
    result = run_trace(c, ["S"], model=Model.FIFO, coverage=((2, 3),))
    assert endings_of(result) == {("unverified", "S"): 400, ("held", "A"): 400, ("held", "B"): 200}
    assert reconcile(result) == {"native": 0}


# -- account shortfall ---------------------------------------------------------------------------


def test_a_payment_beyond_the_known_balance_is_reported_as_a_shortfall() -> None:
    c = AccountChain()
    c.send("F", "S", 1_000)  # block 1
    c.send("S", "A", 1_000)  # block 2: A's whole known balance, all tainted
    late = c.send("A", "B", 1_500)  # block 3: A pays 500 more than the store shows it held
    result = run_trace(c, ["S"], model=Model.HAIRCUT, coverage=c.coverage())
    # haircut: A pays its known 1_000 (all tainted) and 500 of unknown origin, counted untainted
    assert endings_of(result) == {("held", "B"): 1_000}
    assert reconcile(result) == {"native": 0}  # the missing 500 is not seed value
    assert result.shortfalls.select("address", "asset", "amount", "txid", "block_height").rows() == [
        ("A", "native", "500", late, 3)]
    assert any("A 500 native" in n and late in n and "lower bound" in n for n in result.notes), result.notes


def test_a_complete_history_has_no_shortfall() -> None:
    c = AccountChain()
    c.send("F", "S", 1_000)
    c.send("S", "A", 1_000)
    c.send("A", "B", 1_000)
    result = run_trace(c, ["S"], coverage=c.coverage())
    assert result.shortfalls.height == 0
    assert not any("lower bound" in n for n in result.notes)


# -- chain order ------------------------------------------------------------------------------------


def test_a_parent_and_child_in_one_block_without_positions_keep_their_order() -> None:
    # zz and bb are in block 2; the store lacks their positions, and the child bb's txid sorts first
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("zz", [("a", 0)], [("A", 990)])
    c.tx("bb", [("zz", 0)], [("B", 980)], same_block=True)
    frames = c.frames()
    frames = FrameSet(transactions=frames.transactions.with_columns(pl.lit(None, pl.Int64).alias("position")),
                      inputs=frames.inputs, outputs=frames.outputs)
    assert UtxoChain.txid("bb") < UtxoChain.txid("zz")
    forward = run_trace(c, ["S"], frames=frames, coverage=c.coverage())
    assert endings_of(forward) == {("held", "B"): 980, ("fee", None): 20}
    backward = run_trace(c, ["B"], frames=frames, model=Model.FIFO, direction=Direction.BACKWARD)
    assert endings_of(backward) == {("mined", None): 980}


@pytest.fixture()
def csv_rows() -> AccountChain:
    """One transaction imported from a CSV file: rows A -> B then B -> C, no log or transaction index.

    S pays C 100 directly, so C is reached (and its receipt B -> C read) before A is."""
    c = AccountChain()
    c.send("F", "S", 1_000)  # block 1
    c.send("S", "C", 100)  # block 2
    c.send("S", "X", 900)  # block 3
    c.send("X", "A", 900)  # block 4
    c.send("A", "B", 900, trace_path="csv:1")  # block 5, file row 1
    c.send("B", "C", 900, same_tx=True, trace_path="csv:2")  # file row 2
    return c


def _as_imported(c: AccountChain) -> FrameSet:
    frames = c.frames()
    return FrameSet(transactions=frames.transactions,
                    transfers=frames.transfers.with_columns(pl.lit(None, pl.Int64).alias("tx_index")),
                    tags=frames.tags)


def test_csv_rows_of_one_transaction_keep_their_file_order(csv_rows: AccountChain) -> None:
    # B passes on all it gets in the same transaction: nothing stays at B
    forward = run_trace(csv_rows, ["S"], frames=_as_imported(csv_rows), model=Model.FIFO,
                        coverage=csv_rows.coverage())
    assert endings_of(forward) == {("held", "C"): 1_000}
    backward = run_trace(csv_rows, ["C"], frames=_as_imported(csv_rows), model=Model.FIFO,
                         direction=Direction.BACKWARD)
    assert endings_of(backward) == {("unknown_origin", "F"): 1_000}
    assert forward.hops.filter(pl.col("to_address") == "C")["position"].to_list() == [None, "csv:2"]


# -- conservation is enforced -------------------------------------------------------------------------


def test_endings_that_do_not_add_up_are_refused_as_an_integrity_error() -> None:
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("b", [("a", 0)], [("A", 1_000)])
    # a damaged store: b's input (and so its output) claims 500 for the 1_000-unit output it spends
    frames = c.frames()
    half = pl.when(pl.col("txid") == UtxoChain.txid("b")).then(500).otherwise(pl.col("value")).alias("value")
    broken = FrameSet(transactions=frames.transactions, inputs=frames.inputs.with_columns(half),
                      outputs=frames.outputs.with_columns(half))
    # FIFO lays S's 1_000 tainted units against 500 units of input: 500 of them vanish
    with pytest.raises(IntegrityError, match=r"^the fifo trace does not conserve value .*: native: endings 500 vs "
                                             r"seed value 1000 \(500 less\)$") as caught:
        run_trace(c, ["S"], frames=broken, model=Model.FIFO)
    assert isinstance(caught.value, TracerError) and not isinstance(caught.value, InputError)


def test_poison_stays_reported_as_not_conserving(peel: UtxoChain) -> None:
    peel.coinbase("x", [("U", 400)])
    peel.tx("d", [("c", 0), ("x", 0)], [("D", 1_000)])  # 600 tainted + 400 clean: poison taints all 1_000
    result = run_trace(peel, ["S"], model=Model.POISON, coverage=peel.coverage())
    assert not result.conserving
    assert reconcile(result) == {"native": 400}
    assert any("poison taints every output" in n and "by 400 base units" in n for n in result.notes)


# -- fan-out cap on account chains --------------------------------------------------------------------


@pytest.fixture()
def fan() -> AccountChain:
    """S pays R0 200, R1 400 and R2 400; each pays everything on to X0, X1, X2."""
    c = AccountChain()
    c.send("F", "S", 1_000)
    for i, value in enumerate((200, 400, 400)):
        c.send("S", f"R{i}", value)
    for i, value in enumerate((200, 400, 400)):
        c.send(f"R{i}", f"X{i}", value)
    return c


def test_max_fanout_caps_the_recipients_an_address_is_followed_to(fan: AccountChain) -> None:
    # one recipient: the largest, R1 and R2 tie at 400 and R1 sorts first
    result = run_trace(fan, ["S"], max_fanout=1, coverage=fan.coverage())
    assert endings_of(result) == {("held", "X1"): 400, ("fanout_limit", "R2"): 400, ("fanout_limit", "R0"): 200}
    assert reconcile(result) == {"native": 0}
    assert any("--max-fanout 1 left 2 branch(es) unfollowed, 600 base units (60.00% of the seed value)" in n
               for n in result.notes), result.notes
    result = run_trace(fan, ["S"], max_fanout=2, coverage=fan.coverage())
    assert endings_of(result) == {("held", "X1"): 400, ("held", "X2"): 400, ("fanout_limit", "R0"): 200}


# -- hops without a limit -------------------------------------------------------------------------------


@pytest.fixture()
def long_chain() -> UtxoChain:
    """S's 1_000 move through H1 ... H7 to an exchange E, one hop per block, no fee."""
    c = UtxoChain()
    c.coinbase("t0", [("S", 1_000)])
    for i in range(1, 9):
        c.tx(f"t{i}", [(f"t{i - 1}", 0)], [("E" if i == 8 else f"H{i}", 1_000)])
    c.tag("E", "Exchange X", "exchange")
    return c


def test_no_hop_limit_follows_until_nothing_is_left(long_chain: UtxoChain) -> None:
    result = run_trace(long_chain, ["S"], hops=None)
    assert endings_of(result) == {("entity", "E"): 1_000}
    assert result.endings["depth"].to_list() == [8]
    assert result.spec.parameters()["hops"] is None
    assert not any("hop limit" in n for n in result.notes)


def test_a_hop_limit_that_stops_much_value_says_so(long_chain: UtxoChain) -> None:
    result = run_trace(long_chain, ["S"], hops=5)
    assert endings_of(result) == {("hop_limit", "H5"): 1_000}
    assert ("native: 1000 base units (100.00% of the seed value) stopped at the hop limit (5 hops): raise --hops or "
            "use --hops 0 for no limit") in result.notes
    with pytest.raises(InputError, match="--hops must be at least 1, got 0"):
        run_trace(long_chain, ["S"], hops=0)


def test_no_hop_limit_on_an_account_chain() -> None:
    c = AccountChain()
    c.send("F", "S", 1_000)
    for i in range(1, 8):
        c.send("S" if i == 1 else f"H{i - 1}", f"H{i}", 1_000)
    result = run_trace(c, ["S"], hops=None, coverage=c.coverage())
    assert endings_of(result) == {("held", "H7"): 1_000}
