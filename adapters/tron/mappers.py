# SPDX-License-Identifier: Apache-2.0
"""Tron HTTP API JSON -> canonical ``transactions`` + ``transfers`` frames (pure: no I/O).

Sources (https://developers.tron.network/reference/):

* a full node's ``/wallet/getblockbynum`` or ``/wallet/getblockbylimitnext`` (blocks with their
  transactions) and ``/wallet/gettransactioninfobyblocknum`` (one ``TransactionInfo`` per
  transaction: ``fee``, ``receipt``, ``log``, ``internal_transactions``);
* TronGrid's v1 API: ``/v1/accounts/{address}/transactions`` (transactions in the node's JSON with
  ``blockNumber``, ``block_timestamp`` and the total fee in ``ret[0].fee``) and
  ``/v1/accounts/{address}/transactions/trc20`` (decoded TRC-20 ``Transfer`` events).

What becomes a row (amounts exact integers: sun for TRX, 10**-6 TRX; token base units otherwise):

* ``TransferContract``: a ``native`` row owner -> ``to_address``, ``amount`` sun.
* ``TransferAssetContract`` (TRC-10): a ``token`` row whose ``asset`` is the token id as the
  chain names it (``"1002000"``; the hex-encoded ``asset_name`` of the API is decoded).
* ``TriggerSmartContract``: ``call_value`` (TRX sent to the contract) as a ``native`` row,
  ``call_token_value`` of ``token_id`` (TRC-10) as a ``token`` row, and every log with the
  ``Transfer(address,address,uint256)`` topic (TIP-20, Tron's ERC-20; USDT is
  ``TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t``) as a ``token`` row whose ``asset`` is the emitting
  contract. Tron numbers logs per transaction, not per block: ``log_index`` is the log's position
  in the transaction's ``log`` list. A 4-topic ``Transfer`` (TRC-721) keeps its ``token_id``.
* ``internal_transactions`` of the info that carry TRX (``callValueInfo`` without ``tokenId``,
  not ``rejected``): ``internal`` rows, ``trace_path = "internal:<n>"``.
* the fee (``TransactionInfo.fee``: the TRX burned for energy and bandwidth, account creation
  and memo fees; https://developers.tron.network/docs/resource-model) as a ``fee`` row paid by the
  owner to nobody (``to_address`` null, ``trace_path = "burn"``, as the EVM adapter writes a
  burned fee), and as ``transactions.fee``.

A transaction whose ``ret[0].contractRet`` is not ``SUCCESS`` (or whose receipt ``result`` is
set and not ``SUCCESS``, or whose info says ``result: FAILED``) moves no value; its fee is still
paid. Other contract types (staking, votes, permissions...) leave a transaction and its fee only.

Transaction ids are stored as ``0x`` + the lower-case ``txID`` (the account chains' form in this
project; TronScan shows them without ``0x``), block hashes as ``0x`` + ``blockID``; times are the
block's, in seconds (the API gives milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from adapters.errors import MalformedResponseError
from adapters.tron.addresses import TronAddressError, from_evm_word, parse_tron
from tracer.chains import Chain
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, TRANSFERS, FrameSet, conform
from tracer.units import split_for_frame

__all__ = ["TRANSFER_TOPIC", "USDT", "BURN_PATH", "TxContext", "frames_from_blocks", "frames_from_transactions",
           "frames_from_trongrid_transactions", "frames_from_trongrid_trc20", "is_failed", "tron_txid"]

#: keccak256("Transfer(address,address,uint256)"), the TIP-20 / ERC-20 ``Transfer`` topic (no 0x in Tron logs)
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
#: Tether USD (TRC-20) on Tron mainnet, 6 decimals
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
#: ``trace_path`` of a fee row (Tron burns what it charges for energy and bandwidth)
BURN_PATH = "burn"
_HASH = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]*)$")
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, slots=True)
class TxContext:
    """Where a transaction sits: its block (height, hash, time in seconds) and position in it."""

    height: int | None
    block_hash: str | None
    timestamp: int | None
    position: int | None


def tron_txid(value: Any, what: str = "txID") -> str:
    """``0x`` + the 64 lower-case hex digits of a Tron transaction (or block) id."""
    match = _HASH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MalformedResponseError(f"{what} {value!r} is not 64 hex digits")
    return "0x" + match.group(1).lower()


def is_failed(tx: Mapping[str, Any], info: Mapping[str, Any] | None) -> bool:
    """Whether the transaction failed (moved no value): ``contractRet`` / receipt ``result`` not ``SUCCESS``."""
    ret = tx.get("ret") or [{}]
    outcome = ret[0].get("contractRet") if isinstance(ret, list) and isinstance(ret[0], Mapping) else None
    if outcome not in (None, "SUCCESS"):
        return True
    if info:
        receipt = info.get("receipt") or {}
        if receipt.get("result") not in (None, "SUCCESS") or info.get("result") == "FAILED":
            return True
    return False


@dataclass
class _Rows:
    chain: str
    source: str
    txs: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in TRANSACTIONS.columns})
    transfers: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in TRANSFERS.columns})
    seen: set[str] = field(default_factory=set)

    def tx(self, txid: str, where: TxContext, fee: int) -> None:
        for column, cell in (("chain", self.chain), ("txid", txid), ("block_height", where.height),
                             ("block_hash", where.block_hash), ("position", where.position),
                             ("timestamp", where.timestamp), ("fee", Decimal(fee)), ("is_coinbase", False),
                             ("source", self.source)):
            self.txs[column].append(cell)

    def add(self, txid: str, where: TxContext, kind: str, asset: str, sender: str, recipient: str | None,
            value: int, *, log_index: int | None = None, path: str | None = None, token_id: str | None = None) -> None:
        amount, overflow = split_for_frame(value)
        for column, cell in (("chain", self.chain), ("txid", txid), ("block_height", where.height),
                             ("block_hash", where.block_hash), ("tx_index", where.position),
                             ("timestamp", where.timestamp), ("kind", kind), ("log_index", log_index),
                             ("trace_path", path), ("asset", asset), ("token_id", token_id),
                             ("from_address", sender), ("to_address", recipient), ("value", amount),
                             ("value_overflow", overflow), ("source", self.source)):
            self.transfers[column].append(cell)

    def frames(self) -> FrameSet:
        txs = pl.DataFrame(self.txs, schema=TRANSACTIONS.polars_schema)
        transfers = pl.DataFrame(self.transfers, schema=TRANSFERS.polars_schema)
        return FrameSet(transactions=conform(txs, TRANSACTIONS), transfers=conform(transfers, TRANSFERS))


def frames_from_blocks(blocks: Sequence[Mapping[str, Any]], infos: Iterable[Mapping[str, Any]], chain: Chain, *,
                       source: str) -> FrameSet:
    """Frames of full-node blocks (``getblockbynum`` objects, or the ``block`` list of
    ``getblockbylimitnext``) with the ``gettransactioninfobyblocknum`` answers of the same blocks.

    Raises
    ------
    MalformedResponseError
        A block or transaction lacks what every one has, an address or amount is not one, or a
        transaction has no info while the block is given infos for others.
    """
    by_id = {str(i.get("id", "")).lower(): i for i in infos if isinstance(i, Mapping)}
    rows = _Rows(chain.key, source)
    for block in blocks:
        header = (block.get("block_header") or {}).get("raw_data") or {}
        height, millis = _int(header.get("number", 0), "block number"), _int(header.get("timestamp"), "block time")
        block_hash = tron_txid(block.get("blockID"), "blockID")
        for position, tx in enumerate(block.get("transactions") or []):
            raw_id = str(tx.get("txID", "")).lower()
            _map_tx(rows, tx, by_id.get(raw_id), TxContext(height, block_hash, millis // 1000, position), None)
    return rows.frames()


def frames_from_transactions(pairs: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None, TxContext]],
                             chain: Chain, *, source: str) -> FrameSet:
    """Frames of single transactions (``gettransactionbyid`` + ``gettransactioninfobyid``) with their place."""
    rows = _Rows(chain.key, source)
    for tx, info, where in pairs:
        _map_tx(rows, tx, info, where, None)
    return rows.frames()


def frames_from_trongrid_transactions(items: Iterable[Mapping[str, Any]], chain: Chain, *, source: str,
                                      infos: Mapping[str, Mapping[str, Any]] | None = None) -> FrameSet:
    """Frames of the ``data`` items of TronGrid's ``/v1/accounts/{address}/transactions``.

    An item is the node's transaction JSON plus ``blockNumber`` and ``block_timestamp``; its fee is
    ``ret[0].fee``. TRC-20 transfers are only in the logs, which this endpoint does not return: pass
    the ``gettransactioninfobyid`` answers as ``infos`` (``{txID: info}``) to decode them. Internal
    items (``internal_tx_id``, no ``txID``) are skipped: the parent transaction's info holds them.
    """
    rows = _Rows(chain.key, source)
    for item in items:
        if "txID" not in item:
            continue
        where = TxContext(_int(item.get("blockNumber"), "blockNumber"), None,
                          _int(item.get("block_timestamp"), "block_timestamp") // 1000, None)
        info = (infos or {}).get(str(item["txID"]).lower())
        ret = item.get("ret") or [{}]
        fee = ret[0].get("fee") if isinstance(ret, list) and isinstance(ret[0], Mapping) else None
        _map_tx(rows, item, info, where, None if info is not None else _int(fee or 0, "ret.fee"))
    return rows.frames()


def frames_from_trongrid_trc20(items: Iterable[Mapping[str, Any]], chain: Chain, *, source: str) -> FrameSet:
    """Frames of the ``data`` items of TronGrid's ``/v1/accounts/{address}/transactions/trc20``:
    decoded ``Transfer`` events (``transaction_id``, ``token_info.address``, ``from``, ``to``,
    ``value`` as decimal text, ``block_timestamp``). The endpoint gives neither the block height nor
    the log's position nor the fee: rows carry ``trace_path = "trc20:<n>"`` (n-th item of that
    transaction in the answer) and the transaction a fee of 0. Prefer the node's infos
    (:func:`frames_from_transactions`) where the exact log position matters."""
    rows = _Rows(chain.key, source)
    ordinal: dict[str, int] = {}
    for item in items:
        if item.get("type", "Transfer") != "Transfer":
            continue
        txid = tron_txid(item.get("transaction_id"), "transaction_id")
        where = TxContext(None, None, _int(item.get("block_timestamp"), "block_timestamp") // 1000, None)
        if txid not in rows.seen:
            rows.seen.add(txid)
            rows.tx(txid, where, 0)
        ordinal[txid] = ordinal.get(txid, 0) + 1
        token = _address((item.get("token_info") or {}).get("address"), f"token of {txid}")
        value = item.get("value")
        if not isinstance(value, str) or not _DIGITS.fullmatch(value):
            raise MalformedResponseError(f"value {value!r} of a TRC-20 transfer in {txid} is not decimal digits")
        rows.add(txid, where, "token", token, _address(item.get("from"), f"from of {txid}"),
                 _address(item.get("to"), f"to of {txid}"), int(value), path=f"trc20:{ordinal[txid]}")
    return rows.frames()


# --- one transaction ---------------------------------------------------------------------------------


def _map_tx(rows: _Rows, tx: Mapping[str, Any], info: Mapping[str, Any] | None, where: TxContext,
            fee_given: int | None) -> None:
    txid = tron_txid(tx.get("txID"))
    if txid in rows.seen:
        return
    rows.seen.add(txid)
    contracts = (tx.get("raw_data") or {}).get("contract") or []
    if not isinstance(contracts, list) or not contracts:
        raise MalformedResponseError(f"transaction {txid} has no raw_data.contract")
    if info is not None and where.height is None and info.get("blockNumber") is not None:
        where = TxContext(_int(info["blockNumber"], "blockNumber"), where.block_hash,
                          _int(info.get("blockTimeStamp", 0), "blockTimeStamp") // 1000, where.position)
    fee = _int(info.get("fee", 0), f"fee of {txid}") if info is not None else (fee_given or 0)
    rows.tx(txid, where, fee)
    contract = contracts[0]  # java-tron executes one contract per transaction
    value = (contract.get("parameter") or {}).get("value") or {}
    kind = contract.get("type")
    owner = _address(value.get("owner_address"), f"owner of {txid}")
    if fee:
        rows.add(txid, where, "fee", NATIVE_ASSET, owner, None, fee, path=BURN_PATH)
    if is_failed(tx, info):
        return
    if kind == "TransferContract":
        rows.add(txid, where, "native", NATIVE_ASSET, owner, _address(value.get("to_address"), f"to of {txid}"),
                 _int(value.get("amount"), f"amount of {txid}"))
    elif kind == "TransferAssetContract":
        rows.add(txid, where, "token", _trc10_id(value.get("asset_name"), txid), owner,
                 _address(value.get("to_address"), f"to of {txid}"), _int(value.get("amount"), f"amount of {txid}"))
    elif kind == "TriggerSmartContract":
        target = _address(value.get("contract_address"), f"contract of {txid}")
        if call_value := _int(value.get("call_value", 0), f"call_value of {txid}"):
            rows.add(txid, where, "native", NATIVE_ASSET, owner, target, call_value)
        if token_value := _int(value.get("call_token_value", 0), f"call_token_value of {txid}"):
            rows.add(txid, where, "token", str(_int(value.get("token_id"), f"token_id of {txid}")), owner, target,
                     token_value, path="call")
        for index, log in enumerate((info or {}).get("log") or []):
            _log_row(rows, txid, where, index, log)
    for index, internal in enumerate((info or {}).get("internal_transactions") or []):
        if internal.get("rejected"):
            continue
        for call in internal.get("callValueInfo") or []:
            amount = _int(call.get("callValue", 0), f"internal callValue of {txid}")
            if amount and not call.get("tokenId"):
                rows.add(txid, where, "internal", NATIVE_ASSET,
                         _address(internal.get("caller_address"), f"internal caller of {txid}"),
                         _address(internal.get("transferTo_address"), f"internal recipient of {txid}"), amount,
                         path=f"internal:{index}")


def _log_row(rows: _Rows, txid: str, where: TxContext, index: int, log: Mapping[str, Any]) -> None:
    topics = [str(t).lower().removeprefix("0x") for t in log.get("topics") or []]
    if len(topics) not in (3, 4) or topics[0] != TRANSFER_TOPIC:
        return
    try:
        contract = from_evm_word(str(log.get("address", "")))
        sender, recipient = from_evm_word(topics[1]), from_evm_word(topics[2])
    except TronAddressError as exc:
        raise MalformedResponseError(f"log {index} of {txid}: {exc.reason}") from None
    if len(topics) == 4:  # TRC-721: the token id is the third indexed argument, one item moves
        rows.add(txid, where, "token", contract, sender, recipient, 1, log_index=index,
                 token_id=str(int(topics[3], 16)))
        return
    data = _HEX.fullmatch(str(log.get("data", "")))
    if data is None or len(data.group(1)) != 64:
        raise MalformedResponseError(f"log {index} of {txid}: Transfer data is not one 32-byte word")
    rows.add(txid, where, "token", contract, sender, recipient, int(data.group(1), 16), log_index=index)


def _trc10_id(value: Any, txid: str) -> str:
    """The TRC-10 token id: the API gives ``asset_name`` as digits or hex-encoded digits (``"31303034303839"``
    is ``"1004089"``); before 2019 it was the token's name (kept as decoded text)."""
    text = str(value or "")
    if not text:
        raise MalformedResponseError(f"TRC-10 transfer {txid} names no asset")
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        try:
            decoded = bytes.fromhex(text.removeprefix("0x")).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if decoded and decoded.isprintable():
            return decoded
    return text


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedResponseError(f"{what} is missing or not text: {value!r}")
    try:
        return parse_tron(value)
    except TronAddressError as exc:
        raise MalformedResponseError(f"{what}: {exc.reason}") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedResponseError(f"{what} {value!r} is not a whole number")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise MalformedResponseError(f"{what} {value!r} is not a whole number")
        value = int(value)
    if value < 0:
        raise MalformedResponseError(f"{what} {value} is negative")
    return value
