# SPDX-License-Identifier: Apache-2.0
"""Screening runs: the batch job that screens lists of flagged wallets against the tag library.

Reads a CSV or Parquet list (:mod:`jobs.wallet_lists`), screens the unique wallets in fixed batches
with batched store queries (:mod:`jobs.screening`), and writes one row per wallet (risk level and
reason, direct tags, totals) and one row per exposure (side, category, amount, share, evidence
path) — sorted, so the same input gives the same bytes.

Batches are written as parts under ``<out>.parts/`` with a progress file; a resumed run continues
from the first unfinished batch (a wallet is never screened twice) and refuses parts made from
another input or other options.

Nothing is overwritten by accident: an existing result file (or its ``.exposures`` / ``.rejects``
sibling, or the parts of an interrupted run without ``--resume``) is refused unless ``force``, and
results are never written inside the workspace's case folders (a case's files are its evidence).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

from graph.embedded import EmbeddedStore
from jobs.case_index import other_case_notices
from jobs.custody import CHAIN_PARTS, store_write
from jobs.files import write_atomic
from jobs.progress import NO_PROGRESS, Progress
from jobs.screening import CACHE_ENTRIES, EXPOSURE_COLUMNS, WALLET_COLUMNS, ReadCache, ScreenParams, screen_batch
from jobs.session import Session
from jobs.settings import Settings
from jobs.sources import address_source
from jobs.stores import StoreProbe
from jobs.tag_library import TagLibrary
from jobs.trace_fetch import FetchingFrontier
from jobs.wallet_lists import Wallets, read_wallets
from tracer.errors import InputError
from tracer.manifest import canonical_json, sha256_hex
from tracer.risk import (
    DEFAULT_RULES,
    LEVELS,
    SANCTIONS_COLUMN,
    UNKNOWN,
    level_at_least,
    parse_rules,
    severity,
    with_sanctions_category,
)
from tracer.schema import TAGS

__all__ = ["ScreenRequest", "ScreenOutcome", "screen_wallets", "OUT_FORMATS", "sibling", "result_files",
           "HIT_LEVELS"]

OUT_FORMATS = (".parquet", ".csv", ".json")
#: the levels ``--hit-level`` accepts
HIT_LEVELS = LEVELS[1:]


@dataclass(frozen=True)
class ScreenRequest:
    """One ``tracer screen`` run."""

    file: Path
    chain: str | None = None
    address_column: str = "address"
    chain_column: str = "chain"
    hops: int = 2
    #: comma-separated tag categories (None: all)
    categories: str | None = None
    out: Path | None = None
    #: overwrite existing result files (and the parts of an interrupted run)
    force: bool = False
    resume: bool = False
    workers: int = 1
    batch_size: int = 5_000
    case: str | None = None
    rules: Path | None = None
    hit_level: str = "medium"
    max_edges: int = 10_000
    fetch: bool = False
    esplora: str | None = None
    from_store: Path | None = None
    allow_third_party: bool = False


@dataclass
class ScreenOutcome:
    """What the run found: the summary (``data``; ``data["rows"]`` every wallet's row), the hits
    (highest risk first), and the wallets read."""

    data: dict[str, Any]
    hits: pl.DataFrame
    wallets: Wallets


def batch_saved(done: int, total: int) -> None:
    """Called after each batch's parts are on disk (``done`` of ``total`` batches). A test seam: the
    resume tests replace it to stop a run half-way, as Ctrl-C would."""


def screen_wallets(session: Session, request: ScreenRequest, progress: Progress = NO_PROGRESS) -> ScreenOutcome:
    """Screen a list of wallets: direct tags, indirect exposure within ``hops``, a risk level, evidence;
    write the result files (with ``out``) and record the run in the case's audit log (with ``case``).

    Raises
    ------
    InputError
        Bad options, an unreadable list or rules file, no store, a resume of another run.
    """
    settings = session.settings
    _check(request, settings)
    rules = _read_rules(request.rules) if request.rules else DEFAULT_RULES
    wanted = tuple(sorted({c.strip() for c in request.categories.split(",") if c.strip()})) \
        if request.categories else None
    case = session.workspace.open(request.case) if request.case else None
    wallets = read_wallets(request.file, settings.chains, address_column=request.address_column,
                           chain_column=request.chain_column,
                           default_chain=settings.chains.get(request.chain).key if request.chain else None)
    store_path = _store_path(settings, request, case.dir if case else None, wallets)
    library = TagLibrary.for_home(settings.home)
    batches = _batches(wallets.rows, request.batch_size)
    input_sha256 = hashlib.sha256(request.file.read_bytes()).hexdigest()
    parts = _Parts.open(request, _run_id(request, input_sha256, wanted, rules, library, store_path), len(batches))
    run = _Run(settings, request, store_path, batches, wanted, rules, parts, progress)
    tags_by_chain = {c: with_sanctions_category(library.current([c]).select(*TAGS.columns, SANCTIONS_COLUMN))
                     for c in {w[0] for w in wallets.rows}}
    progress.start(len(wallets.rows), "wallets", done=sum(len(batches[i][1]) for i in parts.done))
    started = time.perf_counter()
    # --fetch loads what it pulls into the case's store: bracketed in the audit log like an ingest
    bracket = {"input": str(request.file), "input_sha256": input_sha256, "fetch": True}
    try:
        with store_write(case if request.fetch else None, "screen.fetch", session.argv, bracket,
                         StoreProbe(settings, case), touches=CHAIN_PARTS):
            run.screen(tags_by_chain, case.dir if case else settings.home)
    finally:
        progress.stop()
    seconds = time.perf_counter() - started
    wallet_table, exposure_table = run.tables()
    ranked = _ranked(wallet_table)
    hits = ranked.filter(pl.col("risk").map_elements(lambda r: level_at_least(r, request.hit_level),
                                                     return_dtype=pl.Boolean))
    files = _write_results(request.out, wallet_table, exposure_table, wallets.rejects, parts)
    levels = {level: int(wallet_table.filter(pl.col("risk") == level).height) for level in (*LEVELS, UNKNOWN)}
    data: dict[str, Any] = {
        "input": str(request.file), "input_sha256": input_sha256, "rows_read": wallets.read,
        "wallets": len(wallets.rows), "rejected": wallets.rejects.height, "duplicates": wallets.duplicates,
        "hops": request.hops, "hit_level": request.hit_level, "hits": hits.height, "levels": levels,
        "without_history": levels[UNKNOWN],
        "hint": _hint(levels[UNKNOWN], request),
        "wallets_per_min": round(run.screened / seconds * 60) if seconds else None,
        "store_queries": run.queries, "large_entities_not_expanded": sorted(run.large), "files": files,
        "resumed_batches": len(batches) - len(run.todo), "fetched": run.fetched or None,
        "other_cases": _other_cases(session, request.case, wallets),
        "rows": ranked.to_dicts(),
    }
    if case is not None:
        case.record("screen.run", {k: v for k, v in data.items() if k not in ("large_entities_not_expanded", "rows")},
                    session.argv)
    return ScreenOutcome(data, hits, wallets)


def _ranked(wallet_table: pl.DataFrame) -> pl.DataFrame:
    """Wallet rows highest risk first (severe ... low, unknown, none), then by chain and wallet."""
    return (wallet_table.with_columns(pl.col("risk").map_elements(severity, return_dtype=pl.Int64).alias("_rank"))
            .sort(["_rank", "chain", "wallet"], descending=[True, False, False]).drop("_rank"))


def _hint(without_history: int, request: ScreenRequest) -> str | None:
    """What to do about wallets without history (risk unknown)."""
    if not without_history:
        return None
    if request.fetch:
        return (f"{without_history} wallet(s) have no transactions in the store nor in the --fetch source (risk "
                "unknown): check the chain, or ingest the blocks that hold them")
    return (f"{without_history} wallet(s) have no transactions in the store (risk unknown): pull their histories "
            "with --fetch (UTXO chains: --esplora URL or --from-store PATH) or ingest their blocks, then screen again")


def _check(request: ScreenRequest, settings: Settings) -> None:
    if request.hit_level not in HIT_LEVELS:
        raise InputError(f"--hit-level must be one of {', '.join(HIT_LEVELS)}")
    if request.resume and request.out is None:
        raise InputError("--resume needs --out (the parts of the interrupted run live next to it)")
    if request.out is not None:
        _check_out(request, settings)


def result_files(out: Path) -> tuple[Path, Path, Path]:
    """The three files a run with ``--out`` writes: results, exposures, rejects."""
    return out, sibling(out, "exposures"), sibling(out, "rejects").with_suffix(".csv")


def _check_out(request: ScreenRequest, settings: Settings) -> None:
    """Refuse an ``--out`` that would overwrite something (unless ``force``) or write into a case folder."""
    out = request.out
    assert out is not None
    if out.suffix.lower() not in OUT_FORMATS:
        raise InputError(f"--out must end in {', '.join(OUT_FORMATS)}")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")
    target = out.resolve()
    cases = (settings.home / "cases").resolve()
    if target.is_relative_to(cases):
        raise InputError(f"--out {out} is inside the workspace's case folders ({cases}); a case's files are its "
                         "evidence: write results elsewhere")
    if target == request.file.resolve():
        raise InputError(f"--out {out} is the input list itself")
    parts = out.with_name(out.name + ".parts")
    resuming = request.resume and parts.exists()  # the run that made the parts was entitled to write the results
    existing = [p for p in result_files(out) if p.exists()]
    if existing and not request.force and not resuming:
        raise InputError(f"{', '.join(str(p) for p in existing)} already exist(s): choose another --out, or pass "
                         "--force to overwrite")
    if parts.exists() and not request.resume and not request.force:
        raise InputError(f"{parts} holds the parts of an interrupted run: --resume to continue it, or --force to "
                         "start again")


def _store_path(settings: Settings, request: ScreenRequest, case_dir: Path | None, wallets: Wallets) -> Path:
    """The embedded store screened (created for ``--fetch``, which loads what it pulls into it)."""
    if settings.store_backend != "embedded":
        raise InputError("screening reads the embedded store; set store.backend = embedded (Neo4j: push from it)")
    store_path = settings.embedded_store_path(case_dir)
    if request.fetch:
        if any(settings.chains.get(c).is_account for c, _, _ in wallets.rows):
            raise InputError("--fetch works for UTXO chains; fill an account chain's store with `tracer ingest evm`")
        if request.workers > 1:
            raise InputError("--fetch writes what it pulls into the store: use one worker")
        with EmbeddedStore.open(store_path) as created:  # create it if missing
            created.ensure_schema()
    elif not store_path.exists():
        if case_dir is None and settings.store_path is None:
            raise InputError(f"no workspace store at {store_path}: pass --case CASE to screen against a case's store "
                             "(or use --fetch)")
        raise InputError(f"no store at {store_path}: ingest chain data first, or use --fetch")
    return store_path


def _run_id(request: ScreenRequest, input_sha256: str, wanted: tuple[str, ...] | None, rules: Any,
            library: TagLibrary, store_path: Path) -> str:
    """What makes two runs the same run (a resume continues only the same one)."""
    return sha256_hex(canonical_json({
        "input": input_sha256, "address_column": request.address_column,
        "chain_column": request.chain_column, "chain": request.chain, "hops": request.hops, "categories": wanted,
        "rules": [r.__dict__ | {"categories": sorted(r.categories)} for r in rules],
        "batch_size": request.batch_size, "max_edges": request.max_edges, "tags": library.sources(),
        "sanctions_lists": library.sanctions_lists(),
        "case": request.case, "store": str(store_path.resolve()),
    }))


@dataclass
class _Parts:
    """The batches of a run with ``--out``, kept on disk as they finish (``<out>.parts/``)."""

    directory: Path | None
    run_id: str
    batches: int
    done: set[int]

    @classmethod
    def open(cls, request: ScreenRequest, run_id: str, batches: int) -> _Parts:
        if request.out is None:
            return cls(None, run_id, batches, set())
        directory = request.out.with_name(request.out.name + ".parts")
        progress_file = directory / "progress.json"
        done: set[int] = set()
        if request.resume and progress_file.exists():
            try:
                state = json.loads(progress_file.read_text())
                done_batches = [int(i) for i in state["done"]]
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"{progress_file} is damaged: run without --resume to start again") from None
            if state.get("run") != run_id:
                raise InputError(f"{directory} holds a run of another input or other options: run without --resume "
                                 "to start again")
            done = set(done_batches)
        elif directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory, run_id, batches, done)

    def save(self, index: int, wallet_rows: pl.DataFrame, exposure_rows: pl.DataFrame) -> None:
        assert self.directory is not None
        _write(wallet_rows, self.directory / f"wallets-{index:06d}.parquet")
        _write(exposure_rows, self.directory / f"exposures-{index:06d}.parquet")
        self.done.add(index)
        write_atomic(self.directory / "progress.json", canonical_json({"run": self.run_id, "done": sorted(self.done)}))
        batch_saved(len(self.done), self.batches)

    def frames(self, pattern: str) -> list[pl.DataFrame]:
        assert self.directory is not None
        return [pl.read_parquet(p) for p in sorted(self.directory.glob(pattern))]


class _Run:
    """The batches still to screen, screened in this process, in worker processes, or with ``--fetch``."""

    def __init__(self, settings: Settings, request: ScreenRequest, store_path: Path,
                 batches: list[tuple[str, list[tuple[str, int]]]], wanted: tuple[str, ...] | None, rules: Any,
                 parts: _Parts, progress: Progress) -> None:
        self.settings, self.request, self.store_path = settings, request, store_path
        self.batches, self.wanted, self.rules, self.parts, self.progress = batches, wanted, rules, parts, progress
        self.todo = [i for i in range(len(batches)) if i not in parts.done]
        self.screened = sum(len(batches[i][1]) for i in self.todo)
        self.results: dict[int, tuple[pl.DataFrame, pl.DataFrame]] = {}
        self.large: set[str] = set()
        self.fetched: list[dict[str, Any]] = []
        self.queries = 0

    def params(self, chain_key: str) -> ScreenParams:
        info = self.settings.chains.get(chain_key)
        return ScreenParams(chain=info.key, account_model=info.is_account, hops=self.request.hops,
                            categories=self.wanted, rules=self.rules, max_edges=self.request.max_edges)

    def finished(self, index: int, wallet_rows: pl.DataFrame, exposure_rows: pl.DataFrame,
                 facts: dict[str, Any]) -> None:
        self.queries += facts["queries"]
        self.large.update(facts["large_entities"])
        if self.parts.directory is not None:
            self.parts.save(index, wallet_rows, exposure_rows)
        else:
            self.results[index] = (wallet_rows, exposure_rows)
        self.progress.advance(wallet_rows.height)

    def screen(self, tags_by_chain: dict[str, pl.DataFrame], case_dir: Path) -> None:
        request, settings = self.request, self.settings
        if request.fetch:
            with EmbeddedStore.open(self.store_path) as store:
                for index in self.todo:
                    chain_key, members = self.batches[index]
                    source, closer = address_source(settings, settings.chains.get(chain_key), request.esplora,
                                                    request.from_store,
                                                    request.allow_third_party or settings.allow_third_party, case_dir)
                    try:
                        fetcher = FetchingFrontier(store, source, chain_key)
                        self.finished(index, *screen_batch(fetcher, self.params(chain_key), members,
                                                           tags_by_chain[chain_key]))
                        self.fetched.append(fetcher.report())
                    finally:
                        closer()
        elif request.workers == 1 or len(self.todo) <= 1:
            caches: dict[str, ReadCache] = {}  # what earlier batches read, per chain: read once
            with EmbeddedStore.open(self.store_path, read_only=True) as store:
                for index in self.todo:
                    chain_key, members = self.batches[index]
                    cache = caches.setdefault(chain_key, ReadCache())
                    if cache.entries() > CACHE_ENTRIES:
                        cache = caches[chain_key] = ReadCache()
                    self.finished(index, *screen_batch(store, self.params(chain_key), members,
                                                       tags_by_chain[chain_key], cache))
        else:
            self._in_workers(tags_by_chain)

    def _in_workers(self, tags_by_chain: dict[str, pl.DataFrame]) -> None:
        jobs = []
        for index in self.todo:
            chain_key, members = self.batches[index]
            buffer = io.BytesIO()
            tags_by_chain[chain_key].write_ipc(buffer)
            jobs.append((index, (str(self.store_path), self.params(chain_key).__dict__, members, buffer.getvalue())))
        with ProcessPoolExecutor(max_workers=self.request.workers, mp_context=get_context("spawn"),
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            for (index, _), (w, e, facts) in zip(jobs, pool.map(_batch_worker, [j[1] for j in jobs]), strict=True):
                self.finished(index, pl.read_ipc(io.BytesIO(w)), pl.read_ipc(io.BytesIO(e)), facts)

    def tables(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every wallet row and every exposure row of the run (resumed parts too), sorted."""
        if self.parts.directory is not None:
            wallet_frames, exposure_frames = self.parts.frames("wallets-*.parquet"), self.parts.frames(
                "exposures-*.parquet")
        else:
            wallet_frames = [self.results[i][0] for i in sorted(self.results)]
            exposure_frames = [self.results[i][1] for i in sorted(self.results)]
        wallets = (pl.concat(wallet_frames, how="vertical") if wallet_frames else pl.DataFrame(
            schema=WALLET_COLUMNS)).sort("chain", "wallet")
        exposures = (pl.concat(exposure_frames, how="vertical") if exposure_frames else pl.DataFrame(
            schema=EXPOSURE_COLUMNS)).sort("chain", "wallet", "side", "category", "asset")
        return wallets, exposures


def _write_results(out: Path | None, wallet_table: pl.DataFrame, exposure_table: pl.DataFrame,
                   rejects: pl.DataFrame, parts: _Parts) -> dict[str, str]:
    """The three result files and their SHA-256; the parts are removed once they are written."""
    if out is None:
        return {}
    results, exposures, rejected = result_files(out)
    _write(wallet_table, results)
    _write(exposure_table, exposures)
    _write(rejects, rejected)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (results, exposures, rejected)}
    if parts.directory is not None:
        shutil.rmtree(parts.directory)
    return files


def _other_cases(session: Session, case: str | None, wallets: Wallets) -> list[dict[str, Any]]:
    """The other cases of the workspace that hold screened wallets (deconfliction)."""
    rows: list[dict[str, Any]] = []
    for chain_key in sorted({w[0] for w in wallets.rows}):
        addresses = [w[1] for w in wallets.rows if w[0] == chain_key]
        rows += other_case_notices(session.workspace, session.settings.home / "index", case or "", chain_key,
                                   addresses, session.notify)
    return rows


def _write(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.write_parquet(tmp, compression="zstd", statistics=False)
    elif suffix == ".csv":
        frame.write_csv(tmp)
    else:
        tmp.write_bytes(canonical_json(frame.to_dicts()))
    os.replace(tmp, path)


def sibling(out: Path, what: str) -> Path:
    return out.with_name(f"{out.stem}.{what}{out.suffix}")


def die_with_parent(parent: int) -> None:
    """Worker start-up: end this process when the screening process that started it ends, even by
    SIGKILL (a killed ``screen --workers K`` must not leave K workers reading the store). Linux:
    ``PR_SET_PDEATHSIG``; everywhere, a watchdog thread that notices the parent is gone."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _batch_worker(args: tuple[str, dict[str, Any], list[tuple[str, int]], bytes]
                  ) -> tuple[bytes, bytes, dict[str, Any]]:
    """Screen one batch in a worker process (its own read-only store handle); frames travel as IPC."""
    store_path, params_dict, wallets, tags_ipc = args
    params = ScreenParams(**params_dict)
    tags = pl.read_ipc(io.BytesIO(tags_ipc))
    with EmbeddedStore.open(Path(store_path), read_only=True) as store:
        wallet_rows, exposure_rows, facts = screen_batch(store, params, wallets, tags)
    w, e = io.BytesIO(), io.BytesIO()
    wallet_rows.write_ipc(w)
    exposure_rows.write_ipc(e)
    return w.getvalue(), e.getvalue(), facts


def _read_rules(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"risk rules {path} cannot be read: {exc}") from None
    return parse_rules(text, str(path))


def _batches(rows: list[tuple[str, str, int]], size: int) -> list[tuple[str, list[tuple[str, int]]]]:
    """Fixed batches of one chain each, in sorted order (the same input always gives the same batches)."""
    out: list[tuple[str, list[tuple[str, int]]]] = []
    for chain_key in sorted({r[0] for r in rows}):
        members = [(address, line) for c, address, line in rows if c == chain_key]
        out += [(chain_key, members[i:i + size]) for i in range(0, len(members), size)]
    return out
