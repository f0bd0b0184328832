"""Canonical frames: every adapter emits them, every store and the tracer check them."""

from decimal import Decimal

import polars as pl
import pytest

from tracer.errors import SchemaError
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, TRANSFERS, conform, empty, validate
from tracer.units import MAX_UINT256, split_for_frame


def _transfer(value: int, **over: object) -> dict[str, object]:
    amount, overflow = split_for_frame(value)
    row: dict[str, object] = {
        "chain": "eth", "txid": "0x" + "ab" * 32, "block_height": 1, "block_hash": "0x" + "cd" * 32,
        "tx_index": 0, "timestamp": 1_700_000_000, "kind": "token", "log_index": 3, "trace_path": None,
        "asset": "0x" + "11" * 20, "token_id": None, "from_address": "0x" + "22" * 20,
        "to_address": "0x" + "33" * 20, "value": amount, "value_overflow": overflow, "source": "test",
    }
    row.update(over)
    return row


def test_empty_frames_have_the_canonical_columns() -> None:
    for schema in (TRANSACTIONS, INPUTS, OUTPUTS, TRANSFERS):
        frame = empty(schema)
        validate(frame, schema)
        assert frame.columns == list(schema.columns)


def test_transfer_amounts_up_to_uint256_are_exact() -> None:
    rows = [_transfer(10**18), _transfer(MAX_UINT256, log_index=4)]
    frame = conform(pl.DataFrame(rows, schema_overrides={"value": pl.Decimal(38, 0)}), TRANSFERS)
    assert frame["value"].to_list() == [Decimal(10**18), None]
    assert frame["value_overflow"].to_list() == [None, str(MAX_UINT256)]


def test_missing_column_is_named() -> None:
    frame = pl.DataFrame([_transfer(1)]).drop("asset")
    with pytest.raises(SchemaError, match="missing column.*asset"):
        conform(frame, TRANSFERS)


def test_float_amount_column_is_refused() -> None:
    frame = pl.DataFrame({"chain": ["ltc"], "txid": ["a" * 64], "index": [0], "address": ["x"],
                          "script_type": ["p2pkh"], "value": [1.5], "source": ["t"]})
    with pytest.raises(SchemaError, match="float"):
        conform(frame, OUTPUTS)


def test_null_in_required_column_is_refused() -> None:
    frame = pl.DataFrame({"chain": ["ltc"], "txid": [None], "index": [0], "address": ["x"],
                          "script_type": ["p2pkh"], "value": [5], "source": ["t"]},
                         schema_overrides={"txid": pl.String})
    with pytest.raises(SchemaError, match="outputs.txid"):
        conform(frame, OUTPUTS)


def test_negative_amount_is_refused() -> None:
    frame = pl.DataFrame({"chain": ["ltc"], "txid": ["a" * 64], "index": [0], "address": ["x"],
                          "script_type": ["p2pkh"], "value": [-5], "source": ["t"]})
    with pytest.raises(SchemaError, match="negative"):
        conform(frame, OUTPUTS)


def test_transfer_must_carry_its_amount_in_exactly_one_column() -> None:
    bad = _transfer(5) | {"value_overflow": "5" * 40}
    with pytest.raises(SchemaError, match="exactly one"):
        conform(pl.DataFrame([bad], schema_overrides={"value": pl.Decimal(38, 0)}), TRANSFERS)


def test_unknown_transfer_kind_is_refused() -> None:
    with pytest.raises(SchemaError, match="kind"):
        conform(pl.DataFrame([_transfer(5, kind="swap")], schema_overrides={"value": pl.Decimal(38, 0)}),
                TRANSFERS)
