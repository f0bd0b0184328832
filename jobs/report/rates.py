# SPDX-License-Identifier: Apache-2.0
"""Fiat values at transaction time, from rates the user supplies (or, opted in, a price API).

A rate says: at UTC second ``time``, one coin (or one token unit) of ``asset`` on ``chain`` was worth
``price`` in ``currency``, according to ``source``. An amount of base units moved at time ``t`` is
valued with the latest rate at or before ``t`` that is at most ``max_age`` seconds old; without one it
has **no rate** -- never a guess, never a rate from after the transaction (a later price would state
a value the holder could not have known).

The arithmetic is exact (the shared design notes §3: integers in base units; fiat in
:class:`decimal.Decimal`): ``amount * price / 10**decimals``, rounded once to cents with
``ROUND_HALF_EVEN`` (the IEEE 754 default, also called banker's rounding). :meth:`RateTable.value_at`
does it with ``Decimal`` for one amount; :meth:`RateTable.values_for` matches a whole frame with
polars' ``join_asof`` (strategy ``backward``, ``tolerance=max_age``) and does the same arithmetic on
Python integers, fast enough for an appendix of hundreds of thousands of rows.

The rate CSV (:func:`load_rate_csv`), header ``chain,asset,time,price,currency,source`` (any column
order, extra columns ignored); ``time`` is UTC seconds or an ISO 8601 date / date-time (UTC unless it
carries an offset); ``price`` is a plain decimal (``87.31``). One table holds one currency. The file's
SHA-256 goes into :attr:`RateTable.sources`, so the report can cite the exact file.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import polars as pl

from tracer.errors import InputError

__all__ = ["Rate", "RateSource", "FiatValue", "RateTable", "load_rate_csv", "parse_rate_time", "DEFAULT_MAX_AGE"]

#: a rate older than this (seconds) does not value a transaction: one day, the granularity of daily rates
DEFAULT_MAX_AGE = 86_400
CSV_COLUMNS = ("chain", "asset", "time", "price", "currency", "source")
#: a price: ASCII digits with an optional fraction; no sign, exponent, separator or space inside
_PRICE = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+", re.ASCII)
_MAX_PRICE_DIGITS = 60
_CURRENCY = re.compile(r"[A-Za-z]{3}", re.ASCII)
_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)
_CENT = Decimal("0.01")
_FRAME_CENT_LIMIT = 10**38  # Decimal(38, 2) holds fewer cents than this


@dataclass(frozen=True)
class Rate:
    """One price point: ``price`` units of ``currency`` for ONE coin / token unit at UTC second ``time``."""

    chain: str
    asset: str
    time: int
    price: Decimal
    currency: str
    source: str


@dataclass(frozen=True)
class RateSource:
    """Where rates came from, for the report's sources: a file (``name`` and ``sha256``) or a price
    API (``name``, the request ``url`` and the ``sha256`` of its answer)."""

    name: str
    sha256: str = ""
    url: str = ""
    rows: int = 0


@dataclass(frozen=True)
class FiatValue:
    """An amount's fiat value: ``amount`` (cents, exact), the ``price`` and ``rate_time`` of the rate
    used and the ``source`` that rate names."""

    amount: Decimal
    currency: str
    price: Decimal
    rate_time: int
    source: str

    def text(self) -> str:
        """``"1,234.56 EUR"``."""
        return f"{self.amount:,.2f} {self.currency}"


class RateTable:
    """Rates by ``(chain, asset)``, sorted by time; one currency. Chain keys and assets are compared in
    lower case (EVM token contracts are hex, their checksum case carries no meaning here)."""

    def __init__(self, rates: Iterable[Rate], sources: Sequence[RateSource] = ()) -> None:
        lowered = (replace(rate, chain=rate.chain.lower(), asset=rate.asset.lower()) for rate in rates)
        ordered = sorted(lowered, key=lambda rate: (rate.chain, rate.asset, rate.time))
        currencies = sorted({rate.currency for rate in ordered})
        if len(currencies) > 1:
            raise InputError(f"rates in more than one currency ({', '.join(currencies)}); give one currency")
        self.rates: tuple[Rate, ...] = tuple(ordered)
        self.sources: tuple[RateSource, ...] = tuple(sources)
        self.currency: str | None = currencies[0] if currencies else None
        self._index: dict[tuple[str, str], tuple[int, list[int]]] = {}
        for position, rate in enumerate(self.rates):
            if not rate.price.is_finite() or rate.price < 0:
                raise ValueError(f"rate for {rate.chain} {rate.asset} at {rate.time}: price {rate.price} is not >= 0")
            _, times = self._index.setdefault((rate.chain, rate.asset), (position, []))
            if times and times[-1] == rate.time:
                raise InputError(f"two rates for {rate.chain} {rate.asset} at {rate.time}; keep one")
            times.append(rate.time)
        self._frame: pl.DataFrame | None = None
        self._parts: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.rates)

    def rate_at(self, chain: str, asset: str, at: int, *, max_age: int = DEFAULT_MAX_AGE) -> Rate | None:
        """The latest rate for ``(chain, asset)`` at or before ``at`` and at most ``max_age`` seconds
        older; ``None`` if there is none."""
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0 seconds, not {max_age}")
        found = self._index.get((chain.lower(), asset.lower()))
        if found is None:
            return None
        start, times = found
        position = bisect.bisect_right(times, at) - 1
        if position < 0 or at - times[position] > max_age:
            return None
        return self.rates[start + position]

    def value_at(self, chain: str, asset: str, amount: int, decimals: int, at: int, *,
                 max_age: int = DEFAULT_MAX_AGE) -> FiatValue | None:
        """The fiat value of ``amount`` base units of an asset with ``decimals`` decimals moved at UTC
        second ``at``: ``amount * price / 10**decimals`` in cents (round half to even), or ``None``
        when no rate applies (see :meth:`rate_at`)."""
        if amount < 0 or not 0 <= decimals <= 255:
            raise ValueError(f"amount must be >= 0 and decimals 0..255, not {amount} and {decimals}")
        rate = self.rate_at(chain, asset, at, max_age=max_age)
        if rate is None:
            return None
        with localcontext() as context:
            _, digits, exponent = rate.price.as_tuple()
            context.prec = len(str(amount)) + len(digits) + abs(int(exponent)) + 4  # every digit kept, no rounding
            fiat = (Decimal(amount) * rate.price).scaleb(-decimals).quantize(_CENT, rounding=ROUND_HALF_EVEN)
        return FiatValue(fiat, rate.currency, rate.price, rate.time, rate.source)

    def values_for(self, frame: pl.DataFrame, *, max_age: int = DEFAULT_MAX_AGE, chain_col: str = "chain",
                   asset_col: str = "asset", amount_col: str = "value", time_col: str = "timestamp",
                   decimals: int | str = "decimals") -> pl.DataFrame:
        """``frame`` (same rows, same order) with the columns ``fiat_amount`` (``Decimal(38, 2)``),
        ``fiat_currency``, ``fiat_price`` (the rate's exact decimal text), ``rate_time`` and
        ``rate_source``, all null where no rate applies -- the result :meth:`value_at` gives row by row.

        ``amount_col`` holds base units (integer, ``Decimal(38, 0)`` or digit text for uint256 beyond
        it); ``decimals`` is a column name or one number for every row. Rows are matched with
        ``join_asof`` (backward, ``tolerance=max_age``); the cents are computed on Python integers.
        A value of 10**36 currency units or more does not fit ``Decimal(38, 2)`` and is left null.
        """
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0 seconds, not {max_age}")
        keys = frame.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
            pl.col(chain_col).cast(pl.String).str.to_lowercase().alias("_chain"),
            pl.col(asset_col).cast(pl.String).str.to_lowercase().alias("_asset"),
            pl.col(time_col).cast(pl.Int64).alias("_time"),
        ).filter(pl.col("_time").is_not_null()).sort("_time")
        matched = keys.join_asof(self._rate_frame(), left_on="_time", right_on="rate_time", by=["_chain", "_asset"],
                                 strategy="backward", tolerance=max_age, coalesce=False, check_sortedness=False)
        rows = pl.DataFrame({"_row": pl.int_range(frame.height, dtype=pl.UInt32, eager=True)})
        found = rows.join(matched.select("_row", "_rate", "rate_time", "fiat_price", "rate_source"), on="_row",
                          how="left", maintain_order="left")
        amounts = _integers(frame[amount_col])
        places = [decimals] * frame.height if isinstance(decimals, int) else frame[decimals].to_list()
        parts = self._price_parts()
        cents = [None if index is None or amount is None or digits is None
                 else _cents(amount * parts[index][0], parts[index][1] + 2 - digits)
                 for index, amount, digits in zip(found["_rate"].to_list(), amounts, places, strict=True)]
        fitting = [None if value is None or abs(value) >= _FRAME_CENT_LIMIT else value for value in cents]
        fiat = pl.Series("fiat_amount", fitting, dtype=pl.Int128).cast(pl.Decimal(38, 0)) * Decimal("0.01")
        return frame.with_columns(
            fiat.alias("fiat_amount"),
            pl.when(fiat.is_not_null()).then(pl.lit(self.currency, pl.String)).alias("fiat_currency"),
            found["fiat_price"].alias("fiat_price"),
            found["rate_time"].alias("rate_time"),
            found["rate_source"].alias("rate_source"),
        )

    def _price_parts(self) -> list[tuple[int, int]]:
        """Each rate's price as ``(coefficient, exponent)``: ``price == coefficient * 10**exponent``."""
        if self._parts is None:
            self._parts = []
            for rate in self.rates:
                _, digits, exponent = rate.price.as_tuple()
                assert isinstance(exponent, int), "a price is a finite number"
                self._parts.append((int("".join(map(str, digits))), exponent))
        return self._parts

    def _rate_frame(self) -> pl.DataFrame:
        """The rates as a frame for ``join_asof``: keys in lower case, sorted by time, ``_rate`` the
        position in :attr:`rates`."""
        if self._frame is None:
            self._frame = pl.DataFrame({
                "_chain": [rate.chain for rate in self.rates],
                "_asset": [rate.asset for rate in self.rates],
                "rate_time": [rate.time for rate in self.rates],
                "_rate": list(range(len(self.rates))),
                "fiat_price": [str(rate.price) for rate in self.rates],
                "rate_source": [rate.source for rate in self.rates],
            }, schema={"_chain": pl.String, "_asset": pl.String, "rate_time": pl.Int64, "_rate": pl.UInt32,
                       "fiat_price": pl.String, "rate_source": pl.String}).sort("rate_time")
        return self._frame


def _integers(column: pl.Series) -> list[int | None]:
    """A column of base units as Python ints: integer and ``Decimal(38, 0)`` columns through
    ``Int128``, digit text (uint256 beyond ``Decimal(38, 0)``) with ``int``."""
    if column.dtype == pl.String:
        return [None if text is None else int(text) for text in column.to_list()]
    if isinstance(column.dtype, pl.Decimal) and column.dtype.scale != 0:
        raise ValueError(f"amount column {column.name!r} must hold whole base units, not {column.dtype}")
    return column.cast(pl.Int128).to_list()


def _cents(numerator: int, shift: int) -> int:
    """``numerator * 10**shift`` rounded to an integer, half to even, on integers only (the cents of
    ``amount * price / 10**decimals`` with ``numerator = amount * coefficient(price)`` and
    ``shift = exponent(price) + 2 - decimals``)."""
    if shift >= 0:
        return numerator * 10**shift
    divisor = 10**-shift
    quotient, remainder = divmod(numerator, divisor)
    if 2 * remainder > divisor or (2 * remainder == divisor and quotient % 2):
        quotient += 1
    return quotient


def load_rate_csv(path: Path) -> RateTable:
    """The rates of a CSV file the user supplies (see the module notes for its columns). Every bad row
    is refused with the file and its line; an empty file or one without rows too."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read rate file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); a rate file is a UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns = _header(reader, path)
    rates: dict[tuple[str, str, int], tuple[int, Rate]] = {}
    currency: tuple[int, str] | None = None
    try:
        for row in reader:
            if not row or row == [""]:
                continue
            line = reader.line_num
            rate = _row_rate(row, columns, f"{path}, line {line}")
            currency = currency or (line, rate.currency)
            if rate.currency != currency[1]:
                raise InputError(f"{path}, line {line}: currency {rate.currency}, but line {currency[0]} gave "
                                 f"{currency[1]}; one rate file holds one currency")
            key = (rate.chain, rate.asset, rate.time)
            if key in rates:
                raise InputError(f"{path}, line {line}: a second rate for {rate.chain} {rate.asset} at {rate.time} "
                                 f"(line {rates[key][0]} gave one)")
            rates[key] = (line, rate)
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    if not rates:
        raise InputError(f"{path}: no rates (a header `{','.join(CSV_COLUMNS)}` and one row per rate)")
    source = RateSource(str(path), sha256=hashlib.sha256(data).hexdigest(), rows=len(rates))
    return RateTable((rate for _, rate in rates.values()), [source])


def _header(reader: Iterator[list[str]], path: Path) -> dict[str, int]:
    """The position of each needed column in the header row; refuses a missing one."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"{path}, line 1: not valid CSV ({exc})") from None
    if header is None:
        raise InputError(f"{path}: empty file; a rate file starts with the header `{','.join(CSV_COLUMNS)}`")
    names = [name.strip().lower() for name in header]
    missing = [name for name in CSV_COLUMNS if name not in names]
    if missing:
        raise InputError(f"{path}, line 1: header lacks column(s) {', '.join(missing)}; "
                         f"expected `{','.join(CSV_COLUMNS)}`")
    return {name: names.index(name) for name in CSV_COLUMNS}


def _row_rate(row: list[str], columns: dict[str, int], where: str) -> Rate:
    """One CSV row as a :class:`Rate`; ``where`` (file and line) starts every complaint."""
    if len(row) <= max(columns.values()):
        raise InputError(f"{where}: {len(row)} field(s), the header names {max(columns.values()) + 1}")
    field = {name: row[position].strip() for name, position in columns.items()}
    for name in ("chain", "asset", "source"):
        if not field[name]:
            raise InputError(f"{where}: empty {name}" + ("; name where the rate came from" if name == "source" else ""))
    price_text = field["price"]
    if price_text.startswith("-") and _PRICE.fullmatch(price_text[1:]):
        raise InputError(f"{where}: negative price {price_text}")
    if not _PRICE.fullmatch(price_text) or len(price_text) > _MAX_PRICE_DIGITS:
        raise InputError(f"{where}: price {price_text!r} is not a plain decimal number (e.g. 87.31)")
    if not _CURRENCY.fullmatch(field["currency"]):
        raise InputError(f"{where}: currency {field['currency']!r} is not a three-letter code (e.g. EUR)")
    return Rate(field["chain"].lower(), field["asset"].lower(), parse_rate_time(field["time"], where),
                Decimal(price_text), field["currency"].upper(), field["source"])


def parse_rate_time(text: str, where: str) -> int:
    """UTC seconds from ``text``: whole seconds since the epoch, or an ISO 8601 date (midnight UTC) or
    date-time (UTC unless it carries an offset). A fraction of a second rounds *up*, so a rate is never
    dated before the moment it states."""
    if _SECONDS.fullmatch(text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: time {text!r} is neither UTC seconds nor an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400 + delta.seconds + (1 if delta.microseconds else 0)
