# SPDX-License-Identifier: Apache-2.0
"""Transfers from CSV files (exchange answers to legal requests, explorer exports) -> canonical frames.

Pure: text in, ``transactions`` + ``transfers`` frames out. All or nothing: the first row that cannot
be read raises :class:`CsvRowError` naming its line number (1 = the header), and no frame is
returned, so nothing is half-loaded.

A **column map** says which CSV column holds each field (``--map from=Sender,to=Receiver,...``):

=============  ========  ===============================================================================
field          required  meaning
=============  ========  ===============================================================================
``from``       yes       sender address (EIP-55 checked when mixed case)
``to``         yes       recipient address
``value``      yes       amount as decimal text in coin/token units (``1.5``), converted exactly
``txid``       yes       transaction hash (0x + 64 hex)
``asset``      no        ``native`` (default) or the token contract; a column name or a literal
``decimals``   no        the asset's decimals; a column name or a literal number (default: the chain's)
``time``       no        block time: UNIX seconds or ``YYYY-MM-DD HH:MM:SS`` (UTC)
``block``      no        block height
``log_index``  no        log index of a token transfer
``kind``       no        ``native`` / ``token`` / ``internal`` (default: ``native`` for the native
                         asset, ``token`` otherwise)
=============  ========  ===============================================================================

An amount with more decimal places than the asset has is refused (it would silently drop value).

**Etherscan preset** (``preset="etherscan"``): the CSV downloads of an address page. The
transactions export has ``Txhash, Blockno, UnixTimestamp, DateTime (UTC), From, To,
ContractAddress, Value_IN(ETH), Value_OUT(ETH), ..., TxnFee(ETH), ..., Status, ErrCode, Method``:
value is ``Value_IN`` or ``Value_OUT`` (the other is 0), decimals 18, the fee goes to the
transaction's ``fee``, and a row whose ``Status`` is an error or whose ``ErrCode`` is set moves no
value (only the transaction is kept). The token-transfers export has ``Txhash, Blockno,
UnixTimestamp, DateTime (UTC), From, To, TokenValue, USDValueDayOfTx, ContractAddress, TokenName,
TokenSymbol``; it gives no decimals, so ``decimals`` must come from the map (``--map decimals=6``).
``TokenValue`` may carry thousands separators (``1,234.5``); they are removed.

Keys: a CSV row has no trace position, so a row is keyed like a node row (``log_index``, else no
path) when its ``(txid, kind)`` is unique in the file, and by its ordinal (``trace_path =
"csv:<n>"``) otherwise. A transaction's fee is 0 when the file does not give it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from adapters.addresses import normalize_address
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, TRANSFERS, FrameSet, conform
from tracer.units import split_for_frame, to_base_units

__all__ = [
    "csv_tokens", "CsvRowError", "FIELDS", "PRESETS", "parse_column_map", "read_transfers_csv"]

FIELDS = ("from", "to", "value", "txid", "asset", "decimals", "time", "block", "log_index", "kind")
_REQUIRED = ("from", "to", "value", "txid")
PRESETS = ("etherscan",)
_TXID = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ETHERSCAN_NATIVE = {"txid": "Txhash", "block": "Blockno", "time": "UnixTimestamp", "from": "From", "to": "To"}


class CsvRowError(InputError):
    """A CSV row (or the header) cannot be read; the message names the line. Nothing was loaded."""


def parse_column_map(text: str) -> dict[str, str]:
    """``"from=Sender,to=Receiver"`` -> ``{"from": "Sender", "to": "Receiver"}`` (unknown fields refused)."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        field, sep, column = part.partition("=")
        field = field.strip().lower()
        if not sep or not column.strip():
            raise InputError(f"--map entry {part!r} must look like field=column")
        if field not in FIELDS:
            raise InputError(f"--map field {field!r} is unknown; fields: {', '.join(FIELDS)}")
        mapping[field] = column.strip()
    return mapping


@dataclass
class _Row:
    line: int
    txid: str
    block: int | None
    time: int | None
    fee: int
    transfer: tuple[str, str, str, str, int, int | None] | None  # kind, asset, from, to, value, log_index


def read_transfers_csv(text: str, chain: Chain, mapping: Mapping[str, str] | None = None, *,
                       preset: str | None = None, source: str) -> FrameSet:
    """Read a whole CSV into ``transactions`` and ``transfers`` frames (see the module docstring).

    Raises
    ------
    CsvRowError
        The header lacks a mapped column, or a row is bad (line number, column and reason).
    InputError
        An unknown preset or a chain that is not an account chain.
    """
    if not chain.is_account:
        raise InputError(f"{chain.key} is a UTXO chain: CSV import of transfers is for account chains")
    if preset is not None and preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    given = dict(mapping or {})
    if preset == "etherscan":
        rows = _etherscan(reader, header, given, chain)
    else:
        missing = [f for f in _REQUIRED if f not in given]
        if missing:
            raise InputError(f"--map must name the column of: {', '.join(missing)}")
        _check_columns(header, given)
        rows = [_generic(n, r, given, chain) for n, r in enumerate(reader, start=2)]
    if not rows:
        raise CsvRowError("the CSV has a header but no rows")
    return _frames(rows, chain, source)


def csv_tokens(text: str, chain: Chain, mapping: Mapping[str, str] | None = None, *,
               preset: str | None = None) -> dict[str, dict[str, Any]]:
    """Symbol, name and decimals of the tokens a CSV names, for showing amounts to people (the
    frames keep exact base units): ``{contract: {"symbol", "name", "decimals"}}``. The decimals come
    from the map (a column or a literal); symbol and name from the Etherscan token export's
    ``TokenSymbol``/``TokenName`` columns (else None). Call after :func:`read_transfers_csv` accepted
    the file: rows are not checked again."""
    given = dict(mapping or {})
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
    tokens: dict[str, dict[str, Any]] = {}
    for row in reader:
        if preset == "etherscan":
            asset_text = (row.get("ContractAddress") or "").strip() if "TokenValue" in row else ""
        else:
            asset_text = _cell(row, given, "asset") or NATIVE_ASSET
        decimals_text = _cell(row, given, "decimals")
        if not asset_text or asset_text.lower() == NATIVE_ASSET or decimals_text is None:
            continue
        asset = normalize_address(chain, asset_text)
        tokens.setdefault(asset, {"symbol": (row.get("TokenSymbol") or "").strip() or None,
                                  "name": (row.get("TokenName") or "").strip() or None,
                                  "decimals": int(decimals_text)})
    return tokens


def _check_columns(header: Sequence[str], mapping: Mapping[str, str]) -> None:
    literal_ok = {"asset", "decimals", "kind"}
    for field, column in mapping.items():
        if column not in header and not (field in literal_ok and _literal(field, column)):
            raise CsvRowError(f"line 1: no column {column!r} (for {field}); the header has: {', '.join(header)}")


def _literal(field: str, text: str) -> bool:
    if field == "decimals":
        return text.isdigit()
    if field == "asset":
        return text == NATIVE_ASSET or text.startswith("0x")
    return text in ("native", "token", "internal")


def _cell(row: Mapping[str, Any], mapping: Mapping[str, str], field: str) -> str | None:
    column = mapping.get(field)
    if column is None:
        return None
    if column in row:
        value = row[column]
        return None if value is None or not str(value).strip() else str(value).strip()
    return column  # a literal (checked against the header already)


def _generic(line: int, row: Mapping[str, Any], mapping: Mapping[str, str], chain: Chain) -> _Row:
    try:
        txid = _txid(_need(row, mapping, "txid"))
        asset_text = _cell(row, mapping, "asset") or NATIVE_ASSET
        asset = NATIVE_ASSET if asset_text.lower() == NATIVE_ASSET else normalize_address(chain, asset_text)
        decimals_text = _cell(row, mapping, "decimals")
        decimals = chain.decimals if decimals_text is None else _int(decimals_text, "decimals")
        if asset != NATIVE_ASSET and decimals_text is None:
            raise InputError("a token amount needs its decimals: map a decimals column or give decimals=N")
        value = to_base_units(_need(row, mapping, "value"), decimals)
        kind = _cell(row, mapping, "kind") or ("native" if asset == NATIVE_ASSET else "token")
        if kind not in ("native", "token", "internal"):
            raise InputError(f"kind {kind!r} must be native, token or internal")
        log_index = _cell(row, mapping, "log_index")
        transfer = (kind, asset, normalize_address(chain, _need(row, mapping, "from")),
                    normalize_address(chain, _need(row, mapping, "to")), value,
                    None if log_index is None else _int(log_index, "log_index"))
        block = _cell(row, mapping, "block")
        return _Row(line, txid, None if block is None else _int(block, "block"),
                    _time(_cell(row, mapping, "time")), 0, transfer)
    except InputError as exc:
        raise CsvRowError(f"line {line}: {exc}") from None


def _etherscan(reader: csv.DictReader[str], header: Sequence[str], mapping: Mapping[str, str],
               chain: Chain) -> list[_Row]:
    token = "TokenValue" in header
    if not token and "Value_IN(ETH)" not in header:
        raise CsvRowError("line 1: not an Etherscan export (neither Value_IN(ETH) nor TokenValue in the header)")
    needed = [*_ETHERSCAN_NATIVE.values(), *(("TokenValue", "ContractAddress") if token else ("Value_IN(ETH)",
                                                                                            "Value_OUT(ETH)"))]
    absent = [c for c in needed if c not in header]
    if absent:
        raise CsvRowError(f"line 1: the Etherscan export lacks {', '.join(absent)}")
    if token and not mapping.get("decimals"):
        raise InputError("the Etherscan token export has no decimals column: pass --map decimals=N")
    rows: list[_Row] = []
    for line, row in enumerate(reader, start=2):
        try:
            txid = _txid(row["Txhash"].strip())
            sender = normalize_address(chain, row["From"].strip())
            block = _int(row["Blockno"].strip(), "Blockno")
            stamp = _time(row["UnixTimestamp"].strip())
            fee = to_base_units(row.get("TxnFee(ETH)", "").strip() or "0", 18)
            transfer: tuple[str, str, str, str, int, int | None] | None = None
            if token:
                decimals_text = _cell(row, mapping, "decimals") or ""
                amount = to_base_units(row["TokenValue"].strip().replace(",", ""), _int(decimals_text, "decimals"))
                transfer = ("token", normalize_address(chain, row["ContractAddress"].strip()), sender,
                            normalize_address(chain, row["To"].strip()), amount, None)
                fee = 0
            else:
                v_in, v_out = (to_base_units(row[c].strip().replace(",", "") or "0", 18)
                               for c in ("Value_IN(ETH)", "Value_OUT(ETH)"))
                failed = (row.get("ErrCode") or "").strip() or "error" in (row.get("Status") or "").lower()
                to_text = row["To"].strip() or row.get("ContractAddress", "").strip()
                if (v_in or v_out) and not failed:
                    transfer = ("native", NATIVE_ASSET, sender, normalize_address(chain, to_text), v_in or v_out, None)
            rows.append(_Row(line, txid, block, stamp, fee, transfer))
        except InputError as exc:
            raise CsvRowError(f"line {line}: {exc}") from None
    return rows


def _need(row: Mapping[str, Any], mapping: Mapping[str, str], field: str) -> str:
    value = _cell(row, mapping, field)
    if value is None:
        raise InputError(f"{field} ({mapping[field]}) is empty")
    return value


def _txid(text: str) -> str:
    if not _TXID.fullmatch(text):
        raise InputError(f"transaction hash {text!r} is not 0x followed by 64 hex digits")
    return text.lower()


def _int(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise InputError(f"{what} {text!r} is not a whole number")
    return int(text)


def _time(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"time {text!r} is neither UNIX seconds nor YYYY-MM-DD HH:MM:SS") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _frames(rows: list[_Row], chain: Chain, source: str) -> FrameSet:
    txs: dict[str, _Row] = {}
    fees: dict[str, int] = {}
    for row in rows:
        fees[row.txid] = max(fees.get(row.txid, 0), row.fee)
        seen = txs.get(row.txid)
        if seen is None:
            txs[row.txid] = row
        elif (seen.block, seen.time) != (row.block, row.time):
            raise CsvRowError(f"line {row.line}: transaction {row.txid} has another block or time than on line "
                              f"{seen.line}")
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.transfer is not None:
            counts[(row.txid, row.transfer[0])] = counts.get((row.txid, row.transfer[0]), 0) + 1
    t_cols: dict[str, list[Any]] = {c: [] for c in TRANSFERS.columns}
    ordinal: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.transfer is None:
            continue
        kind, asset, sender, recipient, value, log_index = row.transfer
        key = (row.txid, kind)
        ordinal[key] = ordinal.get(key, 0) + 1
        path = None if log_index is not None or counts[key] == 1 else f"csv:{ordinal[key]}"
        amount, overflow = split_for_frame(value)
        for column, cell in (("chain", chain.key), ("txid", row.txid), ("block_height", row.block),
                             ("block_hash", None), ("tx_index", None), ("timestamp", row.time), ("kind", kind),
                             ("log_index", log_index), ("trace_path", path), ("asset", asset), ("token_id", None),
                             ("from_address", sender), ("to_address", recipient), ("value", amount),
                             ("value_overflow", overflow), ("source", source)):
            t_cols[column].append(cell)
    transactions = pl.DataFrame(
        {
            "chain": [chain.key] * len(txs), "txid": list(txs), "block_height": [r.block for r in txs.values()],
            "block_hash": [None] * len(txs), "position": [None] * len(txs),
            "timestamp": [r.time for r in txs.values()],
            "fee": [Decimal(fees[t]) for t in txs],
            "is_coinbase": [False] * len(txs), "source": [source] * len(txs),
        },
        schema=TRANSACTIONS.polars_schema,
    )
    transfers = pl.DataFrame(t_cols, schema=TRANSFERS.polars_schema)
    return FrameSet(transactions=conform(transactions, TRANSACTIONS), transfers=conform(transfers, TRANSFERS))
