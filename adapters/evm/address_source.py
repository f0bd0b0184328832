# SPDX-License-Identifier: Apache-2.0
"""The transactions of one Ethereum address, from the node itself (no third-party explorer).

A JSON-RPC node has no "transactions of this address" call; three node-side indexes answer parts
of it, and :class:`EvmAddressSource` combines them:

* **token transfers** from and to the address: ``eth_getLogs`` with the ``Transfer`` topic
  (EIP-20 / EIP-721, :data:`~adapters.evm.mappers.TRANSFER_TOPIC`) and the address as topic1
  (sender) or topic2 (recipient), newest block window first (any node; windows of ``window``
  blocks, halved when the node refuses a window as too large);
* **native and internal** history (the address as a transaction's sender or recipient, or as
  ``from`` / ``to`` of any call, create or self-destruct below it): the Otterscan API
  ``ots_searchTransactionsBefore`` (Erigon, anvil; pages of whole blocks, newest first,
  https://docs.otterscan.io/api-docs/ots-api) when the node answers ``ots_getApiLevel``, else the
  trace module's ``trace_filter`` with ``fromAddress`` and with ``toAddress`` (two queries: the trace
  module intersects the two lists when both are given) per block window (Nethermind, Reth, Erigon,
  anvil; https://openethereum.github.io/JSONRPC-trace-module#trace_filter). A node with neither
  (plain Geth) cannot list them: :class:`HistoryUnavailableError` says so and points to a
  block-range ingest (``tracer ingest evm``) instead. An Etherscan-compatible API is not used.

The transactions found are then read as whole blocks through :class:`~adapters.evm.node.EvmNode`
(blocks, receipts, traces: the exact rows a block-range ingest of those blocks would produce) and
only those transactions and their transfer rows are kept. A transaction id is the block-range
ingest's (lower-case ``0x`` hash), so a later block-range ingest of the same blocks changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from adapters.errors import MalformedResponseError, RpcError
from adapters.evm.mappers import TRANSFER_TOPIC, parse_quantity
from adapters.evm.node import EvmNode
from adapters.jsonrpc import Call
from tracer.errors import SourceUnavailableError
from tracer.schema import FrameSet

__all__ = ["EvmAddressSource", "HistoryUnavailableError", "OTTERSCAN", "TRACE_FILTER", "DEFAULT_WINDOW"]

OTTERSCAN = "ots_searchTransactionsBefore"
TRACE_FILTER = "trace_filter"
#: blocks per ``eth_getLogs`` / ``trace_filter`` query (many providers cap a query at 10,000 blocks)
DEFAULT_WINDOW = 10_000
#: windows sent in one JSON-RPC batch
_WINDOWS_PER_BATCH = 8
#: ``ots_searchTransactionsBefore`` page size (the node may return more: a page holds whole blocks)
_OTS_PAGE = 100
#: consecutive blocks per :meth:`EvmNode.fetch_raw` call
_FETCH_BLOCKS = 20


class HistoryUnavailableError(SourceUnavailableError):
    """The node offers neither the Otterscan API nor ``trace_filter``: an address's native and internal
    transactions cannot be listed from it."""


class EvmAddressSource:
    """Lists an Ethereum address's transactions from a node and returns them as canonical frames.

    Fits :class:`jobs.seed_ingest.AddressTxSource`: :meth:`address_txids` (newest first) and
    :meth:`transactions` (``transactions`` + ``transfers`` frames).

    Parameters
    ----------
    node
        The node (its chain id is checked on first use).
    from_height, to_height
        Blocks searched (default: all of them up to the tip at first use).
    history
        ``"auto"`` (Otterscan, else ``trace_filter``), :data:`OTTERSCAN`, :data:`TRACE_FILTER`.
    window
        Blocks per ``eth_getLogs`` / ``trace_filter`` query.
    """

    def __init__(self, node: EvmNode, *, from_height: int = 0, to_height: int | None = None,
                 history: str = "auto", window: int = DEFAULT_WINDOW) -> None:
        if history not in ("auto", OTTERSCAN, TRACE_FILTER):
            raise ValueError(f"history must be auto, {OTTERSCAN} or {TRACE_FILTER}, not {history!r}")
        self.node = node
        self.source = node.source
        self.from_height = from_height
        self.to_height = to_height
        self.window = max(1, window)
        self._history_choice = history
        self._history: str | None = None
        #: txid -> (block height, position in the block), for every transaction a search returned
        self._where: dict[str, tuple[int, int]] = {}

    def close(self) -> None:
        self.node.close()

    def __enter__(self) -> EvmAddressSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the node offers -------------------------------------------------------------------------
    def history_method(self) -> str:
        """Detect (once) how native and internal history is searched: :data:`OTTERSCAN` or
        :data:`TRACE_FILTER`; also checks the node's chain and fixes ``to_height`` to the tip."""
        if self._history is not None:
            return self._history
        self.node.check_network()
        tip = self.node.tip_height()
        self.to_height = tip if self.to_height is None else min(self.to_height, tip)
        refused: list[str] = []
        wanted = (OTTERSCAN, TRACE_FILTER) if self._history_choice == "auto" else (self._history_choice,)
        for method in wanted:
            try:
                if method == OTTERSCAN:
                    self.node.client.call("ots_getApiLevel")
                else:
                    self.node.client.call(TRACE_FILTER, {"fromBlock": hex(tip), "toBlock": hex(tip), "count": 1})
            except RpcError as exc:
                refused.append(f"{method}: {exc.message}")
                continue
            self._history = method
            return method
        raise HistoryUnavailableError(
            f"{self.node.client.url} answers neither the Otterscan API nor trace_filter ({'; '.join(refused)}): "
            "the native and internal transactions of an address cannot be listed from it. Use a node with "
            "one of them (Erigon, Nethermind, Reth), or load the block range with `tracer ingest evm --case`"
        )

    # -- AddressTxSource --------------------------------------------------------------------------------
    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]:
        """Transactions that move value from or to ``address`` (native, internal, token; fees of the
        ones it sends), newest first; at most ``limit`` (the newest ones)."""
        method = self.history_method()
        wanted = address.lower()
        found: dict[str, tuple[int, int]] = {}
        if method == OTTERSCAN:
            self._search_otterscan(wanted, found, limit)
        else:
            self._search_windows(wanted, found, limit, self._trace_calls, self._trace_hits)
        tokens: dict[str, tuple[int, int]] = {}  # searched to its own limit: the newest of both are kept
        self._search_windows(wanted, tokens, limit, self._log_calls, self._log_hits)
        found.update(tokens)
        self._where.update(found)
        ordered = sorted(found, key=lambda t: found[t], reverse=True)
        return ordered if limit is None else ordered[:limit]

    def transactions(self, txids: Iterable[str]) -> FrameSet:
        """The canonical rows of ``txids`` (read as whole blocks, then filtered)."""
        wanted = sorted({t.lower() for t in txids})
        if not wanted:
            return FrameSet()
        unknown = [t for t in wanted if t not in self._where]
        if unknown:
            self._locate(unknown)
        heights = sorted({self._where[t][0] for t in wanted})
        parts: list[FrameSet] = []
        for run in _runs(heights, _FETCH_BLOCKS):
            fetched = self.node.fetch(run).frames
            parts.append(FrameSet(
                transactions=fetched.transactions.filter(pl.col("txid").is_in(wanted)),
                transfers=fetched.transfers.filter(pl.col("txid").is_in(wanted)),
            ))
        frames = FrameSet.concat(parts)
        missing = set(wanted) - set(frames.transactions["txid"].to_list())
        if missing:
            raise MalformedResponseError(
                f"{self.node.client.url}: transaction(s) not in their blocks any more (a reorg?): "
                f"{', '.join(sorted(missing)[:5])}"
            )
        return frames

    # -- searches ---------------------------------------------------------------------------------------
    def _search_otterscan(self, address: str, found: dict[str, tuple[int, int]], limit: int | None) -> None:
        assert self.to_height is not None
        before = self.to_height + 1
        while before > self.from_height:
            page = self.node.client.call(OTTERSCAN, address, before, _OTS_PAGE)
            txs = page.get("txs") if isinstance(page, Mapping) else None
            if not isinstance(txs, list):
                raise MalformedResponseError(f"{self.node.client.url}: {OTTERSCAN} returned {page!r}"[:300])
            lowest = before
            for tx in txs:
                height = _number(tx.get("blockNumber"), "ots blockNumber")
                lowest = min(lowest, height)
                if self.from_height <= height <= self.to_height:
                    found[str(tx["hash"]).lower()] = (height, _number(tx.get("transactionIndex"), "transactionIndex"))
            if page.get("lastPage") or not txs or lowest >= before or _enough(found, limit):
                return
            before = lowest

    def _search_windows(self, address: str, found: dict[str, tuple[int, int]], limit: int | None,
                        calls_of: Any, hits_of: Any) -> None:
        """Query windows of blocks newest first, a few per batch, halving the window the node refuses."""
        assert self.to_height is not None
        high = self.to_height
        window = self.window
        while high >= self.from_height and not _enough(found, limit):
            windows: list[tuple[int, int]] = []
            top = high
            while top >= self.from_height and len(windows) < _WINDOWS_PER_BATCH:
                windows.append((max(self.from_height, top - window + 1), top))
                top -= window
            calls: list[Call] = []
            for low, up in windows:
                calls += calls_of(address, low, up)
            try:
                results = self.node.client.batch(calls)
            except RpcError:
                if window == 1:
                    raise
                window = max(1, window // 2)
                continue
            for item in results:
                for txid, where in hits_of(item):
                    found[txid] = where
            high = windows[-1][0] - 1

    @staticmethod
    def _log_calls(address: str, low: int, high: int) -> list[Call]:
        topic = "0x" + "0" * 24 + address[2:]
        span = {"fromBlock": hex(low), "toBlock": hex(high)}
        return [Call("eth_getLogs", ({**span, "topics": [TRANSFER_TOPIC, topic]},)),
                Call("eth_getLogs", ({**span, "topics": [TRANSFER_TOPIC, None, topic]},))]

    @staticmethod
    def _log_hits(result: Any) -> list[tuple[str, tuple[int, int]]]:
        if not isinstance(result, list):
            raise MalformedResponseError(f"eth_getLogs returned {result!r}"[:300])
        return [(str(log["transactionHash"]).lower(),
                 (_number(log.get("blockNumber"), "log blockNumber"), _number(log.get("transactionIndex"), "index")))
                for log in result if not log.get("removed")]

    @staticmethod
    def _trace_calls(address: str, low: int, high: int) -> list[Call]:
        span = {"fromBlock": hex(low), "toBlock": hex(high)}
        return [Call(TRACE_FILTER, ({**span, "fromAddress": [address]},)),
                Call(TRACE_FILTER, ({**span, "toAddress": [address]},))]

    @staticmethod
    def _trace_hits(result: Any) -> list[tuple[str, tuple[int, int]]]:
        if not isinstance(result, list):
            raise MalformedResponseError(f"trace_filter returned {result!r}"[:300])
        return [(str(trace["transactionHash"]).lower(),
                 (_number(trace.get("blockNumber"), "trace blockNumber"),
                  _number(trace.get("transactionPosition"), "transactionPosition")))
                for trace in result if trace.get("transactionHash")]  # reward entries have none

    def _locate(self, txids: Sequence[str]) -> None:
        found = self.node.client.batch([Call("eth_getTransactionByHash", (t,)) for t in txids])
        for txid, tx in zip(txids, found, strict=True):
            if not isinstance(tx, Mapping) or tx.get("blockNumber") is None:
                raise MalformedResponseError(f"{self.node.client.url}: transaction {txid} is not in a block")
            self._where[txid] = (_number(tx["blockNumber"], "blockNumber"), _number(tx.get("transactionIndex"), "i"))


def _number(value: Any, what: str) -> int:
    """A block number or index: ``0x`` hex, or a JSON integer (anvil's ``trace_filter``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return parse_quantity(value, what)


def _enough(found: Mapping[str, object], limit: int | None) -> bool:
    return limit is not None and len(found) >= limit


def _runs(heights: Sequence[int], longest: int) -> list[list[int]]:
    """Sorted ``heights`` cut into runs of consecutive heights of at most ``longest``."""
    runs: list[list[int]] = []
    for height in heights:
        if runs and runs[-1][-1] == height - 1 and len(runs[-1]) < longest:
            runs[-1].append(height)
        else:
            runs.append([height])
    return runs
