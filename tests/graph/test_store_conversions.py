# SPDX-License-Identifier: Apache-2.0
"""Conversions (swaps, wrapping) and bridge events in both stores: the embedded LadybugDB store and
Neo4j over live Bolt to ArcadeDB (``store`` fixture in ``conftest.py``).

Hand-written from real mainnet shapes (Uniswap V2 pairs, WETH9, Across SpokePools; their real
contract addresses, made-up traders), on ``eth`` (chain id 1) and ``eth-sepolia`` (11155111):

* ``s1``: a V2 swap of 1.5 ETH worth of WETH for USDC on the USDC/WETH pair, both legs named;
* ``w1``: a WETH ``Deposit`` (wrap 2**64 + 7 wei): only an in-leg, the mint has no Transfer event;
* ``r1``: a two-pool route in one transaction, DAI -> WETH -> USDC (the second pool's trader is the
  first pool), with an amount above 2**64;
* ``b1``/``b2``: an Across deposit on ``eth`` and its release on ``eth-sepolia`` (same deposit id).

Each store must read them back exactly, load them idempotently, refuse a contradicting re-load
naming the row, answer ``conversions()`` as :class:`tracer.frontier.FrameFrontier` does, and drop them
with their blocks on a reorg. A store written before the event tables existed still opens, and
gains them when opened for writing.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from graph.base import GraphStore
from graph.embedded import SCHEMA_VERSION, EmbeddedStore
from graph.events import EVENT_COUNTS, select_bridge_events
from tracer.errors import SchemaError
from tracer.frontier import FrameFrontier
from tracer.schema import BRIDGE_EVENTS, CONVERSIONS, TRANSACTIONS, TRANSFERS, FrameSet, conform

ETH, SEPOLIA = "eth", "eth-sepolia"
SRC = "rpc:127.0.0.1:8545"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
DAI = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
USDC_WETH = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"  # Uniswap V2 pair
DAI_WETH = "0xA478c2975Ab1Ea89e8196811F51A7B7Ade33eB11"  # Uniswap V2 pair
SPOKE_ETH = "0x5c7BCd6E7De5423a257D81B442095A1a6ced35C5"  # Across SpokePool, Ethereum
SPOKE_SEPOLIA = "0x5ef6C01E11889d86803e0B23e3cB3F9E9d97B662"  # Across SpokePool, Sepolia
ALICE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BOB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
CAROL = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
S1, W1, R1, B1, B2 = ("0x" + c * 64 for c in "abcde")
BIG = 2**64 + 7  # beyond int64: exact only as DECIMAL(38,0) / decimal text
HUGE = 3 * 10**25 + 12345  # 30 million DAI and change, in wei
DEPOSIT_ID = "4242424242"


def _frame(schema: Any, rows: list[dict[str, Any]]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows, schema=schema.polars_schema), schema)


def _tx(chain: str, txid: str, height: int, fee: int) -> dict[str, Any]:
    return {"chain": chain, "txid": txid, "block_height": height, "block_hash": f"0x{height:064x}",
            "position": 3, "timestamp": 1_700_000_000 + height * 12, "fee": Decimal(fee), "is_coinbase": False,
            "source": SRC}


def _block(chain: str, txid: str, height: int) -> dict[str, Any]:
    return {"chain": chain, "txid": txid, "block_height": height, "block_hash": f"0x{height:064x}", "tx_index": 3,
            "timestamp": 1_700_000_000 + height * 12}


def _transfer(chain: str, txid: str, height: int, kind: str, frm: str, to: str, value: int, asset: str,
              log_index: int | None = None) -> dict[str, Any]:
    return {**_block(chain, txid, height), "kind": kind, "log_index": log_index, "trace_path": None, "asset": asset,
            "token_id": None, "from_address": frm, "to_address": to, "value": Decimal(value), "value_overflow": None,
            "source": SRC}


def _conversion(txid: str, height: int, log_index: int, protocol: str, venue: str, trader: str, recipient: str,
                given: tuple[str, int], got: tuple[str, int], in_leg: int | None, out_leg: int | None,
                in_kind: str | None = "token") -> dict[str, Any]:
    return {**_block(ETH, txid, height), "log_index": log_index, "protocol": protocol, "venue": venue,
            "trader": trader, "recipient": recipient, "asset_in": given[0], "value_in": Decimal(given[1]),
            "asset_out": got[0], "value_out": Decimal(got[1]),
            "in_kind": None if in_leg is None and in_kind == "token" else in_kind, "in_log_index": in_leg,
            "in_trace_path": None, "out_kind": None if out_leg is None else "token", "out_log_index": out_leg,
            "out_trace_path": None, "source": SRC}


def event_frames() -> FrameSet:
    """Three transactions with conversions on ``eth``, a bridge deposit there and its release on ``eth-sepolia``."""
    transactions = [_tx(ETH, S1, 100, 2_100_000_000_000_000), _tx(ETH, W1, 101, 46_000_000_000_000),
                    _tx(ETH, R1, 102, 9_000_000_000_000_000), _tx(ETH, B1, 103, 5_000_000_000_000_000),
                    _tx(SEPOLIA, B2, 500, 1_000_000_000_000)]
    transfers = [
        _transfer(ETH, S1, 100, "token", ALICE, USDC_WETH, 1_500_000_000_000_000_000, WETH, log_index=10),
        _transfer(ETH, S1, 100, "token", USDC_WETH, ALICE, 3_012_345_678, USDC, log_index=11),
        _transfer(ETH, W1, 101, "native", BOB, WETH, BIG, "native"),
        _transfer(ETH, R1, 102, "token", CAROL, DAI_WETH, HUGE, DAI, log_index=40),
        _transfer(ETH, R1, 102, "token", DAI_WETH, USDC_WETH, 9_876_543_210_987_654_321_000, WETH, log_index=41),
        _transfer(ETH, R1, 102, "token", USDC_WETH, BOB, 29_990_000_123_456, USDC, log_index=43),
        _transfer(ETH, B1, 103, "token", ALICE, SPOKE_ETH, 2_500_000_000, USDC, log_index=7),
        _transfer(SEPOLIA, B2, 500, "native", SPOKE_SEPOLIA, CAROL, 999_000_000_000_000_000, "native"),
    ]
    conversions = [
        _conversion(S1, 100, 12, "uniswap_v2", USDC_WETH, ALICE, ALICE, (WETH, 1_500_000_000_000_000_000),
                    (USDC, 3_012_345_678), 10, 11),
        # a wrap: the native value is the transaction's own (its transfers row has no log index)
        {**_conversion(W1, 101, 5, "weth", WETH, BOB, BOB, ("native", BIG), (WETH, BIG), None, None,
                       in_kind="native")},
        _conversion(R1, 102, 42, "uniswap_v2", DAI_WETH, CAROL, USDC_WETH, (DAI, HUGE),
                    (WETH, 9_876_543_210_987_654_321_000), 40, 41),
        _conversion(R1, 102, 44, "uniswap_v2", USDC_WETH, DAI_WETH, BOB, (WETH, 9_876_543_210_987_654_321_000),
                    (USDC, 29_990_000_123_456), 41, 43),
    ]
    bridge = {"bridge": "across", "deposit_id": DEPOSIT_ID, "origin_chain_id": 1, "destination_chain_id": 11155111,
              "depositor": ALICE, "recipient": CAROL, "leg_trace_path": None, "source": SRC}
    bridge_events = [
        {**_block(ETH, B1, 103), **bridge, "log_index": 8, "role": "deposit", "contract": SPOKE_ETH,
         "asset_in": USDC, "value_in": Decimal(2_500_000_000), "asset_out": "native",
         "value_out": Decimal(999_000_000_000_000_000), "leg_kind": "token", "leg_log_index": 7},
        {**_block(SEPOLIA, B2, 500), **bridge, "log_index": 2, "role": "release", "contract": SPOKE_SEPOLIA,
         "asset_in": USDC, "value_in": Decimal(2_500_000_000), "asset_out": "native",
         "value_out": Decimal(999_000_000_000_000_000), "leg_kind": "native", "leg_log_index": None},
    ]
    return FrameSet(transactions=_frame(TRANSACTIONS, transactions), transfers=_frame(TRANSFERS, transfers),
                    conversions=_frame(CONVERSIONS, conversions), bridge_events=_frame(BRIDGE_EVENTS, bridge_events))


def _same(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.schema == expected.schema
    assert actual.to_dicts() == expected.to_dicts()


def test_conversions_and_bridge_events_read_back_exactly(store: GraphStore) -> None:
    frames = event_frames()
    report = store.load(frames)
    assert report.created["CONVERTED"] == 4 and report.created["BridgeEvent"] == 2
    assert report.created["DEPOSITED"] == 1 and report.created["RELEASED"] == 1
    stored = store.read_frames()
    expected = frames.sorted()
    _same(stored.conversions, expected.conversions)
    _same(stored.bridge_events, expected.bridge_events)
    _same(stored.transfers, expected.transfers)
    assert int(stored.conversions.filter(pl.col("txid") == W1)["value_in"][0]) == BIG
    _same(store.read_frames(SEPOLIA).bridge_events, expected.bridge_events.filter(pl.col("chain") == SEPOLIA))
    assert store.read_frames(SEPOLIA).conversions.height == 0
    counts = store.stats()
    assert {k: counts[k] for k in EVENT_COUNTS} == {"BridgeEvent": 2, "CONVERTED": 4, "DEPOSITED": 1, "RELEASED": 1}


def test_loading_the_same_events_again_creates_nothing(store: GraphStore) -> None:
    store.load(event_frames())
    before = store.stats()
    again = store.load(event_frames())
    assert again.total_created == 0
    assert again.unchanged["CONVERTED"] == 4 and again.unchanged["BridgeEvent"] == 2
    assert store.stats() == before


def test_a_conversion_that_changed_is_refused_by_name_and_nothing_is_loaded(store: GraphStore) -> None:
    frames = event_frames()
    store.load(frames)
    before = store.stats()
    changed = frames.conversions.with_columns(
        pl.when(pl.col("log_index") == 44).then(pl.col("value_out") + 1).otherwise(pl.col("value_out"))
        .alias("value_out"))
    new_tx = _frame(TRANSACTIONS, [_tx(ETH, "0x" + "f" * 64, 104, 1)])  # would be new: must not be written either
    batch = FrameSet(transactions=pl.concat([frames.transactions, new_tx]), transfers=frames.transfers,
                     conversions=changed, bridge_events=frames.bridge_events)
    with pytest.raises(SchemaError, match=rf"conversion {ETH}:{R1}:44: value_out stored 29990000123456 but given "
                                          "29990000123457"):
        store.load(batch)
    assert store.stats() == before
    moved = frames.bridge_events.with_columns(pl.lit("4242424243").alias("deposit_id"))
    with pytest.raises(SchemaError, match=rf"bridge events of this batch disagree.*{SEPOLIA}:{B2}:2: deposit_id"):
        store.load(FrameSet(transactions=frames.transactions, bridge_events=moved))
    assert store.stats() == before


def test_an_event_without_its_transaction_in_the_batch_is_refused(store: GraphStore) -> None:
    frames = event_frames()
    with pytest.raises(SchemaError, match="conversions rows of 1 transaction"):
        store.load(FrameSet(transactions=frames.transactions.filter(pl.col("txid") != W1),
                            conversions=frames.conversions))
    assert store.stats()["CONVERTED"] == 0


def test_conversions_of_transactions_match_the_reference(store: GraphStore) -> None:
    """What the trace engine asks per hop: every conversion of the transactions it read, one query."""
    frames = event_frames()
    store.load(frames)
    reference = FrameFrontier(frames)
    questions = [[S1], [W1], [R1], [B1], [R1, W1, B1], [S1, W1, R1, B1, B2], ["0x" + "0" * 64], []]
    for txids in questions:
        _same(store.conversions_of(ETH, txids), reference.conversions_of(ETH, txids))
    route = store.conversions_of(ETH, [R1])
    assert route["log_index"].to_list() == [42, 44]  # the whole route through both pools of one transaction
    assert store.conversions_of(SEPOLIA, [R1]).height == 0


def test_bridge_events_by_chain_and_deposit_id(store: GraphStore) -> None:
    frames = event_frames()
    store.load(frames)
    every = frames.bridge_events
    _same(store.bridge_events(), select_bridge_events(every))
    _same(store.bridge_events(deposit_ids=[DEPOSIT_ID]), select_bridge_events(every, deposit_ids=[DEPOSIT_ID]))
    assert store.bridge_events(deposit_ids=[DEPOSIT_ID])["role"].to_list() == ["deposit", "release"]
    _same(store.bridge_events(SEPOLIA, [DEPOSIT_ID]), select_bridge_events(every, SEPOLIA, [DEPOSIT_ID]))
    assert store.bridge_events(ETH, ["1"]).height == 0
    assert store.bridge_events(deposit_ids=[]).height == 0


def test_a_reorg_removes_the_events_of_its_blocks(store: GraphStore) -> None:
    frames = event_frames()
    store.load(frames)
    assert store.remove_blocks(ETH, 102) == 2  # r1 (the route) and b1 (the deposit)
    stored = store.read_frames()
    assert sorted(stored.conversions["txid"].unique().to_list()) == sorted([S1, W1])
    assert stored.bridge_events["chain"].to_list() == [SEPOLIA]
    counts = store.stats()
    assert {k: counts[k] for k in EVENT_COUNTS} == {"BridgeEvent": 1, "CONVERTED": 2, "DEPOSITED": 0, "RELEASED": 1}
    assert store.conversions_of(ETH, [R1]).height == 0
    store.load(frames)  # the blocks come back (the reorg reverted): everything is there again
    _same(store.read_frames().conversions, frames.sorted().conversions)


def _as_version_1(path: Path) -> None:
    """Make ``path`` a store as the tracer before the event tables wrote it: same tables but those,
    schema version 1."""
    import ladybug

    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    for table in ("DEPOSITED", "RELEASED", "CONVERTED", "BridgeEvent"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("MATCH (i:StoreInfo) SET i.schema_version = 1")
    conn.close()
    db.close()


def test_a_store_made_before_the_event_tables_opens_and_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "graph.lbug"
    frames = event_frames()
    old = FrameSet(transactions=frames.transactions, transfers=frames.transfers)
    with EmbeddedStore.open(path) as store:
        store.load(old)
    _as_version_1(path)
    with EmbeddedStore.open(path, read_only=True) as reader:  # as it is: no event, nothing fails
        assert reader.schema_version == 1 and not reader.events_stored
        assert reader.read_frames().conversions.height == 0 and reader.bridge_events().height == 0
        assert reader.conversions_of(ETH, [S1, W1, R1]).height == 0
        assert {k: reader.stats()[k] for k in EVENT_COUNTS} == dict.fromkeys(EVENT_COUNTS, 0)
        _same(reader.read_frames().transfers, old.sorted().transfers)
    with EmbeddedStore.open(path) as store:  # opened for writing: the tables are created, the version raised
        assert store.schema_version == SCHEMA_VERSION == 2
        report = store.load(frames)
        assert report.created["CONVERTED"] == 4 and report.created.get("TRANSFER", 0) == 0
        assert report.created["Transaction"] == 0
    with EmbeddedStore.open(path, read_only=True) as reader:
        assert reader.schema_version == 2
        _same(reader.read_frames().conversions, frames.sorted().conversions)
        _same(reader.read_frames().transfers, frames.sorted().transfers)
