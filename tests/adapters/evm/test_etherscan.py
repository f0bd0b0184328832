# SPDX-License-Identifier: Apache-2.0
"""An Ethereum address's history from an Etherscan-compatible API: opt-in, exact, key kept secret.

A local stand-in server on 127.0.0.1 answers the documented ``module=account`` lists (``txlist``,
``txlistinternal``, ``tokentx``: newest first, ``startblock``/``endblock``/``page``/``offset``) and
the ``module=proxy`` calls, from JSON written here in the API's shape (amounts as decimal strings,
addresses in lower case). The suspect S:

* block 103: S pays B 0.5 ETH (London: tip to the miner, base fee burned);
* block 102: X calls contract C with 3 ETH, C forwards 1 ETH to S (an internal transfer; a second,
  reverted internal transfer to S moves nothing). S is not the sender nor the recipient, so the
  transaction itself is read through the proxy module;
* block 101: A sends S two token transfers in one transaction, 10**40 and 2**70 base units (Etherscan's
  ``tokentx`` gives no ``logIndex``: it is read from the receipt);
* block 100: A pays S 2**64 + 1 wei;
* block 99 (before London: no base fee): S's payment to B fails; only its fee moves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from adapters.errors import MalformedResponseError
from adapters.evm import etherscan as es
from adapters.evm.etherscan import (
    BlockHeader,
    EtherscanApiError,
    EtherscanSource,
    ThirdPartyRefusedError,
    fee_rows,
    log_indexes,
    map_transactions,
    parse_amount,
)
from adapters.evm.mappers import TRANSFER_TOPIC, parse_address
from graph.embedded import EmbeddedStore
from tests.conftest import Cli
from tracer.chains import default_registry

ETH_CHAIN = default_registry().get("eth")
GWEI, ETH = 10**9, 10**18
KEY = "SECRETKEY1234567890ABCDEFGHIJKLMN"
S, A, B, X = "0x" + "5" * 40, "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40
C, T, M = "0x" + "d" * 40, "0x" + "e" * 40, "0x" + "9" * 40
TX = {name: "0x" + format(i, "x") * 64 for i, name in enumerate(["tx1", "tx2", "tx3", "tx4", "tx5"], start=1)}


def cs(address: str) -> str:
    return parse_address(address, "test")


def bhash(height: int) -> str:
    return f"0x{height:064x}"


def _top(name: str, height: int, frm: str, to: str, value: int, gas_used: int, price: int, *, error: bool = False,
         index: int = 0) -> dict[str, str]:
    return {"blockNumber": str(height), "timeStamp": str(1_700_000_000 + height), "hash": TX[name], "nonce": "1",
            "blockHash": bhash(height), "transactionIndex": str(index), "from": frm, "to": to, "value": str(value),
            "gas": "100000", "gasPrice": str(price), "isError": "1" if error else "0",
            "txreceipt_status": "0" if error else "1", "input": "0x", "contractAddress": "",
            "cumulativeGasUsed": str(gas_used), "gasUsed": str(gas_used), "confirmations": "10",
            "methodId": "0x", "functionName": ""}


TXLIST = {S: [
    _top("tx4", 103, S, B, ETH // 2, 21_000, 9 * GWEI, index=2),
    _top("tx1", 100, A, S, 2**64 + 1, 21_000, 9 * GWEI, index=1),
    _top("tx5", 99, S, B, ETH, 21_000, 5 * GWEI, error=True),
]}
INTERNAL = {S: [
    {"blockNumber": "102", "timeStamp": "1700000102", "hash": TX["tx3"], "from": C, "to": S, "value": str(ETH),
     "contractAddress": "", "input": "", "type": "call", "gas": "2300", "gasUsed": "0", "traceId": "0",
     "isError": "0", "errCode": ""},
    {"blockNumber": "102", "timeStamp": "1700000102", "hash": TX["tx3"], "from": C, "to": S, "value": str(ETH),
     "contractAddress": "", "input": "", "type": "call", "gas": "2300", "gasUsed": "0", "traceId": "2",
     "isError": "1", "errCode": "execution reverted"},
]}
TOKENS = {S: [
    {"blockNumber": "101", "timeStamp": "1700000101", "hash": TX["tx2"], "nonce": "3", "blockHash": bhash(101),
     "from": A, "contractAddress": T, "to": S, "value": str(value), "tokenName": "Test", "tokenSymbol": "TST",
     "tokenDecimal": "18", "transactionIndex": "0", "gas": "90000", "gasPrice": str(8 * GWEI), "gasUsed": "50000",
     "cumulativeGasUsed": "50000", "input": "deprecated", "confirmations": "12"}
    for value in (10**40, 2**70)
]}
HEADERS = {h: {"number": hex(h), "hash": bhash(h), "timestamp": hex(1_700_000_000 + h), "miner": M,
               **({"baseFeePerGas": hex(7 * GWEI)} if h >= 100 else {})} for h in range(99, 104)}


def _log(index: int, value: int, topic0: str = TRANSFER_TOPIC) -> dict[str, Any]:
    pad = "0x" + "0" * 24
    return {"address": T, "topics": [topic0, pad + A[2:], pad + S[2:]], "data": f"0x{value:064x}",
            "logIndex": hex(index), "transactionHash": TX["tx2"], "blockNumber": hex(101)}


RPC_TXS = {
    TX["tx2"]: ({"hash": TX["tx2"], "blockNumber": hex(101), "blockHash": bhash(101), "transactionIndex": "0x0",
                 "from": A, "to": T, "value": "0x0", "gasPrice": hex(8 * GWEI)},
                {"status": "0x1", "gasUsed": hex(50_000), "effectiveGasPrice": hex(8 * GWEI),
                 "contractAddress": None,
                 "logs": [_log(2, 5, topic0="0x" + "1" * 64), _log(3, 10**40), _log(4, 2**70)]}),
    TX["tx3"]: ({"hash": TX["tx3"], "blockNumber": hex(102), "blockHash": bhash(102), "transactionIndex": "0x1",
                 "from": X, "to": C, "value": hex(3 * ETH), "gasPrice": hex(10 * GWEI)},
                {"status": "0x1", "gasUsed": hex(40_000), "effectiveGasPrice": hex(10 * GWEI),
                 "contractAddress": None, "logs": []}),
}


class FakeEtherscan:
    """The API subset used, on 127.0.0.1; ``mode`` ``"ratelimit"`` / ``"badkey"`` answers every call with
    that NOTOK response (the bad-key answer echoes the key, as a careless server might)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                fake.requests.append(query)
                body = json.dumps(fake.answer(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, q: dict[str, str]) -> Any:
        if self.mode == "ratelimit":
            return {"status": "0", "message": "NOTOK",
                    "result": "Max rate limit reached, please use API Key for higher rate limit"}
        if self.mode == "badkey":
            return {"status": "0", "message": "NOTOK", "result": f"Invalid API Key (#err2)|{q.get('apikey')}"}
        if q["module"] == "proxy":
            result: Any
            if q["action"] == "eth_getBlockByNumber":
                result = HEADERS.get(int(q["tag"], 16))
            else:
                tx, receipt = RPC_TXS[q["txhash"]]
                result = tx if q["action"] == "eth_getTransactionByHash" else receipt
            return {"jsonrpc": "2.0", "id": 1, "result": result}
        table = {"txlist": TXLIST, "txlistinternal": INTERNAL, "tokentx": TOKENS}[q["action"]]
        rows = [r for r in table.get(q["address"], [])
                if int(q["startblock"]) <= int(r["blockNumber"]) <= int(q["endblock"])]
        rows.sort(key=lambda r: int(r["blockNumber"]), reverse=q.get("sort") == "desc")
        page, offset = int(q["page"]), int(q["offset"])
        rows = rows[(page - 1) * offset: page * offset]
        if not rows:
            return {"status": "0", "message": "No transactions found", "result": []}
        return {"status": "1", "message": "OK", "result": rows}


@pytest.fixture()
def api() -> Iterator[FakeEtherscan]:
    server = FakeEtherscan()
    yield server
    server.stop()


@pytest.fixture()
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(es.time, "sleep", lambda seconds: None)


# -- pure mapping ------------------------------------------------------------------------------------


def test_amounts_are_decimal_strings_read_exactly_and_nothing_else_is_accepted() -> None:
    assert parse_amount(str(2**255 + 1), "v") == 2**255 + 1
    for bad in ("1.5", "1e18", "-1", "", " 1", 10, 1.0, None):
        with pytest.raises(MalformedResponseError):
            parse_amount(bad, "value")


def test_a_fee_is_split_as_the_node_mapper_splits_it() -> None:
    london = BlockHeader(100, bhash(100), 0, cs(M), 7 * GWEI)
    assert fee_rows(21_000, 9 * GWEI, london) == [(None, cs(M), 21_000 * 2 * GWEI), ("burn", None, 21_000 * 7 * GWEI)]
    assert fee_rows(21_000, 7 * GWEI, london) == [("burn", None, 21_000 * 7 * GWEI)]  # no tip: no tip row
    assert fee_rows(21_000, 5 * GWEI, BlockHeader(99, bhash(99), 0, cs(M), None)) == [(None, cs(M), 105_000 * GWEI)]
    with pytest.raises(MalformedResponseError):
        fee_rows(21_000, 6 * GWEI, london)


def test_token_log_indexes_come_from_the_receipt_in_order() -> None:
    receipt = RPC_TXS[TX["tx2"]][1]
    assert log_indexes(TOKENS[S], receipt, TX["tx2"]) == [3, 4]
    with pytest.raises(MalformedResponseError, match="not among"):
        log_indexes([{**TOKENS[S][0], "value": "1"}], receipt, TX["tx2"])


def test_mapping_gives_canonical_rows_with_exact_amounts() -> None:
    headers = {h: BlockHeader(h, bhash(h), 1_700_000_000 + h, cs(M), 7 * GWEI) for h in (100, 101)}
    tokens = {TX["tx2"]: [{**row, "logIndex": str(i)} for i, row in zip((3, 4), TOKENS[S], strict=True)]}
    tops = {TX["tx1"]: TXLIST[S][1], TX["tx2"]: {**TXLIST[S][1], "hash": TX["tx2"], "blockNumber": "101",
                                                 "blockHash": bhash(101), "to": T, "value": "0"}}
    frames = map_transactions(tops, {}, tokens, headers, ETH_CHAIN, source="etherscan:test")
    frames.validate()
    rows = {(r["txid"], r["kind"], r["log_index"], r["trace_path"]): (r["from_address"], r["to_address"], r["asset"],
                                                                       r["value"], r["value_overflow"])
            for r in frames.transfers.iter_rows(named=True)}
    assert rows[(TX["tx1"], "native", None, None)] == (cs(A), cs(S), "native", Decimal(2**64 + 1), None)
    assert rows[(TX["tx2"], "token", 3, None)] == (cs(A), cs(S), cs(T), None, str(10**40))
    assert rows[(TX["tx2"], "token", 4, None)] == (cs(A), cs(S), cs(T), Decimal(2**70), None)
    assert rows[(TX["tx1"], "fee", None, "burn")] == (cs(A), None, "native", Decimal(21_000 * 7 * GWEI), None)
    assert (TX["tx2"], "native", None, None) not in rows  # a zero-value call moves no ether
    assert frames.transactions.filter(pl.col("txid") == TX["tx1"])["fee"].to_list() == [Decimal(21_000 * 9 * GWEI)]
    assert set(frames.transfers["source"].to_list()) == {"etherscan:test"}


# -- the source against the stand-in server ---------------------------------------------------------


def test_an_address_history_newest_first_and_paged(api: FakeEtherscan) -> None:
    with EtherscanSource(api.url, ETH_CHAIN, api_key=KEY, page_size=2) as source:
        txids = source.address_txids(S)
        assert txids == [TX["tx4"], TX["tx3"], TX["tx2"], TX["tx1"], TX["tx5"]]
        assert source.address_txids(S, limit=2)[:2] == [TX["tx4"], TX["tx3"]]
    txlist_pages = [q for q in api.requests if q.get("action") == "txlist"]
    assert [q["page"] for q in txlist_pages[:2]] == ["1", "2"] and {q["sort"] for q in txlist_pages} == {"desc"}
    assert {q["apikey"] for q in api.requests} == {KEY}


def test_the_window_slides_down_once_page_times_offset_reaches_the_api_cap(
    api: FakeEtherscan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(es, "_WINDOW_ROWS", 3)
    with EtherscanSource(api.url, ETH_CHAIN, page_size=1) as source:
        assert source.address_txids(S) == [TX["tx4"], TX["tx3"], TX["tx2"], TX["tx1"], TX["tx5"]]
    ends = [q["endblock"] for q in api.requests if q.get("action") == "txlist"]
    # pages 1-3 of the first window, then endblock = the lowest block seen (its rows come again, deduplicated)
    assert ends == ["99999999", "99999999", "99999999", "99", "99"]


def test_transactions_are_complete_canonical_rows(api: FakeEtherscan) -> None:
    with EtherscanSource(api.url, ETH_CHAIN) as source:
        frames = source.transactions(source.address_txids(S))
    frames.validate()
    got = sorted((r["txid"], r["kind"], r["trace_path"] or "", r["log_index"] or -1, r["from_address"],
                  r["to_address"] or "", r["value"] if r["value"] is not None else r["value_overflow"])
                 for r in frames.transfers.iter_rows(named=True))
    tip, burn = 2 * GWEI, 7 * GWEI
    assert got == sorted([
        (TX["tx4"], "native", "", -1, cs(S), cs(B), Decimal(ETH // 2)),
        (TX["tx4"], "fee", "", -1, cs(S), cs(M), Decimal(21_000 * tip)),
        (TX["tx4"], "fee", "burn", -1, cs(S), "", Decimal(21_000 * burn)),
        (TX["tx3"], "native", "", -1, cs(X), cs(C), Decimal(3 * ETH)),  # read through the proxy module
        (TX["tx3"], "fee", "", -1, cs(X), cs(M), Decimal(40_000 * 3 * GWEI)),
        (TX["tx3"], "fee", "burn", -1, cs(X), "", Decimal(40_000 * burn)),
        (TX["tx3"], "internal", "0", -1, cs(C), cs(S), Decimal(ETH)),  # the reverted one is not there
        (TX["tx2"], "token", "", 3, cs(A), cs(S), str(10**40)),
        (TX["tx2"], "token", "", 4, cs(A), cs(S), Decimal(2**70)),
        (TX["tx2"], "fee", "", -1, cs(A), cs(M), Decimal(50_000 * GWEI)),
        (TX["tx2"], "fee", "burn", -1, cs(A), "", Decimal(50_000 * burn)),
        (TX["tx1"], "native", "", -1, cs(A), cs(S), Decimal(2**64 + 1)),
        (TX["tx1"], "fee", "", -1, cs(A), cs(M), Decimal(21_000 * tip)),
        (TX["tx1"], "fee", "burn", -1, cs(A), "", Decimal(21_000 * burn)),
        (TX["tx5"], "fee", "", -1, cs(S), cs(M), Decimal(21_000 * 5 * GWEI)),  # failed, before London
    ])
    positions = dict(zip(frames.transactions["txid"], frames.transactions["position"], strict=True))
    assert positions == {TX["tx1"]: 1, TX["tx2"]: 0, TX["tx3"]: 1, TX["tx4"]: 2, TX["tx5"]: 0}
    assert set(frames.transactions["block_hash"]) == {bhash(h) for h in range(99, 104)}


def test_a_third_party_is_refused_before_any_request() -> None:
    with pytest.raises(ThirdPartyRefusedError, match="--allow-third-party"):
        EtherscanSource("https://api.etherscan.io/api", ETH_CHAIN, api_key=KEY)
    source = EtherscanSource("https://api.etherscan.io/api", ETH_CHAIN, api_key=KEY, allow_third_party=True)
    assert KEY not in source.source and KEY not in repr(source)
    with pytest.raises(Exception, match="TRACER_ETHERSCAN_KEY"):
        EtherscanSource("https://api.etherscan.io/api?apikey=" + KEY, ETH_CHAIN, allow_third_party=True)


def test_rate_limit_is_retried_then_reported(api: FakeEtherscan, no_sleep: None) -> None:
    api.mode = "ratelimit"
    with EtherscanSource(api.url, ETH_CHAIN, api_key=KEY, retries=2) as source, \
            pytest.raises(EtherscanApiError, match="rate limit") as caught:
        source.address_txids(S)
    assert len(api.requests) == 3 and KEY not in str(caught.value)


# -- tracer ingest seeds --etherscan ------------------------------------------------------------------


def _case(cli: Cli, name: str) -> None:
    cli("case", "create", name)
    cli("case", "seed", "add", name, cs(S), "--chain", "eth")


def _stored_txids(home: Path, case: str) -> list[str]:
    path = home / "cases" / case / "graph.lbug"
    if not path.exists():
        return []
    with EmbeddedStore.open(path, read_only=True) as store:
        return sorted(store.read_frames("eth").transactions["txid"].to_list())


def test_seeds_from_the_api_load_the_suspects_transactions(
    cli: Cli, tracer_home: Path, api: FakeEtherscan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACER_ETHERSCAN_KEY", KEY)
    _case(cli, "op-scan")
    result = cli("ingest", "seeds", "op-scan", "--etherscan", api.url, "--allow-third-party", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [chain] = data["chains"]
    assert chain["source"] == f"etherscan:http://127.0.0.1:{api.server.server_port}/***"
    assert [(h["hop"], h["transactions_loaded"], h["new_counterparties"]) for h in chain["hops"]] == [(0, 5, 4)]
    assert _stored_txids(tracer_home, "op-scan") == sorted(TX.values())
    assert {q.get("apikey") for q in api.requests} == {KEY}  # the key was sent ...
    audit = json.dumps(cli.json("case", "log", "op-scan"))
    assert KEY not in result.output and KEY not in audit  # ... and never shown nor recorded


def test_without_allow_third_party_nothing_is_asked_nor_written(
    cli: Cli, tracer_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACER_ETHERSCAN_KEY", KEY)
    _case(cli, "op-scan-no")
    result = cli("ingest", "seeds", "op-scan-no", "--etherscan", "https://api.etherscan.io/api")
    assert result.exit_code == 2
    assert "--allow-third-party" in result.stderr and "discloses the investigation" in result.stderr
    assert KEY not in result.output
    assert _stored_txids(tracer_home, "op-scan-no") == []
    assert cli.json("case", "log", "op-scan-no")[-1]["action"] != "ingest.seeds"


@pytest.mark.parametrize(("mode", "expected"), [("ratelimit", "rate limit"), ("badkey", "Invalid API Key")])
def test_an_api_error_is_exit_4_with_the_apis_reason_and_no_key(
    cli: Cli, tracer_home: Path, api: FakeEtherscan, monkeypatch: pytest.MonkeyPatch, no_sleep: None,
    mode: str, expected: str,
) -> None:
    monkeypatch.setenv("TRACER_ETHERSCAN_KEY", KEY)
    _case(cli, "op-scan-err")
    api.mode = mode
    result = cli("ingest", "seeds", "op-scan-err", "--etherscan", api.url, "--allow-third-party")
    assert result.exit_code == 4
    assert expected in result.stderr and "127.0.0.1" in result.stderr
    assert KEY not in result.output
    log = cli.json("case", "log", "op-scan-err")
    assert log[-1]["action"] == "ingest.seeds.failed" and KEY not in json.dumps(log)
    assert _stored_txids(tracer_home, "op-scan-err") == []
