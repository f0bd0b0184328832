# SPDX-License-Identifier: Apache-2.0
"""Rates from a public price service, only when the user allows it (``--allow-third-party``).

Asking a price service for a coin's chart over a date range tells it which coins and dates the
investigation looks at, so nothing is requested unless ``allow_third_party`` is true (the project's
rule: no third-party web API without the user's opt-in). The service is CoinGecko-compatible
(CoinGecko API v3, "Coin Historical Chart Data within Time Range"):

* ``GET {api_url}/coins/{id}/market_chart/range?vs_currency=eur&from=S&to=E`` for a chain's coin
  (``btc`` -> ``bitcoin``, ``ltc`` -> ``litecoin``, ``eth`` -> ``ethereum``);
* ``GET {api_url}/coins/{platform}/contract/{contract}/market_chart/range?...`` for a token on a
  chain with a platform (``eth`` -> ``ethereum``);

each answering ``{"prices": [[milliseconds, price], ...], ...}``. Prices are read exactly
(``json.loads(..., parse_float=Decimal)``), times come from the data (milliseconds rounded *up* to
seconds, so a rate is never dated before the moment it states), and every rate's source is
``"{api_url} (fetched)"``; :attr:`RateTable.sources` records each request's URL and the SHA-256 of
its answer. Test and development chains (regtest, devnet, testnets) have no market price: they are
skipped and simply get no rate. Standard library HTTP only (``urllib``).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from jobs.report.rates import Rate, RateSource, RateTable
from tracer.errors import InputError, SourceUnavailableError

__all__ = ["fetch_rates", "COIN_IDS", "TOKEN_PLATFORMS", "THIRD_PARTY_REFUSAL", "MAX_ANSWER_BYTES"]

#: chain key -> the service's coin id of the chain's own coin
COIN_IDS = {"btc": "bitcoin", "ltc": "litecoin", "eth": "ethereum"}
#: chain key -> the service's asset platform id, for token contracts
TOKEN_PLATFORMS = {"eth": "ethereum"}
THIRD_PARTY_REFUSAL = ("querying a public price service tells it which coins and dates the investigation looks "
                       "at; pass --allow-third-party to allow it")
#: the largest answer read (a year of 5-minute prices is about 5 MB)
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: a price with more significant digits, or further from 1, is not a market price
MAX_PRICE_DIGITS = 60


def fetch_rates(chain_keys: Iterable[str], assets: Iterable[str], start: int, end: int, *, currency: str,
                api_url: str, allow_third_party: bool, timeout: float = 30.0) -> RateTable:
    """The service's prices in ``currency`` for each chain's coin (asset ``native``) and token
    contracts (on chains with a platform) between UTC seconds ``start`` and ``end``.

    Give ``start`` at least one ``max_age`` before the first transaction, so it has a rate at or
    before it. Refuses (:class:`InputError`, before any request) unless ``allow_third_party``;
    raises :class:`SourceUnavailableError` when the service cannot be reached, times out, answers
    with an HTTP error or with something that is not a price chart.
    """
    if not allow_third_party:
        raise InputError(THIRD_PARTY_REFUSAL)
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InputError(f"currency {currency!r} is not a three-letter code (e.g. EUR)")
    if end < start:
        raise InputError(f"price range ends ({end}) before it starts ({start})")
    base = api_url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise InputError(f"price API {api_url!r} is not an http(s) URL")
    rates: list[Rate] = []
    sources: list[RateSource] = []
    named = f"{base} (fetched)"
    for chain, asset, path in _requests(chain_keys, assets):
        query = urllib.parse.urlencode({"vs_currency": code.lower(), "from": start, "to": end})
        url = f"{base}{path}?{query}"
        body = _get(url, timeout)
        points = _price_points(body, url)
        rates += [Rate(chain, asset, time, price, code, named) for time, price in points.items()]
        sources.append(RateSource(named, sha256=hashlib.sha256(body).hexdigest(), url=url, rows=len(points)))
    return RateTable(rates, sources)


def _requests(chain_keys: Iterable[str], assets: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(chain, asset, path)`` of each chart to ask for, in a stable order without repeats; chains
    without a market price, and tokens on chains without a platform, are left out."""
    wanted = sorted({asset.strip().lower() for asset in assets})
    out = []
    for chain in sorted({key.strip().lower() for key in chain_keys}):
        for asset in wanted:
            if asset == "native" and chain in COIN_IDS:
                out.append((chain, asset, f"/coins/{COIN_IDS[chain]}/market_chart/range"))
            elif asset != "native" and chain in TOKEN_PLATFORMS:
                contract = urllib.parse.quote(asset, safe="")
                out.append((chain, asset, f"/coins/{TOKEN_PLATFORMS[chain]}/contract/{contract}/market_chart/range"))
    return out


def _get(url: str, timeout: float) -> bytes:
    """The body of a GET of ``url``; every failure is one :class:`SourceUnavailableError` line."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "tracer-report"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # http(s) only: checked by fetch_rates
            body: bytes = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError is also the open response
        raise SourceUnavailableError(f"price API {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceUnavailableError(f"price API {url}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise SourceUnavailableError(f"price API {url}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise SourceUnavailableError(f"price API {url}: {exc.strerror or exc}") from None
    if len(body) > MAX_ANSWER_BYTES:
        raise SourceUnavailableError(f"price API {url}: answer larger than {MAX_ANSWER_BYTES:,} bytes")
    return body


def _price_points(body: bytes, url: str) -> dict[int, Decimal]:
    """``{UTC second: price}`` from a ``market_chart`` answer, prices exact; a later point at the
    same second replaces an earlier one. Anything else is a :class:`SourceUnavailableError`."""
    try:
        data: Any = json.loads(body, parse_float=Decimal)
    except ValueError:
        raise SourceUnavailableError(f"price API {url}: the answer is not JSON") from None
    prices = data.get("prices") if isinstance(data, dict) else None
    if not isinstance(prices, list):
        raise SourceUnavailableError(f"price API {url}: the answer has no \"prices\" list")
    points: dict[int, Decimal] = {}
    for point in prices:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(part, int | Decimal) and not isinstance(part, bool) for part in point)):
            raise SourceUnavailableError(f"price API {url}: price point {point!r} is not [milliseconds, price]")
        millis, price = Decimal(point[0]), Decimal(point[1])
        if (not price.is_finite() or price < 0 or millis != millis.to_integral_value()
                or len(price.as_tuple().digits) > MAX_PRICE_DIGITS or abs(price.adjusted()) > MAX_PRICE_DIGITS):
            raise SourceUnavailableError(f"price API {url}: price point {point!r} is not [milliseconds, price]")
        points[-(-int(millis) // 1000)] = price
    return points
