# SPDX-License-Identifier: Apache-2.0
"""The graph model's TRANSFER row positions (GraphTables.rows) and its checks.

The embedded store maps a million transfers to node ids by position instead of joining address
strings; these tests pin down that the positions name exactly the nodes the text keys name,
that duplicates keep their first row in both, and that a batch is checked before anything is built.
"""

from __future__ import annotations

import polars as pl
import pytest

from graph.model import build_tables, check_batch, graph_tables
from tests.graph.sample_graph import ETH, SRC, TOKEN, X, Y, Z, sample_frames
from tracer.errors import SchemaError
from tracer.schema import FrameSet


def test_positions_name_the_same_endpoints_and_transaction_as_the_text_keys() -> None:
    tables = graph_tables(sample_frames())
    transfers, rows = tables.rels["TRANSFER"], tables.rows["TRANSFER"]
    addresses, transactions = tables.nodes["Address"], tables.nodes["Transaction"]
    assert rows.height == transfers.height == 6
    assert addresses["uid"].gather(rows["start"]).to_list() == transfers["start"].to_list()
    assert addresses["uid"].gather(rows["end"]).to_list() == transfers["end"].to_list()
    assert transactions["txid"].gather(rows["tx"]).to_list() == transfers["txid"].to_list()
    # the burned fee's recipient is the chain's placeholder address, a node like any other
    assert f"{ETH}:(none)" in addresses["uid"].gather(rows["end"]).to_list()


def test_without_text_keys_the_tables_are_otherwise_identical() -> None:
    frames = sample_frames()
    keyed, compact = graph_tables(frames), graph_tables(frames, text_keys=False)
    assert "uid" not in compact.rels["TRANSFER"].columns and "start" not in compact.rels["TRANSFER"].columns
    assert keyed.rels["TRANSFER"].drop("start", "end", "uid").equals(compact.rels["TRANSFER"])
    assert keyed.rows["TRANSFER"].equals(compact.rows["TRANSFER"])
    for label, nodes in keyed.nodes.items():
        assert nodes.equals(compact.nodes[label]), label


def test_a_transfer_given_twice_is_kept_once_with_its_first_row_and_position() -> None:
    frames = sample_frames()
    again = frames.transfers.head(2).with_columns(pl.lit("later-source").alias("source"))
    doubled = FrameSet(transactions=frames.transactions, transfers=pl.concat([frames.transfers, again]))
    tables = graph_tables(doubled)
    assert tables.rels["TRANSFER"].height == 6
    assert tables.rels["TRANSFER"]["source"].to_list() == [SRC] * 6
    assert tables.rows["TRANSFER"].equals(graph_tables(FrameSet(
        transactions=frames.transactions, transfers=frames.transfers)).rows["TRANSFER"])


def test_every_address_is_one_node_with_its_smallest_source() -> None:
    frames = sample_frames()
    other = frames.transfers.filter((pl.col("from_address") == X) & (pl.col("to_address") == Y)).with_columns(
        pl.lit("a-first-source").alias("source")
    )
    tables = graph_tables(FrameSet(transactions=frames.transactions, transfers=pl.concat([frames.transfers, other])))
    by_address = dict(tables.nodes["Address"].select("address", "source").iter_rows())
    assert set(by_address) == {X, Y, Z, TOKEN, "(none)"}
    assert by_address[X] == by_address[Y] == "a-first-source"
    assert by_address[Z] == SRC


def test_transfers_out_of_transaction_order_map_to_their_own_transactions() -> None:
    frames = sample_frames()
    shuffled = frames.transfers.reverse()
    tables = graph_tables(FrameSet(transactions=frames.transactions, transfers=shuffled))
    rows = tables.rows["TRANSFER"]
    assert tables.nodes["Transaction"]["txid"].gather(rows["tx"]).to_list() == shuffled["txid"].to_list()


def test_bad_batches_are_refused_by_the_check_before_any_table_is_built() -> None:
    frames = sample_frames()
    orphan = FrameSet(transactions=frames.transactions.filter(pl.col("txid") != "e2"), transfers=frames.transfers)
    with pytest.raises(SchemaError, match="transfers rows of 1 transaction"):
        check_batch(orphan)
    height = pl.when(pl.col("txid") == "e1").then(pl.lit(99, pl.Int64)).otherwise(pl.col("block_height"))
    moved = frames.transfers.with_columns(height.alias("block_height"))
    with pytest.raises(SchemaError, match="transfers of eth-devnet e1 disagree"):
        check_batch(FrameSet(transactions=frames.transactions, transfers=moved))
    checked = check_batch(frames)
    assert build_tables(checked).counts() == graph_tables(frames).counts()
