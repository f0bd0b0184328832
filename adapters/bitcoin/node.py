# SPDX-License-Identifier: Apache-2.0
"""Blocks and previous outputs from a Bitcoin Core-family node (``bitcoind``, ``litecoind``) over JSON-RPC.

Chain I/O only: heights -> block hashes -> ``getblock <hash> 2`` responses -> canonical frames
(:func:`adapters.bitcoin.mappers.map_block`), with every input's previous output resolved. All
calls are JSON-RPC batches (one round trip per batch of blocks or of previous transactions).

Previous outputs are resolved, in order, from: the outputs of the blocks in the same batch, a
``lookup`` the caller provides (the graph store, for outputs already ingested), and the node's
``getrawtransaction <txid> true`` (which needs ``-txindex`` for transactions outside the wallet
and mempool). Bitcoin Core RPC reference: https://developer.bitcoin.org/reference/rpc/
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.bitcoin.mappers import BIP30_OVERWRITTEN, Outpoint, Prevouts, block_outputs, map_blocks
from adapters.errors import (  # the node errors are defined once there and re-exported here
    ChainChangedError,
    HeightPastTipError,
    MalformedResponseError,
    RpcError,
    WrongNetworkError,
)
from adapters.jsonrpc import Call, JsonRpcClient
from tracer.chains import Chain
from tracer.errors import InputError, NotFoundError
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, FrameSet, conform

__all__ = [
    "BitcoinNode",
    "ChainChangedError",
    "FetchedBlocks",
    "TxIndexRequiredError",
    "HeightPastTipError",
    "WrongNetworkError",
    "PrevoutLookup",
]

log = logging.getLogger(__name__)

#: outpoints -> the (address, value) of those the caller already knows (e.g. from the graph store)
PrevoutLookup = Callable[[Sequence[Outpoint]], Prevouts]

_RPC_INVALID_PARAMETER = -8  # getblockhash: "Block height out of range"
_RPC_INVALID_ADDRESS_OR_KEY = -5  # getrawtransaction: "No such mempool or blockchain transaction"


class TxIndexRequiredError(InputError):
    """The node cannot look up a transaction by id: it runs without ``-txindex``."""


#: tracer network names -> Bitcoin Core's ``getblockchaininfo.chain``
_CORE_NETWORK = {"mainnet": "main", "testnet": "test", "regtest": "regtest"}
#: what ``getnetworkinfo.subversion`` contains for each coin's reference client
_CLIENT_MARKERS = {"btc": "/Satoshi:", "ltc": "/LitecoinCore:"}


@dataclass(frozen=True)
class FetchedBlocks:
    """Canonical frames of a run of consecutive blocks, plus what the fetch learned on the way."""

    frames: FrameSet
    heights: tuple[int, ...]
    hashes: tuple[str, ...]
    #: ``previousblockhash`` of the first block (to check it links to what is stored)
    parent_hash: str | None
    #: previous outputs fetched from the node (not from the batch or the lookup)
    fetched_prevouts: int
    #: txids left out under BIP30 (see mappers)
    skipped_duplicates: tuple[str, ...]


class BitcoinNode:
    """A Bitcoin Core-family node for one chain.

    ``url`` may carry credentials (``http://user:pass@host:port``); they are used for requests
    only and never appear in :attr:`source`, messages or logs.
    """

    def __init__(self, url: str, chain: Chain, *, cookie_file: str | None = None, timeout: float = 60.0,
                 retries: int = 3, prevout_batch: int = 2_000) -> None:
        self.chain = chain
        self.client = JsonRpcClient(url, cookie_file=cookie_file, timeout=timeout, retries=retries, jsonrpc="1.0")
        self.source = f"rpc:{self.client.url}"
        self.prevout_batch = prevout_batch
        self._verbosity: int | None = None

    @property
    def verbosity(self) -> int:
        """``getblock`` verbosity: 3 (inputs carry their ``prevout``: no ``getrawtransaction``
        needed) on Bitcoin Core >= 25, else 2. litecoind 0.21 accepts 3 but adds no prevout."""
        if self._verbosity is None:
            info = self.client.call("getnetworkinfo")
            version = int(info.get("version", 0))
            core = "Satoshi" in str(info.get("subversion", ""))
            self._verbosity = 3 if core and version >= 250000 else 2
        return self._verbosity

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> BitcoinNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chain state ----------------------------------------------------------------------------
    def check_network(self) -> None:
        """Refuse a node that serves another network than the chain asked for (before anything is
        written: a testnet node's blocks must never be stored as mainnet, nor a Bitcoin node's as
        Litecoin). Uses ``getblockchaininfo.chain`` and, for Bitcoin and Litecoin, the client name."""
        info = self.client.call("getblockchaininfo")
        served = str(info.get("chain", "")) if isinstance(info, Mapping) else ""
        expected = _CORE_NETWORK.get(self.chain.network)
        if expected and served != expected:
            raise WrongNetworkError(
                f"{self.client.url} serves the {served!r} network, not {self.chain.key} ({self.chain.network})"
            )
        family = self.chain.key.split("-", 1)[0]
        marker = _CLIENT_MARKERS.get(family)
        if marker:
            subversion = str(self.client.call("getnetworkinfo").get("subversion", ""))
            if marker not in subversion:
                raise WrongNetworkError(
                    f"{self.client.url} runs {subversion or 'an unknown client'}, not a {family} node"
                )

    def tip_height(self) -> int:
        return int(self.client.call("getblockcount"))

    def has_txindex(self) -> bool | None:
        """Whether the node keeps ``-txindex`` (None when it cannot say: ``getindexinfo`` is Core >= 0.21)."""
        try:
            info = self.client.call("getindexinfo")
        except RpcError:
            return None
        return isinstance(info, Mapping) and "txindex" in info

    def block_hashes(self, heights: Sequence[int]) -> list[str]:
        """Hashes of the blocks at ``heights`` on the node's best chain (one batch)."""
        outcomes = self.client.batch_outcomes([Call("getblockhash", (h,)) for h in heights])
        hashes = []
        for height, outcome in zip(heights, outcomes, strict=True):
            if isinstance(outcome, RpcError):
                if outcome.code == _RPC_INVALID_PARAMETER:
                    raise HeightPastTipError(
                        f"{self.client.url}: no block at height {height} (node's tip is {self.tip_height()})"
                    )
                raise outcome
            if not isinstance(outcome, str) or len(outcome) != 64:
                raise MalformedResponseError(f"{self.client.url}: getblockhash {height} returned {outcome!r}")
            hashes.append(outcome)
        return hashes

    # -- blocks -----------------------------------------------------------------------------------
    def raw_blocks(self, hashes: Sequence[str]) -> list[Mapping[str, Any]]:
        """``getblock <hash> 2`` (or 3, see :attr:`verbosity`) for each hash, in one batch (amounts as Decimal)."""
        verbosity = self.verbosity
        blocks = self.client.batch([Call("getblock", (h, verbosity)) for h in hashes])
        for block_hash, block in zip(hashes, blocks, strict=True):
            if not isinstance(block, Mapping) or block.get("hash") != block_hash:
                raise MalformedResponseError(f"{self.client.url}: getblock {block_hash} returned another object")
        return blocks

    def fetch(self, heights: Sequence[int], lookup: PrevoutLookup | None = None) -> FetchedBlocks:
        """Canonical frames of the blocks at ``heights`` (consecutive, ascending), every input resolved.

        Raises
        ------
        HeightPastTipError, TxIndexRequiredError, NodeUnavailableError, MalformedResponseError,
        SchemaDriftError
        """
        return self.frames_of(self.fetch_raw(heights), lookup)

    def fetch_raw(self, heights: Sequence[int]) -> list[Mapping[str, Any]]:
        """The verbosity-2 blocks at ``heights``, checked to link to each other (two batched calls)."""
        hashes = self.block_hashes(heights)
        blocks = self.raw_blocks(hashes)
        for previous, block in zip(blocks, blocks[1:], strict=False):
            if block.get("previousblockhash") != previous["hash"]:
                raise ChainChangedError(
                    f"{self.client.url}: block {block['hash']} does not follow {previous['hash']} "
                    "(the node's chain changed during the fetch)",
                    height=int(previous["height"]),
                )
        return blocks

    def twin(self) -> BitcoinNode:
        """Another connection to the same node (for a second thread: one HTTP session each)."""
        twin = BitcoinNode.__new__(BitcoinNode)
        twin.chain = self.chain
        twin.client = self.client.clone()
        twin.source = self.source
        twin.prevout_batch = self.prevout_batch
        twin._verbosity = self._verbosity
        return twin

    def frames_of(self, blocks: Sequence[Mapping[str, Any]], lookup: PrevoutLookup | None = None, *,
                  check: bool = True) -> FetchedBlocks:
        """Map fetched blocks to canonical frames, resolving every input's previous output.

        ``check=False`` skips :func:`~tracer.schema.conform` of the frames (the mapper builds them
        with the canonical columns and types either way), for a caller that hands them to
        :meth:`GraphStore.load`, which validates what it is given before writing anything; the
        ingest does, after joining several fetches into one load.
        """
        heights = [int(b["height"]) for b in blocks]
        hashes = [str(b["hash"]) for b in blocks]
        batch_outputs: dict[Outpoint, tuple[str | None, int]] = {}
        per_block = [block_outputs(block, self.chain) for block in blocks]
        for outputs in per_block:
            for outpoint, (address, _, value) in outputs.items():
                batch_outputs[outpoint] = (address, value)
        wanted: dict[Outpoint, None] = {}  # what unresolved_outpoints gives, for the whole batch at once
        for block in blocks:
            height = int(block["height"])
            for tx in block["tx"]:  # checked by block_outputs
                if (tx["txid"], height) in BIP30_OVERWRITTEN:
                    continue
                for vin in tx["vin"]:
                    if "coinbase" in vin or "prevout" in vin:
                        continue
                    outpoint = (str(vin["txid"]), int(vin["vout"]))
                    if outpoint not in batch_outputs:
                        wanted[outpoint] = None
        known: dict[Outpoint, tuple[str | None, int]] = dict(batch_outputs)
        missing = list(wanted)
        if missing and lookup is not None:
            found = lookup(missing)
            known.update(found)
            missing = [o for o in missing if o not in found]
        known.update(self.prevouts(missing))
        mapped = map_blocks(blocks, self.chain, source=self.source, prevouts=known, outputs=per_block, check=False)
        if not mapped.complete:  # every outpoint was resolved above, so the node answered inconsistently
            raise MalformedResponseError(
                f"{self.client.url}: inputs of blocks {heights[0]}..{heights[-1]} could not be resolved"
            )
        # validated once for the whole batch (the mapper's per-block check is skipped above)
        frames = FrameSet(
            transactions=conform(mapped.transactions, TRANSACTIONS) if check else mapped.transactions,
            inputs=conform(mapped.inputs, INPUTS) if check else mapped.inputs,
            outputs=conform(mapped.outputs, OUTPUTS) if check else mapped.outputs,
        )
        return FetchedBlocks(
            frames=frames,
            heights=tuple(heights),
            hashes=tuple(hashes),
            parent_hash=blocks[0].get("previousblockhash") if blocks else None,
            fetched_prevouts=len(missing),
            skipped_duplicates=mapped.skipped_duplicates,
        )

    # -- previous outputs ---------------------------------------------------------------------------
    def prevouts(self, outpoints: Iterable[Outpoint]) -> dict[Outpoint, tuple[str | None, int]]:
        """``(address, value)`` of each outpoint, from ``getrawtransaction <txid> true`` in batches."""
        by_txid: dict[str, list[int]] = {}
        for txid, index in outpoints:
            by_txid.setdefault(txid, []).append(index)
        found: dict[Outpoint, tuple[str | None, int]] = {}
        txids = list(by_txid)
        for start in range(0, len(txids), self.prevout_batch):
            chunk = txids[start : start + self.prevout_batch]
            outcomes = self.client.batch_outcomes([Call("getrawtransaction", (t, True)) for t in chunk])
            for txid, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, RpcError):
                    if outcome.code == _RPC_INVALID_ADDRESS_OR_KEY:
                        if self.has_txindex() is False:
                            raise TxIndexRequiredError(
                                f"{self.client.url}: getrawtransaction {txid} failed: the node runs without "
                                "-txindex, which is needed to resolve inputs; restart it with -txindex=1"
                            ) from None
                        raise NotFoundError(f"{self.client.url}: getrawtransaction {txid}: {outcome.message}") from None
                    raise outcome
                if not isinstance(outcome, Mapping) or outcome.get("txid") != txid:
                    raise MalformedResponseError(f"{self.client.url}: getrawtransaction {txid} returned another object")
                outputs = block_outputs({"tx": [outcome], "hash": txid}, self.chain)
                for index in by_txid[txid]:
                    if (txid, index) not in outputs:
                        raise MalformedResponseError(f"{self.client.url}: transaction {txid} has no output {index}")
                    address, _, value = outputs[(txid, index)]
                    found[(txid, index)] = (address, value)
        return found
