# SPDX-License-Identifier: Apache-2.0
"""Screening runs: the batch job that screens lists of flagged wallets against the tag library.

Reads a CSV or Parquet list (:mod:`jobs.wallet_lists`), screens the unique wallets in fixed batches
with batched store queries (:mod:`jobs.screening`), and writes one row per wallet (risk level and
reason, direct tags, totals) and one row per exposure (side, category, amount, share, evidence
path) — sorted, so the same input gives the same bytes.

Batches are written as parts under ``<out>.parts/`` with a progress file; a resumed run continues
from the first unfinished batch (a wallet is never screened twice) and refuses parts made from
another input or other options.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

from graph.embedded import EmbeddedStore
from jobs.case_index import other_case_notices
from jobs.files import write_atomic
from jobs.progress import NO_PROGRESS, Progress
from jobs.screening import EXPOSURE_COLUMNS, WALLET_COLUMNS, ScreenParams, screen_batch, with_sanctions_category
from jobs.session import Session
from jobs.settings import Settings
from jobs.sources import address_source
from jobs.tag_library import TagLibrary
from jobs.trace_fetch import FetchingFrontier
from jobs.wallet_lists import Wallets, read_wallets
from tracer.errors import InputError
from tracer.manifest import canonical_json, sha256_hex
from tracer.risk import DEFAULT_RULES, LEVELS, level_at_least, parse_rules
from tracer.schema import TAGS

__all__ = ["ScreenRequest", "ScreenOutcome", "screen_wallets", "OUT_FORMATS", "sibling"]

OUT_FORMATS = (".parquet", ".csv", ".json")


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
    """What the run found: the summary (``data``), the hits, and the wallets read."""

    data: dict[str, Any]
    hits: pl.DataFrame
    wallets: Wallets


def batch_saved(done: int, total: int) -> None:
    """Called after each batch's parts are on disk (``done`` of ``total`` batches). A test seam: the
    resume tests replace it to stop a run half-way, as Ctrl-C would."""


def screen_wallets(session: Session, request: ScreenRequest, progress: Progress = NO_PROGRESS) -> ScreenOutcome:
    """Screen a list of wallets: direct tags, indirect exposure within ``hops``, a risk level, evidence;
    write the result files (with ``out``) and record the run in the case's audit log (with ``case``)."""
    settings = session.settings
    r = request
    file, chain, address_column, chain_column, hops, categories, out, resume, workers, batch_size, case = (
        r.file, r.chain, r.address_column, r.chain_column, r.hops, r.categories, r.out, r.resume, r.workers,
        r.batch_size, r.case)
    rules, hit_level, max_edges, fetch, esplora, from_store, allow_third_party = (
        r.rules, r.hit_level, r.max_edges, r.fetch, r.esplora, r.from_store, r.allow_third_party)
    if hit_level not in LEVELS[1:]:
        raise InputError(f"--hit-level must be one of {', '.join(LEVELS[1:])}")
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise InputError(f"--out must end in {', '.join(OUT_FORMATS)}")
    if resume and out is None:
        raise InputError("--resume needs --out (the parts of the interrupted run live next to it)")
    rule_set = _read_rules(rules) if rules else DEFAULT_RULES
    wanted = tuple(sorted({c.strip() for c in categories.split(",") if c.strip()})) if categories else None
    workspace_case = session.workspace.open(case) if case else None
    wallets = read_wallets(file, settings.chains, address_column=address_column, chain_column=chain_column,
                           default_chain=settings.chains.get(chain).key if chain else None)
    if settings.store_backend != "embedded":
        raise InputError("screening reads the embedded store; set store.backend = embedded (Neo4j: push from it)")
    store_path = settings.embedded_store_path(workspace_case.dir if workspace_case else None)
    if fetch:
        if any(settings.chains.get(c).is_account for c, _, _ in wallets.rows):
            raise InputError("--fetch works for UTXO chains; fill an account chain's store with `tracer ingest evm`")
        if workers > 1:
            raise InputError("--fetch writes what it pulls into the store: use one worker")
        with EmbeddedStore.open(store_path) as created:  # create it if missing
            created.ensure_schema()
    elif not store_path.exists():
        raise InputError(f"no store at {store_path}: ingest chain data first, or use --fetch")
    library = TagLibrary.for_home(settings.home)
    run_id = sha256_hex(canonical_json({
        "input": hashlib.sha256(file.read_bytes()).hexdigest(), "address_column": address_column,
        "chain_column": chain_column, "chain": chain, "hops": hops, "categories": wanted,
        "rules": [r.__dict__ | {"categories": sorted(r.categories)} for r in rule_set], "batch_size": batch_size,
        "max_edges": max_edges, "tags": library.sources(), "case": case, "store": str(store_path.resolve()),
    }))
    parts = out.with_name(out.name + ".parts") if out is not None else None
    progress_file = parts / "progress.json" if parts else None
    done: set[int] = set()
    if parts is not None and progress_file is not None:
        if resume and progress_file.exists():
            try:
                state = json.loads(progress_file.read_text())
                done_batches = [int(i) for i in state["done"]]
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"{progress_file} is damaged: run without --resume to start again") from None
            if state.get("run") != run_id:
                raise InputError(f"{parts} holds a run of another input or other options: run without --resume "
                                 "to start again")
            done = set(done_batches)
        elif parts.exists():
            shutil.rmtree(parts)
        parts.mkdir(parents=True, exist_ok=True)
    batches = _batches(wallets.rows, batch_size)
    tags_by_chain = {c: with_sanctions_category(_tags(library, settings, c)) for c in {w[0] for w in wallets.rows}}
    started = time.perf_counter()
    results: dict[int, tuple[pl.DataFrame, pl.DataFrame]] = {}
    large: set[str] = set()
    fetched: list[dict[str, Any]] = []
    queries = 0
    todo = [i for i in range(len(batches)) if i not in done]
    progress.start(len(wallets.rows), "wallets", done=sum(len(batches[i][1]) for i in done))

    def finished(index: int, wallet_rows: pl.DataFrame, exposure_rows: pl.DataFrame, facts: dict[str, Any]) -> None:
        nonlocal queries
        queries += facts["queries"]
        large.update(facts["large_entities"])
        if parts is not None and progress_file is not None:
            _write(wallet_rows, parts / f"wallets-{index:06d}.parquet")
            _write(exposure_rows, parts / f"exposures-{index:06d}.parquet")
            done.add(index)
            write_atomic(progress_file, canonical_json({"run": run_id, "done": sorted(done)}))
            batch_saved(len(done), len(batches))
        else:
            results[index] = (wallet_rows, exposure_rows)
        progress.advance(wallet_rows.height)

    try:
        if fetch:
            with EmbeddedStore.open(store_path) as store:
                for index in todo:
                    chain_key, members = batches[index]
                    params = _params(settings, chain_key, hops, wanted, rule_set, max_edges)
                    source, closer = address_source(settings, settings.chains.get(chain_key), esplora, from_store,
                                                     allow_third_party or settings.allow_third_party,
                                                     workspace_case.dir if workspace_case else settings.home)
                    try:
                        fetcher = FetchingFrontier(store, source, chain_key)
                        finished(index, *screen_batch(fetcher, params, members, tags_by_chain[chain_key]))
                        fetched.append(fetcher.report())
                    finally:
                        closer()
        elif workers == 1 or len(todo) <= 1:
            with EmbeddedStore.open(store_path, read_only=True) as store:
                for index in todo:
                    chain_key, members = batches[index]
                    params = _params(settings, chain_key, hops, wanted, rule_set, max_edges)
                    finished(index, *screen_batch(store, params, members, tags_by_chain[chain_key]))
        else:
            jobs = []
            for index in todo:
                chain_key, members = batches[index]
                params = _params(settings, chain_key, hops, wanted, rule_set, max_edges)
                buffer = io.BytesIO()
                tags_by_chain[chain_key].write_ipc(buffer)
                jobs.append((index, (str(store_path), params.__dict__, members, buffer.getvalue())))
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                for (index, _), (w, e, facts) in zip(jobs, pool.map(_batch_worker, [j[1] for j in jobs]),
                                                    strict=True):
                    finished(index, pl.read_ipc(io.BytesIO(w)), pl.read_ipc(io.BytesIO(e)), facts)
    finally:
        progress.stop()
    seconds = time.perf_counter() - started
    if parts is not None:
        wallet_frames = [pl.read_parquet(p) for p in sorted(parts.glob("wallets-*.parquet"))]
        exposure_frames = [pl.read_parquet(p) for p in sorted(parts.glob("exposures-*.parquet"))]
    else:
        wallet_frames = [results[i][0] for i in sorted(results)]
        exposure_frames = [results[i][1] for i in sorted(results)]
    wallet_table = (pl.concat(wallet_frames, how="vertical") if wallet_frames else pl.DataFrame(
        schema=WALLET_COLUMNS)).sort("chain", "wallet")
    exposure_table = (pl.concat(exposure_frames, how="vertical") if exposure_frames else pl.DataFrame(
        schema=EXPOSURE_COLUMNS)).sort("chain", "wallet", "side", "category", "asset")
    hits = wallet_table.filter(pl.col("risk").map_elements(lambda r: level_at_least(r, hit_level),
                                                            return_dtype=pl.Boolean))
    files: dict[str, str] = {}
    if out is not None:
        _write(wallet_table, out)
        _write(exposure_table, sibling(out, "exposures"))
        _write(wallets.rejects, sibling(out, "rejects").with_suffix(".csv"))
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (out, sibling(out, "exposures"), sibling(out, "rejects").with_suffix(".csv"))}
        if parts is not None:
            shutil.rmtree(parts)
    levels = {level: int(wallet_table.filter(pl.col("risk") == level).height) for level in LEVELS}
    data: dict[str, Any] = {
        "input": str(file), "rows_read": wallets.read, "wallets": len(wallets.rows), "rejected": wallets.rejects.height,
        "duplicates": wallets.duplicates, "hops": hops, "hit_level": hit_level, "hits": hits.height,
        "levels": levels,
        "wallets_per_min": round(sum(len(batches[i][1]) for i in todo) / seconds * 60) if seconds else None,
        "store_queries": queries, "large_entities_not_expanded": sorted(large), "files": files,
        "resumed_batches": len(batches) - len(todo), "fetched": fetched or None,
    }
    other_cases: list[dict[str, Any]] = []
    for chain_key in sorted({w[0] for w in wallets.rows}):
        addresses = [w[1] for w in wallets.rows if w[0] == chain_key]
        for row in other_case_notices(session.workspace, settings.home / "index", case or "", chain_key, addresses,
                                      session.notify):
            other_cases.append(row)
    data["other_cases"] = other_cases
    if workspace_case is not None:
        workspace_case.record("screen.run", {k: v for k, v in data.items() if k != "large_entities_not_expanded"},
                              session.argv)
    return ScreenOutcome(data, hits, wallets)


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


def _params(settings: Settings, chain_key: str, hops: int, wanted: tuple[str, ...] | None, rules: Any,
            max_edges: int) -> ScreenParams:
    info = settings.chains.get(chain_key)
    return ScreenParams(chain=info.key, account_model=info.is_account, hops=hops, categories=wanted, rules=rules,
                        max_edges=max_edges)


def _batches(rows: list[tuple[str, str, int]], size: int) -> list[tuple[str, list[tuple[str, int]]]]:
    """Fixed batches of one chain each, in sorted order (the same input always gives the same batches)."""
    out: list[tuple[str, list[tuple[str, int]]]] = []
    for chain_key in sorted({r[0] for r in rows}):
        members = [(address, line) for c, address, line in rows if c == chain_key]
        out += [(chain_key, members[i:i + size]) for i in range(0, len(members), size)]
    return out


def _tags(library: TagLibrary, settings: Settings, chain_key: str) -> pl.DataFrame:
    return library.current([chain_key]).select(list(TAGS.columns))
