# SPDX-License-Identifier: Apache-2.0
"""``tracer trace``: follow the proceeds forward or backward from a case's seeds, and prove every hop.

Thin: the algorithms are ``tracer.trace`` (engine), ``tracer.taint`` (models), ``tracer.report``
(ranking, shares, paths) and ``tracer.manifest`` (evidence); this module picks the store, the
tags and the seeds, writes the result files and prints them.

Each run writes ``<case>/traces/<direction>-<model>-<id>/`` with ``seeds.parquet``,
``hops.parquet``, ``endings.parquet``, ``result.json`` and ``manifest.json``; the id is derived
from the parameters, so re-running the same trace rewrites the same files — byte-identical when
the store holds the same data.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.tree import Tree

from adapters.addresses import parse_address
from cli.case_index import notice_text, other_case_notices, touched_addresses
from cli.context import app_context
from cli.files import write_atomic
from cli.ingest import _address_source
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from cli.settings import Settings
from cli.stores import checkpoint_path, open_case_store
from cli.tag_library import TagLibrary
from cli.trace_fetch import FetchingFrontier
from cli.workspace import Case
from graph.base import TRACE_REACHED_COLUMNS, TRACE_TRACED_COLUMNS, GraphStore, TraceRecord
from tracer.chains import Chain
from tracer.errors import InputError
from tracer.frontier import Direction, Frontier
from tracer.manifest import ReadDigest, build_manifest, canonical_json, frame_digest, sha256_hex
from tracer.peel_chains import PEEL_CHAIN_COLUMNS, peel_chains
from tracer.report import compare_models, evidence_path, share_text, summary
from tracer.schema import TAGS
from tracer.taint import MODELS, parse_model
from tracer.trace import DEFAULT_STOP_CATEGORIES, Seed, TraceResult, TraceSpec, trace
from tracer.units import format_units, to_base_units

__all__ = ["trace_command", "run_trace", "parse_time", "parse_min_value"]

TRACES_DIR = "traces"


def parse_time(text: str | None, option: str) -> int | None:
    """UTC seconds from ``1700000000``, ``2024-05-01`` or ``2024-05-01T12:00:00`` (UTC unless an offset is given)."""
    if text is None:
        return None
    value = text.strip()
    if re.fullmatch(r"[0-9]+", value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {text!r} is neither UTC seconds nor an ISO date/time (2024-05-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_min_value(text: str | None, chain: Chain) -> int:
    """``1234`` = base units; ``0.001`` (with a point) = coin units of the chain's own asset, converted exactly.

    Anything else (``1_000``, ``1e5``, ``1,5``) is refused rather than guessed: a misread minimum
    would silently drop or keep whole branches of a trace."""
    if text is None:
        return 1
    value = text.strip()
    if re.fullmatch(r"[0-9]+", value):
        return max(int(value), 1)
    if re.fullmatch(r"[0-9]*\.[0-9]+|[0-9]+\.", value):
        return max(to_base_units(value, chain.decimals), 1)
    raise InputError(f"--min-value {text!r}: give base units (1234) or {chain.symbol} with a decimal point (0.001)")


def _seeds(settings: Settings, case: Case, given: list[str], chain_key: str | None) -> tuple[Chain, tuple[Seed, ...]]:
    """The chain and seeds of a trace: ``--seed`` values, else the case's seeds (on one chain)."""
    registry = settings.chains
    if given:
        if chain_key is None:
            case_chains = sorted({s.chain for s in case.seeds()})
            if len(case_chains) != 1:
                raise InputError("--chain is required with --seed when the case's seeds are not on exactly one chain")
            chain_key = case_chains[0]
        chain = registry.get(chain_key)
        seeds = []
        for text in given:
            txid, sep, vout = text.partition(":")
            if sep and len(txid) in (64, 66) and vout.isdigit():
                if chain.is_account:
                    raise InputError(f"{text}: txid:vout seeds exist only on UTXO chains")
                seeds.append(Seed(txid=txid.lower().removeprefix("0x"), vout=int(vout)))
            else:
                seeds.append(Seed(address=parse_address(chain, text, registry=registry).address))
        return chain, tuple(dict.fromkeys(seeds))
    case_seeds = case.seeds()
    if chain_key is not None:
        case_seeds = [s for s in case_seeds if s.chain == registry.get(chain_key).key]
    chains = sorted({s.chain for s in case_seeds})
    if not chains:
        raise InputError(f"case {case.name!r} has no seeds{' on ' + chain_key if chain_key else ''}: "
                         "add some with `tracer case seed add` or pass --seed")
    if len(chains) > 1:
        raise InputError(f"case {case.name!r} has seeds on {', '.join(chains)}: pick one with --chain")
    return registry.get(chains[0]), tuple(Seed(address=s.address) for s in case_seeds)


class _TagRecorder:
    """Tags the trace consults: the workspace tag library plus the case store's own tags, digested."""

    def __init__(self, library: TagLibrary, store_tags: Frontier, chain: str) -> None:
        self.library = library.current([chain]).select(list(TAGS.columns))
        self.store = store_tags
        self.consulted: list[pl.DataFrame] = []

    def __call__(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        wanted = pl.Series("address", sorted(set(addresses)), dtype=pl.String)
        from_library = self.library.filter(pl.col("chain") == chain).join(wanted.to_frame(), on="address", how="semi")
        rows = pl.concat([from_library, self.store.tags(chain, list(wanted))], how="vertical").unique(
            list(TAGS.key), keep="first").sort(list(TAGS.key), nulls_last=True)
        self.consulted.append(rows)
        return rows

    def rows(self) -> pl.DataFrame:
        if not self.consulted:
            return pl.DataFrame(schema=dict(TAGS.columns))
        return pl.concat(self.consulted).unique(list(TAGS.key)).sort(list(TAGS.key), nulls_last=True)


def _write_parquet(frame: pl.DataFrame, path: Path) -> str:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    data = buffer.getvalue()
    write_atomic(path, data)
    return sha256_hex(data)


def run_trace(settings: Settings, case: Case, spec: TraceSpec, store: GraphStore, *,
              fetch: FetchingFrontier | None = None, library: TagLibrary | None = None) -> dict[str, Any]:
    """Run one trace, write its files into the case and return what to print (and the result)."""
    digest = ReadDigest(fetch if fetch is not None else store)
    tags = _TagRecorder(library or TagLibrary.for_home(settings.home), store, spec.chain)
    result = trace(spec, digest, tags)
    peels = _peel_chains(result, digest)
    consulted = tags.rows()
    ident = sha256_hex(canonical_json(spec.parameters()))[:12]
    out_dir = case.dir / TRACES_DIR / f"{spec.direction}-{spec.model}-{ident}"
    out_dir.mkdir(parents=True, exist_ok=True)
    findings = summary(result)
    findings["peel_chains"] = peels.to_dicts()
    files = {
        "seeds.parquet": _write_parquet(result.seeds, out_dir / "seeds.parquet"),
        "hops.parquet": _write_parquet(result.hops, out_dir / "hops.parquet"),
        "endings.parquet": _write_parquet(result.endings, out_dir / "endings.parquet"),
        "tags.parquet": _write_parquet(consulted, out_dir / "tags.parquet"),
    }
    result_bytes = canonical_json(findings)
    write_atomic(out_dir / "result.json", result_bytes)
    files["result.json"] = sha256_hex(result_bytes)
    library_sources = [s for s in (library or TagLibrary.for_home(settings.home)).sources()
                       if s["name"] in set(consulted["tagpack"].drop_nulls().to_list())]
    manifest = build_manifest(
        case=case.name, parameters=spec.parameters(), store_backend=settings.store_backend,
        read_digest=digest.hexdigest, store_queries=digest.calls, tags_digest=frame_digest(consulted),
        tag_sources=library_sources, files=files, fetched=fetch.report() if fetch is not None else None,
    )
    manifest_bytes = canonical_json(manifest)
    write_atomic(out_dir / "manifest.json", manifest_bytes)
    store.save_trace(_trace_record(result, case.name, f"trace:{case.name}:{out_dir.name}", sha256_hex(manifest_bytes)))
    return {
        "result": result,
        "summary": findings,
        "directory": out_dir,
        "manifest_sha256": sha256_hex(manifest_bytes),
        "files": files,
    }


def _peel_chains(result: TraceResult, frontier: Frontier) -> pl.DataFrame:
    """Peel chains among the transactions a UTXO trace traversed (Meiklejohn et al. 2013; Kappos et al. 2022)."""
    if result.spec.account_model or result.hops.height == 0:
        return pl.DataFrame(schema=PEEL_CHAIN_COLUMNS)
    frames = frontier.transactions(result.spec.chain, sorted(set(result.hops["txid"].to_list())))
    return peel_chains(frames.transactions, frames.inputs, frames.outputs)


def _trace_record(result: TraceResult, case: str, uid: str, manifest_sha256: str) -> TraceRecord:
    """The trace as graph rows: endings per address, and the transactions that carried value."""
    reached: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in result.endings.iter_rows(named=True):
        if row["address"] is None:
            continue
        key = (row["address"], row["ending"], row["asset"])
        item = reached.setdefault(key, {"address": key[0], "ending": key[1], "asset": key[2], "amount": 0,
                                        "depth": row["depth"], "label": row["label"]})
        item["amount"] += int(row["amount"])
    traced: dict[str, dict[str, Any]] = {}
    for row in result.hops.iter_rows(named=True):
        item = traced.setdefault(row["txid"], {"txid": row["txid"], "depth": row["depth"], "taint": 0, "hops": 0})
        item["taint"] += int(row["taint"])
        item["hops"] += 1
    reached_rows = [{**r, "amount": str(r["amount"])} for _, r in sorted(reached.items())]
    traced_rows = [{**r, "taint": str(r["taint"])} for _, r in sorted(traced.items())]
    spec = result.spec
    return TraceRecord(
        uid=uid, case=case, chain=spec.chain, direction=str(spec.direction), model=str(spec.model),
        parameters=canonical_json(spec.parameters()).decode(), manifest_sha256=manifest_sha256,
        seed_value=canonical_json({a: str(t["seed"]) for a, t in result.totals.items()}).decode(),
        reached=pl.DataFrame(reached_rows, schema=TRACE_REACHED_COLUMNS),
        traced=pl.DataFrame(traced_rows, schema=TRACE_TRACED_COLUMNS),
    )


def trace_command(
    case: CaseArg,
    seed: Annotated[list[str] | None, typer.Option(
        "--seed", help="Seed address or UTXO output TXID:VOUT (repeatable; default: the case's seeds).")] = None,
    chain: Annotated[str | None, typer.Option("--chain", "-c", help="Chain key (needed if seeds span chains).")] = None,
    direction: Annotated[Direction, typer.Option(
        "--direction", help="forward: where did the value go; backward: where did it come from.")] = Direction.FORWARD,
    model: Annotated[str, typer.Option(
        "--model", help=f"Taint model: {', '.join(MODELS)}, or 'all' to compare them.")] = "haircut",
    hops: Annotated[int, typer.Option("--hops", help="Follow at most N hops.")] = 5,
    since: Annotated[str | None, typer.Option("--since", help="Ignore movements before (UTC seconds or ISO date).")]
    = None,
    until: Annotated[str | None, typer.Option("--until", help="Ignore movements after (UTC seconds or ISO date).")]
    = None,
    min_value: Annotated[str | None, typer.Option(
        "--min-value", help="Stop following less than this: base units (1234) or coin units (0.001).")] = None,
    max_fanout: Annotated[int | None, typer.Option(
        "--max-fanout", help="Follow at most K outputs / recipients per transaction / address.")] = None,
    stop_at: Annotated[str | None, typer.Option(
        "--stop-at", help="Tag categories where a trail ends (comma-separated; default: services such as "
                          "exchange, mixing_service, market...).")] = None,
    fetch: Annotated[bool, typer.Option(
        "--fetch", help="Pull missing address histories from the case's source (UTXO; see `ingest seeds`).")] = False,
    esplora: Annotated[str | None, typer.Option("--esplora", help="Esplora URL for --fetch.")] = None,
    from_store: Annotated[Path | None, typer.Option("--from-store", help="Chain store to --fetch from.")] = None,
    allow_third_party: Annotated[bool, typer.Option(
        "--allow-third-party", help="Allow --fetch from a public explorer (it sees every address looked up).")]
    = False,
    by: Annotated[str, typer.Option("--by", help="address, or cluster: start from every member of the seeds' "
                                                 "clusters (`tracer cluster run` first).")] = "address",
    top: Annotated[int, typer.Option("--top", help="Endings to show.", min=1)] = 15,
    json_: JsonOpt = False,
) -> None:
    """Follow value from the seeds, hop by hop, and report who received how much, with every hop's evidence.

    Writes seeds/hops/endings Parquet, result.json and manifest.json under <case>/traces/.

    Example: tracer trace op-harbor --direction forward --model haircut --hops 6 --stop-at exchange
    """
    ctx = app_context()
    settings = ctx.settings
    workspace_case = ctx.workspace.open(case)
    chain_info, seeds = _seeds(settings, workspace_case, seed or [], chain)
    models = list(MODELS) if model.strip().lower() == "all" else [parse_model(model)]
    if by not in ("address", "cluster"):
        raise InputError(f"--by must be address or cluster, not {by!r}")
    stops = tuple(sorted({c.strip() for c in stop_at.split(",") if c.strip()})) if stop_at else DEFAULT_STOP_CATEGORIES
    if fetch and chain_info.is_account:
        raise InputError("--fetch works for UTXO chains; fill an account chain's store with `tracer ingest evm`")
    specs = [
        TraceSpec(chain=chain_info.key, account_model=chain_info.is_account, seeds=seeds, direction=direction,
                  model=m, hops=hops, since=parse_time(since, "--since"), until=parse_time(until, "--until"),
                  min_value=parse_min_value(min_value, chain_info), max_fanout=max_fanout, stop_categories=stops)
        for m in models
    ]
    if stop_at:
        known = set(TagLibrary.for_home(settings.home).current([chain_info.key])["category"].drop_nulls().to_list())
        unknown = [c for c in stops if c not in known]
        if unknown:
            notice(f"note: no tag in the library has category {', '.join(unknown)} (a typo?): "
                   "a trail cannot stop there unless the case's store has such tags")
    store = open_case_store(settings, workspace_case)
    closer = None
    try:
        fetcher = None
        if fetch:
            source, closer = _address_source(settings, chain_info, esplora, from_store,
                                             allow_third_party or settings.allow_third_party, workspace_case.dir)
            fetcher = FetchingFrontier(store, source, chain_info.key)
        if by == "cluster":
            specs = [_cluster_spec(s, store) for s in specs]
        runs = [run_trace(settings, workspace_case, s, store, fetch=fetcher) for s in specs]
    finally:
        if closer is not None:
            closer()
        store.close()
    for run in runs:
        spec = run["result"].spec
        workspace_case.record("trace.run", {
            "chain": spec.chain, "parameters": spec.parameters(), "directory": str(run["directory"]),
            "manifest_sha256": run["manifest_sha256"], "files": run["files"],
        }, ctx.argv)
    data: dict[str, Any]
    if len(runs) == 1:
        data = {**runs[0]["summary"], "directory": str(runs[0]["directory"]),
                "manifest_sha256": runs[0]["manifest_sha256"]}
    else:
        comparison = compare_models({str(r["result"].spec.model): r["result"] for r in runs})
        data = {"comparison": comparison.to_dicts(),
                "runs": [{"model": str(r["result"].spec.model), "directory": str(r["directory"]),
                          "manifest_sha256": r["manifest_sha256"], "totals": r["summary"]["totals"]} for r in runs]}

    # deconfliction: does this trace touch addresses of other cases? (cli/case_index.py)
    data["other_cases"] = other_case_notices(ctx.workspace, settings.home / "index", case, chain_info.key,
                                             touched_addresses(r["result"] for r in runs))
    for other in data["other_cases"]:
        notice(notice_text(other, case))

    money = _Money(chain_info, _token_metadata(settings, workspace_case, chain_info.key))

    def human() -> None:
        if len(runs) == 1:
            _print_result(runs[0]["result"], chain_info, top, money)
            _print_peels(runs[0]["summary"]["peel_chains"], chain_info, money)
            notice(f"files: {runs[0]['directory']} (manifest sha256 {runs[0]['manifest_sha256'][:16]}…)")
        else:
            _print_comparison(runs, chain_info, money)

    emit(data, as_json=json_, human=human)


def _cluster_spec(spec: TraceSpec, store: GraphStore) -> TraceSpec:
    members: list[Seed] = []
    for s in spec.seeds:
        if s.address is None:
            members.append(s)
            continue
        cluster = store.cluster(spec.chain, s.address)
        if cluster.height == 0:
            raise InputError(f"{s.address} is in no cluster: run `tracer cluster run` for this case first")
        members.extend(Seed(address=a) for a in cluster["address"].to_list())
    return TraceSpec(**{**spec.__dict__, "seeds": tuple(dict.fromkeys(members))})


class _Money:
    """Amounts for people: the chain's coin, or a token with the symbol and decimals the EVM ingest
    cached next to the store (``tokens-<chain>.json``); base units when the token is unknown."""

    def __init__(self, chain: Chain, tokens: dict[str, Any]) -> None:
        self.chain = chain
        self.tokens = tokens

    def __call__(self, value: str | int, asset: str) -> str:
        if asset == "native":
            return f"{format_units(int(value), self.chain.decimals)} {self.chain.symbol}"
        info = self.tokens.get(asset) or {}
        if isinstance(info.get("decimals"), int) and info.get("symbol"):
            return f"{format_units(int(value), info['decimals'])} {info['symbol']}"
        return f"{value} (base units)"


def _token_metadata(settings: Settings, case: Case, chain: str) -> dict[str, Any]:
    cache = checkpoint_path(settings, case, chain).with_name(f"tokens-{chain}.json")
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        tokens = data.get("tokens", {}) if data.get("chain") == chain else {}
        return tokens if isinstance(tokens, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}  # only a display aid: amounts are then shown in base units


def _print_result(result: TraceResult, chain: Chain, top: int, money: _Money) -> None:
    spec = result.spec
    stdout.print(f"{spec.direction} trace, {spec.model} model, {len(spec.seeds)} seed(s) on {chain.key}, "
                 f"up to {spec.hops} hops")
    rows = []
    for index, row in enumerate(result.endings.iter_rows(named=True)):
        if index >= top:
            break
        seed_value = result.totals[row["asset"]]["seed"]
        who = row["label"] or ""
        rows.append((row["ending"], row["address"] or "", who, row["category"] or "",
                     money(row["amount"], row["asset"]), share_text(int(row["amount"]), seed_value),
                     row["depth"] if row["depth"] is not None else ""))
    stdout.print(table("Where the value ended (largest first)",
                       ["ending", "address", "entity", "category", "amount", "share", "hop"], rows))
    if result.endings.height > top:
        notice(f"… {result.endings.height - top} more endings in endings.parquet / --json")
    total_rows = []
    for asset, totals in result.totals.items():
        for key, value in totals.items():
            if value and key not in ("seed", "ended"):
                total_rows.append((asset, key, money(value, asset), share_text(value, totals["seed"])))
        total_rows.append((asset, "= sum of endings", money(totals["ended"], asset),
                           share_text(totals["ended"], totals["seed"])))
        total_rows.append((asset, "seed value", money(totals["seed"], asset), "100.00%"))
    stdout.print(table("Reconciliation" + ("" if result.conserving else
                                           " (poison does not conserve value: endings exceed the seeds)"),
                       ["asset", "ending", "amount", "share"], total_rows))
    tree = Tree("Evidence paths (the hops that carried the most value)")
    # entities first (where legal process can be served), then the largest other endings; at most 5
    ranked = result.endings.with_row_index("_rank").sort(
        [pl.col("ending") != "entity", pl.col("_rank")]).head(min(top, 5))
    for row in ranked.iter_rows(named=True):
        branch = tree.add(f"{row['ending']} {row['address'] or ''} {row['label'] or ''}: "
                          f"{money(row['amount'], row['asset'])}")
        for hop in evidence_path(result.hops, row["hop_id"]):
            branch.add(f"hop {hop['depth']}: {hop['from_address']} -> {hop['to_address']}  "
                       f"{money(hop['taint'], hop['asset'])} of {money(hop['value'], hop['asset'])}  "
                       f"tx {hop['txid']} block {hop['block_height']} "
                       f"{_iso(hop['timestamp'])} [{hop['model']}, {hop['source']}]")
    stdout.print(tree)


def _print_peels(peels: list[dict[str, Any]], chain: Chain, money: _Money) -> None:
    if not peels:
        return
    rows = [(p["chain_id"].split(":")[-1][:16] + "…", p["length"], money(p["total_peeled"], "native"),
             ", ".join(money(v, "native") for v in p["peeled"][:8]) + (" …" if len(p["peeled"]) > 8 else ""),
             f"{p['start_height']}..{p['end_height']}") for p in peels]
    stdout.print(table("Peel chains on the traced paths", ["first tx", "steps", "peeled in total",
                                                           "peeled at each step", "blocks"], rows))


def _iso(timestamp: int | None) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if timestamp is not None else "-"


def _print_comparison(runs: list[dict[str, Any]], chain: Chain, money: _Money) -> None:
    results = {str(r["result"].spec.model): r["result"] for r in runs}
    comparison = compare_models(results)
    models = list(results)
    rows = [(row["ending"], row["address"] or "", row["label"] or "", row["asset"],
             *(money(row[m], row["asset"]) for m in models)) for row in comparison.iter_rows(named=True)]
    stdout.print(table("Endings under every model", ["ending", "address", "entity", "asset", *models], rows))
    for run in runs:
        notice(f"{run['result'].spec.model}: {run['directory']}")
