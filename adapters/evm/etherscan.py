# SPDX-License-Identifier: Apache-2.0
"""An Ethereum address's transactions from an Etherscan-compatible API (a third party: opt-in only).

API: https://docs.etherscan.io/api-endpoints/accounts ("Accounts" module; Blockscout and other
explorers answer the same ``module=account`` calls). Lists used, each for the address, newest first
(``sort=desc``), paged with ``page``/``offset`` inside a ``startblock``/``endblock`` window that slides
down once the API's 10,000-row window (``page x offset``) is used up:

* ``action=txlist`` — transactions the address sent or received: the **native** value of a
  successful one (``isError == "0"`` and ``txreceipt_status`` not ``"0"``; a contract creation
  credits ``contractAddress``) and its **fee** (``gasUsed x gasPrice``; Etherscan's ``gasPrice`` is
  the price actually paid, the receipt's ``effectiveGasPrice``);
* ``action=txlistinternal`` — **internal** transfers (value-carrying calls below the top level):
  errored ones (``isError == "1"``) and zero-value ones are skipped, ``delegatecall``/``staticcall``/
  ``callcode`` move nothing and are skipped; ``trace_path`` is Etherscan's ``traceId`` with ``_``
  read as ``.`` (``"0_1"`` -> ``"0.1"``, the trace module's ``traceAddress``);
* ``action=tokentx`` — **token** (EIP-20) transfers; ``value`` is the raw integer amount in the
  token's base units (``tokenDecimal`` is not applied: amounts stay integers, never floats);
  ``log_index`` is the row's ``logIndex`` where the API gives it (Blockscout), else it is read from
  the transaction's receipt (``module=proxy&action=eth_getTransactionReceipt``) by matching the
  ``Transfer`` log (contract, sender, recipient, value).

The rows follow :func:`adapters.evm.mappers.map_block` column for column (except ``source``), so a
later block-range ingest of the same blocks changes nothing: ``block_hash``, ``timestamp``, the fee
recipient and the base fee come from the block header (``module=proxy&action=eth_getBlockByNumber``,
once per block); the fee is split as the mapper does (the tip ``gasUsed x (gasPrice - baseFee)`` to
the block's ``miner``, the burned part ``gasUsed x baseFee`` with ``trace_path = "burn"``; before
London, all of it to the miner). A transaction the address only appears in below the top level (an
internal or token transfer to it) is completed through ``eth_getTransactionByHash`` and
``eth_getTransactionReceipt`` (proxy module), so its fee and native rows are there too.

Limits (documented, not hidden): token and internal transfers of a transaction that touch none of
the addresses looked up are not listed by the API, so they are missing until one of their parties is
looked up (or the block range is ingested from a node); EIP-4844 blob fees are not in ``txlist``
(the fee of a blob transaction lacks its blob part); ERC-721/1155 transfers (``tokennfttx``,
``token1155tx``) are not read yet.

Privacy: every address looked up is disclosed to the API's operator (with the API key, i.e. who is
asking). :class:`EtherscanSource` refuses unless ``allow_third_party=True`` (``--allow-third-party``
or ``[privacy] allow_third_party`` in the config); a self-hosted explorer (:func:`is_self_hosted`:
loopback, private network, ``.local``/``.internal`` names) is not a third party. The session ignores
proxies from the environment and redirects unless a third party is allowed. The API key is sent as
the ``apikey`` query parameter and never appears in :attr:`EtherscanSource.source`, messages or logs.

Errors: ``{"status": "0", "message": "NOTOK", "result": "Max rate limit reached..."}`` and HTTP
429/5xx are retried with backoff, then raise :class:`EtherscanApiError` (exit code 4); any other
``NOTOK`` answer (invalid API key, bad parameters) raises :class:`EtherscanApiError` with the API's
text; ``"No transactions found"`` is an empty list, not an error.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import requests

from adapters.bitcoin.esplora import ThirdPartyRefusedError, is_self_hosted
from adapters.errors import MalformedResponseError
from adapters.evm.mappers import BURN_PATH, TRANSFER_TOPIC, parse_address, parse_quantity
from tracer.chains import Chain
from tracer.errors import InputError, SourceUnavailableError
from tracer.redaction import redact_url
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, TRANSFERS, FrameSet, conform, empty
from tracer.units import split_for_frame

__all__ = [
    "EtherscanSource",
    "EtherscanApiError",
    "BlockHeader",
    "DEFAULT_URL",
    "map_transactions",
    "fee_rows",
    "parse_amount",
    "ThirdPartyRefusedError",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.etherscan.io/api"
#: rows per page (Etherscan's maximum ``offset`` is 10,000 with ``page x offset <= 10,000``)
DEFAULT_PAGE = 1_000
_WINDOW_ROWS = 10_000
_LISTS = ("txlist", "txlistinternal", "tokentx")
_NO_VALUE_CALLS = frozenset({"delegatecall", "staticcall", "callcode"})
_DIGITS = re.compile(r"^[0-9]{1,78}$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class EtherscanApiError(SourceUnavailableError):
    """The API answered ``NOTOK`` (rate limit after retries, invalid key, bad request) or failed."""


@dataclass(frozen=True)
class BlockHeader:
    """What the rows need from a block: its hash, time, fee recipient and base fee (None before London)."""

    height: int
    hash: str
    timestamp: int
    miner: str
    base_fee: int | None


# --- pure mapping ----------------------------------------------------------------------------------


def parse_amount(value: Any, what: str) -> int:
    """An Etherscan amount: a decimal string of digits (wei, token base units), exact at any size.

    >>> parse_amount("340282366920938463463374607431768211457", "value")
    340282366920938463463374607431768211457
    """
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise MalformedResponseError(f"{what} is {value!r}, not a decimal integer string")
    return int(value)


def fee_rows(total_gas_used: int, gas_price: int, header: BlockHeader) -> list[tuple[str | None, str | None, int]]:
    """``(trace_path, to_address, value)`` of a transaction's fee rows, split as
    :func:`adapters.evm.mappers.map_block` does: the tip to the miner, the base fee burned
    (``trace_path = "burn"``, no recipient); a zero part gives no row.

    >>> h = BlockHeader(1, "0x" + "0" * 64, 0, "0x" + "a" * 40, 7)
    >>> fee_rows(21_000, 10, h)
    [(None, '0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 63000), ('burn', None, 147000)]
    """
    burned_per_gas = header.base_fee or 0
    if gas_price < burned_per_gas:
        raise MalformedResponseError(
            f"gas price {gas_price} below the base fee {burned_per_gas} of block {header.height}")
    rows: list[tuple[str | None, str | None, int]] = []
    tip = total_gas_used * (gas_price - burned_per_gas)
    burned = total_gas_used * burned_per_gas
    if tip:
        rows.append((None, header.miner, tip))
    if burned:
        rows.append((BURN_PATH, None, burned))
    return rows


def map_transactions(
    tops: Mapping[str, Mapping[str, Any]],
    internals: Mapping[str, Sequence[Mapping[str, Any]]],
    tokens: Mapping[str, Sequence[Mapping[str, Any]]],
    headers: Mapping[int, BlockHeader],
    chain: Chain,
    *,
    source: str,
) -> FrameSet:
    """Canonical ``transactions`` and ``transfers`` rows of the transactions in ``tops`` (pure).

    ``tops`` maps a txid (lower case) to its ``txlist`` row; ``internals`` and ``tokens`` map a txid
    to its ``txlistinternal`` / ``tokentx`` rows (a token row must carry ``logIndex``); ``headers``
    holds the header of every block involved. Rows of a txid not in ``tops`` are an error.
    """
    t_cols: dict[str, list[Any]] = {c: [] for c in TRANSACTIONS.columns}
    r_cols: dict[str, list[Any]] = {c: [] for c in TRANSFERS.columns}
    stray = (set(internals) | set(tokens)) - set(tops)
    if stray:
        raise ValueError(f"internal/token rows without their transaction: {', '.join(sorted(stray)[:3])}")

    for txid in sorted(tops):
        top = tops[txid]
        what = f"transaction {txid}"
        height = parse_amount(top.get("blockNumber"), f"blockNumber of {what}")
        header = headers.get(height)
        if header is None:
            raise ValueError(f"no header for block {height} of {what}")
        block_hash = str(top.get("blockHash") or header.hash).lower()
        if block_hash != header.hash:
            raise MalformedResponseError(
                f"{what} is in block {block_hash}, the header of {height} is {header.hash}: reorg?")
        position = parse_amount(top.get("transactionIndex"), f"transactionIndex of {what}")
        sender = parse_address(top.get("from"), f"sender of {what}")

        def add(kind: str, log_index: int | None, trace_path: str | None, asset: str, frm: str, to: str | None,
                value: int, txid: str = txid, header: BlockHeader = header, position: int = position) -> None:
            amount, overflow = split_for_frame(value)
            for column, item in (("chain", chain.key), ("txid", txid), ("block_height", header.height),
                                 ("block_hash", header.hash), ("tx_index", position), ("timestamp", header.timestamp),
                                 ("kind", kind), ("log_index", log_index), ("trace_path", trace_path),
                                 ("asset", asset), ("token_id", None), ("from_address", frm), ("to_address", to),
                                 ("value", amount), ("value_overflow", overflow), ("source", source)):
                r_cols[column].append(item)

        gas_used = parse_amount(top.get("gasUsed"), f"gasUsed of {what}")
        gas_price = parse_amount(top.get("gasPrice"), f"gasPrice of {what}")
        for trace_path, to, value in fee_rows(gas_used, gas_price, header):
            add("fee", None, trace_path, NATIVE_ASSET, sender, to, value)
        ok = str(top.get("isError", "0")) == "0" and str(top.get("txreceipt_status", "")) != "0"
        value = parse_amount(top.get("value"), f"value of {what}")
        if ok and value:
            to_text = top.get("to") or top.get("contractAddress")
            add("native", None, None, NATIVE_ASSET, sender, parse_address(to_text, f"recipient of {what}"), value)
        for row in internals.get(txid, ()):
            if str(row.get("isError", "0")) != "0" or str(row.get("type", "call")).lower() in _NO_VALUE_CALLS:
                continue
            amount = parse_amount(row.get("value"), f"internal value in {what}")
            if not amount:
                continue
            trace_id = str(row.get("traceId", ""))
            if not re.fullmatch(r"[0-9]+(_[0-9]+)*", trace_id):
                raise MalformedResponseError(f"traceId {trace_id!r} of an internal transfer in {what}")
            to_text = row.get("to") or row.get("contractAddress")
            add("internal", None, trace_id.replace("_", "."), NATIVE_ASSET,
                parse_address(row.get("from"), f"internal sender in {what}"),
                parse_address(to_text, f"internal recipient in {what}"), amount)
        for row in tokens.get(txid, ()):
            log_index = parse_amount(row.get("logIndex"), f"logIndex of a token transfer in {what}")
            add("token", log_index, None, parse_address(row.get("contractAddress"), f"token of {what}"),
                parse_address(row.get("from"), f"token sender in {what}"),
                parse_address(row.get("to"), f"token recipient in {what}"),
                parse_amount(row.get("value"), f"token value in {what}"))
        for column, item in (("chain", chain.key), ("txid", txid), ("block_height", header.height),
                             ("block_hash", header.hash), ("position", position), ("timestamp", header.timestamp),
                             ("fee", Decimal(gas_used * gas_price)), ("is_coinbase", False), ("source", source)):
            t_cols[column].append(item)
    transactions = pl.DataFrame(t_cols, schema=TRANSACTIONS.polars_schema)
    transfers = pl.DataFrame(r_cols, schema=TRANSFERS.polars_schema) if r_cols["txid"] else empty(TRANSFERS)
    return FrameSet(transactions=conform(transactions, TRANSACTIONS), transfers=conform(transfers, TRANSFERS))


def header_from_block(block: Any, height: int) -> BlockHeader:
    """A :class:`BlockHeader` from an ``eth_getBlockByNumber`` result (hex quantities)."""
    if not isinstance(block, Mapping):
        raise MalformedResponseError(f"block {height}: eth_getBlockByNumber returned {block!r}"[:200])
    got = parse_quantity(block.get("number"), f"number of block {height}")
    if got != height:
        raise MalformedResponseError(f"asked for block {height}, got block {got}")
    block_hash = block.get("hash")
    if not isinstance(block_hash, str) or not _HASH.fullmatch(block_hash):
        raise MalformedResponseError(f"hash of block {height} is {block_hash!r}")
    base = block.get("baseFeePerGas")
    return BlockHeader(height=height, hash=block_hash.lower(),
                       timestamp=parse_quantity(block.get("timestamp"), f"timestamp of block {height}"),
                       miner=parse_address(block.get("miner"), f"miner of block {height}"),
                       base_fee=parse_quantity(base, f"baseFeePerGas of block {height}") if base else None)


def top_from_rpc(tx: Any, receipt: Any, txid: str) -> dict[str, Any]:
    """A ``txlist``-shaped row from ``eth_getTransactionByHash`` + ``eth_getTransactionReceipt``
    (for a transaction the address appears in only below the top level)."""
    if not isinstance(tx, Mapping) or not isinstance(receipt, Mapping) or tx.get("blockNumber") is None:
        raise MalformedResponseError(f"transaction {txid}: not found or not in a block")
    status = receipt.get("status")
    price = receipt.get("effectiveGasPrice") or tx.get("gasPrice")
    return {
        "hash": txid, "blockNumber": str(parse_quantity(tx["blockNumber"], f"blockNumber of {txid}")),
        "blockHash": str(tx.get("blockHash") or "").lower() or None,
        "transactionIndex": str(parse_quantity(tx.get("transactionIndex"), f"transactionIndex of {txid}")),
        "from": tx.get("from"), "to": tx.get("to") or "", "contractAddress": receipt.get("contractAddress") or "",
        "value": str(parse_quantity(tx.get("value"), f"value of {txid}")),
        "gasUsed": str(parse_quantity(receipt.get("gasUsed"), f"gasUsed of {txid}")),
        "gasPrice": str(parse_quantity(price, f"gas price of {txid}")),
        "isError": "0" if status is None or parse_quantity(status, f"status of {txid}") == 1 else "1",
        "txreceipt_status": "" if status is None else str(parse_quantity(status, f"status of {txid}")),
    }


def log_indexes(token_rows: Sequence[Mapping[str, Any]], receipt: Any, txid: str) -> list[int]:
    """The ``logIndex`` of each ``tokentx`` row of one transaction, from its receipt: the rows are
    matched, in order, to the receipt's EIP-20 ``Transfer`` logs with the same contract, sender,
    recipient and value."""
    logs = receipt.get("logs") if isinstance(receipt, Mapping) else None
    if not isinstance(logs, list):
        raise MalformedResponseError(f"receipt of {txid} has no logs list")
    candidates: list[tuple[int, tuple[str, str, str, int]]] = []
    for entry in logs:
        topics = entry.get("topics") if isinstance(entry, Mapping) else None
        if not isinstance(topics, list) or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
            continue
        data = str(entry.get("data", ""))
        if len(data) != 66:
            continue
        key = (str(entry.get("address", "")).lower(), "0x" + str(topics[1])[-40:].lower(),
               "0x" + str(topics[2])[-40:].lower(), int(data, 16))
        candidates.append((parse_quantity(entry.get("logIndex"), f"logIndex in receipt of {txid}"), key))
    found: list[int] = []
    used: set[int] = set()
    for row in token_rows:
        key = (str(row.get("contractAddress", "")).lower(), str(row.get("from", "")).lower(),
               str(row.get("to", "")).lower(), parse_amount(row.get("value"), f"token value in {txid}"))
        match = next((i for i, k in candidates if k == key and i not in used), None)
        if match is None:
            raise MalformedResponseError(f"token transfer {key} of {txid} is not among its receipt's Transfer logs")
        used.add(match)
        found.append(match)
    return found


# --- the source ------------------------------------------------------------------------------------


class EtherscanSource:
    """Lists an Ethereum address's transactions through an Etherscan-compatible API.

    Fits :class:`jobs.seed_ingest.AddressTxSource`. See the module docstring for what is read and
    what is missing.

    Parameters
    ----------
    base_url
        The API endpoint, e.g. :data:`DEFAULT_URL` or a Blockscout ``https://host/api``; for
        Etherscan's multichain endpoint (``.../v2/api``) the chain's EIP-155 id is sent as ``chainid``.
    chain
        The account chain the API serves.
    api_key
        Sent as ``apikey``; never shown.
    allow_third_party
        Required for any host that is not self-hosted (:func:`is_self_hosted`).
    from_height, to_height
        Blocks searched (``startblock`` / ``endblock``; default: all).
    """

    def __init__(self, base_url: str, chain: Chain, *, api_key: str | None = None, allow_third_party: bool = False,
                 from_height: int = 0, to_height: int | None = None, page_size: int = DEFAULT_PAGE,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 1.0) -> None:
        url = base_url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"not an http(s) API URL: {redact_url(url)}")
        if parts.username is not None or parts.query:
            raise InputError("give the API key through TRACER_ETHERSCAN_KEY or [etherscan] key, not in the URL")
        if not chain.is_account:
            raise InputError(f"an Etherscan-compatible API serves account chains; {chain.key!r} is not one")
        self.url = redact_url(url)
        self.source = "etherscan:" + self.url
        host = parts.hostname
        if not is_self_hosted(host):
            if not allow_third_party:
                raise ThirdPartyRefusedError(
                    f"refusing to query {host!r} ({self.url}): an Etherscan-compatible API run by a third party "
                    "learns every address looked up, from which IP address, when, and (through the API key) by "
                    "whom: it discloses the investigation to its operator. Use your own node (--node) or a chain "
                    "store (--from-store), or pass --allow-third-party (or set [privacy] allow_third_party = true) "
                    "to accept that disclosure."
                )
            log.warning("querying third-party API %s: its operator can see every lookup", self.url)
        self.chain = chain
        self._base = url
        self._key = api_key or None
        self._third_party = allow_third_party
        self.from_height = from_height
        self.to_height = to_height
        self.page_size = max(1, min(page_size, _WINDOW_ROWS))
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._chain_param = {"chainid": str(chain.evm_chain_id)} if parts.path.rstrip("/").endswith("/v2/api") else {}
        self._session = requests.Session()
        if not allow_third_party:
            self._session.trust_env = False
        #: txid -> its ``txlist`` row / ``txlistinternal`` rows / ``tokentx`` rows (keyed to dedupe pages)
        self._tops: dict[str, dict[str, Any]] = {}
        self._internals: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self._tokens: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self._where: dict[str, tuple[int, int]] = {}
        self._headers: dict[int, BlockHeader] = {}

    def __repr__(self) -> str:
        return f"EtherscanSource({self.url!r}, chain={self.chain.key!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> EtherscanSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- AddressTxSource --------------------------------------------------------------------------------
    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]:
        """Transactions that move value from or to ``address`` (native and fees it sends, internal,
        token), newest first; at most ``limit`` (the newest ones)."""
        wanted = address.lower()
        found: dict[str, tuple[int, int]] = {}
        for action in _LISTS:
            own: dict[str, tuple[int, int]] = {}
            for row in self._list(action, wanted, limit):
                txid = _txid(row.get("hash"))
                height = parse_amount(row.get("blockNumber"), f"blockNumber of {txid}")
                index = row.get("transactionIndex")
                where = (height, parse_amount(index, f"transactionIndex of {txid}") if index not in (None, "") else -1)
                own[txid] = max(where, own.get(txid, where))
                if action == "txlist":
                    self._tops[txid] = row
                elif action == "txlistinternal":
                    key: tuple[Any, ...] = (row.get("traceId"), row.get("from"), row.get("to"), row.get("value"))
                    self._internals.setdefault(txid, {})[key] = row
                else:
                    key = (row.get("logIndex"), row.get("contractAddress"), row.get("from"), row.get("to"),
                           row.get("value"))
                    self._tokens.setdefault(txid, {})[key] = row
            for txid, where in own.items():
                found[txid] = max(where, found.get(txid, where))
        self._where.update(found)
        ordered = sorted(found, key=lambda t: (found[t], t), reverse=True)
        return ordered if limit is None else ordered[:limit]

    def transactions(self, txids: Iterable[str]) -> FrameSet:
        """The canonical rows of ``txids`` (each must have come from :meth:`address_txids`)."""
        wanted = sorted({t.lower() for t in txids})
        if not wanted:
            return FrameSet()
        unknown = [t for t in wanted if t not in self._where]
        if unknown:
            raise InputError(f"transaction(s) not listed by this source: {', '.join(unknown[:3])}")
        tops: dict[str, Mapping[str, Any]] = {}
        tokens: dict[str, list[dict[str, Any]]] = {}
        for txid in wanted:
            receipt: Any = None
            if txid not in self._tops:
                receipt = self._proxy("eth_getTransactionReceipt", txhash=txid)
                self._tops[txid] = top_from_rpc(self._proxy("eth_getTransactionByHash", txhash=txid), receipt, txid)
            tops[txid] = self._tops[txid]
            rows = [dict(r) for r in self._tokens.get(txid, {}).values()]
            if any(r.get("logIndex") in (None, "") for r in rows):
                receipt = receipt if receipt is not None else self._proxy("eth_getTransactionReceipt", txhash=txid)
                for row, index in zip(rows, log_indexes(rows, receipt, txid), strict=True):
                    row["logIndex"] = str(index)
            if rows:
                tokens[txid] = rows
        for height in sorted({parse_amount(t.get("blockNumber"), "blockNumber") for t in tops.values()}):
            if height not in self._headers:
                self._headers[height] = header_from_block(
                    self._proxy("eth_getBlockByNumber", tag=hex(height), boolean="false"), height)
        internals = {t: list(self._internals[t].values()) for t in wanted if t in self._internals}
        return map_transactions(tops, internals, tokens, self._headers, self.chain, source=self.source)

    # -- requests ---------------------------------------------------------------------------------------
    def _list(self, action: str, address: str, limit: int | None) -> list[dict[str, Any]]:
        """All rows of one account list, newest first, until ``limit`` distinct transactions."""
        rows: list[dict[str, Any]] = []
        txids: set[str] = set()
        seen: set[str] = set()
        end = self.to_height if self.to_height is not None else 99_999_999
        page = 1
        while end >= self.from_height:
            result = self._call({"module": "account", "action": action, "address": address,
                                 "startblock": str(self.from_height), "endblock": str(end), "page": str(page),
                                 "offset": str(self.page_size), "sort": "desc"}, f"{action} of {address}")
            if not isinstance(result, list):
                raise MalformedResponseError(f"{self.url}: {action} returned {str(result)[:200]!r}")
            lowest = end
            for row in result:
                if not isinstance(row, dict):
                    raise MalformedResponseError(f"{self.url}: {action} row is {str(row)[:100]!r}")
                fingerprint = json.dumps(row, sort_keys=True)
                lowest = min(lowest, parse_amount(row.get("blockNumber"), f"{action} blockNumber"))
                if fingerprint in seen:
                    continue
                seen.add(fingerprint)
                rows.append(row)
                txids.add(_txid(row.get("hash")))
            if len(result) < self.page_size or (limit is not None and len(txids) >= limit):
                return rows
            if (page + 1) * self.page_size <= _WINDOW_ROWS:
                page += 1
            elif lowest < end:
                end, page = lowest, 1  # slide the window: rows of block ``lowest`` come again, deduplicated
            else:
                raise EtherscanApiError(f"{self.url}: {address} has more than {_WINDOW_ROWS} {action} rows in block "
                                        f"{end}; the API cannot page past them")
        return rows

    def _proxy(self, action: str, **params: str) -> Any:
        return self._call({"module": "proxy", "action": action, **params}, action)

    def _call(self, params: dict[str, str], what: str) -> Any:
        query = {**self._chain_param, **params, **({"apikey": self._key} if self._key else {})}
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 2))  # noqa: S311 - jitter
            try:
                response = self._session.get(self._base, params=query, timeout=self.timeout,
                                             allow_redirects=self._third_party)
            except requests.Timeout:
                last = f"timed out after {self.timeout:g}s"
                continue
            except requests.RequestException as exc:  # the message would name the URL with the key
                last = f"cannot connect ({type(exc).__name__})"
                continue
            if 300 <= response.status_code < 400:
                raise ThirdPartyRefusedError(f"{self.url}: {what} was redirected; not followed (a redirect could hand "
                                             "the query to a third party). Give the final URL.")
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise EtherscanApiError(f"{self.url}: HTTP {response.status_code} on {what}")
            try:
                body = response.json()
            except ValueError:
                raise MalformedResponseError(f"{self.url}: {what} answered with something that is not JSON") from None
            if not isinstance(body, dict):
                raise MalformedResponseError(f"{self.url}: {what} answered {self._scrub(str(body))[:200]!r}")
            if "jsonrpc" in body:  # the proxy module answers as the node does
                if body.get("error"):
                    message = body["error"].get("message") if isinstance(body["error"], dict) else body["error"]
                    raise EtherscanApiError(f"{self.url}: {what} failed: {self._scrub(str(message))[:200]}")
                return body.get("result")
            status, message, result = str(body.get("status", "")), str(body.get("message", "")), body.get("result")
            if status == "1":
                return result
            if message.startswith("No transactions found") or (status == "0" and result == []):
                return []
            text = self._scrub(f"{message}: {result}" if isinstance(result, str) else message)[:200]
            if "rate limit" in text.lower():
                last = f"rate limited ({text})"
                continue
            raise EtherscanApiError(f"{self.url}: the API refused {what}: {text}")
        raise EtherscanApiError(f"{self.url}: {what} failed after {self.retries + 1} attempts: {last}. The API may be "
                                "rate limiting this key: wait, or lower the number of addresses per hop")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _txid(value: Any) -> str:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise MalformedResponseError(f"transaction hash {value!r} is not 32 hex bytes")
    return value.lower()
