# SPDX-License-Identifier: Apache-2.0
"""Block-range ingest for UTXO chains: node -> canonical frames -> graph store, resumable.

Orchestration only (the one place that holds both an adapter and a store): the node adapter
(:class:`adapters.bitcoin.node.BitcoinNode`) fetches and maps, the store loads, a
:class:`~cli.checkpoints.Checkpoint` records each batch that landed.

Order of work for ``from..to``:

1. Refuse a range past the node's tip before writing anything.
2. **Reorg repair**: compare the hashes of the blocks the store holds (from ``REORG_WINDOW``
   below the range or the tip, upwards) with the node's best chain; from the lowest height
   that differs, remove the stored blocks (:meth:`GraphStore.remove_blocks`) and forget them in
   the checkpoint.
3. Fetch and load the heights the checkpoint does not have, in batches of consecutive blocks;
   each batch's first block must link to the stored block below it (else the node reorganised
   during the run: repair again and continue). Checkpoint after every batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import polars as pl

from adapters.bitcoin.mappers import BIP30_OVERWRITTEN, Outpoint, Prevouts
from adapters.bitcoin.node import BitcoinNode, ChainChangedError, FetchedBlocks, HeightPastTipError
from adapters.jsonrpc import JsonRpcClient
from cli.checkpoints import Checkpoint
from graph.base import GraphStore
from tracer.chains import Chain
from tracer.errors import InputError, SourceUnavailableError
from tracer.schema import FrameSet

__all__ = ["IngestSummary", "ingest_block_range", "repair_reorg", "forget_what_the_store_lacks", "ChainNode",
           "load_with_reorg_repair", "store_prevout_lookup", "REORG_WINDOW"]

#: how far below the range (or the tip) stored blocks are checked against the node's chain
REORG_WINDOW = 100
_MAX_REPAIRS = 3


class IngestRates:
    """Rates and the JSON form shared by the block-range ingest summaries (UTXO and EVM)."""

    blocks_loaded: int
    transactions: int
    seconds: float

    @property
    def blocks_per_s(self) -> float:
        return self.blocks_loaded / self.seconds if self.seconds else 0.0

    @property
    def tx_per_s(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3),  # type: ignore[call-overload]
                "blocks_per_s": round(self.blocks_per_s, 1), "tx_per_s": round(self.tx_per_s, 1)}


@dataclass
class IngestSummary(IngestRates):
    chain: str
    source: str
    from_height: int
    to_height: int
    blocks_loaded: int = 0
    blocks_already_done: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    prevouts_from_store: int = 0
    prevouts_from_node: int = 0
    reorgs: list[dict[str, int]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def store_prevout_lookup(store: GraphStore, chain: str, counter: list[int]) -> Callable[[Sequence[Outpoint]], Prevouts]:
    """Resolve previous outputs from transactions already in the store (one query per batch)."""

    def lookup(outpoints: Sequence[Outpoint]) -> Prevouts:
        txids = sorted({txid for txid, _ in outpoints})
        outputs = store.transactions(chain, txids).outputs
        if outputs.height == 0:
            return {}
        wanted = pl.DataFrame({"txid": [o[0] for o in outpoints], "index": [o[1] for o in outpoints]},
                              schema={"txid": pl.String, "index": pl.Int64})
        rows = outputs.join(wanted, on=["txid", "index"], how="semi").select("txid", "index", "address", "value")
        found = {(t, i): (a, v) for t, i, a, v in rows.iter_rows()}
        counter[0] += len(found)
        return found

    return lookup


class ChainNode(Protocol):
    """What reorg repair needs of a node (both :class:`BitcoinNode` and the EVM node have it)."""

    chain: Chain
    client: JsonRpcClient

    def tip_height(self) -> int: ...

    def block_hashes(self, heights: list[int]) -> list[str]: ...


def repair_reorg(node: ChainNode, store: GraphStore, checkpoint: Checkpoint, low: int) -> dict[str, int] | None:
    """Remove stored blocks that are no longer on the node's best chain (from height ``low`` up).
    Shared by the UTXO and the EVM block-range ingest; hashes compare case-insensitively (hex)."""
    chain = node.chain.key
    stored = store.block_hashes(chain, max(0, low), 2**62)
    if stored.height == 0:
        return None
    tip = node.tip_height()
    top = int(stored.select(pl.col("block_height").max()).item())
    if top > tip:
        # a node that is syncing (or another node, behind this one) is not evidence of a reorg
        raise SourceUnavailableError(
            f"{node.client.url}: the node's tip {tip} is below the highest stored block {top}; "
            "wait until it has synced (nothing was removed)"
        )
    heights = stored["block_height"].to_list()
    node_hashes = {h: str(b).lower() for h, b in zip(heights, node.block_hashes(heights), strict=True)}
    differing = [h for h, b in stored.iter_rows() if node_hashes.get(h) != str(b).lower()]
    if not differing:
        return None
    fork = min(differing)
    # forget the blocks in the checkpoint first: killed after this line, the next run re-fetches them
    checkpoint.truncate(fork)
    checkpoint.save()
    removed = store.remove_blocks(chain, fork)
    return {"fork_height": fork, "removed_transactions": removed, "previous_stored_top": top}


def forget_what_the_store_lacks(store: GraphStore, checkpoint: Checkpoint, chain: str, lo: int, hi: int, *,
                                may_be_empty: Collection[int] = ()) -> None:
    """Heights the checkpoint calls done but the store does not hold (a store replaced or wiped,
    a run killed mid-repair) are fetched again. ``may_be_empty``: heights that legitimately leave no
    row (UTXO: the BIP30-overwritten coinbase heights; every other block has a coinbase)."""
    done = set(range(lo, hi + 1)) - set(checkpoint.missing(lo, hi))
    if not done:
        return
    stored = set(store.block_hashes(chain, lo, hi)["block_height"].to_list())
    lacking = sorted(done - stored - set(may_be_empty))
    if lacking:
        checkpoint.forget(lacking)
        checkpoint.save()


def _runs(heights: list[int]) -> list[list[int]]:
    """``heights`` (ascending) cut into runs of consecutive heights."""
    runs: list[list[int]] = []
    for h in heights:
        if runs and runs[-1][-1] == h - 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return runs


#: transactions per batch of :class:`_Batches` by default: the EVM ingest's batch (fetch and load)
#: size (cli/evm_ingest.py). Measured there and on UTXO blocks before fetch and load were split.
TARGET_TX_PER_LOAD = 2_500
#: transactions per store load of the UTXO ingest (up to twice as many, so that no small load is
#: left for the end of the range). A load has a fixed cost (a dozen statements; into an empty
#: table one COPY per table, cheaper than appends): measured on 5,000 regtest payments, 2 cores,
#: one load of all of them ~0.35-0.5 s wall and ~0.5 s CPU, the same rows in two loads ~0.7 s
#: CPU, in three ~0.75 s wall. On a busy machine the ingest is CPU-bound, so fewer loads win over
#: more overlap. Loads run in a thread while the next blocks are fetched and mapped. Mainnet
#: blocks hold ~2,000-4,000 transactions: a load is then one to three blocks.
UTXO_TX_PER_LOAD = 5_000
#: transactions per fetch (one ``getblock`` batch, mapped as soon as it arrives while the next
#: ones are fetched): several fetches fill one load, so the RPC, the mapping and the previous
#: load overlap. Smaller fetches overlap more but pay more round trips; 500-2,000 measured alike
#: within the noise of a shared 2-core machine.
TARGET_TX_PER_FETCH = 1_000
#: fetches in flight at once, each on its own connection, so the node serves them on parallel
#: RPC threads (measured: 2 clearly better than 1, 3 no better than 2 on 2 cores)
FETCHES_AHEAD = 2


class _Batches:
    """Batches of consecutive heights, sized to hold about ``target`` transactions
    (default ``TARGET_TX_PER_LOAD``)."""

    def __init__(self, heights: list[int], first_size: int, max_size: int, target: int | None = None) -> None:
        self.runs = _runs(heights)
        self.size = max(1, min(first_size, max_size))
        self.max_size = max_size
        self.target = TARGET_TX_PER_LOAD if target is None else target

    def next(self) -> list[int]:
        while self.runs and not self.runs[0]:
            self.runs.pop(0)
        if not self.runs:
            return []
        batch, self.runs[0] = self.runs[0][: self.size], self.runs[0][self.size :]
        return batch

    def learn(self, blocks: int, transactions: int) -> None:
        per_block = max(1.0, transactions / max(1, blocks))
        self.size = max(1, min(self.max_size, int(self.target / per_block)))


def ingest_block_range(
    node: BitcoinNode,
    store: GraphStore,
    checkpoint: Checkpoint,
    from_height: int,
    to_height: int,
    *,
    batch_blocks: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest blocks ``from_height..to_height`` (inclusive); see the module docstring.

    ``progress(blocks, transactions)`` is called after every store load with what it added.
    Blocks are fetched in runs of about ``TARGET_TX_PER_FETCH`` transactions (the next runs on
    other connections while this one is mapped) and loaded in batches of about
    ``UTXO_TX_PER_LOAD`` transactions and at most ``batch_blocks`` blocks (in a thread, while
    the next runs are fetched and mapped); the checkpoint is written after every load.
    """
    if from_height < 0 or to_height < from_height:
        raise InputError(f"invalid block range {from_height}..{to_height}")
    started = time.perf_counter()
    chain = node.chain.key
    summary = IngestSummary(chain=chain, source=node.source, from_height=from_height, to_height=to_height)
    tip = node.tip_height()
    if to_height > tip:
        raise HeightPastTipError(f"{node.client.url}: --to {to_height} is past the node's tip {tip}")
    node.check_network()
    forget_what_the_store_lacks(store, checkpoint, chain, from_height, to_height,
                                may_be_empty={height for _, height in BIP30_OVERWRITTEN})
    repair = repair_reorg(node, store, checkpoint, min(from_height, tip) - REORG_WINDOW)
    if repair:
        summary.reorgs.append(repair)
    store_hits = [0]
    lookup = store_prevout_lookup(store, chain, store_hits)
    summary.blocks_already_done = (to_height - from_height + 1) - len(checkpoint.missing(from_height, to_height))
    loaded: dict[int, _Loaded] = {}
    fetcher = node.twin()
    try:
        load_with_reorg_repair(
            lambda: _load_batches(node, fetcher, store, checkpoint, lookup, summary, loaded,
                                  checkpoint.missing(from_height, to_height), batch_blocks, progress),
            lambda below: repair_reorg(node, store, checkpoint, below), summary.reorgs, loaded,
        )
    finally:
        fetcher.close()
    summary.blocks_loaded = len(loaded)
    summary.transactions = sum(v.transactions for v in loaded.values())
    summary.inputs = sum(v.inputs for v in loaded.values())
    summary.outputs = sum(v.outputs for v in loaded.values())
    summary.prevouts_from_node = sum(v.prevouts_from_node for v in loaded.values())
    summary.prevouts_from_store += store_hits[0]
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Loaded:
    """What one stored block contributed (kept per height so a reorg can take it back out)."""

    transactions: int
    inputs: int = 0
    outputs: int = 0
    prevouts_from_node: int = 0


def _load_batches(
    node: BitcoinNode,
    fetcher: BitcoinNode,
    store: GraphStore,
    checkpoint: Checkpoint,
    lookup: Callable[[Sequence[Outpoint]], Prevouts],
    summary: IngestSummary,
    loaded: dict[int, _Loaded],
    todo: list[int],
    batch_blocks: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Fetch ``todo`` in runs of about ``TARGET_TX_PER_FETCH`` transactions (the next
    ``FETCHES_AHEAD`` runs on their own connections while this one is mapped) and load the
    mapped runs in groups of about ``UTXO_TX_PER_LOAD`` transactions (in a thread, while the
    next runs are fetched and mapped)."""
    chain = node.chain.key
    first = 10
    if todo:  # size the first fetch from the first block's transaction count (a header is cheap)
        header = node.client.call("getblockheader", node.block_hashes([todo[0]])[0])
        first = int(TARGET_TX_PER_FETCH / max(1, int(header.get("nTx", 1))))
    load_blocks = max(1, batch_blocks)
    batches = _Batches(todo, first_size=min(first, load_blocks), max_size=load_blocks, target=TARGET_TX_PER_FETCH)
    recent = _RecentOutputs()
    loader = _Loader()

    def resolve(outpoints: Sequence[Outpoint]) -> Prevouts:
        found = recent.get(outpoints)
        missing = [o for o in outpoints if o not in found]
        if missing:
            loader.wait()  # the store is used by one thread at a time
            found.update(lookup(missing))
        summary.prevouts_from_store += len(outpoints) - len(missing)  # outputs this run already mapped
        return found

    # FETCHES_AHEAD fetches in flight, one per connection, taken in order: the node serves
    # each on its own RPC thread, so on a multi-core machine they overlap each other too. The
    # connections are this call's own: after a reorg the next call does not share a session
    # with a fetch of this one that may still be running
    fetchers = [fetcher.twin() for _ in range(max(1, FETCHES_AHEAD))]
    slots = [_Prefetch(f.fetch_raw) for f in fetchers]
    in_flight: deque[tuple[_Prefetch, list[int]]] = deque()
    started = 0

    def fetch_ahead() -> None:
        nonlocal started
        while len(in_flight) < len(slots):
            ahead = batches.next()
            if not ahead:
                return
            slot = slots[started % len(slots)]  # taken in order, so this one's result was taken
            slot.start(ahead)
            in_flight.append((slot, ahead))
            started += 1

    last: tuple[int, str] | None = None  # height and hash of the last block mapped
    pending: list[tuple[list[int], FetchedBlocks]] = []  # mapped, not yet handed to the loader
    pending_tx = pending_blocks = 0
    try:
        fetch_ahead()
        while in_flight:
            slot, current = in_flight.popleft()
            try:
                blocks = slot.result()
            except ChainChangedError as changed:
                raise _ChainMoved(changed.height) from None
            fetch_ahead()
            heights = [h for _, run in in_flight for h in run]  # what is being fetched next
            # not conformed here: store.load validates the joined frames (in the loader thread)
            fetched = node.frames_of(blocks, lookup=resolve, check=False)
            if last is not None and last[0] == current[0] - 1:
                linked = fetched.parent_hash == last[1]
            else:
                loader.wait()
                below = store.block_hashes(chain, current[0] - 1, current[0] - 1)
                linked = not below.height or below["block_hash"][0] == fetched.parent_hash
            if not linked:
                raise _ChainMoved(current[0])
            recent.add(fetched.frames.outputs)
            batches.learn(len(current), fetched.frames.transactions.height)
            last = (current[-1], fetched.hashes[-1])
            pending.append((current, fetched))
            pending_tx += fetched.frames.transactions.height
            pending_blocks += len(current)
            if heights and pending_blocks + len(in_flight[0][1]) <= load_blocks and pending_tx < 2 * UTXO_TX_PER_LOAD:
                # the rest of the range, at this run's transactions per block
                rest = (len(heights) + sum(len(r) for r in batches.runs)) * pending_tx / pending_blocks
                if pending_tx < UTXO_TX_PER_LOAD or rest < UTXO_TX_PER_LOAD / 2:
                    continue  # the next fetch still fits in this load (and no small load is left for the end)
            loader.wait()
            loader.start(_loading(store, checkpoint, summary, loaded, pending, progress))
            pending, pending_tx, pending_blocks = [], 0, 0
        loader.wait()
    finally:
        loader.join_quietly()  # never leave a thread writing to a store that is about to be closed
        for twin in fetchers:
            twin.close()


def _loading(
    store: GraphStore,
    checkpoint: Checkpoint,
    summary: IngestSummary,
    loaded: dict[int, _Loaded],
    parts: list[tuple[list[int], FetchedBlocks]],
    progress: Callable[[int, int], None] | None,
) -> Callable[[], None]:
    """One store load of the mapped runs ``parts`` (each a run of consecutive heights), then
    their checkpoint."""

    def work() -> None:
        frames = parts[0][1].frames if len(parts) == 1 else FrameSet(
            transactions=pl.concat([f.frames.transactions for _, f in parts], how="vertical"),
            inputs=pl.concat([f.frames.inputs for _, f in parts], how="vertical"),
            outputs=pl.concat([f.frames.outputs for _, f in parts], how="vertical"),
        )
        report = store.load(frames)
        for heights, _ in parts:
            checkpoint.add(heights[0], heights[-1])
        checkpoint.save()
        for heights, fetched in parts:
            _record(loaded, fetched.frames, fetched.fetched_prevouts, heights)
        for name, count in report.created.items():
            summary.created[name] = summary.created.get(name, 0) + count
        if progress:
            progress(sum(len(h) for h, _ in parts), frames.transactions.height)

    return work


class _RecentOutputs:
    """Outputs of the batches just mapped, so the next batch's inputs that spend them need neither
    the store (busy loading) nor the node. Bounded: the oldest batches are forgotten first."""

    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self.entries: dict[Outpoint, tuple[str | None, int]] = {}
        self.batches: list[list[Outpoint]] = []

    def add(self, outputs: pl.DataFrame) -> None:
        keys: list[Outpoint] = list(zip(outputs["txid"].to_list(), outputs["index"].to_list(), strict=True))
        values = zip(outputs["address"].to_list(), outputs["value"].to_list(), strict=True)
        self.entries.update(zip(keys, values, strict=True))
        self.batches.append(keys)
        while len(self.entries) > self.capacity and len(self.batches) > 1:
            for key in self.batches.pop(0):
                self.entries.pop(key, None)

    def get(self, outpoints: Sequence[Outpoint]) -> dict[Outpoint, tuple[str | None, int]]:
        return {o: self.entries[o] for o in outpoints if o in self.entries}


class _Loader:
    """Runs one store load at a time in a thread: LadybugDB and polars release the GIL, so the
    next batch is mapped meanwhile. Errors surface at :meth:`wait`."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc

        self.thread = threading.Thread(target=run, name="store-load", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        self.join_quietly()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def join_quietly(self) -> None:
        while self.thread is not None and self.thread.is_alive():
            self.thread.join(timeout=0.2)
        self.thread = None


class _Prefetch:
    """Runs one fetch ahead in a daemon thread (a daemon, so Ctrl-C or an error never waits for a
    stalled node: the interpreter does not join it; the fetcher's own connection is closed after)."""

    def __init__(self, fetch: Callable[[list[int]], list[Any]]) -> None:
        self.fetch = fetch
        self.thread: threading.Thread | None = None
        self.outcome: list[Any] = []

    def start(self, heights: list[int]) -> None:
        self.outcome = []

        def work() -> None:
            try:
                self.outcome.append(("ok", self.fetch(heights)))
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.outcome.append(("error", exc))

        self.thread = threading.Thread(target=work, name="prefetch", daemon=True)
        self.thread.start()

    def result(self) -> list[Any]:
        assert self.thread is not None
        while self.thread.is_alive():
            self.thread.join(timeout=0.2)  # short waits keep Ctrl-C responsive
        kind, value = self.outcome[0]
        if kind == "error":
            raise value
        return list(value)


def _record(loaded: dict[int, _Loaded], frames: FrameSet, prevouts_from_node: int, heights: list[int]) -> None:
    height_of = frames.transactions.select("txid", "block_height")
    txs = dict(frames.transactions.group_by("block_height").agg(pl.len()).iter_rows())
    ins = dict(frames.inputs.join(height_of, on="txid").group_by("block_height").agg(pl.len()).iter_rows())
    outs = dict(frames.outputs.join(height_of, on="txid").group_by("block_height").agg(pl.len()).iter_rows())
    for height in heights:
        loaded[height] = _Loaded(txs.get(height, 0), ins.get(height, 0), outs.get(height, 0))
    loaded[heights[0]].prevouts_from_node = prevouts_from_node


class ChainMoved(Exception):
    """The node's chain changed under a running ingest, at ``height``."""

    def __init__(self, height: int) -> None:
        super().__init__(height)
        self.height = height


_ChainMoved = ChainMoved


def load_with_reorg_repair(load: Callable[[], None], repair: Callable[[int], dict[str, Any] | None],
                           reorgs: list[dict[str, Any]], loaded: dict[int, Any]) -> None:
    """Run ``load`` to the end; when the node's chain moves under it (:class:`ChainMoved`), repair from
    ``REORG_WINDOW`` blocks below that height and run it again, at most ``_MAX_REPAIRS`` times.
    Heights at or above a repaired fork are dropped from ``loaded`` (they are loaded again from the
    new chain). Shared by the UTXO and the EVM block-range ingest."""
    repairs = 0
    while True:
        try:
            load()
            return
        except ChainMoved as moved:
            repairs += 1
            if repairs > _MAX_REPAIRS:
                raise InputError(f"the node's chain keeps changing near height {moved.height}; try again later") \
                    from None
            repaired = repair(moved.height - REORG_WINDOW)
            if repaired:
                reorgs.append(repaired)
                for height in [h for h in loaded if h >= repaired["fork_height"]]:
                    del loaded[height]
