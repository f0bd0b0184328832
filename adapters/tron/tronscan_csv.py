# SPDX-License-Identifier: Apache-2.0
"""TronScan's CSV export of an address's transfers -> canonical frames (``tracer ingest csv --preset tronscan``).

**What is confirmed about the format, and what is not.** TronScan (tronscan.org, an address's
"Transfers" tab, "Download CSV File") publishes no specification of its export. The column names
this preset relies on are those a public parser of that export looks up by name:
``Token``, ``From``, ``To``, ``Amount/TokenID`` and ``Time(UTC)`` (``TronScan_Macro.txt`` of
github.com/Jackalope-eth/Tronscan_USDT_Parser, MIT; it finds the USDT rows by the contract address
``TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t`` *inside* the ``Token`` cell). **Not confirmed**: the name of
the transaction-hash column (this preset takes the first of :data:`HASH_COLUMNS` the header has,
or ``--map txid=COLUMN``), whether the export carries a block number, a fee, a status or the
token's decimals, and how ``Token`` spells TRX and TRC-10 tokens. Hence:

* ``Amount/TokenID`` is read as an amount in token units (``12.5``) with at most the token's
  decimals: TRX (a ``Token`` cell that is ``TRX`` or names no token address) and USDT have 6;
  any other token needs ``--map decimals=N`` (a TRC-721 row, whose cell is a token id, cannot
  be read by this preset);
* the asset is the ``T…`` contract address found in the ``Token`` cell, a TRC-10 id (the
  cell's digits), or ``native`` for TRX;
* a ``Result``/``Status`` column, if present, other than ``SUCCESS`` moves no value;
* the fee is 0 (a transfers export does not give it) and rows have no block height.

Keys, all-or-nothing reading, line numbers in errors and amount rules are those of
:mod:`adapters.evm.csv_import`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.addresses import normalize_address
from adapters.evm.csv_import import CsvRowError, CsvTransfers, _frames, _records, _Row, _time, _ungrouped
from tracer.chains import AddressFormat, Chain
from tracer.errors import InputError
from tracer.schema import NATIVE_ASSET
from tracer.units import MAX_DECIMALS, amount_from_text

__all__ = ["HASH_COLUMNS", "KNOWN_DECIMALS", "read_tronscan"]

#: candidate names of the hash column (not confirmed from a public source; ``--map txid=`` overrides)
HASH_COLUMNS = ("Transaction Hash", "Txn Hash", "TxHash", "Hash", "transaction_id", "Transaction ID")
#: decimals of the assets the preset knows without ``--map decimals=N``
KNOWN_DECIMALS = {NATIVE_ASSET: 6, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t": 6}
_NEEDED = ("From", "To", "Amount/TokenID", "Time(UTC)", "Token")
_ADDRESS_IN = re.compile(r"\bT[1-9A-HJ-NP-Za-km-z]{33}\b")
_TXID = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_TRC10 = re.compile(r"\b(1[0-9]{6})\b")


def read_tronscan(reader: Any, header: Sequence[str], mapping: Mapping[str, str], chain: Chain,
                  source: str) -> CsvTransfers:
    """Rows of a TronScan transfers export (see the module docstring), all or none.

    Raises
    ------
    CsvRowError
        A column the preset needs is absent (line 1) or a row is bad (its line).
    InputError
        The chain is not Tron, or a token's decimals are unknown and not given.
    """
    if chain.address_format is not AddressFormat.TRON:
        raise InputError(f"the tronscan preset reads Tron exports; {chain.key} is not Tron (use --chain trx)")
    absent = [c for c in _NEEDED if c not in header]
    hash_column = mapping.get("txid") or next((c for c in HASH_COLUMNS if c in header), None)
    if hash_column is None or hash_column not in header:
        absent.append(hash_column or f"a hash column ({' / '.join(HASH_COLUMNS)}; or --map txid=COLUMN)")
    if absent or hash_column is None:
        raise CsvRowError(f"line 1: not a TronScan transfers export as this preset knows it: no {', '.join(absent)} "
                          f"column (the header has: {', '.join(header)})")
    status_column = next((c for c in ("Result", "Status") if c in header), None)
    given = mapping.get("decimals")
    if given is not None and (not given.isdigit() or int(given) > MAX_DECIMALS):
        raise InputError(f"--map decimals={given}: give the token's decimals as a number")
    rows: list[_Row] = []
    tokens: dict[str, dict[str, Any]] = {}
    for line, row in _records(reader, header):
        try:
            rows.append(_row(line, row, hash_column, status_column, chain, None if given is None else int(given),
                             tokens))
        except InputError as exc:
            raise CsvRowError(f"line {line}: {exc}") from None
    if not rows:
        raise CsvRowError("the CSV has a header but no rows")
    return CsvTransfers(frames=_frames(rows, chain, source), tokens=tokens)


def _row(line: int, row: Mapping[str, str], hash_column: str, status_column: str | None, chain: Chain,
         decimals_given: int | None, tokens: dict[str, dict[str, Any]]) -> _Row:
    match = _TXID.fullmatch(row[hash_column].strip())
    if match is None:
        raise InputError(f"{hash_column} {row[hash_column].strip()[:80]!r} is not 64 hex digits")
    txid = "0x" + match.group(1).lower()
    token_cell = row["Token"].strip()
    asset = _asset(token_cell, chain)
    decimals = KNOWN_DECIMALS.get(asset, decimals_given)
    if decimals is None:
        raise InputError(f"the decimals of token {token_cell!r} are not in the export: pass --map decimals=N")
    value = amount_from_text(_ungrouped(row["Amount/TokenID"], "Amount/TokenID"), decimals, what="Amount/TokenID")
    sender = normalize_address(chain, row["From"].strip())
    recipient = normalize_address(chain, row["To"].strip())
    failed = status_column is not None and row[status_column].strip().upper() not in ("", "SUCCESS")
    transfer = None if failed else (("native" if asset == NATIVE_ASSET else "token"), asset, sender, recipient,
                                    value, None)
    if asset != NATIVE_ASSET:
        tokens.setdefault(asset, {"symbol": _symbol(token_cell, asset), "name": None, "decimals": decimals})
    return _Row(line, txid, None, _time(row["Time(UTC)"].strip() or None), 0, transfer,
                None if asset == NATIVE_ASSET else (asset, None, None, decimals))


def _asset(cell: str, chain: Chain) -> str:
    """The asset a ``Token`` cell names: a ``T…`` contract address in it, a TRC-10 id, else TRX."""
    found = _ADDRESS_IN.search(cell)
    if found:
        return normalize_address(chain, found.group(0))
    trc10 = _TRC10.search(cell)
    if trc10:
        return trc10.group(1)
    if cell.upper() in ("", "TRX") or cell.upper().startswith("TRX"):
        return NATIVE_ASSET
    raise InputError(f"Token {cell!r} names neither TRX, a TRC-10 id nor a T… contract address")


def _symbol(cell: str, asset: str) -> str | None:
    text = cell.replace(asset, "").strip(" ()[]-")
    return text or None


def tronscan_hash_columns() -> Iterable[str]:
    """The hash column names the preset tries, in order (for help texts)."""
    return HASH_COLUMNS
