# SPDX-License-Identifier: Apache-2.0
"""The store's content digest (``tracer-store-digest/1``): what the audit log records after each
write, recomputable by anyone from the canonical frames with nothing but SHA-256.

The construction is written out here a second time, row by row in plain Python, and the
vectorized digest must agree with it; then the properties custody relies on: the order rows come
back in does not matter, and every change of content — one amount, a null for an empty text, text
moved between two fields — changes the digest.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import polars as pl

from tracer.store_digest import CONSTRUCTION, frame_digest, store_digest

SCHEMA = {"txid": pl.String(), "index": pl.Int64(), "value": pl.Decimal(38, 0), "coinbase": pl.Boolean(),
          "label": pl.String()}
ROWS = [
    {"txid": "ab" * 32, "index": 0, "value": Decimal(10**30), "coinbase": True, "label": "Ex: hot\nwallet"},
    {"txid": "cd" * 32, "index": -1, "value": Decimal(0), "coinbase": False, "label": None},
    {"txid": "ef" * 32, "index": 2, "value": None, "coinbase": False, "label": "Zürich 1:2"},
]


def by_hand(name: str, rows: list[dict[str, object]]) -> str:
    """The documented construction, one row at a time."""
    def field(value: object) -> bytes:
        if value is None:
            return b"-"
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        data = text.encode()
        return f"{len(data)}:".encode() + data

    encoded = sorted(b"".join(field(r[c]) for c in SCHEMA) + b"\n" for r in rows)
    header = f"{CONSTRUCTION}\n{name}\n{','.join(SCHEMA)}\n".encode()
    return hashlib.sha256(header + b"".join(encoded)).hexdigest()


def test_the_digest_is_the_documented_construction() -> None:
    frame = pl.DataFrame(ROWS, schema=SCHEMA)
    assert frame_digest("outputs", frame) == by_hand("outputs", ROWS)


def test_the_order_rows_come_back_in_does_not_matter() -> None:
    frame = pl.DataFrame(ROWS, schema=SCHEMA)
    assert frame_digest("outputs", frame.reverse()) == frame_digest("outputs", frame)


def test_every_change_of_content_changes_the_digest() -> None:
    base = frame_digest("outputs", pl.DataFrame(ROWS, schema=SCHEMA))
    one_unit = [dict(ROWS[0], value=Decimal(10**30 + 1)), *ROWS[1:]]
    null_for_empty = [*ROWS[:1], dict(ROWS[1], label=""), *ROWS[2:]]
    moved_text = [dict(ROWS[0], txid="ab" * 31 + "a", label="b" + str(ROWS[0]["label"])), *ROWS[1:]]
    fewer = ROWS[:2]
    for rows in (one_unit, null_for_empty, moved_text, fewer):
        assert frame_digest("outputs", pl.DataFrame(rows, schema=SCHEMA)) != base
    assert frame_digest("inputs", pl.DataFrame(ROWS, schema=SCHEMA)) != base  # the frame's name is hashed


def test_an_empty_frame_has_a_digest_of_its_header() -> None:
    empty = pl.DataFrame(schema=SCHEMA)
    assert frame_digest("outputs", empty) == by_hand("outputs", [])


def test_the_store_digest_covers_every_part_by_name() -> None:
    parts = {"transfers": "11" * 32, "outputs": "22" * 32}
    expected = hashlib.sha256(f"outputs {'22' * 32}\ntransfers {'11' * 32}\n".encode()).hexdigest()
    assert store_digest(parts) == expected
    assert store_digest({**parts, "outputs": "23" * 32}) != expected
