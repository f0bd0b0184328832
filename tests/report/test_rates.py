# SPDX-License-Identifier: Apache-2.0
"""Fiat values at transaction time from a rate CSV the user supplies (``jobs.report.rates``).

A rate file is read exactly (decimal prices, UTC times in seconds or ISO 8601, the file's SHA-256 kept
for the report's sources) and every bad row is refused with its file and line. An amount is valued
with the latest rate at or before its time and at most ``max_age`` old -- never a later rate, never a
stale one -- as ``amount * price / 10**decimals`` rounded once to cents, half to even. The vectorised
form (``values_for``, polars ``join_asof``) gives exactly what the scalar form (``value_at``) gives,
row by row, on 10,000 random rows, and converts hundreds of thousands of rows in well under a second.
"""

from __future__ import annotations

import hashlib
import random
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from jobs.report.rates import FiatValue, Rate, RateTable, load_rate_csv
from tracer.errors import InputError

DAY = 86_400
MAR_1 = 1_709_251_200  # 2024-03-01T00:00:00Z
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"  # checksum case, as an explorer shows it

GOOD_CSV = f"""\ufeffsource,chain,asset,time,price,currency,note
"ECB reference, via Kraken daily close",LTC,native,2024-03-01,87.31,eur,extra columns are ignored
Kraken daily close,ltc,native,2024-03-02T00:00:00+01:00,88.02,EUR,
Kraken daily close,ltc,native,{MAR_1 + 2 * DAY},86.5,EUR,

Coinbase close,eth,native,2024-03-01 12:00:00,3000.5,EUR,
Coinbase close,eth,{TOKEN},2024-03-01T00:00:00.250Z,0.920001,EUR,
"""


def write(tmp_path: Path, text: str, name: str = "rates.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rate_file_is_read_exactly_with_its_hash(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_CSV)
    table = load_rate_csv(path)
    assert [(rate.chain, rate.asset, rate.time, rate.price, rate.currency, rate.source) for rate in table.rates] == [
        ("eth", TOKEN.lower(), MAR_1 + 1, Decimal("0.920001"), "EUR", "Coinbase close"),  # 0.25 s rounds up
        ("eth", "native", MAR_1 + DAY // 2, Decimal("3000.5"), "EUR", "Coinbase close"),  # naive = UTC
        ("ltc", "native", MAR_1, Decimal("87.31"), "EUR", "ECB reference, via Kraken daily close"),
        ("ltc", "native", MAR_1 + DAY - 3600, Decimal("88.02"), "EUR", "Kraken daily close"),  # +01:00
        ("ltc", "native", MAR_1 + 2 * DAY, Decimal("86.5"), "EUR", "Kraken daily close"),
    ]
    assert table.currency == "EUR" and len(table) == 5
    [source] = table.sources
    assert source.name == str(path) and source.rows == 5
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


HEADER = "chain,asset,time,price,currency,source\n"


@pytest.mark.parametrize(("text", "line", "message"), [
    ("chain,asset,time,price,source\nltc,native,0,1,x\n", 1, "header lacks column(s) currency"),
    (HEADER + "ltc,native,0,1,EUR\n", 2, "5 field(s), the header names 6"),
    (HEADER + "ltc,native,0,1,EUR,x\nltc,native,yesterday,1,EUR,x\n", 3, "time 'yesterday' is neither UTC seconds"),
    (HEADER + "ltc,native,2024-02-30,1,EUR,x\n", 2, "time '2024-02-30'"),
    (HEADER + "ltc,native,1709251200000,1,EUR,x\n", 2, "time '1709251200000'"),  # milliseconds, not seconds
    (HEADER + "ltc,native,0,\"87,31\",EUR,x\n", 2, "price '87,31' is not a plain decimal number"),
    (HEADER + "ltc,native,0,1e3,EUR,x\n", 2, "price '1e3' is not a plain decimal number"),
    (HEADER + "ltc,native,0,,EUR,x\n", 2, "price '' is not a plain decimal number"),
    (HEADER + "ltc,native,0,NaN,EUR,x\n", 2, "price 'NaN' is not a plain decimal number"),
    (HEADER + "ltc,native,0,-87.31,EUR,x\n", 2, "negative price -87.31"),
    (HEADER + "ltc,native,0,1,EURO,x\n", 2, "currency 'EURO' is not a three-letter code"),
    (HEADER + "ltc,native,0,1,\u20ac,x\n", 2, "currency '\u20ac' is not a three-letter code"),
    (HEADER + "ltc,native,0,1,EUR,\n", 2, "empty source; name where the rate came from"),
    (HEADER + ",native,0,1,EUR,x\n", 2, "empty chain"),
    (HEADER + "ltc,native,0,1,EUR,x\nltc,native,0,1,USD,y\n", 3, "currency USD, but line 2 gave EUR"),
    (HEADER + "ltc,native,0,1,EUR,x\nLTC,NATIVE,1970-01-01,2,EUR,y\n", 3, "a second rate for ltc native at 0 (line 2"),
    (HEADER + 'ltc,native,0,1,EUR,"unclosed\n', 2, "not valid CSV"),
])
def test_every_bad_row_is_refused_with_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        load_rate_csv(path)
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (HEADER.encode(), "no rates"),
    (HEADER.encode() + b"\n\n", "no rates"),
    (HEADER.encode() + b"ltc,native,0,1,EUR,M\xfcller\n", "not UTF-8 text"),
])
def test_a_file_without_rates_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "rates.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        load_rate_csv(path)
    assert str(caught.value).startswith(str(path))


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read rate file .*absent.csv"):
        load_rate_csv(tmp_path / "absent.csv")


@pytest.fixture
def table(tmp_path: Path) -> RateTable:
    return load_rate_csv(write(tmp_path, GOOD_CSV))


def test_the_latest_rate_at_or_before_the_transaction_is_used(table: RateTable) -> None:
    def price(at: int, max_age: int = DAY) -> Decimal | None:
        value = table.value_at("ltc", "native", 100_000_000, 8, at, max_age=max_age)
        return None if value is None else value.price

    assert price(MAR_1) == Decimal("87.31")  # the rate's own second counts
    assert price(MAR_1 + DAY - 3601) == Decimal("87.31")
    assert price(MAR_1 + DAY - 3600) == Decimal("88.02")
    assert price(MAR_1 + 2 * DAY - 3600) == Decimal("88.02")  # exactly max_age old: still valid
    assert price(MAR_1 + 2 * DAY - 3599) is None  # one second staler, and the next rate is yet to come
    assert price(MAR_1 + 2 * DAY - 3599, max_age=2 * DAY) == Decimal("88.02")
    assert price(MAR_1 + 3 * DAY) == Decimal("86.5")
    assert price(MAR_1 + 3 * DAY + 1) is None  # after the last rate, once it is stale
    assert price(MAR_1 - 1) is None  # before the first rate: a later price is never used
    assert price(MAR_1 + 2 * DAY + 3600, max_age=3600) == Decimal("86.5")
    assert price(MAR_1 + 2 * DAY + 3601, max_age=3600) is None
    assert table.value_at("btc", "native", 1, 8, MAR_1) is None  # no rate for the chain at all


def test_fiat_value_is_exact_and_rounded_half_to_even(table: RateTable) -> None:
    # 1.25 LTC at 87.31 EUR = 109.1375 EUR -> 109.14
    assert table.value_at("ltc", "native", 125_000_000, 8, MAR_1 + 60) == \
        FiatValue(Decimal("109.14"), "EUR", Decimal("87.31"), MAR_1, "ECB reference, via Kraken daily close")
    later = MAR_1 + 2 * DAY
    # 0.5 LTC at 86.5 = 43.25 exactly; 0.00000005 LTC at 86.5 = 0.000004325 -> 0.00
    assert table.value_at("ltc", "native", 50_000_000, 8, later).amount == Decimal("43.25")  # type: ignore[union-attr]
    assert table.value_at("ltc", "native", 5, 8, later).amount == Decimal("0.00")  # type: ignore[union-attr]
    # 0.1 ETH at 3000.5 = 300.05 exactly (18 decimals)
    eth = MAR_1 + DAY // 2
    assert table.value_at("eth", "native", 10**17, 18, eth).amount == Decimal("300.05")  # type: ignore[union-attr]
    # 1,234,567.891011 tokens (6 decimals) at 0.920001 = 1,135,803.69455 .. -> 1,135,803.69
    usdc = table.value_at("eth", TOKEN, 1_234_567_891_011, 6, MAR_1 + 5)
    assert usdc is not None and usdc.amount == Decimal("1135803.69") and usdc.text() == "1,135,803.69 EUR"


@pytest.mark.parametrize(("amount", "price", "cents"), [
    (12_500_000, "0.1", "0.01"),   # 0.0125 -> 0.01 (half to even: down)
    (17_500_000, "0.1", "0.02"),   # 0.0175 -> 0.02 (half to even: up)
    (50_000_000, "0.25", "0.12"),  # 0.125 -> 0.12
    (50_000_000, "0.35", "0.18"),  # 0.175 -> 0.18
    (1_414_000_000, "87.31", "1234.56"),  # 14.14 x 87.31 = 1234.5634
    (2_100_000_000_000_000, "61234.56789", "1285925925690.00"),  # every bitcoin: 21e6 x 61234.56789
])
def test_cents_round_half_to_even(amount: int, price: str, cents: str) -> None:
    table = RateTable([Rate("btc", "native", 0, Decimal(price), "EUR", "test")])
    value = table.value_at("btc", "native", amount, 8, 10)
    assert value is not None and value.amount == Decimal(cents) and str(value.amount) == cents
    frame = pl.DataFrame({"chain": ["btc"], "asset": ["native"], "value": [amount], "timestamp": [10]})
    assert table.values_for(frame, decimals=8)["fiat_amount"].to_list() == [Decimal(cents)]


def test_text_groups_thousands(table: RateTable) -> None:
    value = table.value_at("ltc", "native", 1_414_000_000, 8, MAR_1)
    assert value is not None and value.text() == "1,234.56 EUR"


def test_token_contracts_and_chain_keys_match_in_any_case(table: RateTable) -> None:
    for chain, asset in [("eth", TOKEN), ("ETH", TOKEN.lower()), ("Eth", TOKEN.upper().replace("0X", "0x"))]:
        value = table.value_at(chain, asset, 10**6, 6, MAR_1 + 10)
        assert value is not None and value.amount == Decimal("0.92")
    assert table.value_at("LTC", "Native", 10**8, 8, MAR_1) is not None


def random_rows(rng: random.Random, count: int) -> pl.DataFrame:
    """Transfers on three chains (one without rates), in and out of the rates' time range, with
    amounts from 1 base unit to wei-sized values, in random order."""
    chains = [("ltc", "native", 8, 10**12), ("LTC", "NATIVE", 8, 10**9), ("eth", "native", 18, 10**24),
              ("eth", TOKEN, 6, 10**14), ("eth", TOKEN.lower(), 6, 10), ("btc", "native", 8, 10**10)]
    rows = []
    for _ in range(count):
        chain, asset, decimals, top = rng.choice(chains)
        at = None if rng.random() < 0.01 else MAR_1 + rng.randrange(-2 * DAY, 40 * DAY)
        rows.append((chain, asset, Decimal(rng.randrange(0, top)), decimals, at))
    return pl.DataFrame(rows, orient="row", schema={"chain": pl.String, "asset": pl.String,
                                                   "value": pl.Decimal(38, 0), "decimals": pl.Int64,
                                                   "timestamp": pl.Int64})


def random_table(rng: random.Random) -> RateTable:
    """Hourly-to-daily rates with gaps, prices with up to 8 decimals."""
    rates = []
    for chain, asset in [("ltc", "native"), ("eth", "native"), ("eth", TOKEN)]:
        at = MAR_1
        while at < MAR_1 + 35 * DAY:
            price = Decimal(rng.randrange(1, 10**10)).scaleb(-rng.randrange(0, 9))
            rates.append(Rate(chain, asset, at, price, "EUR", f"{chain} source"))
            at += rng.choice([3600, 6 * 3600, DAY, 3 * DAY])
    return RateTable(rates)


@pytest.mark.parametrize("max_age", [DAY, 3600, 0])
def test_vectorised_and_scalar_agree_on_random_rows(max_age: int) -> None:
    rng = random.Random(18 + max_age)
    table, frame = random_table(rng), random_rows(rng, 10_000)
    out = table.values_for(frame, max_age=max_age)
    assert out.columns == frame.columns + ["fiat_amount", "fiat_currency", "fiat_price", "rate_time", "rate_source"]
    assert out.select(frame.columns).equals(frame)  # the rows, in their order
    valued = 0
    for row in out.iter_rows(named=True):
        at = row["timestamp"]
        expected = None if at is None else table.value_at(row["chain"], row["asset"], int(row["value"]),
                                                           row["decimals"], at, max_age=max_age)
        if expected is None:
            assert (row["fiat_amount"], row["fiat_currency"], row["fiat_price"], row["rate_time"]) == \
                (None, None, None, None)
            continue
        valued += 1
        assert row["fiat_amount"] == expected.amount
        assert (row["fiat_currency"], Decimal(row["fiat_price"]), row["rate_time"], row["rate_source"]) == \
            (expected.currency, expected.price, expected.rate_time, expected.source)
    if max_age == DAY:
        assert 3_000 < valued < 8_000  # both outcomes are well represented
    if max_age == 0:
        assert valued == 0 or all(out["rate_time"].drop_nulls() == out.drop_nulls("rate_time")["timestamp"])


def test_uint256_amounts_as_digit_text() -> None:
    table = RateTable([Rate("eth", TOKEN, 0, Decimal("0.000000000001"), "EUR", "test")])
    huge = 10**40 + 6 * 10**27  # beyond Decimal(38, 0): 10**22 + 6e9 tokens of 18 decimals
    absurd = 2**256 - 1
    frame = pl.DataFrame({"chain": ["eth", "eth"], "asset": [TOKEN, TOKEN], "value": [str(huge), str(absurd)],
                          "timestamp": [5, 5]})
    out = table.values_for(frame, decimals=18)
    assert out["fiat_amount"].to_list()[0] == Decimal("10000000000.01")  # 1e10 + 0.006 EUR
    assert table.value_at("eth", TOKEN, huge, 18, 5).amount == Decimal("10000000000.01")  # type: ignore[union-attr]
    # ~1.16e59 tokens x 1e-12 EUR = ~1.16e47 EUR: beyond Decimal(38, 2), so null in the frame, exact in value_at
    assert out["fiat_amount"].to_list()[1] is None
    exact = table.value_at("eth", TOKEN, absurd, 18, 5)
    assert exact is not None and exact.amount == Decimal("115792089237316195423570985008687907853269984665.64")


def test_hundreds_of_thousands_of_rows_convert_in_one_pass() -> None:
    """Not timed here (the project keeps timings in benchmarks): 300,000 rows convert in one vectorised
    call and agree with the scalar form on a sample."""
    rng = random.Random(7)
    table, frame = random_table(rng), random_rows(rng, 300_000)
    out = table.values_for(frame)
    assert out.height == 300_000 and out["fiat_amount"].null_count() < 300_000
    for row in out.head(200).iter_rows(named=True):
        if row["timestamp"] is None:
            assert row["fiat_amount"] is None
            continue
        value = table.value_at(row["chain"], row["asset"], int(row["value"]), row["decimals"], row["timestamp"])
        assert (value.amount if value else None) == row["fiat_amount"]


def test_one_table_one_currency_and_sane_prices() -> None:
    with pytest.raises(InputError, match=re.escape("rates in more than one currency (EUR, USD)")):
        RateTable([Rate("ltc", "native", 0, Decimal(1), "EUR", "a"), Rate("ltc", "native", 1, Decimal(1), "USD", "b")])
    with pytest.raises(ValueError, match="price -1 is not >= 0"):
        RateTable([Rate("ltc", "native", 0, Decimal(-1), "EUR", "a")])
    with pytest.raises(ValueError, match="amount must be >= 0"):
        RateTable([]).value_at("ltc", "native", -1, 8, 0)
    with pytest.raises(ValueError, match="max_age must be >= 0"):
        RateTable([]).value_at("ltc", "native", 1, 8, 0, max_age=-1)
