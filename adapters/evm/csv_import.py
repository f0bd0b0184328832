# SPDX-License-Identifier: Apache-2.0
"""Transfers from CSV files (exchange answers to legal requests, explorer exports) -> canonical frames.

Pure: text in (a string or an iterable of lines, so a file is read as a stream), ``transactions`` +
``transfers`` frames out. All or nothing: the first row that cannot be read raises
:class:`CsvRowError` naming its line number (1 = the header), and no frame is returned, so nothing
is half-loaded. A row with more or fewer fields than the header is refused (``…,1,500.25``: an
unquoted thousands separator would otherwise shift or drop a value).

A **column map** says which CSV column holds each field (``--map from=Sender,to=Receiver,...``):

=============  ========  ===============================================================================
field          required  meaning
=============  ========  ===============================================================================
``from``       yes       sender address (EIP-55 checked when mixed case)
``to``         yes       recipient address
``value``      yes       amount in coin/token units (``1.5``), converted exactly: ASCII digits and at
                         most one decimal point (:func:`tracer.units.amount_from_text`), below 2**256
                         base units
``txid``       yes       transaction hash (0x + 64 hex)
``asset``      no        ``native`` (default) or the token contract; a column name or a literal
``decimals``   no        the asset's decimals (0-255); a column name or a literal number (default: the
                         chain's)
``time``       no        block time: UNIX seconds or ``YYYY-MM-DD HH:MM:SS`` (UTC), 1970 to 9999
``block``      no        block height (below 2**63)
``log_index``  no        log index of a token transfer (below 2**63)
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
``TokenValue`` and the ``Value_IN``/``Value_OUT`` columns may carry thousands separators grouped by
three (``1,234.5``); they are removed (``1,5`` is refused, not read as 15).

Keys: a CSV row has no trace position, so a row is keyed like a node row (``log_index``, else no
path) when its ``(txid, kind)`` is unique in the file, and by its ordinal (``trace_path =
"csv:<n>"``) otherwise. A transaction's fee is 0 when the file does not give it.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from adapters.addresses import normalize_address
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, TRANSFERS, FrameSet, conform
from tracer.units import FRAME_DECIMAL_LIMIT, MAX_DECIMALS, amount_from_text, split_for_frame

__all__ = [
    "CsvTransfers", "CsvRowError", "FIELDS", "PRESETS", "parse_column_map", "parse_transfers_csv",
    "read_transfers_csv", "read_header"]

FIELDS = ("from", "to", "value", "txid", "asset", "decimals", "time", "block", "log_index", "kind")
_REQUIRED = ("from", "to", "value", "txid")
PRESETS = ("etherscan",)
_TXID = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ETHERSCAN_NATIVE = {"txid": "Txhash", "block": "Blockno", "time": "UnixTimestamp", "from": "From", "to": "To"}
_WHOLE = re.compile(r"[0-9]+", re.ASCII)
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?", re.ASCII)
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?", re.ASCII)
#: limits of the stores' INT64 columns, and of a block time (a date after 9999 is not a block time)
_MAX_INT64 = 2**63 - 1
_MAX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC


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
    #: a token's metadata for people: (contract, symbol, name, decimals)
    token: tuple[str, str | None, str | None, int] | None = None


@dataclass(frozen=True)
class CsvTransfers:
    """What a CSV holds: its frames (exact base units) and, for showing amounts to people, the
    symbol, name and decimals of the tokens it names (``{contract: {"symbol", "name", "decimals"}}``:
    decimals from the map, symbol and name from the Etherscan token export's ``TokenSymbol`` /
    ``TokenName`` columns, else None)."""

    frames: FrameSet
    tokens: dict[str, dict[str, Any]]


def read_transfers_csv(text: str | Iterable[str], chain: Chain, mapping: Mapping[str, str] | None = None, *,
                       preset: str | None = None, source: str) -> FrameSet:
    """The frames of :func:`parse_transfers_csv`."""
    return parse_transfers_csv(text, chain, mapping, preset=preset, source=source).frames


def parse_transfers_csv(text: str | Iterable[str], chain: Chain, mapping: Mapping[str, str] | None = None, *,
                        preset: str | None = None, source: str) -> CsvTransfers:
    """Read a whole CSV, in one pass, into ``transactions`` and ``transfers`` frames and the metadata
    of its tokens (see the module docstring).

    Parameters
    ----------
    text
        The whole text, or its lines (with their line ends) as a file yields them.

    Raises
    ------
    CsvRowError
        The header lacks a mapped column or names one twice, or a row is bad (line number, column
        and reason): a value, or more or fewer fields than the header.
    InputError
        An unknown preset or a chain that is not an account chain.
    """
    if not chain.is_account:
        raise InputError(f"{chain.key} is a UTXO chain: CSV import of transfers is for account chains")
    if preset is not None and preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    lines = io.StringIO(text) if isinstance(text, str) else text
    reader, header = read_header(lines)
    twice = sorted(h for h, n in Counter(header).items() if h and n > 1)
    if twice:
        raise CsvRowError(f"line 1: the header names column {twice[0]!r} twice")
    given = dict(mapping or {})
    if preset == "etherscan":
        rows = _etherscan(_records(reader, header), header, given, chain)
    else:
        missing = [f for f in _REQUIRED if f not in given]
        if missing:
            raise InputError(f"--map must name the column of: {', '.join(missing)}")
        _check_columns(header, given)
        rows = [_generic(n, r, given, chain) for n, r in _records(reader, header)]
    if not rows:
        raise CsvRowError("the CSV has a header but no rows")
    tokens: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.token is not None:
            contract, symbol, name, decimals = row.token
            tokens.setdefault(contract, {"symbol": symbol, "name": name, "decimals": decimals})
    return CsvTransfers(frames=_frames(rows, chain, source), tokens=tokens)


def read_header(lines: Iterable[str]) -> tuple[Any, list[str]]:
    """A CSV reader over ``lines`` (a leading byte-order mark dropped) and its header, stripped;
    :class:`CsvRowError` for an empty file or a header that is not CSV."""
    reader = csv.reader(_without_bom(lines))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise CsvRowError(f"line {reader.line_num}: {exc}") from None
    if not header:
        raise CsvRowError("line 1: the file is empty; a CSV of transfers starts with a header line")
    return reader, header


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        yield line.removeprefix("\ufeff") if first else line
        first = False


def _records(reader: Any, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: value})`` for every non-blank row (``line``: where the row ends, 1 = the
    header); a row with more or fewer fields than the header is refused rather than shifted."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field larger than the csv module's limit
            raise CsvRowError(f"line {reader.line_num}: {exc}") from None
        if not fields or fields == [""]:
            continue  # a blank line
        if len(fields) > len(header):
            raise CsvRowError(
                f"line {reader.line_num}: {len(fields)} fields, more than the {len(header)} of the header "
                "(a value with an unquoted ',' such as 1,500.25? quote it)")
        if len(fields) < len(header):
            raise CsvRowError(
                f"line {reader.line_num}: {len(fields)} fields, fewer than the {len(header)} of the header")
        yield reader.line_num, dict(zip(header, fields, strict=True))


def _check_columns(header: Sequence[str], mapping: Mapping[str, str]) -> None:
    literal_ok = {"asset", "decimals", "kind"}
    for field, column in mapping.items():
        if column not in header and not (field in literal_ok and _literal(field, column)):
            raise CsvRowError(f"line 1: no column {column!r} (for {field}); the header has: {', '.join(header)}")


def _literal(field: str, text: str) -> bool:
    if field == "decimals":
        return len(text) <= 3 and _WHOLE.fullmatch(text) is not None and int(text) <= MAX_DECIMALS
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
        decimals = chain.decimals if decimals_text is None else _int(decimals_text, "decimals", MAX_DECIMALS)
        if asset != NATIVE_ASSET and decimals_text is None:
            raise InputError("a token amount needs its decimals: map a decimals column or give decimals=N")
        value = amount_from_text(_need(row, mapping, "value"), decimals, what="value")
        kind = _cell(row, mapping, "kind") or ("native" if asset == NATIVE_ASSET else "token")
        if kind not in ("native", "token", "internal"):
            raise InputError(f"kind {kind!r} must be native, token or internal")
        log_index = _cell(row, mapping, "log_index")
        transfer = (kind, asset, normalize_address(chain, _need(row, mapping, "from")),
                    normalize_address(chain, _need(row, mapping, "to")), value,
                    None if log_index is None else _int(log_index, "log_index", _MAX_INT64))
        block = _cell(row, mapping, "block")
        token = None if asset == NATIVE_ASSET or decimals_text is None else (asset, None, None, decimals)
        return _Row(line, txid, None if block is None else _int(block, "block", _MAX_INT64),
                    _time(_cell(row, mapping, "time")), 0, transfer, token)
    except InputError as exc:
        raise CsvRowError(f"line {line}: {exc}") from None


def _etherscan(records: Iterable[tuple[int, dict[str, str]]], header: Sequence[str], mapping: Mapping[str, str],
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
    for line, row in records:
        try:
            txid = _txid(row["Txhash"].strip())
            sender = normalize_address(chain, row["From"].strip())
            block = _int(row["Blockno"].strip(), "Blockno", _MAX_INT64)
            stamp = _time(row["UnixTimestamp"].strip())
            fee = _fee(amount_from_text(row.get("TxnFee(ETH)", "").strip() or "0", 18, what="TxnFee(ETH)"))
            transfer: tuple[str, str, str, str, int, int | None] | None = None
            metadata = None
            if token:
                decimals = _int(_cell(row, mapping, "decimals") or "", "decimals", MAX_DECIMALS)
                amount = amount_from_text(_ungrouped(row["TokenValue"], "TokenValue"), decimals, what="TokenValue")
                contract = normalize_address(chain, row["ContractAddress"].strip())
                transfer = ("token", contract, sender, normalize_address(chain, row["To"].strip()), amount, None)
                metadata = (contract, (row.get("TokenSymbol") or "").strip() or None,
                            (row.get("TokenName") or "").strip() or None, decimals)
                fee = 0
            else:
                v_in, v_out = (amount_from_text(_ungrouped(row[c], c) or "0", 18, what=c)
                               for c in ("Value_IN(ETH)", "Value_OUT(ETH)"))
                failed = (row.get("ErrCode") or "").strip() or "error" in (row.get("Status") or "").lower()
                to_text = row["To"].strip() or row.get("ContractAddress", "").strip()
                if (v_in or v_out) and not failed:
                    transfer = ("native", NATIVE_ASSET, sender, normalize_address(chain, to_text), v_in or v_out, None)
            rows.append(_Row(line, txid, block, stamp, fee, transfer, metadata))
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


def _int(text: str, what: str, maximum: int) -> int:
    """A whole number of ASCII digits from 0 to ``maximum`` (its digits are counted before ``int()``)."""
    text = text.strip()
    if not _WHOLE.fullmatch(text):
        raise InputError(f"{what} {_short(text)!r} is not a whole number (ASCII digits 0-9)")
    if len(text.lstrip("0")) > len(str(maximum)) or int(text) > maximum:
        raise InputError(f"{what} {_short(text)!r} is larger than {maximum}")
    return int(text)


def _fee(value: int) -> int:
    if value >= FRAME_DECIMAL_LIMIT:
        raise InputError(f"fee of {value} wei does not fit the stores' fee column (below 10**38)")
    return value


def _ungrouped(text: str, what: str) -> str:
    """An explorer's amount without its thousands separators, which must group digits by three
    (``1,250.5``); ``1,5`` (a decimal comma?) is refused rather than read as 15."""
    text = text.strip()
    if "," not in text:
        return text
    if not _GROUPED.fullmatch(text):
        raise InputError(f"{what} {_short(text)!r} has a ',' that is not a thousands separator (groups of 3 digits)")
    return text.replace(",", "")


def _short(text: str) -> str:
    return text if len(text) <= 90 else text[:40] + "…" + text[-40:]


def _time(text: str | None) -> int | None:
    """UNIX seconds or an ISO date/time (UTC unless it says otherwise), 1970-01-01 to 9999-12-31."""
    if text is None:
        return None
    if _WHOLE.fullmatch(text):
        if len(text.lstrip("0")) > len(str(_MAX_TIME)) or int(text) > _MAX_TIME:
            raise InputError(f"time {_short(text)!r} is after 9999-12-31 (UNIX seconds up to {_MAX_TIME})")
        return int(text)
    try:
        if not _ISO_TIME.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        stamp = int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
    except (ValueError, OverflowError):
        raise InputError(f"time {_short(text)!r} is neither UNIX seconds nor YYYY-MM-DD HH:MM:SS") from None
    if not 0 <= stamp <= _MAX_TIME:
        raise InputError(f"time {_short(text)!r} is not between 1970-01-01 and 9999-12-31")
    return stamp


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
