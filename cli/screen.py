# SPDX-License-Identifier: Apache-2.0
"""``tracer screen``: the batch job that screens lists of flagged wallets against the tag library.

Reads a CSV or Parquet list (hundreds of thousands of rows), validates every address for its
chain (invalid rows go to a rejects file with their line numbers and do not stop the batch),
screens the unique wallets in fixed batches with batched store queries (``cli/screening.py``), and
writes one row per wallet (risk level and reason, direct tags, totals) and one row per exposure
(side, category, amount, share, evidence path) — sorted, so the same input gives the same bytes.

Batches are written as parts under ``<out>.parts/`` with a progress file; ``--resume`` continues an
interrupted run from the first unfinished batch (a wallet is never screened twice) and refuses
parts made from another input or other options. Exit codes: 0 no hits, 3 hits (a wallet at or
above ``--hit-level``), 2 bad input, 1 failure, 4 store unavailable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.addresses import parse_address
from cli.case_index import notice_text, other_case_notices
from cli.context import app_context
from cli.errors import EXIT_HITS
from cli.files import write_atomic
from cli.ingest import _address_source
from cli.options import JsonOpt
from cli.output import emit, notice, stderr, stdout, table
from cli.screening import EXPOSURE_COLUMNS, WALLET_COLUMNS, ScreenParams, screen_batch, with_sanctions_category
from cli.settings import Settings
from cli.tag_library import TagLibrary
from cli.trace_fetch import FetchingFrontier
from graph.embedded import EmbeddedStore
from tracer.chains import ChainRegistry
from tracer.errors import InputError, TracerError
from tracer.manifest import canonical_json, sha256_hex
from tracer.risk import DEFAULT_RULES, LEVELS, level_at_least, parse_rules
from tracer.schema import TAGS

__all__ = ["screen_command", "read_wallets"]

REJECT_COLUMNS = {"line": pl.Int64(), "value": pl.String(), "chain": pl.String(), "reason": pl.String()}
OUT_FORMATS = (".parquet", ".csv", ".json")


@dataclass(frozen=True)
class Wallets:
    rows: list[tuple[str, str, int]]  # chain, address (normal form), first input line
    rejects: pl.DataFrame
    duplicates: int
    read: int


def read_wallets(path: Path, registry: ChainRegistry, *, address_column: str, chain_column: str | None,
                 default_chain: str | None) -> Wallets:
    """Every row of ``path`` validated; the invalid ones as rejects with their line numbers."""
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    records: Iterator[tuple[int, dict[str, Any]]]
    if path.suffix.lower() == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{path} is not a readable Parquet file: {exc}") from None
        columns = frame.columns
        records = ((i + 1, r) for i, r in enumerate(frame.iter_rows(named=True)))  # row numbers, 1-based
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} cannot be read as UTF-8 text: {exc}") from None
        reader = csv.DictReader(io.StringIO(text))
        try:
            columns = list(reader.fieldnames or [])
        except csv.Error as exc:
            raise InputError(f"{path}, line 1: not a readable CSV header: {exc}") from None
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise InputError(f"{path}: column(s) {', '.join(repeated)} appear more than once in the header")

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            try:
                for row in reader:
                    yield reader.line_num, row
            except csv.Error as exc:
                raise InputError(f"{path}, line {reader.line_num}: not readable as CSV ({exc}); "
                                 "nothing was screened") from None

        records = rows()
    if address_column not in columns:
        raise InputError(f"{path} has no column {address_column!r} (columns: {', '.join(columns) or 'none'}); "
                         "name the address column with --address-column")
    use_chain_column = chain_column if chain_column and chain_column in columns else None
    if chain_column and chain_column != "chain" and use_chain_column is None:
        raise InputError(f"{path} has no column {chain_column!r}")
    if use_chain_column is None and default_chain is None:
        raise InputError(f"{path} has no 'chain' column: give the chain of every row with --chain")
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str, int]] = []
    rejects: list[dict[str, Any]] = []
    duplicates = read = 0
    for line, row in records:
        read += 1
        value = row.get(address_column)
        chain_key = (row.get(use_chain_column) if use_chain_column else None) or default_chain
        text = "" if value is None else str(value).strip()
        if None in row:  # csv.DictReader puts extra fields under None: a malformed line
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": "more fields than the header"})
            continue
        if not text:
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": "empty address"})
            continue
        try:
            chain = registry.get(str(chain_key))
            normal = parse_address(chain, text, registry=registry).address
        except TracerError as exc:
            rejects.append({"line": line, "value": text, "chain": chain_key, "reason": str(exc)})
            continue
        key = (chain.key, normal)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        out.append((chain.key, normal, line))
    out.sort()
    return Wallets(out, pl.DataFrame(rejects, schema=REJECT_COLUMNS) if rejects else pl.DataFrame(
        schema=REJECT_COLUMNS), duplicates, read)


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


def _sibling(out: Path, what: str) -> Path:
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


def screen_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet list of wallets.", show_default=False)],
    chain: Annotated[str | None, typer.Option("--chain", "-c", help="Chain of rows without a chain column.")] = None,
    address_column: Annotated[str, typer.Option("--address-column", help="Column holding the address.")] = "address",
    chain_column: Annotated[str, typer.Option("--chain-column", help="Column holding the chain, if any.")] = "chain",
    hops: Annotated[int, typer.Option("--hops", help="Indirect exposure within N hops (both directions).",
                                      min=1, max=6)] = 2,
    categories: Annotated[str | None, typer.Option(
        "--categories", help="Only these tag categories (comma-separated; default: all).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Result file (.parquet, .csv or .json); exposures and rejects go next to it.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same input.")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Processes screening batches in parallel.",
                                         min=1, max=32)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Wallets per batched query.", min=1)] = 5_000,
    case: Annotated[str | None, typer.Option("--case", help="Screen against this case's store (default: the "
                                                            "workspace store).")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Risk rules (TOML); see README.")] = None,
    hit_level: Annotated[str, typer.Option("--hit-level", help="A wallet at or above this level is a hit "
                                                               "(exit 3).")] = "medium",
    max_edges: Annotated[int, typer.Option("--max-edges", help="Above this many edges an untagged address is "
                                                               "a large entity: not expanded.", min=1)] = 10_000,
    fetch: Annotated[bool, typer.Option(
        "--fetch", help="Pull the histories of wallets (and neighbours) the store lacks from a source (UTXO; "
                        "see `ingest seeds`); loads them into the store. One worker.")] = False,
    esplora: Annotated[str | None, typer.Option("--esplora", help="Esplora URL for --fetch.")] = None,
    from_store: Annotated[Path | None, typer.Option("--from-store", help="Chain store to --fetch from.")] = None,
    allow_third_party: Annotated[bool, typer.Option(
        "--allow-third-party", help="Allow --fetch from a public explorer (it sees every wallet screened).")]
    = False,
    json_: JsonOpt = False,
) -> None:
    """Screen a list of wallets: direct tags, indirect exposure within N hops, a risk level, evidence.

    Exit codes: 0 no hits, 3 hits found, 2 bad input, 1 failure, 4 store unavailable.

    Example: tracer screen flagged.csv --chain btc --hops 2 --out screened.parquet
    """
    ctx = app_context()
    settings = ctx.settings
    if hit_level not in LEVELS[1:]:
        raise InputError(f"--hit-level must be one of {', '.join(LEVELS[1:])}")
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise InputError(f"--out must end in {', '.join(OUT_FORMATS)}")
    if resume and out is None:
        raise InputError("--resume needs --out (the parts of the interrupted run live next to it)")
    rule_set = _read_rules(rules) if rules else DEFAULT_RULES
    wanted = tuple(sorted({c.strip() for c in categories.split(",") if c.strip()})) if categories else None
    workspace_case = ctx.workspace.open(case) if case else None
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
    progress = Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                        TimeElapsedColumn(), console=stderr, disable=json_ or not stderr.is_terminal)
    task = progress.add_task("wallets", total=len(wallets.rows), rate="",
                             completed=sum(len(batches[i][1]) for i in done))

    def finished(index: int, wallet_rows: pl.DataFrame, exposure_rows: pl.DataFrame, facts: dict[str, Any]) -> None:
        nonlocal queries
        queries += facts["queries"]
        large.update(facts["large_entities"])
        if parts is not None and progress_file is not None:
            _write(wallet_rows, parts / f"wallets-{index:06d}.parquet")
            _write(exposure_rows, parts / f"exposures-{index:06d}.parquet")
            done.add(index)
            write_atomic(progress_file, canonical_json({"run": run_id, "done": sorted(done)}))
            # fault injection for the resume tests: stop as Ctrl-C would after N batches
            stop_after = os.environ.get("TRACER_FAULT_SCREEN_STOP_AFTER")
            if stop_after and len(done) >= int(stop_after) and len(done) < len(batches):
                raise KeyboardInterrupt
        else:
            results[index] = (wallet_rows, exposure_rows)
        progress.advance(task, wallet_rows.height)
        elapsed = time.perf_counter() - started
        progress.update(task, rate=f"{progress.tasks[0].completed / elapsed:,.0f} wallets/s" if elapsed else "")

    with progress:
        if fetch:
            with EmbeddedStore.open(store_path) as store:
                for index in todo:
                    chain_key, members = batches[index]
                    params = _params(settings, chain_key, hops, wanted, rule_set, max_edges)
                    source, closer = _address_source(settings, settings.chains.get(chain_key), esplora, from_store,
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
        _write(exposure_table, _sibling(out, "exposures"))
        _write(wallets.rejects, _sibling(out, "rejects").with_suffix(".csv"))
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (out, _sibling(out, "exposures"), _sibling(out, "rejects").with_suffix(".csv"))}
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
        for row in other_case_notices(ctx.workspace, settings.home / "index", case or "", chain_key, addresses):
            other_cases.append(row)
            notice(notice_text(row, case or row["other_case"], "this screening"))
    data["other_cases"] = other_cases
    if workspace_case is not None:
        workspace_case.record("screen.run", {k: v for k, v in data.items() if k != "large_entities_not_expanded"},
                              ctx.argv)
    if wallets.rejects.height:
        notice(f"{wallets.rejects.height} row(s) rejected" + (f": see {_sibling(out, 'rejects').with_suffix('.csv')}"
                                                            if out else ""))

    def human() -> None:
        stdout.print(table("Screening", ["", ""], [
            ("wallets screened", len(wallets.rows)), ("rejected rows", wallets.rejects.height),
            ("duplicates", wallets.duplicates), *((f"risk {k}", v) for k, v in levels.items() if v),
            (f"hits (>= {hit_level})", hits.height),
        ]))
        shown = hits.sort("risk", "wallet").head(25)
        if shown.height:
            stdout.print(table("Hits", ["chain", "wallet", "risk", "reason", "direct tags"],
                               shown.select("chain", "wallet", "risk", "reason", "direct_labels").rows()))
        if out is not None:
            notice(f"results: {out}, {_sibling(out, 'exposures')}")

    emit(data, as_json=json_, human=human)
    if hits.height:
        raise typer.Exit(EXIT_HITS)


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
