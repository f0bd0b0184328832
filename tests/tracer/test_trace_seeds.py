# SPDX-License-Identifier: Apache-2.0
"""Seeds as investigators hold them: an address's receipts, what an address sent, one movement.

A victim's address is often known only from what it sent (the victim's bank-like exchange answers
with the withdrawals): tracing "everything it sent" must reach exactly what tracing each of those
movements does. A seed that yields nothing is an error that names it.
"""

from __future__ import annotations

import pytest

from tests.tracer.chain_builder import AccountChain, UtxoChain, endings_of, run_trace
from tracer.errors import InputError
from tracer.frontier import Direction
from tracer.taint import MODELS, Model
from tracer.trace import Seed, TraceSpec, reconcile

T0_PLUS_2 = "2023-11-14T22:33:20Z"  # chain_builder's T0 (1_700_000_000) + 2 UTXO blocks of 600 s


@pytest.fixture()
def utxo_victim() -> UtxoChain:
    """V gets 1_000 (block 1) and 200 (block 2). pay (block 3): V's 1_000 -> A 600, B 300, V 90 (change),
    fee 10. fwd (block 4): A -> E 590 (an exchange), fee 10. late (block 5): V's 200 -> D 200."""
    c = UtxoChain()
    c.coinbase("a", [("V", 1_000)])
    c.coinbase("b", [("V", 200)])
    c.tx("pay", [("a", 0)], [("A", 600), ("B", 300), ("V", 90)])
    c.tx("fwd", [("pay", 0)], [("E", 590)])
    c.tx("late", [("b", 0)], [("D", 200)])
    c.tag("E", "Exchange X", "exchange")
    return c


@pytest.mark.parametrize("model", MODELS)
def test_utxo_what_an_address_sent_reaches_what_its_payments_reach(utxo_victim: UtxoChain, model: Model) -> None:
    pay, late = UtxoChain.txid("pay"), UtxoChain.txid("late")
    sent = run_trace(utxo_victim, [Seed(address="V", sent=True)], model=model, coverage=utxo_victim.coverage())
    outputs = run_trace(utxo_victim, [Seed(txid=pay, vout=0), Seed(txid=pay, vout=1), Seed(txid=late, vout=0)],
                        model=model, coverage=utxo_victim.coverage())
    # V sent 600 + 300 in pay (its 90 change is not "sent") and 200 in late
    assert endings_of(sent) == endings_of(outputs) == {
        ("entity", "E"): 590, ("fee", None): 10, ("held", "B"): 300, ("held", "D"): 200}
    assert sorted(sent.seeds.select("seed", "address", "value").rows()) == [
        ("sent:V", "A", "600"), ("sent:V", "B", "300"), ("sent:V", "D", "200")]
    assert reconcile(sent) == {"native": 0}


def test_utxo_what_an_address_sent_within_the_window(utxo_victim: UtxoChain) -> None:
    until_block_4 = 1_700_000_000 + 600 * 4
    sent = run_trace(utxo_victim, [Seed(address="V", sent=True)], until=until_block_4, coverage=utxo_victim.coverage())
    assert endings_of(sent) == {("entity", "E"): 590, ("fee", None): 10, ("held", "B"): 300}


def test_utxo_a_spend_shared_with_other_addresses_is_noted() -> None:
    c = UtxoChain()
    c.coinbase("a", [("V", 1_000)])
    c.coinbase("u", [("U", 500)])
    c.tx("pay", [("a", 0), ("u", 0)], [("A", 1_500)])
    result = run_trace(c, [Seed(address="V", sent=True)], coverage=c.coverage())
    assert endings_of(result) == {("held", "A"): 1_500}  # the whole output: what pay sent
    assert any(n.startswith("seed sent:V: 1 of its spending transactions also spend coins of other addresses")
               for n in result.notes), result.notes


@pytest.fixture()
def account_victim() -> tuple[AccountChain, list[str]]:
    """V's own funding is not in the store: it only sends. V pays A 600 (fee 1), B 300 and T 50 tokens;
    A forwards 600 and T its 50 tokens to the exchange E."""
    c = AccountChain()
    txids = [c.send("V", "A", 600, fee=1), c.send("V", "B", 300), c.send("V", "T", 50, asset="0xtoken")]
    c.send("A", "E", 600)
    c.send("T", "E", 50, asset="0xtoken")
    c.tag("E", "Exchange X", "exchange")
    return c, txids


@pytest.mark.parametrize("model", MODELS)
def test_account_what_an_address_sent_reaches_what_its_transfers_reach(
        account_victim: tuple[AccountChain, list[str]], model: Model) -> None:
    c, (to_a, to_b, token) = account_victim
    sent = run_trace(c, [Seed(address="V", sent=True)], model=model, coverage=c.coverage())
    transfers = run_trace(c, [Seed(txid=to_a), Seed(txid=to_b), Seed(txid=token, index="0")], model=model,
                          coverage=c.coverage())
    expected = {("entity", "E", "native"): 600, ("held", "B", "native"): 300, ("entity", "E", "0xtoken"): 50}
    for result in (sent, transfers):
        assert {(r["ending"], r["address"], r["asset"]): int(r["amount"])
                for r in result.endings.iter_rows(named=True)} == expected
        assert reconcile(result) == {"native": 0, "0xtoken": 0}
    # the fee V paid is not something it sent to anyone: no seed value
    assert sent.seeds.select("seed", "asset", "address", "txid", "value").rows() == [
        ("sent:V", "native", "A", to_a, "600"), ("sent:V", "native", "B", to_b, "300"),
        ("sent:V", "0xtoken", "T", token, "50")]
    assert transfers.seeds["seed"].to_list() == [to_a, to_b, f"{token}:0"]


def test_a_payment_straight_to_an_exchange_ends_there(account_victim: tuple[AccountChain, list[str]]) -> None:
    c, _ = account_victim
    paid = c.send("V", "E", 70)
    result = run_trace(c, [Seed(txid=paid)], coverage=c.coverage())
    assert result.endings.select("ending", "address", "label", "amount", "depth").rows() == [
        ("entity", "E", "Exchange X", "70", 0)]
    u = UtxoChain()
    u.coinbase("a", [("V", 1_000)])
    u.tx("pay", [("a", 0)], [("E", 990)])
    u.tag("E", "Exchange X", "exchange")
    result = run_trace(u, [Seed(address="V", sent=True)])
    assert result.endings.select("ending", "address", "amount", "depth").rows() == [("entity", "E", "990", 0)]


def test_seeds_with_nothing_to_trace_are_named(utxo_victim: UtxoChain,
                                               account_victim: tuple[AccountChain, list[str]]) -> None:
    pay = UtxoChain.txid("pay")
    with pytest.raises(InputError, match=f"^seed sent:V has nothing to trace: V sent nothing until {T0_PLUS_2}$"):
        run_trace(utxo_victim, [Seed(address="V", sent=True)], until=1_700_000_000 + 1_200)
    with pytest.raises(InputError, match=f"seed {pay}:7 has nothing to trace: no such output in the store"):
        run_trace(utxo_victim, [Seed(txid=pay, vout=7)])
    # V's last receipt is its change in block 3
    with pytest.raises(InputError, match="seed V has nothing to trace: it received nothing since 2023-11-14T22:53:20Z"):
        run_trace(utxo_victim, [Seed(address="V")], since=1_700_000_000 + 2_400)
    c, (to_a, _, _) = account_victim
    with pytest.raises(InputError, match="^seed V has nothing to trace: it received nothing in the store, it only "
                                         "sent: seed what it sent instead$"):
        run_trace(c, ["V"])
    with pytest.raises(InputError, match=rf"seed {to_a}:5 has nothing to trace: no such transfer in transaction "
                                         rf"{to_a} \(its transfers: \(the transaction's own transfer\)\)"):
        run_trace(c, [Seed(txid=to_a, index="5")])
    # every seed without value is named in one message
    with pytest.raises(InputError, match="seed NOPE has nothing to trace.*; seed 0xfeed has nothing to trace: "
                                         "transaction 0xfeed is not in the store"):
        run_trace(c, ["NOPE", Seed(txid="0xfeed"), Seed(address="V", sent=True)])


def test_seed_kinds_their_text_and_where_they_apply() -> None:
    seeds = (Seed(address="V"), Seed(address="V", sent=True), Seed(txid="ab", vout=1), Seed(txid="0xcd", index="0.1"),
             Seed(txid="0xef"))
    assert [(s.kind, s.text) for s in seeds] == [
        ("received", "V"), ("sent", "sent:V"), ("output", "ab:1"), ("transfer", "0xcd:0.1"), ("transfer", "0xef")]
    spec = TraceSpec(chain="eth", account_model=True, seeds=(seeds[1], seeds[3], seeds[0]))
    assert spec.parameters()["seeds"] == ["sent:V", "0xcd:0.1", "V"]
    for bad, message in ((dict(address="V", vout=1), "an address seed has no output number"),
                         (dict(txid="ab", sent=True), "'sent' applies to address seeds"),
                         (dict(txid="ab", vout=1, index="2"), "either an output number")):
        with pytest.raises(InputError, match=message):
            Seed(**bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="txid:vout seeds only exist on UTXO chains"):
        TraceSpec(chain="eth", account_model=True, seeds=(seeds[2],))
    with pytest.raises(InputError, match="on UTXO chains a movement seed is an output txid:vout"):
        TraceSpec(chain="btc", account_model=False, seeds=(seeds[4],))


def test_a_transfer_seed_by_call_path_or_explicit_log_index() -> None:
    c = AccountChain()
    c.send("F", "W", 1_000)
    call = c.send("W", "A", 400, kind="internal", trace_path="0")
    c.send("W", "B", 100, asset="0xtoken", same_tx=True)  # log index 0 of the same transaction
    by_path = run_trace(c, [Seed(txid=call, index="path:0")], coverage=c.coverage())
    assert endings_of(by_path) == {("held", "A"): 400}
    by_log = run_trace(c, [Seed(txid=call, index="log:0")], coverage=c.coverage())
    assert endings_of(by_log) == {("held", "B"): 100}
    with pytest.raises(InputError, match="0 is both a log index and a call path here: write log:0 or path:0"):
        run_trace(c, [Seed(txid=call, index="0")])
    assert by_path.seeds["position"].to_list() == ["0"]


def test_a_transfer_seed_traced_backward_finds_where_that_payment_came_from() -> None:
    c = AccountChain()
    c.send("F", "V", 1_000)  # older than the store's history of F
    c.send("V", "A", 600, fee=1)
    deposit = c.send("A", "E", 600)  # the exchange deposit named in a production order
    result = run_trace(c, [Seed(txid=deposit)], model=Model.FIFO, direction=Direction.BACKWARD)
    assert endings_of(result) == {("unknown_origin", "F"): 600}
    assert result.hops.select("from_address", "to_address", "taint", "depth").rows() == [
        ("A", "E", "600", 1), ("V", "A", "600", 2), ("F", "V", "600", 3)]
    assert result.seeds.select("seed", "address", "value").rows() == [(deposit, "E", "600")]


@pytest.mark.parametrize(("model", "b", "c"), [
    (Model.HAIRCUT, 100, 150),  # 250 of 1000 traced: a quarter of each payment
    (Model.FIFO, 250, 0),  # the traced units are the first ones: they leave with the first payment
    (Model.TIHO, 250, 0),
])
def test_a_transfer_seed_can_trace_only_part_of_what_it_moved(model: Model, b: int, c: int) -> None:
    """How a trace continues after a bridge: only the traced share of what crossed is seed value."""
    chain = AccountChain()
    txid = chain.send("S", "A", 1000)
    chain.send("A", "B", 400)
    chain.send("A", "C", 600)
    result = run_trace(chain, [Seed(txid=txid, index=None, taint=250)], model=model, coverage=chain.coverage())
    assert result.spec.parameters()["seeds"] == [f"{txid}@250"]
    assert result.totals["native"]["seed"] == 250 and reconcile(result) == {"native": 0}
    found = endings_of(result)
    assert (found.get(("held", "B"), 0), found.get(("held", "C"), 0)) == (b, c)


def test_a_partial_seed_cannot_trace_more_than_the_transfer_moved() -> None:
    chain = AccountChain()
    txid = chain.send("S", "A", 1000)
    with pytest.raises(InputError, match="moved 1000 base units, fewer than the 1001"):
        run_trace(chain, [Seed(txid=txid, taint=1001)])
    with pytest.raises(InputError, match="only a transfer seed traces part"):
        Seed(address="A", taint=5)
