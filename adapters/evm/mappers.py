# SPDX-License-Identifier: Apache-2.0
"""Map raw Ethereum JSON-RPC responses to the canonical frames (pure, no I/O).

Inputs are the decoded JSON ``result`` objects exactly as a node returns them (quantities and
data as ``0x`` hex strings):

* ``eth_getBlockByNumber(n, true)`` (transactions as full objects) and the block's
  ``eth_getTransactionReceipt`` answers (or ``eth_getBlockReceipts``) -> :func:`map_block`;
* OpenEthereum / Erigon / Nethermind / Reth ``trace_block`` (the "Parity-style" trace module,
  https://openethereum.github.io/JSONRPC-trace-module) -> :func:`map_traces`.

Specifications: Ethereum JSON-RPC (https://ethereum.github.io/execution-apis/), EIP-20 (token
``Transfer`` event), EIP-721 (NFT ``Transfer`` event), EIP-1559 (base fee burned, priority fee to
the block's fee recipient), EIP-4844 (blob gas, burned), EIP-55 (address spelling), EIP-658
(receipt ``status``, from Byzantium, block 4,370,000 on mainnet).

Rules
-----
* **Amounts** are uint256 and stay exact Python ``int`` until :func:`tracer.units.split_for_frame`
  encodes them (``value`` ``Decimal(38,0)``, or ``value = null`` and the digits in
  ``value_overflow`` from 10**38 on). Hex parsing is strict: a quantity that is not ``0x``
  followed by 1-64 hex digits, or an address that is not 40 hex digits, raises
  :class:`MalformedResponseError`.
* **Addresses** are EIP-55 checksummed; ``asset`` is ``"native"`` or the token contract.
* **native** row: the transaction's own ``value``, only when it is > 0 and the transaction
  succeeded (a failed transaction moves no value; it still pays its fee). A contract creation
  (``to`` null) credits the created contract, the receipt's ``contractAddress``. Receipts from
  before Byzantium have no ``status``: the caller then passes ``failed`` (txids whose top-level
  trace has an error, see :func:`failed_transactions`); a status-less receipt without ``failed``
  raises ``ValueError``.
* **fee** rows (kind ``fee``, the sender pays, also for a failed transaction). Total paid =
  ``gasUsed x effectiveGasPrice`` (+ ``blobGasUsed x blobGasPrice`` for EIP-4844 blob
  transactions); that total is ``transactions.fee``. It is split by where it goes, so that
  balances reconstructed from the rows are exact (shared notes §5, completeness check):

  - the part the block's fee recipient (``block.miner``) receives: ``gasUsed x (effectiveGasPrice
    - baseFeePerGas)`` after London, the whole gas fee before it; ``to_address`` = the miner,
    ``trace_path`` null;
  - the burned part (EIP-1559 base fee, EIP-4844 blob fee): ``to_address`` null,
    ``trace_path = "burn"`` (the marker keeps the row's natural key distinct from the tip row).

  A part equal to zero gives no row. ``effectiveGasPrice`` missing from an old node's receipt is
  the transaction's ``gasPrice`` (legacy) or ``min(maxFeePerGas, baseFee + maxPriorityFeePerGas)``.
* **token** rows from receipt logs whose topic0 is ``Transfer(address,address,uint256)``
  (:data:`TRANSFER_TOPIC`): **ERC-20** when there are 3 topics and exactly 32 data bytes (value =
  data as uint256; zero-value transfers are kept: they are real events, e.g. address poisoning);
  **ERC-721** when there are 4 topics and no data (``token_id`` = topic3 in decimal, ``value`` = 1
  item, not an amount). Any other shape (CryptoKitties' unindexed event, topics whose upper 12
  bytes are not zero, extra data) is skipped and counted in :class:`MapStats`.
  ``log_index`` is the block-wide ``logIndex``.
* **ERC-1155** ``TransferSingle`` / ``TransferBatch`` logs (:mod:`adapters.evm.erc1155`) are token rows
  too: ``token_id`` = the id in decimal, ``value`` = how many of it moved; a batch's items have
  ``trace_path = "item.<i>"`` (a single transfer: null). Odd shapes are skipped and counted as above.
* **Conversions** (Uniswap V2/V3 ``Swap``, WETH9 ``Deposit``/``Withdrawal``) are decoded from the same logs
  and these rows by :mod:`adapters.evm.conversions` (warnings in :attr:`MapStats.conversion_warnings`).
* **internal** rows (:func:`map_traces`) are value-carrying trace entries below the top level:

  - ``call`` with ``callType == "call"`` and value > 0. ``delegatecall`` reports the parent's
    ``msg.value`` but moves nothing; ``callcode`` runs the callee's code in the caller's own
    account, so its value goes from the caller to itself; ``staticcall`` cannot carry value. All
    three are skipped.
  - ``create`` (value to ``result.address``) and ``suicide`` / self-destruct (``balance`` from
    ``action.address`` to ``action.refundAddress``) with value > 0.
  - the top-level entry (``traceAddress == []``) is the transaction itself (its native row), and is
    skipped; an entry with ``error`` and every entry below it are skipped (a reverted subtree moves
    no value); ``reward`` entries (block and uncle rewards) are issuance, not a transfer between
    accounts, and are skipped (counted in :class:`MapStats`).
  - ``trace_path`` is ``traceAddress`` joined by ``"."`` (``[0, 1]`` -> ``"0.1"``).
* **Schema drift**: unknown keys in a block, transaction, receipt, log or trace entry raise
  :class:`SchemaDriftError` (for instance an L2 receipt's ``l1Fee`` or a deposit transaction's
  ``mint``: value-bearing fields that must be reviewed, not dropped). Known but unmapped: the
  block's ``withdrawals`` (beacon-chain credits, no transaction) and block rewards.
* **Consistency**: every transaction of the block needs exactly one receipt, from the same block
  hash (a receipt from a reorged sibling block raises :class:`MalformedResponseError`), and a
  failed transaction must have no logs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import polars as pl

from adapters.errors import MalformedResponseError, SchemaDriftError
from adapters.evm.erc1155 import ERC1155_TOPICS, decode_erc1155
from tracer.chains import Chain
from tracer.schema import NATIVE_ASSET, TRANSACTIONS, TRANSFERS, FrameSet, conform, empty
from tracer.units import split_for_frame

if TYPE_CHECKING:
    from adapters.evm.conversions import ConversionWarning

__all__ = [
    "TRANSFER_TOPIC",
    "MapStats",
    "DecodedTrace",
    "map_block",
    "map_traces",
    "decode_traces",
    "failed_transactions",
    "parse_quantity",
    "parse_address",
]

#: keccak256("Transfer(address,address,uint256)"): EIP-20 and EIP-721 ``Transfer`` topic0.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
#: ``trace_path`` of the burned part of a fee (EIP-1559 base fee, EIP-4844 blob fee).
BURN_PATH = "burn"

_QUANTITY = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
_DATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TOPIC_ADDRESS = re.compile(r"^0x0{24}([0-9a-fA-F]{40})$")

_BLOCK_KEYS = frozenset(
    {"author", "baseFeePerGas", "blobGasUsed", "difficulty", "excessBlobGas", "extraData", "gasLimit", "gasUsed",
     "hash", "logsBloom", "miner", "mixHash", "nonce", "number", "parentBeaconBlockRoot", "parentHash",
     "receiptsRoot", "requestsHash", "sealFields", "sha3Uncles", "size", "stateRoot", "timestamp",
     "totalDifficulty", "transactions", "transactionsRoot", "uncles", "withdrawals", "withdrawalsRoot"}
)
_TX_KEYS = frozenset(
    {"accessList", "authorizationList", "blobVersionedHashes", "blockHash", "blockNumber", "blockTimestamp",
     "chainId", "condition", "creates", "data", "from", "gas", "gasPrice", "hash", "input", "maxFeePerBlobGas",
     "maxFeePerGas", "maxPriorityFeePerGas", "nonce", "publicKey", "r", "raw", "s", "standardV", "to",
     "transactionIndex", "type", "v", "value", "yParity"}
)
_RECEIPT_KEYS = frozenset(
    {"blobGasPrice", "blobGasUsed", "blockHash", "blockNumber", "contractAddress", "cumulativeGasUsed",
     "effectiveGasPrice", "from", "gasUsed", "logs", "logsBloom", "root", "status", "to", "transactionHash",
     "transactionIndex", "type"}
)
_LOG_KEYS = frozenset(
    {"address", "blockHash", "blockNumber", "blockTimestamp", "data", "logIndex", "removed", "topics",
     "transactionHash", "transactionIndex", "transactionLogIndex", "type"}
)
_TRACE_KEYS = frozenset(
    {"action", "blockHash", "blockNumber", "error", "result", "subtraces", "traceAddress", "transactionHash",
     "transactionPosition", "type"}
)
_ACTION_KEYS = {
    "call": frozenset({"callType", "from", "gas", "input", "to", "value"}),
    "create": frozenset({"creationMethod", "from", "gas", "init", "value"}),
    "suicide": frozenset({"address", "balance", "refundAddress"}),
    "reward": frozenset({"author", "rewardType", "value"}),
}
_TRACE_TYPES = {"call": "call", "create": "create", "suicide": "suicide", "selfdestruct": "suicide",
                "reward": "reward"}
_CALL_TYPES = frozenset({"call", "callcode", "delegatecall", "staticcall"})
_RESULT_KEYS = frozenset({"address", "code", "gasUsed", "output"})


@dataclass
class MapStats:
    """What the mappers saw but did not turn into rows (pass one in to collect; it is added to)."""

    #: ``Transfer`` logs whose shape is neither ERC-20 nor ERC-721 (see the module docstring)
    skipped_transfer_logs: int = 0
    #: trace entries skipped because they or an ancestor carry ``error``
    reverted_traces: int = 0
    #: ``reward`` trace entries (issuance, not transfers)
    reward_traces: int = 0
    #: ``delegatecall`` / ``callcode`` / ``staticcall`` entries reporting a non-zero value
    non_transfer_calls: int = 0
    #: ``(txid, log_index)`` of the skipped ``Transfer`` logs, for review
    skipped_logs: list[tuple[str, int]] = field(default_factory=list)
    #: conversion rows decoded (:mod:`adapters.evm.conversions`), and the events that gave none (why, where)
    conversions: int = 0
    conversion_warnings: list[ConversionWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecodedTrace:
    """One ``trace_block`` entry, decoded (addresses EIP-55, value exact), before any filtering."""

    txid: str | None  # null for reward entries
    tx_index: int | None
    trace_address: tuple[int, ...]
    type: str  # call | create | suicide | reward
    call_type: str | None  # call | callcode | delegatecall | staticcall, for type call
    from_address: str | None  # null for reward entries
    to_address: str | None  # created contract for create (null if creation failed); author for reward
    value: int
    error: str | None
    #: this entry or one of its ancestors has an error: nothing in it took effect
    reverted: bool

    @property
    def trace_path(self) -> str:
        return ".".join(str(i) for i in self.trace_address)


# --- public API ----------------------------------------------------------------------------------


def map_block(
    block: Mapping[str, Any],
    receipts: Iterable[Mapping[str, Any]],
    chain: Chain,
    *,
    source: str,
    failed: Collection[str] | None = None,
    stats: MapStats | None = None,
    check: bool = True,
) -> FrameSet:
    """Map one ``eth_getBlockByNumber(n, true)`` result and its receipts to ``transactions`` and ``transfers``.

    ``failed`` lists the txids that failed, for receipts without ``status`` (pre-Byzantium); get it
    from :func:`failed_transactions`. ``check=False`` skips :func:`tracer.schema.conform` for a
    caller that validates many blocks at once.

    Raises
    ------
    SchemaDriftError
        An unknown key in the block, a transaction, a receipt or a log.
    MalformedResponseError
        Bad hex, transactions given as hashes, a missing, extra or foreign receipt, a receipt
        status other than 0/1, logs in a failed transaction, a fee below the base fee.
    ValueError
        A receipt has no ``status`` and ``failed`` was not given.
    """
    stats = stats if stats is not None else MapStats()
    _check_keys("block", block, _BLOCK_KEYS)
    block_hash = _hash(block.get("hash"), "block hash")
    height = parse_quantity(block.get("number"), "block number")
    timestamp = parse_quantity(block.get("timestamp"), "block timestamp")
    miner = parse_address(block.get("miner"), f"miner of block {height}")
    base_fee = parse_quantity(block["baseFeePerGas"], "baseFeePerGas") if block.get("baseFeePerGas") else None
    txs = block.get("transactions")
    if not isinstance(txs, list):
        raise MalformedResponseError(f"block {height} has no transaction list")
    by_hash = _receipts_by_hash(receipts, block_hash, height)
    failed_set = frozenset(h.lower() for h in failed) if failed is not None else None

    t_rows: dict[str, list[Any]] = {"txid": [], "position": [], "fee": []}
    rows = _Rows()
    for position, tx in enumerate(txs):
        if not isinstance(tx, Mapping):
            raise MalformedResponseError(
                f"block {height} lists bare transaction hashes: call eth_getBlockByNumber with true"
            )
        txid = _hash(tx.get("hash"), f"hash of transaction {position} in block {height}")
        _check_keys(f"transaction {txid}", tx, _TX_KEYS)
        if "transactionIndex" in tx and parse_quantity(tx["transactionIndex"], "transactionIndex") != position:
            raise MalformedResponseError(f"transaction {txid} is listed at {position} but says otherwise")
        receipt = by_hash.pop(txid, None)
        if receipt is None:
            raise MalformedResponseError(f"no receipt for transaction {txid} of block {height}")
        ok = _succeeded(receipt, txid, failed_set)
        sender = parse_address(tx.get("from"), f"sender of {txid}")
        where = (txid, position)

        # the fee: paid by the sender whether or not the transaction succeeded
        gas_used = parse_quantity(receipt.get("gasUsed"), f"gasUsed of {txid}")
        price = _effective_gas_price(tx, receipt, base_fee, txid)
        blob_fee = 0
        if receipt.get("blobGasUsed") is not None:
            blob_fee = parse_quantity(receipt["blobGasUsed"], f"blobGasUsed of {txid}") * parse_quantity(
                receipt.get("blobGasPrice"), f"blobGasPrice of {txid}"
            )
        burned_per_gas = base_fee if base_fee is not None else 0
        if price < burned_per_gas:
            raise MalformedResponseError(f"transaction {txid} pays {price} per gas, below the base fee {base_fee}")
        tip = gas_used * (price - burned_per_gas)
        burned = gas_used * burned_per_gas + blob_fee
        t_rows["txid"].append(txid)
        t_rows["position"].append(position)
        t_rows["fee"].append(Decimal(gas_used * price + blob_fee))
        if tip:
            rows.add(where, "fee", None, None, NATIVE_ASSET, None, sender, miner, tip)
        if burned:
            rows.add(where, "fee", None, BURN_PATH, NATIVE_ASSET, None, sender, None, burned)

        # the value: only when the transaction succeeded
        value = parse_quantity(tx.get("value"), f"value of {txid}")
        logs = receipt.get("logs") or []
        if not isinstance(logs, list):
            raise MalformedResponseError(f"logs of receipt {txid} is not a list")
        if not ok:
            if logs:
                raise MalformedResponseError(f"failed transaction {txid} has {len(logs)} log(s)")
            continue
        if value:
            if tx.get("to") is None:
                recipient = parse_address(receipt.get("contractAddress"), f"contractAddress of creation {txid}")
            else:
                recipient = parse_address(tx.get("to"), f"recipient of {txid}")
            rows.add(where, "native", None, None, NATIVE_ASSET, None, sender, recipient, value)
        for log in logs:
            _token_row(log, txid, where, rows, stats)

    if by_hash:
        raise MalformedResponseError(
            f"receipt(s) for transaction(s) not in block {height}: {', '.join(sorted(by_hash))}"
        )
    n = len(t_rows["txid"])
    tx_frame = pl.DataFrame(
        {
            "chain": [chain.key] * n,
            "txid": t_rows["txid"],
            "block_height": [height] * n,
            "block_hash": [block_hash] * n,
            "position": t_rows["position"],
            "timestamp": [timestamp] * n,
            "fee": t_rows["fee"],
            "is_coinbase": [False] * n,
            "source": [source] * n,
        },
        schema=TRANSACTIONS.polars_schema,
    )
    transfers = rows.frame(chain.key, height, block_hash, timestamp, source)
    if check:
        tx_frame = conform(tx_frame, TRANSACTIONS)
        transfers = conform(transfers, TRANSFERS)
    return FrameSet(transactions=tx_frame, transfers=transfers)


def decode_traces(traces: Sequence[Mapping[str, Any]]) -> list[DecodedTrace]:
    """Decode every ``trace_block`` entry, in the node's order, marking reverted subtrees.

    Raises :class:`SchemaDriftError` on an unknown key, trace type or call type, and
    :class:`MalformedResponseError` on bad hex or a successful ``create`` without a result address.
    """
    if not isinstance(traces, list):
        raise MalformedResponseError(f"trace_block result is a {type(traces).__name__}, expected a list")
    errored: set[tuple[str | None, tuple[int, ...]]] = set()
    for trace in traces:
        if isinstance(trace, Mapping) and trace.get("error") is not None:
            errored.add((_opt_hash(trace.get("transactionHash")), _trace_address(trace)))
    out: list[DecodedTrace] = []
    for trace in traces:
        _check_keys("trace", trace, _TRACE_KEYS)
        raw_type = trace.get("type")
        kind = _TRACE_TYPES.get(str(raw_type))
        if kind is None:
            raise SchemaDriftError(f"trace type {raw_type!r} is unknown: review the node upgrade")
        txid = _opt_hash(trace.get("transactionHash"))
        address = _trace_address(trace)
        what = f"trace {txid} [{'.'.join(map(str, address))}]"
        action = trace.get("action")
        _check_keys(f"action of {what}", action, _ACTION_KEYS[kind])
        result = trace.get("result")
        if result is not None:
            _check_keys(f"result of {what}", result, _RESULT_KEYS)
        error = trace.get("error")
        reverted = any((txid, address[:depth]) in errored for depth in range(len(address) + 1))
        call_type: str | None = None
        sender: str | None
        recipient: str | None
        if kind == "call":
            call_type = str(action.get("callType"))
            if call_type not in _CALL_TYPES:
                raise SchemaDriftError(f"{what} has unknown callType {call_type!r}")
            sender = parse_address(action.get("from"), f"from of {what}")
            recipient = parse_address(action.get("to"), f"to of {what}")
            value = parse_quantity(action.get("value", "0x0"), f"value of {what}")
        elif kind == "create":
            sender = parse_address(action.get("from"), f"from of {what}")
            created = result.get("address") if isinstance(result, Mapping) else None
            if created is None and error is None:
                raise MalformedResponseError(f"{what} is a successful create without a result address")
            recipient = parse_address(created, f"created address of {what}") if created is not None else None
            value = parse_quantity(action.get("value"), f"value of {what}")
        elif kind == "suicide":
            sender = parse_address(action.get("address"), f"address of {what}")
            recipient = parse_address(action.get("refundAddress"), f"refundAddress of {what}")
            value = parse_quantity(action.get("balance"), f"balance of {what}")
        else:
            sender = None
            recipient = parse_address(action.get("author"), f"author of {what}")
            value = parse_quantity(action.get("value"), f"value of {what}")
        position = trace.get("transactionPosition")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
            raise MalformedResponseError(f"{what} has transactionPosition {position!r}")
        out.append(
            DecodedTrace(
                txid=txid, tx_index=position, trace_address=address, type=kind, call_type=call_type,
                from_address=sender, to_address=recipient, value=value,
                error=None if error is None else str(error), reverted=reverted,
            )
        )
    return out


def map_traces(
    traces: Sequence[Mapping[str, Any]],
    block: Mapping[str, Any],
    chain: Chain,
    *,
    source: str,
    stats: MapStats | None = None,
    check: bool = True,
) -> pl.DataFrame:
    """Internal value transfers (``transfers`` rows of kind ``internal``) of one block's ``trace_block``.

    ``block`` is the block's ``eth_getBlockByNumber`` result (hashes only is enough): it gives the
    height, hash and time, and every trace must belong to it. Which entries become rows: see the
    module docstring.
    """
    stats = stats if stats is not None else MapStats()
    block_hash = _hash(block.get("hash"), "block hash")
    height = parse_quantity(block.get("number"), "block number")
    timestamp = parse_quantity(block.get("timestamp"), "block timestamp")
    for trace in traces if isinstance(traces, list) else ():
        other = trace.get("blockHash") if isinstance(trace, Mapping) else None
        if other is not None and str(other).lower() != block_hash:
            raise MalformedResponseError(f"trace from block {other}, expected {block_hash}")
    rows = _Rows()
    for t in decode_traces(traces):
        if t.type == "reward":
            stats.reward_traces += 1
            continue
        if t.reverted:
            stats.reverted_traces += 1
            continue
        if not t.trace_address or t.value == 0:
            continue
        if t.type == "call" and t.call_type != "call":
            stats.non_transfer_calls += 1
            continue
        if t.txid is None or t.tx_index is None or t.from_address is None:
            raise MalformedResponseError(f"{t.type} trace [{t.trace_path}] has no transaction")
        rows.add((t.txid, t.tx_index), "internal", None, t.trace_path, NATIVE_ASSET, None,
                 t.from_address, t.to_address, t.value)
    frame = rows.frame(chain.key, height, block_hash, timestamp, source)
    return conform(frame, TRANSFERS) if check else frame


def failed_transactions(traces: Sequence[Mapping[str, Any]]) -> set[str]:
    """Txids whose top-level trace entry carries an ``error``: the transactions that failed.

    For blocks before Byzantium, whose receipts have no ``status`` (pass the result to
    :func:`map_block` as ``failed``).
    """
    return {
        str(t.txid) for t in decode_traces(traces) if t.txid is not None and not t.trace_address and t.error
    }


def parse_quantity(value: Any, what: str) -> int:
    """A JSON-RPC quantity (``0x`` + 1-64 hex digits) as an ``int``; else :class:`MalformedResponseError`."""
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise MalformedResponseError(f"{what} is not a hex quantity: {value!r}")
    return int(value, 16)


def parse_address(value: Any, what: str) -> str:
    """A 20-byte hex address in its EIP-55 spelling; else :class:`MalformedResponseError`."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise MalformedResponseError(f"{what} is not a 20-byte hex address: {value!r}")
    return _checksum(value.lower())


# --- helpers -------------------------------------------------------------------------------------


class _Rows:
    """``transfers`` rows as tuples (block-level columns are added in :meth:`frame`)."""

    COLUMNS = ("txid", "tx_index", "kind", "log_index", "trace_path", "asset", "token_id", "from_address",
               "to_address", "value", "value_overflow")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, where: tuple[str, int], kind: str, log_index: int | None, trace_path: str | None, asset: str,
            token_id: str | None, sender: str, recipient: str | None, value: int) -> None:
        amount, overflow = split_for_frame(value)
        self.rows.append((where[0], where[1], kind, log_index, trace_path, asset, token_id, sender, recipient,
                          amount, overflow))

    def frame(self, chain: str, height: int, block_hash: str, timestamp: int, source: str) -> pl.DataFrame:
        if not (n := len(self.rows)):
            return empty(TRANSFERS)
        data: dict[str, list[Any]] = {
            "chain": [chain] * n, "block_height": [height] * n, "block_hash": [block_hash] * n,
            "timestamp": [timestamp] * n, "source": [source] * n,
            **{c: list(v) for c, v in zip(self.COLUMNS, zip(*self.rows, strict=True), strict=True)},
        }
        return pl.DataFrame(data, schema=TRANSFERS.polars_schema).select(list(TRANSFERS.columns))


def _token_row(log: Any, txid: str, where: tuple[str, int], rows: _Rows, stats: MapStats) -> None:
    _check_keys(f"log of {txid}", log, _LOG_KEYS)
    if log.get("removed"):
        raise MalformedResponseError(f"receipt {txid} holds a removed (reorged) log")
    topics = log.get("topics")
    if not isinstance(topics, list):
        raise MalformedResponseError(f"topics of a log of {txid} is not a list")
    topic0 = topics[0].lower() if topics and isinstance(topics[0], str) else None
    if topic0 != TRANSFER_TOPIC and topic0 not in ERC1155_TOPICS:
        return
    log_index = parse_quantity(log.get("logIndex"), f"logIndex of a log of {txid}")
    data = log.get("data")
    if not isinstance(data, str) or not _DATA.fullmatch(data):
        raise MalformedResponseError(f"data of log {log_index} of {txid} is not hex bytes: {data!r}")
    contract = parse_address(log.get("address"), f"address of log {log_index} of {txid}")
    if topic0 != TRANSFER_TOPIC:
        if (multi := decode_erc1155(topics, data)) is not None:
            for path, item, holder, receiver, amount in multi.rows(_checksum):
                rows.add(where, "token", log_index, path, contract, item, holder, receiver, amount)
            return
    else:
        sender = _topic_address(topics[1]) if len(topics) > 1 else None
        recipient = _topic_address(topics[2]) if len(topics) > 2 else None
        if sender is not None and recipient is not None:
            if len(topics) == 3 and len(data) == 2 + 64:
                rows.add(where, "token", log_index, None, contract, None, sender, recipient, int(data, 16))
                return
            if len(topics) == 4 and data == "0x":
                token_id = parse_quantity(topics[3], f"token id of log {log_index} of {txid}")
                rows.add(where, "token", log_index, None, contract, str(token_id), sender, recipient, 1)
                return
    stats.skipped_transfer_logs += 1
    stats.skipped_logs.append((txid, log_index))


def _topic_address(topic: Any) -> str | None:
    if not isinstance(topic, str):
        return None
    match = _TOPIC_ADDRESS.fullmatch(topic)
    return _checksum("0x" + match.group(1).lower()) if match else None


def _succeeded(receipt: Mapping[str, Any], txid: str, failed: frozenset[str] | None) -> bool:
    status = receipt.get("status")
    if status is None:
        if failed is None:
            raise ValueError(
                f"receipt of {txid} has no status (pre-Byzantium): pass failed=failed_transactions(traces)"
            )
        return txid not in failed
    code = parse_quantity(status, f"status of {txid}")
    if code not in (0, 1):
        raise MalformedResponseError(f"receipt of {txid} has status {status!r}")
    if failed is not None and (txid in failed) == bool(code):
        raise MalformedResponseError(f"receipt status of {txid} contradicts the given failed transactions")
    return code == 1


def _effective_gas_price(tx: Mapping[str, Any], receipt: Mapping[str, Any], base_fee: int | None, txid: str) -> int:
    if receipt.get("effectiveGasPrice") is not None:
        return parse_quantity(receipt["effectiveGasPrice"], f"effectiveGasPrice of {txid}")
    if base_fee is not None and tx.get("maxFeePerGas") is not None:
        max_fee = parse_quantity(tx["maxFeePerGas"], f"maxFeePerGas of {txid}")
        priority = parse_quantity(tx.get("maxPriorityFeePerGas"), f"maxPriorityFeePerGas of {txid}")
        return min(max_fee, base_fee + priority)
    return parse_quantity(tx.get("gasPrice"), f"gasPrice of {txid}")


def _receipts_by_hash(receipts: Iterable[Mapping[str, Any]], block_hash: str, height: int) -> dict[str, Any]:
    by_hash: dict[str, Any] = {}
    for receipt in receipts:
        _check_keys("receipt", receipt, _RECEIPT_KEYS)
        txid = _hash(receipt.get("transactionHash"), "transactionHash of a receipt")
        if _hash(receipt.get("blockHash"), f"blockHash of receipt {txid}") != block_hash:
            raise MalformedResponseError(
                f"receipt of {txid} is from block {receipt.get('blockHash')}, not {block_hash} ({height}): reorg?"
            )
        if txid in by_hash:
            raise MalformedResponseError(f"two receipts for transaction {txid}")
        by_hash[txid] = receipt
    return by_hash


def _hash(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 66 or not _DATA.fullmatch(value):
        raise MalformedResponseError(f"{what} is not a 32-byte hex hash: {value!r}")
    return value.lower()


def _opt_hash(value: Any) -> str | None:
    return None if value is None else _hash(value, "transactionHash of a trace")


def _trace_address(trace: Mapping[str, Any]) -> tuple[int, ...]:
    address = trace.get("traceAddress")
    if not isinstance(address, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in address):
        raise MalformedResponseError(f"traceAddress {address!r} is not a list of integers")
    return tuple(address)


def _check_keys(what: str, obj: Any, known: frozenset[str]) -> None:
    if not isinstance(obj, Mapping):
        raise MalformedResponseError(f"{what} is a {type(obj).__name__}, expected a JSON object")
    extra = obj.keys() - known
    if extra:
        raise SchemaDriftError(f"{what} has unknown key(s) {', '.join(sorted(extra))}: review the node upgrade")


@lru_cache(maxsize=65536)
def _checksum(lower: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(lower))
