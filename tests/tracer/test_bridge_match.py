# SPDX-License-Identifier: Apache-2.0
"""Pairing bridge deposits with releases (tracer.bridge_match), on hand-built ``bridge_events`` frames."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from tracer.bridge_match import CONFIDENCE_LEVELS, HOP_COLUMNS, INFINITE_FILL_DEADLINE, match_bridge_events
from tracer.errors import SchemaError
from tracer.schema import BRIDGE_EVENTS, conform

ALICE = "0x00000000000000000000000000000000000A11cE"
BOB = "0x0000000000000000000000000000000000000B0b"
CAROL = "0x0000000000000000000000000000000000C0FFEE"
RELAYER = "0x000000000000000000000000000000000000bEEF"
USDC_A = "0x1111111111111111111111111111111111111111"
USDC_B = "0x2222222222222222222222222222222222222222"
POOL_A = "0x3333333333333333333333333333333333333333"
POOL_B = "0x4444444444444444444444444444444444444444"
T0 = 1_700_000_000


def _event(role: str, n: int, **over: Any) -> dict[str, Any]:
    deposit = role == "deposit"
    row: dict[str, Any] = {
        "chain": "chain-a" if deposit else "chain-b",
        "txid": f"0x{'d' if deposit else 'f'}{n:063x}",
        "block_height": 10 + n, "block_hash": "0x" + "ab" * 32, "tx_index": 0,
        "timestamp": T0 if deposit else T0 + 30, "log_index": 1,
        "bridge": "across", "role": role, "contract": POOL_A if deposit else POOL_B,
        "deposit_id": str(n), "origin_chain_id": 100, "destination_chain_id": 200,
        "depositor": ALICE, "recipient": BOB, "asset_in": USDC_A, "value_in": Decimal(1_000_000),
        "asset_out": USDC_B, "value_out": Decimal(990_000),
        "leg_kind": "token", "leg_log_index": 0, "leg_trace_path": None, "source": "test",
    }
    row.update(over)
    return row


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return conform(pl.DataFrame(list(rows), schema=BRIDGE_EVENTS.polars_schema), BRIDGE_EVENTS)


def _deadlines(*items: tuple[dict[str, Any], int]) -> pl.DataFrame:
    return pl.DataFrame([{"chain": r["chain"], "txid": r["txid"], "log_index": r["log_index"], "fill_deadline": d}
                         for r, d in items])


def test_exact_match_pairs_the_two_legs() -> None:
    dep, rel = _event("deposit", 7), _event("release", 7)
    hops = match_bridge_events(_frame(dep, rel), _deadlines((dep, T0 + 3600), (rel, T0 + 3600)))
    assert dict(hops.schema) == dict(HOP_COLUMNS)
    assert hops.height == 1
    hop = hops.row(0, named=True)
    assert (hop["status"], hop["confidence"], hop["mismatches"], hop["ambiguous"]) == ("matched", "exact", [], False)
    assert (hop["deposit_txid"], hop["release_txid"]) == (dep["txid"], rel["txid"])
    assert (hop["deposit_chain"], hop["release_chain"], hop["release_chain_id"]) == ("chain-a", "chain-b", 200)
    assert (hop["recipient"], hop["value_out"], hop["deadline"]) == (BOB, Decimal(990_000), T0 + 3600)
    assert (hop["deposit_leg_kind"], hop["release_leg_kind"]) == ("token", "token")


def test_amount_that_differs_lowers_confidence_to_medium() -> None:
    hops = match_bridge_events(_frame(_event("deposit", 1), _event("release", 1, value_out=Decimal(900_000))))
    hop = hops.row(0, named=True)
    assert (hop["status"], hop["confidence"], hop["mismatches"]) == ("matched", "medium", ["value_out"])
    assert CONFIDENCE_LEVELS.index("medium") > CONFIDENCE_LEVELS.index("exact")


def test_missing_leg_only_is_high_and_other_recipient_is_low() -> None:
    hops = match_bridge_events(_frame(
        _event("deposit", 1), _event("release", 1, leg_kind=None, leg_log_index=None),
        _event("deposit", 2), _event("release", 2, recipient=CAROL),
        _event("deposit", 3), _event("release", 3, destination_chain_id=300, chain="chain-c"),
    ))
    got = {r["deposit_id"]: (r["confidence"], r["mismatches"]) for r in hops.iter_rows(named=True)}
    assert got == {"1": ("high", ["release_leg"]), "2": ("low", ["recipient"]), "3": ("low", ["destination"])}


def test_unmatched_deposit_keeps_its_bridge_name() -> None:
    dep = _event("deposit", 5)
    hops = match_bridge_events(_frame(dep))
    hop = hops.row(0, named=True)
    assert (hop["status"], hop["bridge"], hop["confidence"], hop["release_txid"]) == (
        "unmatched_deposit", "across", None, None)
    assert (hop["deposit_txid"], hop["stated_recipient"], hop["destination_chain_id"]) == (dep["txid"], BOB, 200)
    assert hop["deadline"] == T0 + 6 * 3600  # no stated deadline: the default window


def test_orphan_release_is_listed() -> None:
    rel = _event("release", 9)
    hop = match_bridge_events(_frame(_event("deposit", 8), rel)).filter(pl.col("status") == "orphan_release")
    assert hop.height == 1
    row = hop.row(0, named=True)
    assert (row["release_txid"], row["deposit_txid"], row["deposit_id"], row["confidence"]) == (
        rel["txid"], None, "9", None)


def test_two_releases_for_one_deposit_are_both_reported_and_flagged() -> None:
    first = _event("release", 4)
    second = _event("release", 4, txid="0x" + "e" * 64, timestamp=T0 + 90)
    hops = match_bridge_events(_frame(_event("deposit", 4), first, second, _event("deposit", 6), _event("release", 6)))
    four = hops.filter(pl.col("deposit_id") == "4")
    assert four.height == 2
    assert sorted(four["release_txid"].to_list()) == sorted([first["txid"], second["txid"]])
    assert four["ambiguous"].to_list() == [True, True]
    assert four["release_count"].to_list() == [2, 2]
    six = hops.filter(pl.col("deposit_id") == "6").row(0, named=True)
    assert (six["ambiguous"], six["release_count"], six["deposit_count"]) == (False, 1, 1)


def test_release_outside_the_window_is_low() -> None:
    dep, late = _event("deposit", 1), _event("release", 1, timestamp=T0 + 7200)
    dep2, early = _event("deposit", 2), _event("release", 2, timestamp=T0 - 3600)
    hops = match_bridge_events(_frame(dep, late, dep2, early), _deadlines((dep, T0 + 3600), (dep2, T0 + 3600)))
    got = {r["deposit_id"]: (r["confidence"], r["mismatches"]) for r in hops.iter_rows(named=True)}
    assert got == {"1": ("low", ["after_deadline"]), "2": ("low", ["before_deposit"])}


def test_window_default_per_bridge_and_infinite_deadline() -> None:
    dep, rel = _event("deposit", 1), _event("release", 1, timestamp=T0 + 7200)
    assert match_bridge_events(_frame(dep, rel), default_window_seconds=3600)["confidence"][0] == "low"
    assert match_bridge_events(_frame(dep, rel), windows={"across": 86400})["confidence"][0] == "exact"
    hop = match_bridge_events(_frame(dep, rel), _deadlines((dep, INFINITE_FILL_DEADLINE)), default_window_seconds=60)
    assert (hop["confidence"][0], hop["deadline"][0]) == ("exact", None)


def test_clock_skew_between_chains_is_tolerated() -> None:
    dep, rel = _event("deposit", 1), _event("release", 1, timestamp=T0 - 20)
    assert match_bridge_events(_frame(dep, rel))["confidence"][0] == "exact"
    assert match_bridge_events(_frame(dep, rel), clock_skew_seconds=0)["mismatches"][0].to_list() == ["before_deposit"]


def test_same_id_on_another_origin_chain_or_bridge_does_not_match() -> None:
    hops = match_bridge_events(_frame(_event("deposit", 1), _event("release", 1, origin_chain_id=101)))
    assert sorted(hops["status"].to_list()) == ["orphan_release", "unmatched_deposit"]


def test_a_duplicated_event_counts_once_and_a_bad_frame_is_refused() -> None:
    dep, rel = _event("deposit", 1), _event("release", 1)
    hops = match_bridge_events(_frame(dep, dep, rel))
    assert (hops.height, hops["ambiguous"][0]) == (1, False)
    with pytest.raises(SchemaError):
        match_bridge_events(_frame(dep).drop("deposit_id"))


def test_is_vectorised_over_many_hops() -> None:
    rows = [_event(role, n) for n in range(2_000) for role in ("deposit", "release")]
    hops = match_bridge_events(_frame(*rows))
    assert hops.height == 2_000
    assert hops["confidence"].unique().to_list() == ["exact"]
    assert hops["deposit_id"].head(3).to_list() == ["0", "1", "2"]  # numeric order
