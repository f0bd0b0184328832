# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest tron``: Tron data into a case's store.

Two sources (:mod:`adapters.tron.node`):

* a block range from your own java-tron full node (``--node URL --from N --to M``), fetched 100
  blocks a call and loaded batch by batch. Loads are idempotent (natural keys), so a run stopped
  half-way is simply run again; unlike ``ingest evm`` there is no checkpoint or reorg repair yet
  (load only blocks the node reports solidified, ~19 blocks below its tip, to avoid forks);
* the histories of addresses (``--address``, default: the case's ``trx`` seeds) from a
  TronGrid-compatible API (``--trongrid URL``), which a third party runs unless you do: refused
  without ``--allow-third-party`` (or ``[privacy] allow_third_party``), and the audit log records
  that it was allowed.

Every run is recorded in the case's audit log (``ingest.tron``), a failed one too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from adapters.tron.node import MAX_BLOCKS_PER_CALL, TronGridSource, TronNode
from jobs.custody import CHAIN_PARTS, store_write
from jobs.session import Session
from jobs.sources import node_url
from jobs.stores import StoreProbe, open_case_store
from tracer.chains import AddressFormat, Chain
from tracer.errors import InputError
from tracer.schema import FrameSet

__all__ = ["TronRequest", "TronIngestSummary", "ingest_tron"]


@dataclass(frozen=True)
class TronRequest:
    """What to load: a block range from a node, or addresses from a TronGrid-compatible API."""

    case: str
    chain: str = "trx"
    node: str | None = None
    from_height: int | None = None
    to_height: int | None = None
    trongrid: str | None = None
    addresses: tuple[str, ...] = ()
    allow_third_party: bool = False


@dataclass
class TronIngestSummary:
    chain: str
    source: str
    blocks: list[int] | None = None
    addresses: list[str] = field(default_factory=list)
    third_party_allowed: bool = False
    transactions: int = 0
    transfers: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_tron(session: Session, request: TronRequest, progress: Callable[[int], None] | None = None,
                ) -> TronIngestSummary:
    """Load Tron data into the case's store (see the module docstring).

    Raises
    ------
    InputError
        Neither or both sources, a range without ``--from``, a chain that is not Tron, a bad address,
        or a third-party API without ``allow_third_party`` (before anything is requested or written).
    """
    settings = session.settings
    chain = settings.chains.get(request.chain)
    if chain.address_format is not AddressFormat.TRON:
        raise InputError(f"{chain.key} is not Tron: use `tracer ingest evm` or `tracer ingest utxo`")
    if (request.trongrid is None) == (request.from_height is None):
        raise InputError("say what to load: a block range from your node (--from N [--to M] [--node URL]) or "
                         "addresses from a TronGrid-compatible API (--trongrid URL [--address T…])")
    case = session.workspace.open(request.case)
    third_party = request.allow_third_party or settings.allow_third_party
    if request.trongrid is not None:
        return _from_trongrid(session, chain, case, request, third_party)
    with TronNode(node_url(settings, chain.key, request.node), chain) as node:
        first = request.from_height or 0
        last = request.to_height if request.to_height is not None else node.tip_height()
        if last < first:
            raise InputError(f"--to {last} is below --from {first}")
        summary = TronIngestSummary(chain=chain.key, source=node.source, blocks=[first, last])
        started = {"chain": chain.key, "source": node.source, "from": first, "to": last}
        with store_write(case, "ingest.tron", session.argv, started, StoreProbe(settings, case),
                         touches=CHAIN_PARTS) as run:
            store = open_case_store(settings, case)
            try:
                for low in range(first, last + 1, MAX_BLOCKS_PER_CALL):
                    high = min(last, low + MAX_BLOCKS_PER_CALL - 1)
                    _load(store, node.fetch(low, high), summary)
                    if progress is not None:
                        progress(high - low + 1)
            finally:
                store.close()
            run.details = summary.as_dict()
    return summary


def _from_trongrid(session: Session, chain: Chain, case: Any, request: TronRequest,
                   third_party: bool) -> TronIngestSummary:
    settings = session.settings
    from adapters.addresses import normalize_address

    wanted = request.addresses or tuple(s.address for s in case.seeds() if s.chain == chain.key)
    if not wanted:
        raise InputError(f"case {request.case!r} has no {chain.key} seeds: pass --address T… or add seeds")
    addresses = [normalize_address(chain, a) for a in wanted]
    source = TronGridSource(request.trongrid or "", chain, allow_third_party=third_party)
    summary = TronIngestSummary(chain=chain.key, source=source.source, addresses=addresses,
                                third_party_allowed=third_party)
    started = {"chain": chain.key, "source": source.source, "addresses": addresses,
               "third_party_allowed": third_party}
    try:
        with store_write(case, "ingest.tron", session.argv, started, StoreProbe(settings, case),
                         touches=CHAIN_PARTS) as run:
            store = open_case_store(settings, case)
            try:
                for address in addresses:
                    _load(store, source.address_frames(address), summary)
            finally:
                store.close()
            run.details = summary.as_dict()
    finally:
        source.close()
    return summary


def _load(store: Any, frames: FrameSet, summary: TronIngestSummary) -> None:
    report = store.load(frames)
    summary.transactions += frames.transactions.height
    kinds = Counter(summary.transfers)
    kinds.update(dict(frames.transfers.group_by("kind").agg(pl.len()).iter_rows()))
    summary.transfers = dict(sorted(kinds.items()))
    created = Counter(summary.created)
    created.update({k: v for k, v in report.created.items() if v})
    summary.created = dict(sorted(created.items()))
