# SPDX-License-Identifier: Apache-2.0
"""Blocks, receipts and call traces from any Ethereum JSON-RPC node (Geth, Erigon, Nethermind, Reth, anvil).

Chain I/O only: heights -> ``eth_getBlockByNumber(n, true)`` + receipts + traces, all in JSON-RPC
**batches** (one round trip per batch of blocks), -> canonical frames through the pure mappers of
:mod:`adapters.evm.mappers`. The issue measured web3's high-level calls at ~7x slower than one
raw batch for the same 20 blocks (and receipts ~30x), so the hot path speaks raw JSON-RPC through
:class:`adapters.jsonrpc.JsonRpcClient` (batch ids matched by id, bounded retries, credentials
never in messages); web3 / eth-abi / eth-utils serve what they are good at: ABI encoding of
``eth_call`` data (:mod:`adapters.evm.tokens`, :mod:`testing.devcontracts`) and EIP-55
checksums (in the mappers). web3's own HTTP provider is not used: one transport keeps credential
handling and redaction in one place.

What the node supports is detected once (:meth:`EvmNode.capabilities`) and recorded in the ingest
summary:

* **receipts**: ``eth_getBlockReceipts`` (Geth >= 1.13, Erigon, Nethermind, Reth, anvil) else one
  ``eth_getTransactionReceipt`` per transaction, batched;
* **traces** (internal transfers): ``trace_block`` (OpenEthereum trace module: Erigon, Nethermind,
  Reth, anvil) is preferred: on anvil it returns 10k traces in 0.17 s where
  ``debug_traceBlockByHash`` with ``callTracer`` (Geth; re-executes the block) took 11.7 s (shared
  notes §1). ``callTracer`` frames are converted to ``trace_block`` entries
  (:func:`call_frames_to_traces`) so one mapper serves both. A node with neither cannot show
  internal transfers: :class:`TracesUnavailableError` unless the caller accepts the gap.

Conversions (:mod:`adapters.evm.conversions`: Uniswap V2/V3 swaps, WETH9 wrapping) are decoded for
every batch from the receipts and the mapped rows. A swap's pool tokens come from ``token0()`` /
``token1()`` ``eth_call`` at the block of the swap (one batch for all pools not seen before, cached per
node; a node that cannot serve that old state is asked at ``latest``: both are immutable in Uniswap
pools). The WETH contracts are a parameter (default: mainnet WETH9). Events that give no conversion
are counted in :class:`FetchedBlocks` ``stats`` (``conversion_warnings``) and logged.

Specifications: Ethereum execution APIs (https://ethereum.github.io/execution-apis/), the trace
module (https://openethereum.github.io/JSONRPC-trace-module), Geth's built-in ``callTracer``
(https://geth.ethereum.org/docs/developers/evm-tracing/built-in-tracers), EIP-155 (chain id),
EIP-1898 (block by hash parameter).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from adapters.errors import (  # the node errors are defined once there and re-exported here
    ChainChangedError,
    HeightPastTipError,
    MalformedResponseError,
    RpcError,
    WrongNetworkError,
)
from adapters.evm.bridges import BridgeStats, map_bridge_events
from adapters.evm.conversions import DEFAULT_WETH, decode_conversions, swap_pools
from adapters.evm.mappers import (
    MapStats,
    failed_transactions,
    map_block,
    map_traces,
    parse_address,
    parse_quantity,
)
from adapters.jsonrpc import Call, JsonRpcClient
from tracer.bridges import BridgeRegistry
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.schema import BRIDGE_EVENTS, CONVERSIONS, TRANSACTIONS, TRANSFERS, FrameSet, conform, empty

__all__ = [
    "EvmNode",
    "Capabilities",
    "RawBlock",
    "FetchedBlocks",
    "WrongNetworkError",
    "HeightPastTipError",
    "ChainChangedError",
    "TracesUnavailableError",
    "call_frames_to_traces",
    "TRACE_BLOCK",
    "DEBUG_TRACE",
]

log = logging.getLogger(__name__)

TRACE_BLOCK = "trace_block"
DEBUG_TRACE = "debug_traceBlockByHash"
_CALL_TRACER = {"tracer": "callTracer"}
#: selectors of the Uniswap V2 pair / V3 pool getters ``token0()`` and ``token1()``
_TOKEN0, _TOKEN1 = "0x0dfe1681", "0xd21220a7"
#: selector of ``factory()``, which Uniswap V2 pairs and V3 pools (and their forks) answer
_FACTORY = "0xc45a0155"


class TracesUnavailableError(InputError):
    """The node offers neither ``trace_block`` nor ``debug_traceBlockByHash``: internal transfers
    (value moved by contracts) cannot be read from it."""


@dataclass(frozen=True)
class Capabilities:
    """What one node offers, detected once (recorded in the ingest summary)."""

    chain_id: int
    client: str
    #: ``eth_getBlockReceipts`` works (else per-transaction receipts, batched)
    block_receipts: bool
    #: :data:`TRACE_BLOCK`, :data:`DEBUG_TRACE` or ``None`` (no internal transfers)
    traces: str | None
    #: why each trace method was refused (for the message when ``traces`` is None)
    trace_errors: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "client": self.client, "block_receipts": self.block_receipts,
                "traces": self.traces}


@dataclass(frozen=True)
class RawBlock:
    """One block as the node returned it: the full block, its receipts, its ``trace_block`` entries
    (``None`` when traces are not read)."""

    block: Mapping[str, Any]
    receipts: list[Mapping[str, Any]]
    traces: list[Mapping[str, Any]] | None

    @property
    def height(self) -> int:
        return parse_quantity(self.block.get("number"), "block number")

    @property
    def hash(self) -> str:
        return str(self.block["hash"]).lower()


@dataclass(frozen=True)
class FetchedBlocks:
    """Canonical frames of a run of consecutive blocks."""

    frames: FrameSet
    heights: tuple[int, ...]
    hashes: tuple[str, ...]
    #: ``parentHash`` of the first block (to check it links to what is stored)
    parent_hash: str | None
    #: token contracts seen in ``Transfer`` logs (for metadata look-up)
    token_contracts: tuple[str, ...]
    stats: MapStats = field(default_factory=MapStats)
    #: bridge deposits / releases decoded, and the events that gave no complete row
    bridge_stats: BridgeStats = field(default_factory=BridgeStats)


class EvmNode:
    """An Ethereum JSON-RPC node serving one chain of the registry.

    Parameters
    ----------
    url
        ``http(s)://[user:password@]host:port[/path]``; credentials and the path (which may hold an
        API key) never appear in :attr:`source` or messages.
    chain
        The registry chain; its ``evm_chain_id`` must be the node's ``eth_chainId``
        (:meth:`check_network`).
    traces
        ``"auto"`` (detect), :data:`TRACE_BLOCK`, :data:`DEBUG_TRACE`, or ``"none"`` (do not read
        traces: no internal transfers).
    weth
        The WETH9 contracts whose ``Deposit``/``Withdrawal`` are conversions (default: mainnet WETH9).
    factories
        The DEX factories whose pools' ``Swap`` events are conversions (None: any pool that answers
        ``token0()``/``token1()``; the ingest passes the known and configured ones).
    bridges
        The bridge registry (:mod:`tracer.bridges`): deposits and releases of its contracts on this
        chain become ``bridge_events`` rows (:mod:`adapters.evm.bridges`); None: not decoded.
    """

    def __init__(self, url: str, chain: Chain, *, timeout: float = 60.0, retries: int = 3,
                 traces: str = "auto", weth: Collection[str] = DEFAULT_WETH,
                 bridges: BridgeRegistry | None = None, factories: Collection[str] | None = None) -> None:
        if not chain.is_account or chain.evm_chain_id is None:
            raise InputError(f"{chain.key} is not an EVM chain: use `tracer ingest utxo`")
        if traces not in ("auto", TRACE_BLOCK, DEBUG_TRACE, "none"):
            raise InputError(f"traces must be auto, {TRACE_BLOCK}, {DEBUG_TRACE} or none, not {traces!r}")
        self.chain = chain
        self.client = JsonRpcClient(url, timeout=timeout, retries=retries)
        self.source = f"rpc:{self.client.url}"
        self._trace_choice = traces
        self._capabilities: Capabilities | None = None
        self.weth = frozenset(parse_address(w, "WETH contract") for w in weth)
        # bridge events are decoded only from contracts the registry names on this chain
        self.bridges = bridges if bridges is not None and bridges.contracts_on(chain.evm_chain_id) else None
        #: pool -> (token0, token1), or None when the pool did not answer (shared with twins)
        self._pools: dict[str, tuple[str, str] | str | None] = {}
        #: lower-case DEX factories whose pools are conversion venues (None: not checked)
        self.factories = None if factories is None else frozenset(f.lower() for f in factories)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> EvmNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def twin(self) -> EvmNode:
        """Another connection to the same node (for a prefetch thread: one HTTP session each)."""
        twin = EvmNode.__new__(EvmNode)
        twin.__dict__.update(self.__dict__)
        twin.client = self.client.clone()
        return twin

    # -- chain state --------------------------------------------------------------------------------
    def chain_id(self) -> int:
        return parse_quantity(self.client.call("eth_chainId"), f"{self.client.url}: eth_chainId")

    def check_network(self) -> None:
        """Refuse a node of another chain (before anything is written): ``eth_chainId`` must equal the
        registry's EIP-155 id for :attr:`chain`."""
        served = self.chain_id()
        if served != self.chain.evm_chain_id:
            raise WrongNetworkError(
                f"{self.client.url} serves chain id {served}, not {self.chain.key} (chain id "
                f"{self.chain.evm_chain_id}); pass the --chain that matches the node"
            )

    def tip_height(self) -> int:
        return parse_quantity(self.client.call("eth_blockNumber"), f"{self.client.url}: eth_blockNumber")

    def capabilities(self) -> Capabilities:
        """Detect (once) the chain id, client, receipts and trace methods the node answers."""
        if self._capabilities is not None:
            return self._capabilities
        chain_id = self.chain_id()
        try:
            client = str(self.client.call("web3_clientVersion"))
        except RpcError:
            client = "unknown"
        tip = self.client.call("eth_getBlockByNumber", "latest", False)
        if not isinstance(tip, Mapping):
            raise MalformedResponseError(f"{self.client.url}: eth_getBlockByNumber latest returned {tip!r}")
        tip_number, tip_hash = tip.get("number"), tip.get("hash")
        block_receipts = True
        try:
            self.client.call("eth_getBlockReceipts", tip_number)
        except RpcError:
            block_receipts = False
        traces: str | None = None
        refused: list[str] = []
        wanted = (TRACE_BLOCK, DEBUG_TRACE) if self._trace_choice == "auto" else (
            () if self._trace_choice == "none" else (self._trace_choice,))
        for method in wanted:
            try:
                if method == TRACE_BLOCK:
                    self.client.call(TRACE_BLOCK, tip_number)
                else:
                    self.client.call(DEBUG_TRACE, tip_hash, _CALL_TRACER)
            except RpcError as exc:
                refused.append(f"{method}: {exc.message}")
                continue
            traces = method
            break
        self._capabilities = Capabilities(chain_id, client, block_receipts, traces, tuple(refused))
        log.info("%s: %s", self.client.url, self._capabilities)
        return self._capabilities

    def require_traces(self) -> None:
        """Raise :class:`TracesUnavailableError` (saying what would be missing) if traces cannot be read."""
        caps = self.capabilities()
        if caps.traces is None and self._trace_choice != "none":
            why = "; ".join(caps.trace_errors) or "not asked"
            raise TracesUnavailableError(
                f"{self.client.url} ({caps.client}) answers neither trace_block nor debug_traceBlockByHash ({why}): "
                "internal transfers (ETH moved by contracts) and self-destruct refunds would be missing, so "
                "balances would not reconcile. Use a node with the trace or debug API (Erigon, Nethermind, Reth, "
                "Geth with debug), or pass --allow-missing-traces to load only native, token and fee rows"
            )

    def block_hashes(self, heights: Sequence[int]) -> list[str]:
        """Hashes of the blocks at ``heights`` on the node's chain (one batch of headers)."""
        headers = self._headers(heights)
        return [str(h["hash"]).lower() for h in headers]

    def _headers(self, heights: Sequence[int]) -> list[Mapping[str, Any]]:
        outcomes = self.client.batch([Call("eth_getBlockByNumber", (hex(h), False)) for h in heights])
        for height, header in zip(heights, outcomes, strict=True):
            if header is None:
                raise HeightPastTipError(
                    f"{self.client.url}: no block at height {height} (the node's latest is {self.tip_height()})"
                )
            if not isinstance(header, Mapping) or parse_quantity(header.get("number"), "block number") != height:
                raise MalformedResponseError(f"{self.client.url}: eth_getBlockByNumber {height} returned another block")
        return outcomes

    def balances(self, addresses: Iterable[str], height: int) -> dict[str, int]:
        """``eth_getBalance`` of each address at block ``height`` (one batch; needs the state at that
        block: an archive node for old blocks)."""
        wanted = sorted(set(addresses))
        results = self.client.batch([Call("eth_getBalance", (a, hex(height))) for a in wanted])
        return {a: parse_quantity(r, f"{self.client.url}: eth_getBalance {a} at {height}")
                for a, r in zip(wanted, results, strict=True)}

    def pool_tokens(self, pools: Mapping[str, int]) -> dict[str, tuple[str, str] | str | None]:
        """``(token0, token1)`` of each pool (pool -> block height to ask at), ``None`` for a contract
        that does not answer both getters with an address, and the reason (text) for a pool whose
        ``factory()`` is not one of :attr:`factories` (when those are given): anyone can deploy a
        contract that emits ``Swap`` and answers the getters, and a launderer's own "pool" would
        otherwise wash the taint off what it takes in. Pools not cached are read in one batch of
        ``eth_call``; the ones refused at their block (state pruned) are asked again at ``latest``."""
        missing = {p: h for p, h in pools.items() if p not in self._pools}
        if missing:
            found: dict[str, tuple[str, str] | str | None] = {p: None for p in missing}
            retry: dict[str, str] = {p: hex(h) for p, h in missing.items()}
            for attempt in range(2):
                if not retry:
                    break
                names = sorted(retry)
                calls = [Call("eth_call", ({"to": p, "data": sel}, retry[p]))
                         for p in names for sel in (_TOKEN0, _TOKEN1, _FACTORY)]
                outcomes = self.client.batch_outcomes(calls)
                refused: dict[str, str] = {}
                for i, pool in enumerate(names):
                    first, second, factory = outcomes[3 * i], outcomes[3 * i + 1], outcomes[3 * i + 2]
                    if isinstance(first, RpcError) or isinstance(second, RpcError):
                        if attempt == 0:
                            refused[pool] = "latest"
                        continue
                    found[pool] = self._venue(_pair(first, second), factory)
                retry = refused
            self._pools.update(found)
        return {p: self._pools[p] for p in pools}

    def _venue(self, tokens: tuple[str, str] | None, factory: Any) -> tuple[str, str] | str | None:
        """The pool's tokens, or why the pool is not taken for a conversion venue."""
        if tokens is None or self.factories is None:
            return tokens
        made_by = None if isinstance(factory, RpcError) else _word_address(factory)
        if made_by is None:
            return "the pool has no factory() (not created by a known DEX factory): its Swap is not followed"
        if made_by.lower() not in self.factories:
            return (f"the pool was created by factory {made_by}, not a known DEX factory: its Swap is not followed "
                    f"(declare the factory under [conversions.factories] if it is a real DEX)")
        return tokens

    # -- blocks -----------------------------------------------------------------------------------------
    def fetch_raw(self, heights: Sequence[int]) -> list[RawBlock]:
        """Blocks, receipts and traces at ``heights`` (consecutive, ascending), checked to belong together.

        Round trips: one batch of full blocks plus block receipts (plus ``trace_block``), and a
        second one only for per-transaction receipts or ``debug_traceBlockByHash``.

        Raises
        ------
        HeightPastTipError, ChainChangedError, NodeUnavailableError, RpcError, MalformedResponseError
        """
        if not heights:
            return []
        caps = self.capabilities()
        calls = [Call("eth_getBlockByNumber", (hex(h), True)) for h in heights]
        if caps.block_receipts:
            calls += [Call("eth_getBlockReceipts", (hex(h),)) for h in heights]
        if caps.traces == TRACE_BLOCK:
            calls += [Call(TRACE_BLOCK, (hex(h),)) for h in heights]
        results = self.client.batch(calls)
        n = len(heights)
        blocks = results[:n]
        for height, block in zip(heights, blocks, strict=True):
            if block is None:
                raise HeightPastTipError(
                    f"{self.client.url}: no block at height {height} (the node's latest is {self.tip_height()})"
                )
            if not isinstance(block, Mapping) or parse_quantity(block.get("number"), "block number") != height:
                raise MalformedResponseError(f"{self.client.url}: eth_getBlockByNumber {height} returned another block")
        offset = n
        receipts: list[Any]
        if caps.block_receipts:
            receipts, offset = results[offset : offset + n], offset + n
        else:
            receipts = self._receipts_per_transaction(blocks)
        traces: list[Any]
        if caps.traces == TRACE_BLOCK:
            traces = results[offset : offset + n]
        elif caps.traces == DEBUG_TRACE:
            frames = self.client.batch([Call(DEBUG_TRACE, (b["hash"], _CALL_TRACER)) for b in blocks])
            traces = [call_frames_to_traces(f, b) for f, b in zip(frames, blocks, strict=True)]
        else:
            traces = [None] * n
        raw = [RawBlock(b, _clean_receipts(r, b, self.client.url), t)
               for b, r, t in zip(blocks, receipts, traces, strict=True)]
        self._check_linked(raw)
        self.pool_tokens(swap_pools(r for item in raw for r in item.receipts))  # warms the cache off the map
        return raw

    def _receipts_per_transaction(self, blocks: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        txids = [[str(tx["hash"]) for tx in b.get("transactions") or [] if isinstance(tx, Mapping)] for b in blocks]
        flat = self.client.batch([Call("eth_getTransactionReceipt", (t,)) for ids in txids for t in ids])
        out: list[list[Any]] = []
        at = 0
        for ids in txids:
            out.append(flat[at : at + len(ids)])
            at += len(ids)
        return out

    def _check_linked(self, raw: Sequence[RawBlock]) -> None:
        for previous, current in zip(raw, raw[1:], strict=False):
            if str(current.block.get("parentHash", "")).lower() != previous.hash:
                raise ChainChangedError(
                    f"{self.client.url}: block {current.hash} does not follow {previous.hash} "
                    "(the node's chain changed during the fetch)", height=previous.height,
                )
        for item in raw:
            for receipt in item.receipts:
                if not isinstance(receipt, Mapping) or str(receipt.get("blockHash", "")).lower() != item.hash:
                    raise ChainChangedError(
                        f"{self.client.url}: a receipt of block {item.height} belongs to another block "
                        "(the node's chain changed during the fetch)", height=item.height,
                    )
            for trace in item.traces or []:
                other = trace.get("blockHash") if isinstance(trace, Mapping) else None
                if other is not None and str(other).lower() != item.hash:
                    raise ChainChangedError(
                        f"{self.client.url}: a trace of block {item.height} belongs to block {other}",
                        height=item.height,
                    )

    def frames_of(self, raw: Sequence[RawBlock]) -> FetchedBlocks:
        """Map fetched blocks to canonical ``transactions``, ``transfers`` and ``conversions`` (validated
        once per batch)."""
        stats = MapStats()
        txs: list[pl.DataFrame] = []
        transfers: list[pl.DataFrame] = []
        conversions: list[pl.DataFrame] = []
        bridge_events: list[pl.DataFrame] = []
        bridge_stats = BridgeStats()
        pools = self.pool_tokens(swap_pools(r for item in raw for r in item.receipts))
        for item in raw:
            failed = None
            if item.traces is not None and any(r.get("status") is None for r in item.receipts):
                failed = failed_transactions(item.traces)  # pre-Byzantium receipts have no status
            mapped = map_block(item.block, item.receipts, self.chain, source=self.source, failed=failed,
                               stats=stats, check=False)
            txs.append(mapped.transactions)
            block_rows = [mapped.transfers]
            if item.traces is not None:
                block_rows.append(map_traces(item.traces, item.block, self.chain, source=self.source, stats=stats,
                                             check=False))
            transfers.extend(block_rows)
            found = decode_conversions(item.receipts, pl.concat(block_rows, how="vertical"), pools=pools,
                                       weth=self.weth, stats=stats, check=False)
            if found.height:
                conversions.append(found)
            if self.bridges is not None:
                decoded = map_bridge_events(item.block, item.receipts, pl.concat(block_rows, how="vertical"),
                                            self.bridges, self.chain, source=self.source, stats=bridge_stats)
                if decoded.events.height:
                    bridge_events.append(decoded.events)
        tx_frame = conform(pl.concat(txs, how="vertical"), TRANSACTIONS) if txs else empty(TRANSACTIONS)
        tr_frame = conform(pl.concat(transfers, how="vertical"), TRANSFERS) if transfers else empty(TRANSFERS)
        cv_frame = conform(pl.concat(conversions, how="vertical"), CONVERSIONS) if conversions else empty(CONVERSIONS)
        be_frame = (conform(pl.concat(bridge_events, how="vertical"), BRIDGE_EVENTS) if bridge_events
                    else empty(BRIDGE_EVENTS))
        if bridge_stats.warnings:
            log.warning("%s: %d bridge event(s) without a complete record, first: %s", self.client.url,
                        len(bridge_stats.warnings), bridge_stats.warnings[0])
        if stats.conversion_warnings:
            log.warning("%s: %d event(s) stated a conversion that does not balance (kept as plain transfers), "
                        "first: %s", self.client.url, len(stats.conversion_warnings), stats.conversion_warnings[0])
        tokens = tuple(sorted(tr_frame.filter(pl.col("kind") == "token")["asset"].unique().to_list()))
        return FetchedBlocks(
            frames=FrameSet(transactions=tx_frame, transfers=tr_frame, conversions=cv_frame, bridge_events=be_frame),
            heights=tuple(item.height for item in raw),
            hashes=tuple(item.hash for item in raw),
            parent_hash=str(raw[0].block.get("parentHash")).lower() if raw else None,
            token_contracts=tokens,
            stats=stats,
            bridge_stats=bridge_stats,
        )

    def fetch(self, heights: Sequence[int]) -> FetchedBlocks:
        """Canonical frames of the blocks at ``heights`` (:meth:`fetch_raw` then :meth:`frames_of`)."""
        return self.frames_of(self.fetch_raw(heights))


# --- pure helpers --------------------------------------------------------------------------------------

#: Geth ``callTracer`` frame type -> (trace_block type, callType)
_FRAME_TYPES: dict[str, tuple[str, str | None]] = {
    "CALL": ("call", "call"),
    "CALLCODE": ("call", "callcode"),
    "DELEGATECALL": ("call", "delegatecall"),
    "STATICCALL": ("call", "staticcall"),
    "CREATE": ("create", None),
    "CREATE2": ("create", None),
    "SELFDESTRUCT": ("suicide", None),
}


def call_frames_to_traces(results: Any, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Geth ``debug_traceBlockBy*`` with ``callTracer`` -> the equivalent ``trace_block`` entries.

    Each transaction's frame tree is walked depth-first; a frame's ``traceAddress`` is its path of
    child indexes (the top frame ``[]``), as in the trace module. ``error`` is carried over, so the
    mapper skips a reverted frame and everything below it. Only the fields the mapper reads are
    produced.
    """
    if not isinstance(results, list):
        raise MalformedResponseError(f"callTracer result is a {type(results).__name__}, expected a list")
    txs = block.get("transactions") or []
    out: list[dict[str, Any]] = []
    for position, item in enumerate(results):
        if not isinstance(item, Mapping) or not isinstance(item.get("result"), Mapping):
            raise MalformedResponseError(f"callTracer entry {position} has no result frame: {item!r}"[:300])
        txid = item.get("txHash")
        if txid is None and position < len(txs) and isinstance(txs[position], Mapping):
            txid = txs[position].get("hash")
        stack: list[tuple[Mapping[str, Any], list[int]]] = [(item["result"], [])]
        while stack:
            frame, path = stack.pop()
            out.append(_frame_entry(frame, path, str(txid), position, block))
            children = frame.get("calls") or []
            for index in range(len(children) - 1, -1, -1):  # reversed onto the stack: visited in order
                stack.append((children[index], [*path, index]))
    return out


def _frame_entry(frame: Mapping[str, Any], path: list[int], txid: str, position: int,
                 block: Mapping[str, Any]) -> dict[str, Any]:
    kind = _FRAME_TYPES.get(str(frame.get("type")))
    where = f"callTracer frame {txid} {path}"
    if kind is None:
        raise MalformedResponseError(f"{where} has unknown type {frame.get('type')!r}")
    trace_type, call_type = kind
    value = frame.get("value") or "0x0"
    action: dict[str, Any]
    result: dict[str, Any] | None = None
    if trace_type == "call":
        action = {"callType": call_type, "from": frame.get("from"), "to": frame.get("to"), "value": value}
    elif trace_type == "create":
        action = {"from": frame.get("from"), "value": value}
        if frame.get("to") is not None:
            result = {"address": frame.get("to")}
    else:
        action = {"address": frame.get("from"), "refundAddress": frame.get("to"), "balance": value}
    entry: dict[str, Any] = {
        "action": action, "blockHash": block.get("hash"), "traceAddress": path, "transactionHash": txid,
        "transactionPosition": position, "type": trace_type, "subtraces": len(frame.get("calls") or []),
    }
    if result is not None:
        entry["result"] = result
    if frame.get("error"):
        entry["error"] = str(frame["error"])
    return entry


def _pair(first: Any, second: Any) -> tuple[str, str] | None:
    """``token0()`` and ``token1()`` answers as two addresses, or None (not one ABI address word each)."""
    words = [_word_address(first), _word_address(second)]
    if words[0] is None or words[1] is None:
        return None
    return words[0], words[1]


def _word_address(raw: Any) -> str | None:
    """An ``eth_call`` answer that is one ABI address word, as an EIP-55 address (else None)."""
    if not isinstance(raw, str) or len(raw) != 66 or raw[:26] != "0x" + "0" * 24:
        return None
    try:
        return parse_address("0x" + raw[26:], "pool token")
    except MalformedResponseError:
        return None


def _clean_receipts(receipts: Any, block: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    """Receipts ready for the mapper: a list, and the ``blockTimestamp`` newer nodes (anvil 1.x, Geth
    1.16) add dropped after checking it is the block's time (it is not value-bearing)."""
    if not isinstance(receipts, list):
        raise MalformedResponseError(f"{url}: receipts of block {block.get('number')} are {receipts!r}"[:300])
    timestamp = parse_quantity(block.get("timestamp"), "block timestamp")
    cleaned: list[Mapping[str, Any]] = []
    for receipt in receipts:
        if isinstance(receipt, Mapping) and "blockTimestamp" in receipt:
            stamp = receipt["blockTimestamp"]
            value = int(stamp) if isinstance(stamp, int) else parse_quantity(stamp, "receipt blockTimestamp")
            if value != timestamp:
                raise MalformedResponseError(f"{url}: receipt blockTimestamp {stamp} is not the block's {timestamp}")
            receipt = {k: v for k, v in receipt.items() if k != "blockTimestamp"}
        cleaned.append(receipt)
    return cleaned

