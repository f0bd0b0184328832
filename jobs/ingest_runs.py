# SPDX-License-Identifier: Apache-2.0
"""Ingest runs a command starts: a block range of a UTXO or an EVM chain from the user's node, the
histories of a case's seeds, a CSV export, a directory of canonical frames. Each opens the store the
case uses, loads, and records the run in the case's audit log — a run that stops half-way too
(``<action>.failed``), since it may have loaded data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.bitcoin.node import BitcoinNode
from adapters.evm.node import EvmNode
from adapters.evm.tokens import TokenMetadata
from graph.base import GraphStore, LoadReport
from jobs.block_ingest import OnLoad
from jobs.checkpoints import Checkpoint
from jobs.csv_ingest import CsvImportSummary, load_csv_frames, read_csv_file
from jobs.custody import CHAIN_PARTS, FRAME_PARTS, StoreWrite, store_write
from jobs.evm_ingest import EvmIngestSummary, ingest_evm_range, verify_balances
from jobs.frames_ingest import check_frame_chains, read_coverage_files, read_frame_dir, read_token_files
from jobs.progress import NO_PROGRESS, Progress
from jobs.seed_ingest import AddressTxSource, expand_seeds
from jobs.session import Session
from jobs.sources import address_source, evm_address_source, node_url
from jobs.stores import StoreProbe, checkpoint_path, open_case_store
from jobs.token_cache import merge_tokens
from jobs.utxo_ingest import IngestSummary, ingest_block_range
from jobs.workspace import Case
from tracer.chains import Chain, Family
from tracer.errors import InputError

__all__ = ["RangeRequest", "SeedRequest", "ingest_utxo", "ingest_evm", "ingest_csv", "ingest_frames",
           "ingest_seeds"]


@dataclass(frozen=True)
class RangeRequest:
    """A block range of one chain to load from a node (``to_height`` None: the node's tip)."""

    chain: str
    from_height: int
    to_height: int | None = None
    node: str | None = None
    case: str | None = None
    batch_blocks: int = 200
    #: UTXO: the node's ``.cookie`` file instead of user:password in the URL
    cookie: Path | None = None
    #: EVM: load from a node without traces (internal transfers then missing)
    allow_missing_traces: bool = False
    #: EVM: then compare every touched balance with ``eth_getBalance``
    check_balances: bool = False


@dataclass(frozen=True)
class SeedRequest:
    """Expand a case's seeds: their transactions, and with ``hops`` their counterparties'."""

    case: str
    hops: int = 0
    esplora: str | None = None
    from_store: Path | None = None
    allow_third_party: bool = False
    max_addresses: int = 200
    max_txs_per_address: int = 1_000
    node: str | None = None
    from_block: int = 0
    etherscan: str | None = None


def ingest_utxo(session: Session, request: RangeRequest, progress: Progress = NO_PROGRESS, *,
                on_load: OnLoad | None = None) -> IngestSummary:
    """Load a block range of a Bitcoin-family chain (resumable; repairs reorgs). ``on_load`` sees the
    frames of every store load before its checkpoint (:func:`jobs.block_ingest.ingest_range`)."""
    settings = session.settings
    chain, case = _range_chain(session, request, Family.UTXO, "an account-model chain: use `tracer ingest evm`")
    cookie = str(request.cookie) if request.cookie else None
    with BitcoinNode(node_url(settings, chain.key, request.node), chain, cookie_file=cookie) as source, \
            _range_run(session, request, case, source, "ingest.utxo", progress) as (store, checkpoint, last, run):
        summary = ingest_block_range(source, store, checkpoint, request.from_height, last,
                                     batch_blocks=request.batch_blocks, progress=progress.advance, on_load=on_load)
        run.details = summary.as_dict()
    return summary


def ingest_evm(session: Session, request: RangeRequest, progress: Progress = NO_PROGRESS, *,
               on_load: OnLoad | None = None) -> EvmIngestSummary:
    """Load a block range of an EVM chain: native, token, internal and fee transfers (resumable; repairs
    reorgs). ``on_load``: as for :func:`ingest_utxo`."""
    settings = session.settings
    chain, case = _range_chain(session, request, Family.ACCOUNT, "a UTXO chain: use `tracer ingest utxo`")
    with EvmNode(node_url(settings, chain.key, request.node), chain, weth=settings.weth_for(chain),
                 bridges=settings.bridges, factories=settings.factories_for(chain)) as source, \
            _range_run(session, request, case, source, "ingest.evm", progress) as (store, checkpoint, last, run):
        tokens = TokenMetadata(source.client, chain, checkpoint.path.with_name(f"tokens-{chain.key}.json"))
        summary = ingest_evm_range(source, store, checkpoint, request.from_height, last,
                                   batch_blocks=request.batch_blocks, allow_missing_traces=request.allow_missing_traces,
                                   tokens=tokens, progress=progress.advance, on_load=on_load)
        if request.check_balances:
            summary.balance_check = verify_balances(source, store, request.from_height, last)
        run.details = summary.as_dict()
    return summary


def _range_chain(session: Session, request: RangeRequest, family: Family, other: str) -> tuple[Chain, Case | None]:
    """The chain of a block-range request (refused, before anything opens, if of the other family) and its case."""
    chain = session.settings.chains.get(request.chain)
    if chain.family is not family:
        raise InputError(f"{chain.key} is {other}")
    if family is Family.ACCOUNT and not chain.is_evm:
        raise InputError(f"{chain.key} is not an EVM chain: use `tracer ingest tron`")
    return chain, session.workspace.open(request.case) if request.case else None


@contextmanager
def _range_run(session: Session, request: RangeRequest, case: Case | None, source: BitcoinNode | EvmNode,
               action: str, progress: Progress) -> Iterator[tuple[GraphStore, Checkpoint, int, StoreWrite]]:
    """What both block-range ingests do around the load: the range's end (the node's tip by default),
    the audit bracket, the store, its checkpoint and the progress bar; closed in reverse order."""
    settings, chain = session.settings, source.chain.key
    last = request.to_height if request.to_height is not None else source.tip_height()
    started = {"chain": chain, "source": source.source, "from": request.from_height, "to": last}
    with store_write(case, action, session.argv, started, StoreProbe(settings, case), touches=CHAIN_PARTS) as run:
        store = open_case_store(settings, case)
        try:
            checkpoint = Checkpoint.load(checkpoint_path(settings, case, chain), chain)
            progress.start(_todo(checkpoint, request.from_height, last), "blocks")
            try:
                yield store, checkpoint, last, run
            finally:
                progress.stop()
        finally:
            store.close()


def _todo(checkpoint: Checkpoint, first: int, last: int) -> int:
    return len(checkpoint.missing(first, last)) if last >= first else 0


def ingest_csv(session: Session, case_name: str, file: Path, chain_key: str, column_map: str | None,
               preset: str | None) -> CsvImportSummary:
    """Load transfers from a CSV file; the whole file is read and checked before the store is opened,
    so a bad row writes nothing."""
    settings = session.settings
    chain = settings.chains.get(chain_key)
    if column_map is None and preset is None:
        raise InputError("say how to read the file: --map from=…,to=…,value=…,txid=… or --preset etherscan")
    case = session.workspace.open(case_name)
    frames, digest, source, tokens = read_csv_file(file, chain, column_map, preset)
    started = {"file": str(file), "sha256": digest, "chain": chain.key}
    with store_write(case, "ingest.csv", session.argv, started, StoreProbe(settings, case),
                     touches=CHAIN_PARTS) as run:
        store = open_case_store(settings, case)
        try:
            summary = load_csv_frames(store, frames, file, chain, digest, source)
        finally:
            store.close()
        merge_tokens(settings, case, chain.key, tokens)
        run.details = summary.as_dict()
    return summary


def ingest_frames(session: Session, directory: Path, case_name: str | None, *,
                  verify: bool = True) -> tuple[dict[str, Any], LoadReport]:
    """Load canonical frames from Parquet files (a fixture chain, a partner's export); every file is
    checked against SHA256SUMS (``verify``) and its frame's schema before anything is written. Token
    metadata files go next to the store, where ``ingest evm`` keeps its cache."""
    settings = session.settings
    case = session.workspace.open(case_name) if case_name else None
    loaded, files = read_frame_dir(directory, verify=verify)
    check_frame_chains(loaded, settings.chains)  # valid addresses and hashes of known chains, or nothing loads
    token_files = read_token_files(directory)
    utxo = {c.key for c in settings.chains if not c.is_account}
    coverage = read_coverage_files(directory, loaded, utxo, set(files)) if verify else {}
    started = {"directory": str(directory), "files": files, "checksums_verified": verify}
    with store_write(case, "ingest.frames", session.argv, started, StoreProbe(settings, case),
                     touches=FRAME_PARTS) as run:
        store = open_case_store(settings, case)
        try:
            report = store.load(loaded)
        finally:
            store.close()
        for chain_key, tokens in token_files.items():
            merge_tokens(settings, case, chain_key, tokens)
        for chain_key, intervals in coverage.items():  # blocks held completely, as a block-range ingest records
            checkpoint = Checkpoint.load(checkpoint_path(settings, case, chain_key), chain_key)
            for lo, hi in intervals:
                checkpoint.add(lo, hi)
            checkpoint.save()
        rows = {name: frame.height for name, frame in loaded.frames().items() if frame.height}
        data = {"directory": str(directory), "files": files, "checksums_verified": verify,
                "rows": rows, "complete_blocks": {c: [list(i) for i in v] for c, v in sorted(coverage.items())},
                "load": report.as_dict()}
        run.details = data
    return data, report


def ingest_seeds(session: Session, request: SeedRequest, progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Load the transactions of a case's seed addresses, and with ``hops`` their counterparties', per chain
    from the source the request names (see :mod:`jobs.sources`)."""
    settings = session.settings
    case = session.workspace.open(request.case)
    by_chain: dict[str, list[str]] = {}
    for seed in case.seeds():
        by_chain.setdefault(seed.chain, []).append(seed.address)
    if not by_chain:
        raise InputError(f"case {request.case!r} has no seeds: add them with `tracer case seed add`")
    third_party = request.allow_third_party or settings.allow_third_party
    results: list[dict[str, Any]] = []
    data = {"case": request.case, "third_party_allowed": third_party, "chains": results}
    started = {"case": request.case, "hops": request.hops, "third_party_allowed": third_party,
               "chains": sorted(by_chain)}
    with store_write(case, "ingest.seeds", session.argv, started, StoreProbe(settings, case),
                     touches=CHAIN_PARTS) as run:
        run.details = data
        store = open_case_store(settings, case)
        try:
            for chain_key, addresses in sorted(by_chain.items()):
                chain = settings.chains.get(chain_key)
                if chain.family is Family.ACCOUNT and not chain.is_evm:
                    raise InputError(f"seeds on {chain.key} are not fetched by `ingest seeds` (EVM sources only): "
                                     f"load them with `tracer ingest tron --address ...`")
                source: AddressTxSource
                if chain.family is Family.ACCOUNT:
                    source, closer = evm_address_source(settings, chain, request.node, request.from_block,
                                                        request.from_store, request.etherscan, third_party, case.dir)
                else:
                    source, closer = address_source(settings, chain, request.esplora, request.from_store,
                                                    third_party, case.dir)
                data["source"] = source.source  # named in a .failed entry if this chain's expansion fails
                try:
                    progress.start(None, "addresses")
                    reports = expand_seeds(source, store, chain_key, addresses, hops=request.hops,
                                           max_addresses=request.max_addresses,
                                           max_txs_per_address=request.max_txs_per_address,
                                           progress=progress.advance)
                finally:
                    progress.stop()
                    closer()
                del data["source"]
                results.append({"chain": chain_key, "source": source.source, "seeds": addresses,
                                "hops": [r.as_dict() for r in reports]})
        finally:
            store.close()
    return data
