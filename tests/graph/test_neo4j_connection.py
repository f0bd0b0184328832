# SPDX-License-Identifier: Apache-2.0
"""Connecting the Neo4j backend: errors a user can fix, a smoke load, and the Browser captions.

Runs against a real Bolt server: ArcadeDB's Bolt listener (:class:`testing.devserver.ArcadeBoltServer`)
started once for this module in a subprocess on free 127.0.0.1 ports. The behavioural contract
(idempotence, frontier against the reference, reorgs) is ``test_store_contract.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from graph.base import GraphStore, StoreLocationError, StoreUnavailableError
from graph.neo4j_store import Neo4jStore, caption, short_text
from testing.devserver import ArcadeBoltServer, free_port
from tracer.chains import default_registry
from tracer.redaction import redact_url
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, TRANSFERS, FrameSet, conform

WRONG_PASSWORD = "not-the-password-7f3a"


@pytest.fixture(scope="module")
def arcade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArcadeBoltServer]:
    server = ArcadeBoltServer.start(tmp_path_factory.mktemp("arcadedb-connection"))
    try:
        server.create_database("smoke")
        yield server
    finally:
        server.stop()


def tiny_frames() -> FrameSet:
    chain, eth = "ltc-regtest", "eth-devnet"
    tx = [
        {"chain": chain, "txid": "cb", "block_height": 1, "block_hash": "h1", "position": 0, "timestamp": 100,
         "fee": Decimal(0), "is_coinbase": True, "source": "test"},
        {"chain": chain, "txid": "sp", "block_height": 2, "block_hash": "h2", "position": 1, "timestamp": 200,
         "fee": Decimal(1000), "is_coinbase": False, "source": "test"},
        {"chain": eth, "txid": "0xe1", "block_height": 5, "block_hash": "h5", "position": 0, "timestamp": 500,
         "fee": Decimal(21000), "is_coinbase": False, "source": "test"},
    ]
    inputs = [
        {"chain": chain, "txid": "cb", "index": 0, "prev_txid": None, "prev_index": None, "address": None,
         "value": None, "source": "test"},
        {"chain": chain, "txid": "sp", "index": 0, "prev_txid": "cb", "prev_index": 0, "address": "rltc1qminer",
         "value": 5_000_000_000, "source": "test"},
    ]
    outputs = [
        {"chain": chain, "txid": "cb", "index": 0, "address": "rltc1qminer", "script_type": "witness_v0_keyhash",
         "value": 5_000_000_000, "source": "test"},
        {"chain": chain, "txid": "sp", "index": 0, "address": "rltc1qpayee", "script_type": "witness_v0_keyhash",
         "value": 4_999_999_000, "source": "test"},
    ]
    transfers = [
        {"chain": eth, "txid": "0xe1", "block_height": 5, "block_hash": "h5", "tx_index": 0, "timestamp": 500,
         "kind": "native", "log_index": None, "trace_path": None, "asset": "native", "token_id": None,
         "from_address": "0x" + "a" * 40, "to_address": "0x" + "b" * 40, "value": Decimal(2**64 + 1),
         "value_overflow": None, "source": "test"},
    ]
    return FrameSet(
        transactions=conform(pl.DataFrame(tx), TRANSACTIONS),
        inputs=conform(pl.DataFrame(inputs, schema_overrides={"prev_txid": pl.String, "address": pl.String}), INPUTS),
        outputs=conform(pl.DataFrame(outputs), OUTPUTS),
        transfers=conform(
            pl.DataFrame(transfers, schema_overrides={"value": pl.Decimal(38, 0), "value_overflow": pl.String,
                                                      "log_index": pl.Int64, "trace_path": pl.String,
                                                      "token_id": pl.String}),
            TRANSFERS,
        ),
    )


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        Neo4jStore(f"bolt://127.0.0.1:{port}", "root", WRONG_PASSWORD, connect_timeout=2.0)


def test_wrong_credentials_fail_without_echoing_the_password(arcade: ArcadeBoltServer) -> None:
    with pytest.raises(StoreLocationError, match="authentication failed") as caught:
        Neo4jStore(arcade.uri, arcade.user, WRONG_PASSWORD, database="smoke")
    assert WRONG_PASSWORD not in str(caught.value)
    assert arcade.password not in str(caught.value)


def test_an_unknown_database_is_named(arcade: ArcadeBoltServer) -> None:
    with pytest.raises(StoreLocationError, match="no_such_db"):
        Neo4jStore(arcade.uri, arcade.user, arcade.password, database="no_such_db")


def test_location_never_carries_credentials(arcade: ArcadeBoltServer) -> None:
    assert redact_url("bolt://neo4j:s3cret@db.example:7687/x?token=abc") == "bolt://***@db.example:7687/***?***"
    with Neo4jStore(arcade.uri, arcade.user, arcade.password, database="smoke") as store:
        assert store.backend == "neo4j"
        assert arcade.password not in store.location and arcade.password not in repr(store)
        assert "smoke" in store.location


def test_smoke_load_and_read_back(arcade: ArcadeBoltServer) -> None:
    frames = tiny_frames()
    with Neo4jStore(arcade.uri, arcade.user, arcade.password, database="smoke") as store:
        assert isinstance(store, GraphStore)
        store.ensure_schema()
        store.ensure_schema()
        report = store.load(frames, batch_rows=1)
        assert report.created["Transaction"] == 3 and report.created["TRANSFER"] == 1
        again = store.load(frames)
        assert again.total_created == 0
        back = store.read_frames()
        for name, frame in frames.sorted().frames().items():
            assert back.frames()[name].equals(frame), name
        assert back.transfers["value"][0] == Decimal(2**64 + 1)
        assert store.stats()["SPENT_IN"] == 1


def test_captions_are_exact_coin_amounts() -> None:
    registry = default_registry()
    assert caption("Output", {"chain": "ltc", "value": 10_000_000}, registry) == "0.1 LTC"
    assert caption("Transaction", {"chain": "ltc", "txid": "ab" * 32, "total": 50_000_000}, registry) == "0.5 LTC"
    assert caption("TRANSFER", {"chain": "eth", "kind": "fee", "asset": "native", "value": 3 * 10**17},
                   registry) == "0.3 ETH"
    assert caption("TRANSFER", {"chain": "eth", "kind": "token", "asset": "0x" + "c" * 40, "value": 7},
                   registry) == "7 0xcccc…cccc"
    assert caption("Output", {"chain": "unknown-chain", "value": 12}, registry) == "12 base units"
    assert caption("Address", {"address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"}, registry) == "bc1qxy…0wlh"
    assert caption("Address", {"address": "bc1qxy", "tag_label": "Exchange"}, registry) == "Exchange"
    assert short_text("short") == "short"


def test_devserver_refuses_odd_database_names(arcade: ArcadeBoltServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        arcade.create_database("x; drop")
