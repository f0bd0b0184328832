# SPDX-License-Identifier: Apache-2.0
"""The one block-range ingest pipeline: node -> canonical frames -> graph store, resumable, reorg-safe.

Both chain families run through :func:`ingest_range`; what differs between them (how a node's
blocks become frames, how large a fetch is, what a block contributed) is a :class:`ChainIngest`
handed in, the way ethereum-etl hands its exporters to one job. The node adapter fetches and maps,
the store loads, a :class:`~jobs.checkpoints.Checkpoint` records each batch that landed, so a run
killed at any point (even SIGKILL) resumes after the last batch that landed, and a re-run loads
nothing new (store loads are idempotent).

Order of work for ``from..to``:

1. The chain's own checks before anything is written (:meth:`ChainIngest.prepare`): a range past
   the node's tip, a node of another coin or network, an EVM node without traces.
2. Heights the checkpoint calls done but the store lacks are fetched again (a store wiped or
   replaced, a run killed mid-repair).
3. **Reorg repair** by block hash: the hashes of the stored blocks from ``REORG_WINDOW`` below the
   range (or the tip) are compared with the node's best chain; from the lowest that differs the
   stored blocks are removed (:meth:`GraphStore.remove_blocks`) and forgotten in the checkpoint.
4. Fetch the missing heights in runs of consecutive blocks (``fetches_ahead`` runs in flight, each
   on its own connection), map each run as it arrives, and load mapped runs in groups of about
   ``load_target`` transactions (in a thread, while the next runs are fetched and mapped). Each
   run's first block must link to the block below it, else the node reorganised during the run:
   repair again and continue (:func:`load_with_reorg_repair`). Checkpoint after every load.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from adapters.errors import ChainChangedError
from adapters.jsonrpc import JsonRpcClient
from graph.base import GraphStore
from jobs.checkpoints import Checkpoint
from tracer.chains import Chain
from tracer.errors import InputError, SourceUnavailableError
from tracer.schema import FrameSet

__all__ = ["ChainNode", "ChainIngest", "Fetched", "RangeRun", "IngestRates", "ingest_range", "repair_reorg",
           "forget_what_the_store_lacks", "load_with_reorg_repair", "ChainMoved", "Batches", "REORG_WINDOW",
           "TARGET_TX_PER_LOAD", "OnLoad"]

#: called with the store, the frames of each store load and its block heights, before the checkpoint moves
OnLoad = Callable[[GraphStore, FrameSet, list[int]], None]

#: how far below the range (or the tip) stored blocks are checked against the node's chain
REORG_WINDOW = 100
_MAX_REPAIRS = 3
#: transactions per batch of :class:`Batches` by default: the EVM ingest's fetch (and load) size
#: (jobs/evm_ingest.py), measured there and on UTXO blocks before fetch and load were split.
TARGET_TX_PER_LOAD = 2_500


class ChainNode(Protocol):
    """What the pipeline needs of a node adapter (:class:`~adapters.bitcoin.node.BitcoinNode` and
    :class:`~adapters.evm.node.EvmNode` both have it)."""

    chain: Chain
    client: JsonRpcClient
    source: str

    def tip_height(self) -> int: ...

    def block_hashes(self, heights: list[int]) -> list[str]: ...

    def fetch_raw(self, heights: list[int]) -> list[Any]: ...

    def twin(self) -> Any: ...

    def close(self) -> None: ...


class Fetched(Protocol):
    """A mapped run of consecutive blocks (both adapters' ``FetchedBlocks``)."""

    @property
    def frames(self) -> FrameSet: ...

    @property
    def hashes(self) -> tuple[str, ...]: ...

    @property
    def parent_hash(self) -> str | None:
        """The parent of the run's first block (to check it links to what is stored)."""


class ChainIngest(Protocol):
    """What differs between the chain families, injected into :func:`ingest_range`."""

    @property
    def node(self) -> ChainNode: ...

    @property
    def fetch_target(self) -> int:
        """Transactions per fetch (one batch of RPC calls, mapped as soon as it arrives)."""

    @property
    def fetches_ahead(self) -> int:
        """Fetches in flight at once, each on its own connection."""

    @property
    def load_target(self) -> int:
        """Transactions per store load; 0 loads every fetch on its own."""

    @property
    def may_be_empty(self) -> Collection[int]:
        """Heights that legitimately leave no row in the store."""

    def prepare(self, to_height: int) -> int:
        """Every check before a write (may raise); returns the node's tip."""
        ...

    def first_block_transactions(self, height: int) -> int:
        """Transactions in the block at ``height`` (from its header: cheap), to size the first fetch."""
        ...

    def map(self, raw: list[Any], store_idle: Callable[[], None]) -> Fetched:
        """Frames of fetched blocks; call ``store_idle()`` before using the store (a load may run)."""
        ...

    def tally(self, fetched: Any, heights: list[int]) -> dict[int, Counter[str]]:
        """What each block of a loaded run contributed (kept per height: a reorg takes it back out)."""
        ...


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
class RangeRun:
    """What one :func:`ingest_range` did; the chain's summary is built from it."""

    blocks_already_done: int = 0
    #: per loaded height, what its block contributed (:meth:`ChainIngest.tally`)
    loaded: dict[int, Counter[str]] = field(default_factory=dict)
    reorgs: list[dict[str, int]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(tally[name] for tally in self.loaded.values())


def ingest_range(
    kind: ChainIngest,
    store: GraphStore,
    checkpoint: Checkpoint,
    from_height: int,
    to_height: int,
    *,
    batch_blocks: int,
    progress: Callable[[int, int], None] | None = None,
    on_load: OnLoad | None = None,
) -> RangeRun:
    """Ingest blocks ``from_height..to_height`` (inclusive) of ``kind.node``; see the module docstring.

    ``progress(blocks, transactions)`` is called after every store load with what it added.
    A load holds at most ``batch_blocks`` blocks. ``on_load(store, frames, heights)`` is called after each
    store load and before its checkpoint is saved (in the loader thread, which then owns the store):
    killed before the checkpoint, the blocks are loaded and handed to it again on the next run.
    """
    if from_height < 0 or to_height < from_height:
        raise InputError(f"invalid block range {from_height}..{to_height}")
    started = time.perf_counter()
    node = kind.node
    tip = kind.prepare(to_height)
    run = RangeRun()
    forget_what_the_store_lacks(store, checkpoint, node.chain.key, from_height, to_height,
                                may_be_empty=kind.may_be_empty)
    repair = repair_reorg(node, store, checkpoint, min(from_height, tip) - REORG_WINDOW)
    if repair:
        run.reorgs.append(repair)
    run.blocks_already_done = (to_height - from_height + 1) - len(checkpoint.missing(from_height, to_height))
    load_with_reorg_repair(
        lambda: _load_batches(kind, store, checkpoint, run, checkpoint.missing(from_height, to_height),
                              batch_blocks, progress, on_load),
        lambda below: repair_reorg(node, store, checkpoint, below), run.reorgs, run.loaded,
    )
    run.seconds = time.perf_counter() - started
    return run


def repair_reorg(node: ChainNode, store: GraphStore, checkpoint: Checkpoint, low: int) -> dict[str, int] | None:
    """Remove stored blocks that are no longer on the node's best chain (from height ``low`` up);
    hashes compare case-insensitively (hex)."""
    chain = node.chain.key
    stored = store.block_hashes(chain, max(0, low), 2**62)
    if stored.height == 0:
        return None
    tip = node.tip_height()
    top = int(stored["block_height"].max())  # type: ignore[arg-type]
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


class ChainMoved(Exception):
    """The node's chain changed under a running ingest, at ``height``."""

    def __init__(self, height: int) -> None:
        super().__init__(height)
        self.height = height


def load_with_reorg_repair(load: Callable[[], None], repair: Callable[[int], dict[str, Any] | None],
                           reorgs: list[dict[str, Any]], loaded: dict[int, Any]) -> None:
    """Run ``load`` to the end; when the node's chain moves under it (:class:`ChainMoved`), repair from
    ``REORG_WINDOW`` blocks below that height and run it again, at most ``_MAX_REPAIRS`` times.
    Heights at or above a repaired fork are dropped from ``loaded`` (they are loaded again from the
    new chain)."""
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


def _load_batches(
    kind: ChainIngest,
    store: GraphStore,
    checkpoint: Checkpoint,
    run: RangeRun,
    todo: list[int],
    batch_blocks: int,
    progress: Callable[[int, int], None] | None,
    on_load: OnLoad | None = None,
) -> None:
    """Fetch ``todo`` in runs of about ``kind.fetch_target`` transactions (the next
    ``kind.fetches_ahead`` runs on their own connections while this one is mapped) and load the
    mapped runs in groups of about ``kind.load_target`` transactions (in a thread, while the next
    runs are fetched and mapped)."""
    node = kind.node
    chain = node.chain.key
    load_blocks = max(1, batch_blocks)
    first = kind.fetch_target // max(1, kind.first_block_transactions(todo[0])) if todo else 1
    batches = Batches(todo, first_size=min(max(1, first), load_blocks), max_size=load_blocks,
                      target=kind.fetch_target)
    loader = _Loader()
    # the connections are this call's own: after a reorg the next call does not share a session
    # with a fetch of this one that may still be running
    fetchers = [node.twin() for _ in range(max(1, kind.fetches_ahead))]
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
    pending: list[tuple[list[int], Any]] = []  # mapped, not yet handed to the loader
    pending_tx = pending_blocks = 0
    try:
        fetch_ahead()
        while in_flight:
            slot, current = in_flight.popleft()
            try:
                raw = slot.result()
            except ChainChangedError as changed:
                raise ChainMoved(changed.height) from None
            fetch_ahead()
            heights = [h for _, ahead in in_flight for h in ahead]  # what is being fetched next
            fetched = kind.map(raw, loader.wait)
            if last is not None and last[0] == current[0] - 1:
                linked = fetched.parent_hash == last[1]
            else:
                loader.wait()
                below = store.block_hashes(chain, current[0] - 1, current[0] - 1)
                linked = not below.height or str(below["block_hash"][0]).lower() == fetched.parent_hash
            if not linked:
                raise ChainMoved(current[0])
            batches.learn(len(current), fetched.frames.transactions.height)
            last = (current[-1], fetched.hashes[-1])
            pending.append((current, fetched))
            pending_tx += fetched.frames.transactions.height
            pending_blocks += len(current)
            if heights and pending_blocks + len(in_flight[0][1]) <= load_blocks and pending_tx < 2 * kind.load_target:
                # the rest of the range, at this run's transactions per block
                rest = (len(heights) + sum(len(r) for r in batches.runs)) * pending_tx / pending_blocks
                if pending_tx < kind.load_target or rest < kind.load_target / 2:
                    continue  # the next fetch still fits in this load (and no small load is left for the end)
            loader.wait()
            loader.start(_loading(kind, store, checkpoint, run, pending, progress, on_load))
            pending, pending_tx, pending_blocks = [], 0, 0
        loader.wait()
    finally:
        loader.join_quietly()  # never leave a thread writing to a store that is about to be closed
        for twin in fetchers:
            twin.close()


def _loading(
    kind: ChainIngest,
    store: GraphStore,
    checkpoint: Checkpoint,
    run: RangeRun,
    parts: list[tuple[list[int], Any]],
    progress: Callable[[int, int], None] | None,
    on_load: OnLoad | None = None,
) -> Callable[[], None]:
    """One store load of the mapped runs ``parts`` (each a run of consecutive heights), ``on_load``,
    then their checkpoint."""

    def work() -> None:
        frames = parts[0][1].frames if len(parts) == 1 else FrameSet.concat([f.frames for _, f in parts])
        report = store.load(frames)
        if on_load is not None:
            on_load(store, frames, [h for heights, _ in parts for h in heights])
        for heights, _ in parts:
            checkpoint.add(heights[0], heights[-1])
        checkpoint.save()
        for heights, fetched in parts:
            run.loaded.update(kind.tally(fetched, heights))
        for name, count in report.created.items():
            run.created[name] = run.created.get(name, 0) + count
        if progress:
            progress(sum(len(h) for h, _ in parts), frames.transactions.height)

    return work


def _runs(heights: list[int]) -> list[list[int]]:
    """``heights`` (ascending) cut into runs of consecutive heights."""
    runs: list[list[int]] = []
    for h in heights:
        if runs and runs[-1][-1] == h - 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return runs


class Batches:
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

    def __init__(self, fetch: Callable[[list[int]], Sequence[Any]]) -> None:
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
