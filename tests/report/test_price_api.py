# SPDX-License-Identifier: Apache-2.0
"""Rates from a CoinGecko-compatible price service, only with ``allow_third_party`` (``jobs.report.price_api``).

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) answers ``market_chart/range`` the way
CoinGecko does. The fetch asks for each mainnet coin and token once (regtest and devnet chains have no
market price and are not asked about), reads the JSON prices exactly (no float ever), dates them from
the data and records the source and the hash of each answer. Without the opt-in nothing is sent at
all; an HTTP error, a hang past the timeout, a refused connection or an answer that is not a price
chart is one :class:`SourceUnavailableError` line.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.report.price_api import THIRD_PARTY_REFUSAL, fetch_rates
from tracer.errors import InputError, SourceUnavailableError

MAR_1 = 1_709_251_200
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
#: CoinGecko-shaped answers; prices carry more digits than a float holds
ANSWERS = {
    "/coins/litecoin/market_chart/range":
        b'{"prices": [[1709251200000, 87.31000000000000227], [1709254800123, 88]], "market_caps": [], '
        b'"total_volumes": []}',
    "/coins/ethereum/market_chart/range": b'{"prices": [[1709251200000, 3000.123456789012345678]]}',
    f"/coins/ethereum/contract/{TOKEN.lower()}/market_chart/range": b'{"prices": [[1709251200000, 0.9200011]]}',
}


@dataclass
class PriceService:
    """The server's behaviour (``mode``) and the requests it saw."""

    url: str = ""
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def service() -> Iterator[PriceService]:
    state = PriceService()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.requests.append(self.path)
            if state.mode == "hang":
                state.release.wait(10)
                return
            body = {"500": b"", "not json": b"<html>rate limited</html>", "no prices": b'{"error": "x"}',
                    "bad point": b'{"prices": [[1709251200000, "87.31"]]}'}.get(state.mode)
            status = 500 if state.mode == "500" else 200
            if body is None:
                body = ANSWERS.get(urllib.parse.urlsplit(self.path).path.removeprefix("/api/v3"))
                status = 200 if body is not None else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def fetch(service: PriceService, chains: list[str], assets: list[str], **options: object) -> object:
    settings: dict[str, object] = {"currency": "eur", "api_url": service.url, "allow_third_party": True,
                                   "timeout": 5.0}
    settings.update(options)
    return fetch_rates(chains, assets, MAR_1 - 86_400, MAR_1 + 86_400, **settings)  # type: ignore[arg-type]


def test_prices_are_fetched_exactly_with_their_source(service: PriceService) -> None:
    table = fetch_rates(["ltc", "ETH", "ltc-regtest", "eth-devnet"], ["native", TOKEN], MAR_1 - 86_400,
                        MAR_1 + 86_400, currency="eur", api_url=service.url + "/", allow_third_party=True, timeout=5)
    query = f"?vs_currency=eur&from={MAR_1 - 86_400}&to={MAR_1 + 86_400}"
    assert sorted(service.requests) == sorted([
        f"/api/v3/coins/ethereum/contract/{TOKEN.lower()}/market_chart/range{query}",
        f"/api/v3/coins/ethereum/market_chart/range{query}",
        f"/api/v3/coins/litecoin/market_chart/range{query}",
    ])  # the regtest and devnet chains are not asked about
    named = f"{service.url} (fetched)"
    assert [(rate.chain, rate.asset, rate.time, rate.price, rate.currency, rate.source) for rate in table.rates] == [
        ("eth", TOKEN.lower(), MAR_1, Decimal("0.9200011"), "EUR", named),
        ("eth", "native", MAR_1, Decimal("3000.123456789012345678"), "EUR", named),
        ("ltc", "native", MAR_1, Decimal("87.31000000000000227"), "EUR", named),
        ("ltc", "native", MAR_1 + 3601, Decimal("88"), "EUR", named),  # 3600.123 s rounds up
    ]
    by_url = {source.url: source for source in table.sources}
    assert len(by_url) == len(table.sources) == 3
    for path, body in ANSWERS.items():
        source = by_url[service.url + path + query]
        assert source.name == named and source.sha256 == hashlib.sha256(body).hexdigest()
    assert by_url[service.url + "/coins/litecoin/market_chart/range" + query].rows == 2
    # 1.25 LTC x 87.31000000000000227 = 109.1375000000000028375 -> 109.14; a float would not carry these digits
    value = table.value_at("ltc", "native", 125_000_000, 8, MAR_1 + 60)
    assert value is not None and value.text() == "109.14 EUR" and value.price == Decimal("87.31000000000000227")
    assert table.value_at("ltc-regtest", "native", 125_000_000, 8, MAR_1 + 60) is None


def test_refused_without_the_opt_in_and_nothing_is_sent(service: PriceService) -> None:
    with pytest.raises(InputError) as caught:
        fetch(service, ["ltc"], ["native"], allow_third_party=False)
    assert str(caught.value) == THIRD_PARTY_REFUSAL
    assert "--allow-third-party" in str(caught.value)
    assert service.requests == []


def test_chains_without_a_market_price_send_nothing(service: PriceService) -> None:
    table = fetch_rates(["ltc-regtest", "eth-devnet", "btc-testnet"], ["native", TOKEN], 0, 10, currency="EUR",
                        api_url=service.url, allow_third_party=True, timeout=5)
    assert len(table) == 0 and table.sources == () and service.requests == []
    assert table.value_at("ltc-regtest", "native", 1, 8, 5) is None


@pytest.mark.parametrize(("mode", "message"), [
    ("500", "HTTP 500"),
    ("not json", "the answer is not JSON"),
    ("no prices", 'the answer has no "prices" list'),
    ("bad point", "is not [milliseconds, price]"),  # a price as a string is not a number
])
def test_a_failing_service_is_source_unavailable(service: PriceService, mode: str, message: str) -> None:
    service.mode = mode
    with pytest.raises(SourceUnavailableError, match=message.replace("[", r"\[")) as caught:
        fetch(service, ["ltc"], ["native"])
    assert str(caught.value).startswith(f"price API {service.url}/coins/litecoin/market_chart/range?")
    assert "\n" not in str(caught.value) and len(service.requests) == 1


def test_a_hanging_service_times_out(service: PriceService) -> None:
    service.mode = "hang"
    with pytest.raises(SourceUnavailableError, match=r"no answer within 0\.3 s"):
        fetch(service, ["btc"], ["native"], timeout=0.3)
    assert service.requests and "/coins/bitcoin/market_chart/range" in service.requests[0]


def test_a_closed_port_is_source_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nobody listens on it once closed
    with pytest.raises(SourceUnavailableError, match="cannot connect"):
        fetch_rates(["ltc"], ["native"], 0, 10, currency="EUR", api_url=f"http://127.0.0.1:{port}",
                    allow_third_party=True, timeout=2)


@pytest.mark.parametrize(("options", "message"), [
    ({"currency": "euro"}, "currency 'euro' is not a three-letter code"),
    ({"api_url": "ftp://127.0.0.1/prices"}, "is not an http(s) URL"),
])
def test_bad_options_are_input_errors(service: PriceService, options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fetch(service, ["ltc"], ["native"], **options)
    assert service.requests == []
