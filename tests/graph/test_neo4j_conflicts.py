# SPDX-License-Identifier: Apache-2.0
"""A re-ingest that contradicts stored evidence is refused whole, on every backend (embedded and
Neo4j over live Bolt to ArcadeDB): transactions (block, time, fee) and transfers (recipient, amount),
as outputs already were. Nothing of the refused batch is written."""

from __future__ import annotations

import polars as pl
import pytest

from graph.base import GraphStore
from tests.graph.sample_graph import ETH, LTC, only_transactions, sample_frames
from tracer.errors import SchemaError
from tracer.schema import FrameSet


def test_a_transaction_that_moved_in_time_is_refused(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    before = store.stats()
    moved = only_transactions(frames, {"t2"})
    moved = FrameSet(transactions=moved.transactions.with_columns(pl.col("timestamp") + 60),
                     inputs=moved.inputs, outputs=moved.outputs)
    with pytest.raises(SchemaError, match=rf"transaction {LTC}:t2: timestamp stored \d+ but given \d+"):
        store.load(moved)
    assert store.stats() == before


def test_a_transaction_with_another_fee_is_refused(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    e1 = only_transactions(frames, {"e1"})
    dearer = FrameSet(transactions=e1.transactions.with_columns(pl.col("fee") + 1), transfers=e1.transfers)
    with pytest.raises(SchemaError, match=rf"transaction {ETH}:e1: fee stored"):
        store.load(dearer)


def test_a_transfer_with_another_amount_or_recipient_is_refused(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    before = store.stats()
    e1 = only_transactions(frames, {"e1"})
    native = pl.col("kind") == "native"
    more = FrameSet(transactions=e1.transactions,
                    transfers=e1.transfers.with_columns(pl.when(native).then(pl.col("value") + 1)
                                                        .otherwise(pl.col("value")).alias("value")))
    with pytest.raises(SchemaError, match=rf"transfer {ETH}:e1:native:-1:: value stored"):
        store.load(more)
    elsewhere = FrameSet(transactions=e1.transactions,
                         transfers=e1.transfers.with_columns(pl.when(native).then(pl.lit("0x" + "9" * 40))
                                                             .otherwise(pl.col("to_address")).alias("to_address")))
    with pytest.raises(SchemaError, match="to_address stored"):
        store.load(elsewhere)
    assert store.stats() == before


def test_the_same_batch_again_is_no_conflict(store: GraphStore) -> None:
    store.load(sample_frames())
    before = store.stats()
    store.load(sample_frames())
    assert store.stats() == before
