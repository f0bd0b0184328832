# SPDX-License-Identifier: Apache-2.0
"""The trace engine: forward and backward, UTXO and account model, typed endings that reconcile.

The chains are built by hand (``chain_builder``) and served by the reference frontier, so every
expected amount below is worked out in the comments.
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.tracer.chain_builder import AccountChain, UtxoChain
from tracer.errors import InputError
from tracer.frontier import Direction, FrameFrontier
from tracer.schema import FrameSet
from tracer.taint import MODELS, Model
from tracer.trace import Seed, TraceResult, TraceSpec, reconcile, trace


def _run(frames_chain: UtxoChain | AccountChain, **spec: object) -> TraceResult:
    """Trace the chain; the store holds all of it (every block built is covered) unless ``coverage`` says otherwise."""
    frames = frames_chain.frames()
    frontier = FrameFrontier(frames)
    seeds = spec.pop("seeds")
    spec.setdefault("coverage", frames_chain.coverage())
    return trace(
        TraceSpec(chain=frames_chain.chain, account_model=isinstance(frames_chain, AccountChain),
                  seeds=tuple(Seed(address=s) if ":" not in s else Seed(txid=s.split(":")[0], vout=int(s.split(":")[1]))
                              for s in seeds),  # type: ignore[attr-defined]
                  **spec),  # type: ignore[arg-type]
        frontier,
        frontier.tags,
    )


def _endings(result: TraceResult) -> dict[tuple[str, str | None], int]:
    out: dict[tuple[str, str | None], int] = {}
    for row in result.endings.iter_rows(named=True):
        key = (row["ending"], row["address"])
        out[key] = out.get(key, 0) + int(row["amount"])
    return out


@pytest.fixture()
def utxo() -> UtxoChain:
    """S (seed) 100_000 + U 50_000 -> P 90_000, Q 59_000 (fee 1_000); P -> E 80_000 (exchange), R 9_500."""
    c = UtxoChain()
    c.coinbase("a", [("S", 100_000)])
    c.coinbase("x", [("U", 50_000)])
    c.tx("b", [("a", 0), ("x", 0)], [("P", 90_000), ("Q", 59_000)])
    c.tx("c", [("b", 0)], [("E", 80_000), ("R", 9_500)])
    c.tag("E", "Exchange X", "exchange")
    return c


def test_forward_haircut_reaches_the_exchange_and_reconciles(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["S"], model=Model.HAIRCUT)
    # b: 100k of 150k tainted: P gets 90k*2/3 = 60_000, Q 59k*2/3 = 39_333, fee 667
    # c: 60k of 90k tainted: E gets 80k*2/3 = 53_333, R 9_500*2/3 = 6_333, fee 334
    assert _endings(result) == {
        ("entity", "E"): 53_333, ("held", "Q"): 39_333, ("held", "R"): 6_333, ("fee", None): 1_001,
    }
    assert reconcile(result) == {"native": 0}
    entity = result.endings.filter(pl.col("ending") == "entity").row(0, named=True)
    assert (entity["label"], entity["category"], entity["depth"]) == ("Exchange X", "exchange", 2)
    assert result.endings["ending"][0] == "entity"  # the largest amount is listed first


def test_every_hop_carries_its_evidence(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["S"], model=Model.HAIRCUT)
    to_exchange = result.hops.filter(pl.col("to_address") == "E").row(0, named=True)
    assert to_exchange["txid"] == UtxoChain.txid("c")
    assert (to_exchange["block_height"], to_exchange["value"], to_exchange["taint"]) == (4, "80000", "53333")
    assert to_exchange["model"] == "haircut" and to_exchange["source"] == "test"
    assert to_exchange["from_address"] == "P"
    previous = result.hops.filter(pl.col("hop_id") == to_exchange["previous_hop"]).row(0, named=True)
    assert (previous["to_address"], previous["from_address"], previous["taint"]) == ("P", "S", "60000")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # FIFO: S's 100k are units 0..99_999 of b; P takes 0..89_999 (90k tainted), Q 10k; c: E 80k, R 9_500, fee 500
        (Model.FIFO, {("entity", "E"): 80_000, ("held", "Q"): 10_000, ("held", "R"): 9_500, ("fee", None): 500}),
        # LIFO: U's 50k first, then S's: P 40k tainted (units 50k..90k), Q 59k, fee 1k; c (LIFO of one input):
        # P's units 50k..89_999 of its 90k are tainted -> E (0..79_999) gets 30k, R 9_500, fee 500
        (Model.LIFO, {("entity", "E"): 30_000, ("held", "Q"): 59_000, ("held", "R"): 9_500, ("fee", None): 1_500}),
        # TIHO: 100k to the largest output P (90k) then Q (10k); c: 90k to E (80k) then R (9_500), fee 500
        (Model.TIHO, {("entity", "E"): 80_000, ("held", "Q"): 10_000, ("held", "R"): 9_500, ("fee", None): 500}),
    ],
)
def test_forward_exact_models(utxo: UtxoChain, model: Model, expected: dict[tuple[str, str | None], int]) -> None:
    result = _run(utxo, seeds=["S"], model=model)
    assert _endings(result) == expected
    assert reconcile(result) == {"native": 0}


def test_poison_is_reported_as_not_conserving(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["S"], model=Model.POISON)
    assert _endings(result) == {("entity", "E"): 80_000, ("held", "Q"): 59_000, ("held", "R"): 9_500,
                                ("fee", None): 1_500}
    assert not result.conserving
    assert reconcile(result) == {"native": 50_000}  # U's untainted 50k became "tainted" too


def test_backward_haircut_finds_where_the_exchange_deposit_came_from(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["E"], model=Model.HAIRCUT, direction=Direction.BACKWARD)
    # c: E's 80k of c's 90k in -> input P:80_000; b: 80k of 150k: S's 100k -> 53_333, U's 50k -> 26_666,
    # 1 unit lost to rounding; a and x are coinbases: mined
    assert _endings(result) == {("mined", None): 79_999, ("rounding", None): 1}
    hops = {r["from_address"]: int(r["taint"]) for r in result.hops.iter_rows(named=True)}
    assert hops == {"P": 80_000, "S": 53_333, "U": 26_666}
    assert reconcile(result) == {"native": 0}


def test_backward_stops_at_a_tagged_source(utxo: UtxoChain) -> None:
    utxo.tag("U", "Mixer M", "mixing_service")
    result = _run(utxo, seeds=["E"], model=Model.FIFO, direction=Direction.BACKWARD)
    # FIFO: E is units 0..79_999 of c = units 0..79_999 of P = units 0..79_999 of b's inputs: all from S
    assert _endings(result) == {("mined", None): 80_000}
    result = _run(utxo, seeds=["E"], model=Model.LIFO, direction=Direction.BACKWARD)
    # LIFO: b's queue is U (0..49_999) then S; P's units 0..79_999 -> 50k from U (a mixer: stop), 30k from S
    assert _endings(result) == {("entity", "U"): 50_000, ("mined", None): 30_000}


def test_hop_limit_and_min_value_are_typed_endings(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["S"], model=Model.HAIRCUT, hops=1)
    assert _endings(result) == {("hop_limit", "P"): 60_000, ("hop_limit", "Q"): 39_333, ("fee", None): 667}
    result = _run(utxo, seeds=["S"], model=Model.HAIRCUT, min_value=50_000)
    assert _endings(result) == {("entity", "E"): 53_333, ("below_min_value", "Q"): 39_333,
                                ("below_min_value", "R"): 6_333, ("fee", None): 1_001}
    assert reconcile(result) == {"native": 0}


def test_fanout_limit_follows_the_largest_outputs_first() -> None:
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("b", [("a", 0)], [("A", 500), ("B", 300), ("C", 200)])
    c.tx("d", [("b", 0)], [("D", 500)])
    c.tx("e", [("b", 1)], [("F", 300)])
    result = _run(c, seeds=["S"], model=Model.HAIRCUT, max_fanout=1)
    assert _endings(result) == {("held", "D"): 500, ("fanout_limit", "B"): 300, ("fanout_limit", "C"): 200}


def test_outputs_without_address_and_value_returning_to_a_seed() -> None:
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.coinbase("z", [("T", 400)])
    c.tx("b", [("a", 0)], [(None, 100), ("T", 900)])  # OP_RETURN burns 100; 900 go to seed T
    result = _run(c, seeds=["S", "T"], model=Model.HAIRCUT)
    assert _endings(result) == {("no_address", None): 100, ("returned_to_seed", "T"): 900,
                                ("held", "T"): 1_300}
    # seeds: S 1_000 + T 400 + T 900 = 2_300 = 100 + 900 + 1_300
    assert reconcile(result) == {"native": 0}


def test_consolidation_of_two_paths_counts_each_unit_once() -> None:
    # S pays A and B; B's coins take one more hop; both reach one consolidation at different depths
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("b", [("a", 0)], [("A", 600), ("B", 400)])
    c.tx("c", [("b", 1)], [("B2", 400)])
    c.tx("d", [("b", 0), ("c", 0)], [("E", 1_000)])
    c.tag("E", "Exchange X", "exchange")
    for model in MODELS:
        result = _run(c, seeds=["S"], model=model)
        assert _endings(result) == {("entity", "E"): 1_000}, model


def test_seed_output_and_time_window() -> None:
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000), ("S", 500)])
    c.tx("b", [("a", 0)], [("A", 1_000)])
    c.tx("c", [("b", 0)], [("B", 1_000)])  # block 3, time T0 + 1_800
    result = _run(c, seeds=[f"{UtxoChain.txid('a')}:0"], model=Model.HAIRCUT, until=1_700_000_000 + 1_200)
    assert _endings(result) == {("time_window", "A"): 1_000}
    assert result.seeds["value"].to_list() == ["1000"]


def test_unknown_seed_is_a_clear_error(utxo: UtxoChain) -> None:
    with pytest.raises(InputError, match="seed NOPE has nothing to trace: it received nothing in the store"):
        _run(utxo, seeds=["NOPE"], model=Model.HAIRCUT)
    with pytest.raises(InputError, match="--hops must be at least 1"):
        _run(utxo, seeds=["S"], hops=0)


@pytest.fixture()
def account() -> AccountChain:
    """F funds seed S with 10_000; S pays fee 1, A 4_000, E 3_000; A pays B 1_000 and E 2_000.

    Token: S gets 1_000 from F and sends E 600."""
    c = AccountChain()
    c.send("F", "S", 10_000)
    c.send("S", "A", 4_000, fee=1)
    c.send("S", "E", 3_000)
    c.send("A", "B", 1_000)
    c.send("A", "E", 2_000)
    c.send("F", "S", 1_000, asset="0xtoken")
    c.send("S", "E", 600, asset="0xtoken")
    c.tag("E", "Exchange X", "exchange")
    return c


def test_account_forward_pools_per_asset(account: AccountChain) -> None:
    result = _run(account, seeds=["S"], model=Model.HAIRCUT, hops=2)
    endings = {(r["ending"], r["address"], r["asset"]): int(r["amount"]) for r in result.endings.iter_rows(named=True)}
    # S: pool of 10_000 (all seed value): fee 1, A 4_000, E 3_000 -> 2_999 held; A: B 1_000 (depth 2 = hop limit),
    # E 2_000, 1_000 held
    assert endings == {
        ("entity", "E", "native"): 5_000, ("held", "S", "native"): 2_999, ("held", "A", "native"): 1_000,
        ("hop_limit", "B", "native"): 1_000, ("fee", None, "native"): 1,
        ("entity", "E", "0xtoken"): 600, ("held", "S", "0xtoken"): 400,
    }
    assert reconcile(result) == {"native": 0, "0xtoken": 0}
    assert result.queries == 4  # two hops, receipts and payments of the new addresses each


def test_account_backward_from_an_exchange_deposit(account: AccountChain) -> None:
    account.send("G", "A", 500)  # A later receives more; that does not fund earlier payments
    result = _run(account, seeds=["E"], model=Model.FIFO, direction=Direction.BACKWARD, hops=3)
    endings = {(r["ending"], r["address"], r["asset"]): int(r["amount"]) for r in result.endings.iter_rows(named=True)}
    # E received 3_000 + 2_000 (native) and 600 tokens; FIFO takes them back through S and A (A's later
    # receipt from G funds nothing earlier) to F, whose own funding is older than the store's history
    assert endings == {("unknown_origin", "F", "native"): 5_000, ("unknown_origin", "F", "0xtoken"): 600}
    hops = {(r["from_address"], r["to_address"], r["asset"]): int(r["taint"])
            for r in result.hops.iter_rows(named=True)}
    assert hops == {("S", "E", "0xtoken"): 600, ("F", "S", "0xtoken"): 600, ("A", "E", "native"): 2_000,
                    ("S", "E", "native"): 3_000, ("S", "A", "native"): 2_000, ("F", "S", "native"): 5_000}
    assert reconcile(result) == {"native": 0, "0xtoken": 0}
    result = _run(account, seeds=["E"], model=Model.FIFO, direction=Direction.BACKWARD, hops=2)
    endings = {(r["ending"], r["address"], r["asset"]): int(r["amount"]) for r in result.endings.iter_rows(named=True)}
    assert endings == {("hop_limit", "F", "native"): 5_000, ("hop_limit", "F", "0xtoken"): 600}


def test_a_seed_named_twice_is_counted_once(utxo: UtxoChain) -> None:
    result = _run(utxo, seeds=["S", f"{UtxoChain.txid('a')}:0"], model=Model.HAIRCUT)
    assert result.seeds["value"].to_list() == ["100000"]
    assert reconcile(result) == {"native": 0}


def test_unconfirmed_parents_are_processed_before_their_children() -> None:
    # a parent and child in the mempool: no block order, and the child's txid sorts first
    c = UtxoChain()
    c.coinbase("a", [("S", 1_000)])
    c.tx("zz", [("a", 0)], [("A", 990)])
    c.tx("bb", [("zz", 0)], [("B", 980)])
    frames = c.frames()
    pending = pl.col("txid").is_in([UtxoChain.txid("zz"), UtxoChain.txid("bb")])
    txs = frames.transactions.with_columns(
        *(pl.when(pending).then(None).otherwise(pl.col(col)).alias(col)
          for col in ("block_height", "position", "block_hash")))
    frontier = FrameFrontier(FrameSet(transactions=txs, inputs=frames.inputs, outputs=frames.outputs))
    for direction, seed in ((Direction.FORWARD, "S"), (Direction.BACKWARD, "B")):
        spec = TraceSpec(chain=c.chain, account_model=False, seeds=(Seed(address=seed),), direction=direction)
        result = trace(spec, frontier, frontier.tags)
        assert reconcile(result) == {"native": 0}, direction
    forward = trace(TraceSpec(chain=c.chain, account_model=False, seeds=(Seed(address="S"),)), frontier, frontier.tags)
    # B's output is unconfirmed: no block range can prove it unspent
    assert _endings(forward) == {("unverified", "B"): 980, ("fee", None): 20}


def test_account_value_moved_after_the_window_is_a_time_window_ending() -> None:
    c = AccountChain()
    c.send("F", "S", 1_000)  # block 1
    c.send("S", "A", 600)  # block 2
    c.send("A", "B", 600)  # block 3: after --until
    c.send("S", "C", 400)  # block 4: after --until
    result = _run(c, seeds=["S"], model=Model.FIFO, until=1_700_000_000 + 12 * 2)
    assert _endings(result) == {("time_window", "A"): 600, ("time_window", "S"): 400}
    assert _endings(_run(c, seeds=["S"], model=Model.FIFO)) == {("held", "B"): 600, ("held", "C"): 400}


def test_an_address_whose_taint_rises_late_is_still_followed() -> None:
    # X first gets 10 (below --min-value 50) directly, then 300 more two hops later through A and B
    c = AccountChain()
    c.send("F", "S", 1_000)
    c.send("S", "X", 10)
    c.send("S", "A", 500)
    c.send("A", "B", 400)
    c.send("B", "X", 300)
    c.send("X", "Y", 200)
    result = _run(c, seeds=["S"], model=Model.FIFO, hops=3, min_value=50)
    endings = _endings(result)
    assert ("not_in_store", "Y") not in endings
    assert reconcile(result) == {"native": 0}
