# SPDX-License-Identifier: Apache-2.0
"""Clients for Tron's HTTP APIs: your own full node (java-tron), and a TronGrid-compatible API.

* :class:`TronNode`: a java-tron full node's HTTP API (default port 8090;
  https://developers.tron.network/reference/full-node-api-overview): ``/wallet/getnowblock``,
  ``/wallet/getblockbylimitnext`` (blocks ``startNum`` to ``endNum - 1``, at most 100 a call),
  ``/wallet/gettransactioninfobyblocknum``. Asked only about block heights, never about an address,
  so it discloses nothing of the investigation even if it is not yours.
* :class:`TronGridSource`: TronGrid's v1 API (https://developers.tron.network/reference/) for an
  address's history: ``/v1/accounts/{address}/transactions`` and ``.../transactions/trc20``, with
  ``/wallet/gettransactioninfobyid`` for each transaction's fee and logs. A hosted TronGrid sees
  every address looked up, so a host that is not self-hosted
  (:func:`adapters.bitcoin.esplora.is_self_hosted`) is refused unless ``allow_third_party`` is set
  (``--allow-third-party`` or ``[privacy] allow_third_party``), as for Esplora and Etherscan.

Numbers in replies are JSON integers (Python ``int``, exact). Credentials in the URL are never shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from adapters.bitcoin.esplora import ThirdPartyRefusedError, is_self_hosted
from adapters.errors import MalformedResponseError, NodeUnavailableError
from adapters.jsonrpc import split_credentials
from adapters.tron.addresses import parse_tron
from adapters.tron.mappers import (
    TxContext,
    frames_from_blocks,
    frames_from_transactions,
    frames_from_trongrid_transactions,
    tron_txid,
)
from tracer.chains import AddressFormat, Chain
from tracer.errors import InputError
from tracer.redaction import redact_url
from tracer.schema import FrameSet

__all__ = ["TronHttp", "TronNode", "TronGridSource", "MAX_BLOCKS_PER_CALL"]

log = logging.getLogger(__name__)

#: java-tron answers ``getblockbylimitnext`` for at most 100 blocks
MAX_BLOCKS_PER_CALL = 100
_RETRY = frozenset({429, 502, 503, 504})


class TronHttp:
    """POST/GET JSON to a Tron HTTP API with timeouts and bounded retries; credentials kept out of messages."""

    def __init__(self, url: str, *, timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 trust_env: bool = False, api_key: str | None = None) -> None:
        clean, auth = split_credentials(url.strip())
        self._base = clean.rstrip("/")
        self.url = redact_url(clean)
        self._session = requests.Session()
        self._session.trust_env = trust_env
        if auth:
            self._session.auth = auth
        if api_key:
            self._session.headers["TRON-PRO-API-KEY"] = api_key
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def close(self) -> None:
        self._session.close()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._send("POST", path, body=body)

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        return self._send("GET", path, params=params)

    def _send(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None) -> Any:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._session.request(method, self._base + path, json=body, params=params,
                                                 timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                last = f"cannot connect ({type(exc).__name__})"
                continue
            if response.status_code in _RETRY:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise NodeUnavailableError(f"{self.url}{path}: HTTP {response.status_code}")
            try:
                return response.json()
            except ValueError:
                raise MalformedResponseError(f"{self.url}{path} answered with something that is not JSON") from None
        raise NodeUnavailableError(f"{self.url}{path}: {last}")


def _tron_chain(chain: Chain) -> None:
    if chain.address_format is not AddressFormat.TRON:
        raise InputError(f"a Tron API serves Tron; {chain.key!r} is not Tron (use --chain trx)")


class TronNode:
    """A java-tron full node's HTTP API, read by block height (see the module docstring)."""

    def __init__(self, url: str, chain: Chain, *, timeout: float = 60.0, retries: int = 3) -> None:
        _tron_chain(chain)
        self.chain = chain
        self.http = TronHttp(url, timeout=timeout, retries=retries)
        self.source = "tron-node:" + self.http.url

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TronNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tip_height(self) -> int:
        block = self.http.post("/wallet/getnowblock", {})
        try:
            return int(block["block_header"]["raw_data"]["number"])
        except (KeyError, TypeError, ValueError):
            raise MalformedResponseError(f"{self.http.url}: getnowblock answered without a block number") from None

    def fetch(self, first: int, last: int) -> FrameSet:
        """Frames of blocks ``first..last`` (inclusive; at most :data:`MAX_BLOCKS_PER_CALL`)."""
        if not 0 <= first <= last or last - first >= MAX_BLOCKS_PER_CALL:
            raise ValueError("fetch at most 100 consecutive blocks")
        answer = self.http.post("/wallet/getblockbylimitnext", {"startNum": first, "endNum": last + 1})
        blocks = answer.get("block", []) if isinstance(answer, Mapping) else None
        if not isinstance(blocks, list):
            raise MalformedResponseError(f"{self.http.url}: getblockbylimitnext answered {str(answer)[:200]!r}")
        infos: list[Mapping[str, Any]] = []
        for block in blocks:
            if block.get("transactions"):
                number = block["block_header"]["raw_data"]["number"]
                got = self.http.post("/wallet/gettransactioninfobyblocknum", {"num": number})
                infos.extend(got if isinstance(got, list) else [])
        heights = sorted(int(b["block_header"]["raw_data"].get("number", 0)) for b in blocks)
        if heights != list(range(first, last + 1)):
            raise MalformedResponseError(f"{self.http.url}: asked for blocks {first}..{last}, got {heights[:3]}…")
        return frames_from_blocks(blocks, infos, self.chain, source=self.source)


class TronGridSource:
    """An address's transactions from a TronGrid-compatible v1 API (see the module docstring).

    Raises
    ------
    ThirdPartyRefusedError
        The host is not self-hosted and ``allow_third_party`` is false (before any request).
    """

    def __init__(self, url: str, chain: Chain, *, allow_third_party: bool = False, api_key: str | None = None,
                 page_size: int = 200, max_pages: int = 50, timeout: float = 60.0) -> None:
        _tron_chain(chain)
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"not an http(s) API URL: {redact_url(url)}")
        if not is_self_hosted(parts.hostname):
            if not allow_third_party:
                raise ThirdPartyRefusedError(
                    f"refusing to query {parts.hostname!r} ({redact_url(url)}): a TronGrid API run by a third party "
                    "learns every address looked up, from which IP address and when: it discloses the investigation "
                    "to its operator. Use your own full node (tracer ingest tron --node URL --from N --to M), or "
                    "pass --allow-third-party (or set [privacy] allow_third_party = true) to accept that disclosure.")
            log.warning("querying third-party API %s: its operator can see every lookup", redact_url(url))
        self.chain = chain
        self.http = TronHttp(url, timeout=timeout, trust_env=allow_third_party, api_key=api_key)
        self.source = "trongrid:" + self.http.url
        self.page_size, self.max_pages = page_size, max_pages

    def close(self) -> None:
        self.http.close()

    def _pages(self, path: str) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        params: dict[str, Any] = {"limit": self.page_size, "only_confirmed": "true"}
        for _ in range(self.max_pages):
            answer = self.http.get(path, params)
            if not isinstance(answer, Mapping) or not answer.get("success", True) or \
                    not isinstance(answer.get("data"), list):
                raise MalformedResponseError(f"{self.http.url}{path} answered {str(answer)[:200]!r}")
            items.extend(answer["data"])
            fingerprint = (answer.get("meta") or {}).get("fingerprint")
            if not fingerprint:
                return items
            params["fingerprint"] = fingerprint
        raise InputError(f"{self.http.url}{path}: more than {self.max_pages * self.page_size} items; not loaded "
                         "whole (an exchange-sized address?)")

    def address_frames(self, address: str) -> FrameSet:
        """Every confirmed transaction of ``address``: TRX, TRC-10, contract calls and TRC-20 transfers,
        each with its info (fee, logs), mapped like a block's transactions."""
        normal = parse_tron(address)
        listed = [i for i in self._pages(f"/v1/accounts/{normal}/transactions") if "txID" in i]
        known = {str(i["txID"]).lower() for i in listed}
        pairs: list[tuple[Mapping[str, Any], Mapping[str, Any] | None, TxContext]] = []
        for item in self._pages(f"/v1/accounts/{normal}/transactions/trc20"):
            txid = tron_txid(item.get("transaction_id"), "transaction_id")[2:]
            if txid not in known:
                known.add(txid)
                tx = self.http.post("/wallet/gettransactionbyid", {"value": txid})
                if isinstance(tx, Mapping) and tx.get("txID"):
                    pairs.append((tx, self._info(txid), TxContext(None, None, None, None)))
        infos = {str(i["txID"]).lower(): self._info(str(i["txID"]).lower()) for i in listed}
        own = frames_from_trongrid_transactions(listed, self.chain, source=self.source, infos=infos)
        more = frames_from_transactions(pairs, self.chain, source=self.source)
        return FrameSet(transactions=own.transactions.vstack(more.transactions),
                        transfers=own.transfers.vstack(more.transfers))

    def _info(self, txid: str) -> Mapping[str, Any]:
        info = self.http.post("/wallet/gettransactioninfobyid", {"value": txid})
        return info if isinstance(info, Mapping) else {}
