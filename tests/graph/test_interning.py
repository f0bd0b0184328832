# SPDX-License-Identifier: Apache-2.0
"""Dictionary encoding of keys (graph.interning): exact numbering, even when 64-bit hashes collide.

A bulk load numbers millions of endpoint addresses by hashing them; these tests pin down that the
numbering is the one grouping by value would give (first-appearance order, nulls equal), and that
a hash collision can never merge two different addresses: it is detected and the keys are grouped
by value instead.
"""

from __future__ import annotations

import polars as pl
import pytest

import graph.interning as interning
from graph.interning import intern


def test_rows_are_numbered_in_order_of_first_appearance() -> None:
    keys = pl.DataFrame({"chain": ["eth", "eth", "btc", "eth", "btc"], "address": ["0xa", "0xb", "0xa", "0xa", "0xa"]})
    numbered = intern(keys)
    assert numbered.codes.to_list() == [0, 1, 2, 0, 2]  # (btc, 0xa) is not (eth, 0xa)
    assert numbered.first.to_list() == [0, 1, 2]
    assert numbered.distinct == 3


def test_distinct_keys_are_the_first_rows_and_every_row_maps_back_to_its_key() -> None:
    keys = pl.DataFrame({"address": [f"0x{i % 7:040x}" for i in range(100)]})
    numbered = intern(keys)
    distinct = keys[numbered.first.to_list()]
    assert distinct["address"].to_list() == [f"0x{i:040x}" for i in range(7)]
    assert distinct["address"].gather(numbered.codes).to_list() == keys["address"].to_list()


def test_nulls_are_one_key() -> None:
    numbered = intern(pl.DataFrame({"a": ["x", None, "x", None], "b": [1, None, 1, None]}))
    assert numbered.codes.to_list() == [0, 1, 0, 1]


def test_no_rows() -> None:
    numbered = intern(pl.DataFrame({"a": []}, schema={"a": pl.String}))
    assert numbered.codes.len() == 0 and numbered.distinct == 0


def test_a_hash_collision_is_detected_and_the_answer_is_still_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force every key onto one hash (a worst case no real data reaches): the numbering must be
    the same as without the collision."""
    keys = pl.DataFrame({"address": ["0xa", "0xb", "0xa", "0xc", "0xb"]})
    expected = intern(keys)
    monkeypatch.setattr(interning, "_SEED", 0)
    real_hash = pl.Expr.hash

    def colliding(self: pl.Expr, *args: object, **kwargs: object) -> pl.Expr:
        return real_hash(self, *args, **kwargs) * 0  # type: ignore[arg-type]

    monkeypatch.setattr(pl.Expr, "hash", colliding)
    collided = intern(keys)
    assert collided.codes.to_list() == expected.codes.to_list() == [0, 1, 0, 2, 1]
    assert collided.first.to_list() == expected.first.to_list() == [0, 1, 3]
