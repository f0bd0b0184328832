# SPDX-License-Identifier: Apache-2.0
"""The embedded store's frontier reads follow the frontier, not the store (issue 21).

``EmbeddedStore.transfers`` looks the frontier's addresses up by primary key and reads their
relationships (``UNWIND ... MATCH (a {id: i}) OPTIONAL MATCH (a)-[r]->(b)``) instead of scanning the
Address table (``WHERE a.id IN $ids``): both must answer the same frame, row for row, in every
direction, with and without an asset filter, for frontiers with addresses that have no transfers,
unknown addresses and repeats. Transaction ids of a frontier answer are remembered, so a trace's
``conversions_of`` / ``transfers_of`` never read the Transaction dictionary (1.4 GB on 10M transfers);
the look-ups that do reach the store give the ids the dictionary gives, in either query form. A store
without conversions answers the conversion reads at once (LadybugDB plans them as an Address scan).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from graph import embedded_reads
from graph.embedded import _IN_LIST_MAX, EmbeddedStore
from tests.graph.sample_graph import ETH, TOKEN, X, Y, Z, sample_frames
from tracer.frontier import Direction, TransferFilter, apply_transfer_filter
from tracer.schema import CONVERSIONS, TRANSACTIONS, TRANSFERS, FrameSet, conform, empty

N_ADDRESSES = 60


def _address(n: int) -> str:
    return f"0x{n:040x}"


def _many_transfers() -> pl.DataFrame:
    """A few hundred native and token transfers between ``N_ADDRESSES`` addresses (some isolated)."""
    rows = []
    for n in range(400):
        frm, to = _address(1 + (n * 7) % (N_ADDRESSES - 5)), _address(1 + (n * 13 + 3) % (N_ADDRESSES - 5))
        token = n % 3 == 0
        rows.append({
            "chain": ETH, "txid": f"0xm{n // 2:06d}", "block_height": 100 + n // 10, "block_hash": f"hm{n // 10}",
            "tx_index": (n // 2) % 5, "timestamp": 10_000 + n // 2, "kind": "token" if token else "native",
            "log_index": n if token else None, "trace_path": None, "asset": TOKEN if token else "native",
            "token_id": None, "from_address": frm, "to_address": to, "value": Decimal(10**15 + n),
            "value_overflow": None, "source": "test",
        })
    return conform(pl.DataFrame(rows), TRANSFERS)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frontier") / "f.lbug"
    with EmbeddedStore.open(path) as store:
        store.load(sample_frames())
        transfers = _many_transfers()
        transactions = transfers.group_by("txid", maintain_order=True).first().select(
            "chain", "txid", "block_height", "block_hash", pl.col("tx_index").alias("position"), "timestamp",
            pl.lit(Decimal(0)).alias("fee"), pl.lit(False).alias("is_coinbase"), "source",
        )
        store.load(FrameSet(transactions=conform(transactions, TRANSACTIONS), transfers=transfers))
    return path


def _scan(store: EmbeddedStore, addresses: list[str], direction: Direction, where: TransferFilter) -> pl.DataFrame:
    """The reference: the same rows read by scanning the Address table (the form before issue 21)."""
    ids = store._address_ids(ETH, addresses)
    if not ids:
        return empty(TRANSFERS)
    side = "a" if direction is Direction.FORWARD else "b"
    conditions = [f"{side}.id IN $ids"]
    params: dict[str, object] = {"ids": ids}
    if where.assets is not None:
        conditions.append("r.asset IN $assets")
        params["assets"] = [0 if a == "native" else store._address_ids(ETH, [a])[0] for a in where.assets]
    rows = embedded_reads._transfer_rows(
        store, f"MATCH (a:Address)-[r:TRANSFER]->(b:Address) WHERE {' AND '.join(conditions)}", params
    )
    return apply_transfer_filter(rows, where)


FRONTIERS = {
    "sample": [X, Y, Z],
    "many": [_address(n) for n in range(1, N_ADDRESSES, 3)],
    "isolated and unknown": [_address(N_ADDRESSES - 2), _address(N_ADDRESSES - 1), "0xnot-stored", X],
    "repeats": [Y, Y, _address(4), _address(4)],
    "no transfers": [_address(N_ADDRESSES - 2)],
}


@pytest.mark.parametrize("frontier", sorted(FRONTIERS))
@pytest.mark.parametrize("direction", [Direction.FORWARD, Direction.BACKWARD])
@pytest.mark.parametrize("assets", [None, ("native",), (TOKEN,), ("native", TOKEN)])
def test_primary_key_frontier_answers_what_a_scan_answers(
    store_path: Path, frontier: str, direction: Direction, assets: tuple[str, ...] | None
) -> None:
    where = TransferFilter(assets=assets)
    with EmbeddedStore.open(store_path, read_only=True) as store:
        got = store.transfers(ETH, FRONTIERS[frontier], direction, where)
        expected = _scan(store, FRONTIERS[frontier], direction, where)
    assert got.schema == expected.schema
    assert got.to_dicts() == expected.to_dicts()
    if frontier != "no transfers" and assets is None:
        assert got.height > 0


def test_a_trace_never_reads_the_transaction_dictionary(store_path: Path) -> None:
    with EmbeddedStore.open(store_path, read_only=True) as store:
        answer = store.transfers(ETH, [_address(n) for n in range(1, 20)], Direction.FORWARD)
        txids = sorted(set(answer["txid"].to_list()))
        store.conversions_of(ETH, txids)
        of = store.transfers_of(ETH, txids)
        assert store._ids is None or "Transaction" not in store._ids
        assert set(of["txid"].to_list()) == set(txids)
        # the remembered ids are the dictionary's
        remembered = store._tx_ids(ETH, txids)
        dictionary = store._dictionaries()["Transaction"]
        assert remembered == [dictionary.filter(pl.col("uid") == f"{ETH}:{t}")["id"].item() for t in txids]


@pytest.mark.parametrize("n", [1, _IN_LIST_MAX, _IN_LIST_MAX + 1, 3 * _IN_LIST_MAX])
def test_transaction_and_address_look_ups_agree_with_the_dictionaries(store_path: Path, n: int) -> None:
    """Both query forms (``IN`` for a few, a hash join for more) give the dictionary's ids, in the
    order asked, skipping what is not stored."""
    txids = [f"0xm{i:06d}" for i in range(n)][::-1] + ["nope"]
    addresses = [_address(i) for i in range(1, n + 1)][::-1] + ["0xnot-stored"]
    with EmbeddedStore.open(store_path, read_only=True) as store:
        tx_ids = store._tx_ids(ETH, txids)
        address_ids = store._address_ids(ETH, addresses)
        assert store._ids is None or "Transaction" not in store._ids
        tx_dictionary = dict(store._dictionaries()["Transaction"].select("uid", "id").iter_rows())
        address_dictionary = dict(store._dictionaries()["Address"].select("uid", "id").iter_rows())
    assert tx_ids == [tx_dictionary[f"{ETH}:{t}"] for t in txids if f"{ETH}:{t}" in tx_dictionary]
    assert len(tx_ids) == n
    assert address_ids == [address_dictionary[f"{ETH}:{a}"] for a in addresses if f"{ETH}:{a}" in address_dictionary]
    assert len(address_ids) == n


def test_no_conversions_answers_at_once_and_follows_this_process_writes(tmp_path: Path) -> None:
    """A store without CONVERTED rows answers ``conversions``/``conversions_of`` without querying;
    a load of conversions in the same process, then a reorg that removes them, are seen at once."""
    from tests.graph.test_store_conversions import ETH as EVENT_CHAIN
    from tests.graph.test_store_conversions import R1, S1, event_frames

    frames = event_frames()
    with EmbeddedStore.open(tmp_path / "c.lbug") as store:
        store.load(FrameSet(transactions=frames.transactions, transfers=frames.transfers))
        assert not store._any_conversions()
        assert store.conversions_of(EVENT_CHAIN, [S1, R1]).to_dicts() == []
        assert store.conversions_of(EVENT_CHAIN, [S1, R1]).schema == empty(CONVERSIONS).schema
        store.load(frames)
        assert store._any_conversions()
        found = store.conversions_of(EVENT_CHAIN, [S1, R1])
        assert sorted(set(found["txid"].to_list())) == sorted([S1, R1])
        assert store.remove_blocks(EVENT_CHAIN, 100) > 0
        assert not store._any_conversions()
        assert store.conversions_of(EVENT_CHAIN, [S1, R1]).height == 0
    with EmbeddedStore.open(tmp_path / "c.lbug", read_only=True) as reopened:
        assert reopened.conversions_of(EVENT_CHAIN, [S1, R1]).height == 0
