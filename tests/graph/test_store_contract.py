# SPDX-License-Identifier: Apache-2.0
"""Graph store contract: what every backend (embedded LadybugDB, Neo4j over Bolt) guarantees.

The same tests run against each backend (``store`` fixture in ``conftest.py``). Answers are
compared with :class:`tracer.frontier.FrameFrontier`, the reference semantics over in-memory
frames, so "the store agrees with the reference" is checked value by value.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from graph.base import GraphStore
from tests.graph.sample_graph import (
    ETH,
    HOSTILE_LABEL,
    LTC,
    TOKEN,
    A,
    B,
    C,
    X,
    Y,
    Z,
    only_transactions,
    sample_frames,
)
from tracer.errors import SchemaError
from tracer.frontier import Direction, FrameFrontier, TransferFilter
from tracer.schema import FrameSet
from tracer.units import join_from_frame


def assert_same_frames(actual: FrameSet, expected: FrameSet) -> None:
    for name, frame in expected.sorted().frames().items():
        got = actual.frames()[name]
        assert got.schema == frame.schema, name
        assert got.to_dicts() == frame.to_dicts(), name


def test_schema_creation_is_idempotent_and_starts_empty(store: GraphStore) -> None:
    store.ensure_schema()
    store.ensure_schema()
    counts = store.stats()
    assert set(counts) == {
        "Address", "Transaction", "Output", "Tag", "Cluster", "Case",
        "HAS_OUTPUT", "LOCKED_TO", "SPENT_IN", "TRANSFER", "HAS_TAG", "IN_CLUSTER", "SEED",
        "BridgeEvent", "CONVERTED", "DEPOSITED", "RELEASED",  # conversions and bridge events (graph.events)
    }
    assert set(counts.values()) == {0}


def test_load_then_read_back_gives_the_same_frames(store: GraphStore) -> None:
    frames = sample_frames()
    report = store.load(frames)
    assert report.created["Transaction"] == 5
    assert report.created["Output"] == 5
    assert report.created["TRANSFER"] == 6
    assert_same_frames(store.read_frames(), frames)


def test_graph_counts_follow_the_model(store: GraphStore) -> None:
    store.load(sample_frames())
    assert store.stats() == {
        # A B C X Y Z, the token contract and the burned-fee placeholder on eth-devnet
        "Address": 8, "Transaction": 5, "Output": 5, "Tag": 2, "Cluster": 1, "Case": 1,
        "HAS_OUTPUT": 5, "LOCKED_TO": 4, "SPENT_IN": 3, "TRANSFER": 6, "HAS_TAG": 2, "IN_CLUSTER": 2, "SEED": 2,
        "BridgeEvent": 0, "CONVERTED": 0, "DEPOSITED": 0, "RELEASED": 0,
    }


def test_loading_twice_changes_nothing(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    before = store.stats()
    again = store.load(frames)
    assert again.total_created == 0
    assert again.unchanged["TRANSFER"] == 6
    assert store.stats() == before
    assert_same_frames(store.read_frames(), frames)


def test_a_load_cut_short_completes_on_rerun_without_duplicates(store: GraphStore) -> None:
    """What an interrupted load leaves behind (some batches landed) is completed by running it again."""
    frames = sample_frames()
    store.load(only_transactions(frames, {"c1", "t3", "e2"}))
    store.load(frames)
    assert store.stats()["TRANSFER"] == 6
    assert store.stats()["SPENT_IN"] == 3
    assert_same_frames(store.read_frames(), frames)


def test_an_output_first_seen_as_a_spent_prevout_is_completed_by_its_own_transaction(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(only_transactions(frames, {"t3"}))  # t2's outputs known only from t3's inputs
    assert store.read_frames().outputs.filter(pl.col("txid") == "t2").height == 0
    store.load(only_transactions(frames, {"c1", "t2"}))
    assert_same_frames(store.read_frames(), only_transactions(frames, {"c1", "t2", "t3"}))


def test_amounts_beyond_64_bits_read_back_exactly(store: GraphStore) -> None:
    store.load(sample_frames())
    transfers = store.read_frames(ETH).transfers
    amounts = {
        (row["kind"], row["from_address"]): join_from_frame(row["value"], row["value_overflow"])
        for row in transfers.to_dicts()
    }
    assert amounts[("native", Z)] == 2**64 + 1
    assert amounts[("token", X)] == 2**70
    assert amounts[("token", Y)] == 10**40
    assert amounts[("fee", X)] == 21_000 * 10**9


def test_hostile_text_is_stored_as_data(store: GraphStore) -> None:
    """Cypher is parameterized everywhere: a label that is Cypher comes back unchanged."""
    store.load(sample_frames())
    tags = store.tags(LTC, [A])
    assert tags["label"].to_list() == [HOSTILE_LABEL]
    assert store.stats()["Address"] == 8  # nothing deleted


def test_a_frame_missing_a_column_is_refused_and_the_store_left_as_it_was(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(only_transactions(frames, {"c1"}))
    before = store.stats()
    broken = FrameSet(transactions=frames.transactions, outputs=frames.outputs.drop("value"))
    with pytest.raises(SchemaError, match="outputs frame is missing column"):
        store.load(broken)
    assert store.stats() == before


def test_rows_without_their_transaction_are_refused(store: GraphStore) -> None:
    frames = sample_frames()
    with pytest.raises(SchemaError, match="no transactions row"):
        store.load(FrameSet(outputs=frames.outputs))
    assert set(store.stats().values()) == {0}


@pytest.mark.parametrize(
    ("addresses", "direction", "where"),
    [
        ([X], Direction.FORWARD, TransferFilter()),
        ([Z], Direction.BACKWARD, TransferFilter()),
        ([X, Y, Z], Direction.FORWARD, TransferFilter(since=1500)),
        ([X, Y, Z], Direction.BACKWARD, TransferFilter(until=1000)),
        ([X, Y], Direction.FORWARD, TransferFilter(min_value=10**18)),
        ([X, Y, Z], Direction.BACKWARD, TransferFilter(assets=(TOKEN,))),
        (["0x9999999999999999999999999999999999999999"], Direction.FORWARD, TransferFilter()),
    ],
)
def test_transfer_frontier_matches_the_reference(
    store: GraphStore, addresses: list[str], direction: Direction, where: TransferFilter
) -> None:
    frames = sample_frames()
    store.load(frames)
    expected = FrameFrontier(frames).transfers(ETH, addresses, direction, where)
    got = store.transfers(ETH, addresses, direction, where)
    assert got.to_dicts() == expected.to_dicts()
    assert got.schema == expected.schema


def test_transfer_frontier_values(store: GraphStore) -> None:
    store.load(sample_frames())
    out_of_x = store.transfers(ETH, [X], Direction.FORWARD)
    assert sorted(zip(out_of_x["kind"], out_of_x["to_address"], out_of_x["value"], strict=True), key=str) == sorted(
        [("native", Y, Decimal(10**18)), ("fee", None, Decimal(21_000 * 10**9)), ("token", Z, Decimal(2**70))],
        key=str,
    )


def test_utxo_forward_hop_returns_whole_spending_transactions(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    outpoints = pl.DataFrame({"txid": ["t2"], "index": [1]})  # A's change, spent in t3
    hop = store.spending(LTC, outpoints)
    assert hop.transactions["txid"].to_list() == ["t3"]
    assert hop.inputs["prev_txid"].to_list() == ["t2", "t2"]  # both inputs, not only the tainted one
    assert hop.outputs["value"].to_list() == [4_999_970_000, 0]
    assert_same_frames(hop, FrameFrontier(frames).spending(LTC, outpoints))
    assert store.spending(LTC, outpoints, TransferFilter(until=299)).transactions.height == 0


def test_utxo_backward_hop_returns_funding_transactions(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    hop = store.transactions(LTC, ["c1", "t2"])
    assert_same_frames(hop, FrameFrontier(frames).transactions(LTC, ["c1", "t2"]))
    assert hop.inputs.filter(pl.col("txid") == "c1")["prev_txid"].to_list() == [None]  # coinbase


def test_outputs_and_flows_of_an_address(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    reference = FrameFrontier(frames)
    outputs = store.address_outputs(LTC, [A])
    assert outputs.to_dicts() == reference.address_outputs(LTC, [A]).to_dicts()
    assert outputs.select("txid", "index", "spent_txid").rows() == [("c1", 0, "t2"), ("t2", 1, "t3")]
    for chain, addresses in ((LTC, [A, C]), (ETH, [Y]), (ETH, [X, Z])):
        assert store.address_flows(chain, addresses).to_dicts() == reference.address_flows(chain, addresses).to_dicts()


def test_tags_and_clusters(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    reference = FrameFrontier(frames)
    assert store.tags(ETH, [X, Y]).to_dicts() == reference.tags(ETH, [X, Y]).to_dicts()
    assert store.tags(ETH, [Y])["category"].to_list() == ["sanctioned"]
    assert store.cluster(LTC, B)["address"].to_list() == [A, B]
    assert store.cluster(LTC, C).height == 0
    assert store.cluster(LTC, A).to_dicts() == reference.cluster(LTC, A).to_dicts()


def test_reorg_removes_orphaned_blocks(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    assert store.block_hashes(LTC, 0, 10).rows() == [(1, "h1"), (2, "h2"), (3, "h3")]
    assert store.remove_blocks(LTC, 3) == 1
    assert store.block_hashes(LTC, 0, 10).rows() == [(1, "h1"), (2, "h2")]
    expected = only_transactions(frames, {"c1", "t2"})
    got = store.read_frames(LTC)
    for name in ("transactions", "inputs", "outputs"):
        assert got.frames()[name].to_dicts() == expected.frames()[name].to_dicts(), name
    assert store.address_outputs(LTC, [A])["spent_txid"].to_list() == ["t2", None]
    store.load(frames)  # the competing chain re-mined t3 in the same place
    assert_same_frames(store.read_frames(), frames)


def test_reorg_also_forgets_outputs_known_only_from_the_removed_spends(store: GraphStore) -> None:
    store.load(only_transactions(sample_frames(), {"t3"}))  # t2's outputs exist only as t3's prevouts
    assert store.stats()["Output"] == 4
    store.remove_blocks(LTC, 3)
    counts = store.stats()
    assert (counts["Output"], counts["LOCKED_TO"], counts["SPENT_IN"], counts["Transaction"]) == (0, 0, 0, 0)


def test_an_input_that_contradicts_the_stored_output_is_refused(store: GraphStore) -> None:
    """Evidence is never overwritten silently: if a spend claims another value or address for an
    output than the output's own transaction, the second load is refused and nothing changes."""
    frames = sample_frames()
    store.load(only_transactions(frames, {"c1", "t2"}))
    before = store.stats()
    t3 = only_transactions(frames, {"t3"})
    lying = FrameSet(
        transactions=t3.transactions,
        inputs=t3.inputs.with_columns(
            pl.when(pl.col("prev_index") == 0).then(pl.col("value") - 1).otherwise(pl.col("value")).alias("value")
        ),
        outputs=t3.outputs,
    )
    with pytest.raises(SchemaError, match="disagree"):
        store.load(lying)
    assert store.stats() == before
    with pytest.raises(SchemaError, match="disagree"):
        store.load(FrameSet.concat([only_transactions(frames, {"t2"}), lying]))  # inside one batch too


@pytest.mark.parametrize("minimum", [10**38, 10**40, 10**40 + 1, 2**256 - 1])
def test_minimum_values_beyond_decimal_38_compare_exactly(store: GraphStore, minimum: int) -> None:
    frames = sample_frames()
    store.load(frames)
    where = TransferFilter(min_value=minimum)
    got = store.transfers(ETH, [X, Y, Z], Direction.FORWARD, where)
    assert got.to_dicts() == FrameFrontier(frames).transfers(ETH, [X, Y, Z], Direction.FORWARD, where).to_dicts()
    assert got.height == (1 if minimum <= 10**40 else 0)  # only the 10**40 token transfer


def test_a_minimum_that_is_not_an_amount_is_refused() -> None:
    from tracer.errors import InputError

    with pytest.raises(InputError):
        TransferFilter(min_value=-1)
    with pytest.raises(InputError):
        TransferFilter(min_value=2**256)


def test_the_same_graph_on_both_sides_of_a_copy(store: GraphStore, tmp_path: object) -> None:
    """What ``tracer graph push`` does: read canonical frames from one store, load them into another."""
    from pathlib import Path

    from graph.embedded import EmbeddedStore

    assert isinstance(tmp_path, Path)
    with EmbeddedStore.open(tmp_path / "source.lbug") as source:
        source.load(sample_frames())
        store.load(source.read_frames())
        assert_same_frames(store.read_frames(), source.read_frames())
        assert store.stats() == source.stats()
