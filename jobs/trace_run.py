# SPDX-License-Identifier: Apache-2.0
"""Trace runs: follow the proceeds forward or backward from a case's seeds, and keep the evidence.

The algorithms are ``tracer.trace`` (engine), ``tracer.taint`` (models), ``tracer.report``
(ranking, shares, paths) and ``tracer.manifest`` (evidence); this job picks the store, the tags and
the seeds, runs the engine, writes the result files and records the run in the case's audit log.

Each run writes a new folder ``<case>/traces/<NNNN>-<direction>-<model>-<manifest12>/`` with
``seeds.parquet``, ``hops.parquet``, ``endings.parquet``, ``tags.parquet``, ``shortfalls.parquet``,
``result.json`` and ``manifest.json`` (and ``conversions.parquet`` when the trace followed value
through swaps or wrapping: each route's steps) (:mod:`jobs.trace_results`): staged first, named by its
``trace.run`` audit entry and published as the entry lands, so a run killed at any point leaves either
no result or a complete one. Re-running the same trace writes a new folder whose files are
byte-identical when the store holds the same data.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from graph.base import TRACE_REACHED_COLUMNS, TRACE_TRACED_COLUMNS, GraphStore, TraceRecord
from jobs import workspace
from jobs.addresses import normal_address
from jobs.bridge_follow import REGISTRY_SOURCE, REGISTRY_TAGPACK, bridge_tags, follow_bridges
from jobs.case_index import other_case_notices, touched_addresses
from jobs.checkpoints import Checkpoint
from jobs.custody import CHAIN_PARTS, TRACE_RESULT_PARTS, store_write
from jobs.error_rates import manifest_reference, trace_methods
from jobs.seed_forms import TXID, parse_seed, trace_seed
from jobs.session import Session
from jobs.settings import Settings
from jobs.sources import address_source
from jobs.stores import StoreProbe, checkpoint_path, open_case_store, open_case_store_for_reading
from jobs.tag_library import TagLibrary
from jobs.token_cache import read_tokens
from jobs.trace_fetch import FetchingFrontier
from jobs.trace_results import stage_run
from jobs.workspace import Case
from tracer.chains import Chain, ChainRegistry
from tracer.coinjoin import coinjoin_transactions
from tracer.errors import InputError
from tracer.frontier import Direction, Frontier
from tracer.manifest import ReadDigest, build_manifest, canonical_json, frame_digest, sha256_hex
from tracer.peel_chains import PEEL_CHAIN_COLUMNS, peel_chains
from tracer.report import compare_models, model_totals, passes_through, summary
from tracer.schema import TAGS
from tracer.taint import MODELS, parse_model
from tracer.trace import DEFAULT_STOP_CATEGORIES, Seed, TraceResult, TraceSpec, trace
from tracer.units import amount_from_text

#: hops a trace follows unless told otherwise: far enough for real laundering chains (peel chains run
#: to dozens of steps); the min value, fan-out and time window stay the guards, and a trail cut by
#: the limit says so (a hop_limit ending, and a note above 1% of the value)
DEFAULT_HOPS = 50

__all__ = ["DEFAULT_HOPS", "TraceRequest", "TraceOutcome", "trace_case", "run_trace", "parse_time",
           "parse_min_value"]


def parse_time(text: str | None, option: str) -> int | None:
    """UTC seconds from ``1700000000``, ``2024-05-01`` or ``2024-05-01T12:00:00`` (UTC unless an offset is given)."""
    if text is None:
        return None
    value = text.strip()
    if re.fullmatch(r"[0-9]+", value, flags=re.ASCII):
        seconds = int(value) if len(value) <= 12 else _LATEST + 1
        if seconds > _LATEST:
            raise InputError(f"{option} {text!r} is after the year 9999: give UTC seconds or an ISO date")
        return seconds
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {text!r} is neither UTC seconds nor an ISO date/time (2024-05-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


#: 9999-12-31T23:59:59Z: later "times" are typing errors, not dates a chain will reach
_LATEST = 253_402_300_799


def parse_min_value(text: str | None, chain: Chain) -> int:
    """``1234`` = base units; ``0.001`` (with a point) = coin units of the chain's own asset, converted exactly.

    Anything else (``1_000``, ``1e5``, ``1,5``) is refused rather than guessed: a misread minimum
    would silently drop or keep whole branches of a trace."""
    if text is None:
        return 1
    value = text.strip()
    if not re.fullmatch(r"[0-9]*\.?[0-9]*", value, flags=re.ASCII) or value in ("", "."):
        raise InputError(f"--min-value {text!r}: give base units (1234) or {chain.symbol} with a decimal point "
                         "(0.001)")
    # the one amount rule (tracer.units): base units without a point, coin units with one
    return max(amount_from_text(value, chain.decimals if "." in value else 0, what="--min-value"), 1)


def _seeds(settings: Settings, case: Case, given: list[str], sent: list[str],
           chain_key: str | None) -> tuple[Chain, tuple[Seed, ...]]:
    """The chain and seeds of a trace: ``--seed``/``--seed-sent`` values, else the case's seeds (on one chain)."""
    registry = settings.chains
    if given or sent:
        chain = registry.get(chain_key) if chain_key is not None else _infer_chain(settings, case, [*given, *sent])
        seeds = [parse_seed(registry, chain, text) for text in given]
        seeds += [Seed(address=normal_address(registry, chain.key, text), sent=True) for text in sent]
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
    chain = registry.get(chains[0])
    return chain, tuple(dict.fromkeys(trace_seed(registry, chain, s) for s in case_seeds))


def _infer_chain(settings: Settings, case: Case, given: list[str]) -> Chain:
    """The chain of ``--seed`` values given without ``--chain``: the one chain of the case's seeds, else
    the one chain the case's store holds on which every value is valid (an address or a txid:vout)."""
    registry = settings.chains
    case_chains = sorted({s.chain for s in case.seeds()})
    if len(case_chains) == 1:
        return registry.get(case_chains[0])
    fitting = [c for c in registry if all(_fits(registry, c, text) for text in given)]
    held = _chains_in_store(settings, case, [c.key for c in fitting])
    if len(held) == 1:
        return registry.get(held[0])
    values = ", ".join(given)
    if not fitting:
        raise InputError(f"--seed {values} is not valid on any known chain ({', '.join(registry.keys())})")
    if not held:
        raise InputError(f"--seed {values}: the case's store holds no data of "
                         f"{', '.join(c.key for c in fitting)}; ingest some first, or pass --chain")
    raise InputError(f"--seed {values} fits several chains in the case's store ({', '.join(held)}): "
                     "pick one with --chain")


def _fits(registry: ChainRegistry, chain: Chain, text: str) -> bool:
    txid, sep, _ = text.strip().partition(":")
    if TXID.fullmatch(txid) and (sep or txid.lower().startswith("0x")):
        return chain.is_account == txid.lower().startswith("0x")
    try:
        normal_address(registry, chain.key, text)
    except InputError:
        return False
    return True


def _chains_in_store(settings: Settings, case: Case, chains: list[str]) -> list[str]:
    """Those of ``chains`` with at least one block in the case's store (read-only; no store, none)."""
    if not chains or (settings.store_backend == "embedded" and not settings.embedded_store_path(case.dir).exists()):
        return []
    store = open_case_store_for_reading(settings, case)
    try:
        return [c for c in chains if store.block_hashes(c, 0, 2**62).height]
    finally:
        store.close()


class _TagRecorder:
    """Tags the trace consults: the workspace tag library plus the case store's own tags, digested."""

    def __init__(self, library: TagLibrary, store_tags: Frontier, chain: str, registry: pl.DataFrame) -> None:
        # the bridge registry's contracts are tags too (category bridge): a trail ends at a bridge
        self.library = pl.concat([library.current([chain]).select(list(TAGS.columns)), registry], how="vertical")
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


def _parquet(frame: pl.DataFrame) -> bytes:
    """Parquet bytes that depend on the rows only (no statistics, fixed compression)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def run_trace(settings: Settings, case: Case, spec: TraceSpec, store: GraphStore, *, argv: list[str],
              fetch: FetchingFrontier | None = None, library: TagLibrary | None = None,
              bridged_from: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run one trace, write its files into a new result folder of the case (:mod:`jobs.trace_results`),
    record the run in the audit log and return what to print (and the result). ``bridged_from``: the
    bridge crossings a continuation run goes on from (:mod:`jobs.bridge_follow`), kept in its
    manifest's evidence and its result."""
    digest = ReadDigest(fetch if fetch is not None else store)
    tags = _TagRecorder(library or TagLibrary.for_home(settings.home), store, spec.chain,
                        bridge_tags(settings.bridges, settings.chains.get(spec.chain)))
    result = trace(spec, digest, tags)
    peels, coinjoins = _shapes(result, digest)
    consulted = tags.rows()
    # forward, an ending's txid created the output where the value stopped: a CoinJoin's output is a mix
    findings = summary(result, coinjoins=coinjoins if spec.direction == Direction.FORWARD else None)
    findings["peel_chains"] = peels.to_dicts()
    findings["passes_through"] = passes_through(result, _marks(case, consulted))
    if bridged_from:
        findings["bridged_from"] = bridged_from
    contents = {
        "seeds.parquet": _parquet(result.seeds),
        "hops.parquet": _parquet(result.hops),
        "endings.parquet": _parquet(result.endings),
        "tags.parquet": _parquet(consulted),
        "shortfalls.parquet": _parquet(result.shortfalls),
        "result.json": canonical_json(findings),
    }
    if result.conversions.height:  # swaps and wrapping followed: each route's steps (absent otherwise)
        contents["conversions.parquet"] = _parquet(result.conversions)
    files = {name: sha256_hex(data) for name, data in contents.items()}
    used = set(consulted["tagpack"].drop_nulls().to_list())
    library_sources = [s for s in (library or TagLibrary.for_home(settings.home)).sources() if s["name"] in used]
    evidence = spec.evidence()
    registry_rows = consulted.filter(pl.col("tagpack") == REGISTRY_TAGPACK)
    if registry_rows.height:  # bridge contracts the trace met: the registry (built in + config) told it so
        evidence["bridge_registry"] = {"source": REGISTRY_SOURCE, "tags_sha256": frame_digest(registry_rows),
                                       "rows": registry_rows.height}
    if bridged_from:
        evidence["bridged_from"] = bridged_from
    manifest = build_manifest(
        case=case.name, parameters=spec.parameters(), store_backend=settings.store_backend,
        read_digest=digest.hexdigest, store_queries=digest.calls, tags_digest=frame_digest(consulted),
        tag_sources=library_sources, files=files, fetched=fetch.report() if fetch is not None else None,
        evidence=evidence,
        error_rates=manifest_reference(trace_methods(spec.parameters(), spec.account_model),
                                       account_model=spec.account_model),
    )
    manifest_bytes = canonical_json(manifest)
    manifest_sha256 = sha256_hex(manifest_bytes)
    with case.locked():  # the run's folder number and its audit entry, in one step for other writers
        # staged, then named by the audit entry and published as the entry lands (Case.record follows
        # it): killed anywhere, the next open completes the rename or the staging folder is dropped
        staging, out_dir = stage_run(case.dir, f"{spec.direction}-{spec.model}", manifest_sha256,
                                     {**contents, "manifest.json": manifest_bytes})
        workspace.step_done("trace.staged")
        case.record("trace.run", {
            "chain": spec.chain, "parameters": spec.parameters(), "directory": str(out_dir), "run": out_dir.name,
            "manifest_sha256": manifest_sha256, "files": files, "staging": staging.name,
        }, argv)
    store.save_trace(_trace_record(result, case.name, f"trace:{case.name}:{out_dir.name}", manifest_sha256))
    return {
        "result": result,
        "summary": findings,
        "directory": out_dir,
        "manifest_sha256": manifest_sha256,
        "files": files,
        "coinjoins": coinjoins if spec.direction == Direction.FORWARD else {},
    }


def _shapes(result: TraceResult, frontier: Frontier) -> tuple[pl.DataFrame, dict[str, str]]:
    """Peel chains (Meiklejohn et al. 2013; Kappos et al. 2022) and CoinJoins (BlockSci's rule and
    known wallet shapes, :mod:`tracer.coinjoin`) among the transactions a UTXO trace traversed."""
    if result.spec.account_model or result.hops.height == 0:
        return pl.DataFrame(schema=PEEL_CHAIN_COLUMNS), {}
    txids = set(result.hops["txid"].to_list()) | set(result.endings["txid"].drop_nulls().to_list())
    frames = frontier.transactions(result.spec.chain, sorted(txids))
    peels = peel_chains(frames.transactions, frames.inputs, frames.outputs)
    mixes = coinjoin_transactions(frames.inputs, frames.outputs)
    return peels, dict(mixes.select("txid", "shape").iter_rows())


def _marks(case: Case, tags: pl.DataFrame) -> dict[str, tuple[str, str | None]]:
    """Addresses a person wants named when value passes through them: the case's seeds (with their
    labels), then tagged addresses (with their tag)."""
    marks: dict[str, tuple[str, str | None]] = {}
    for row in tags.select("address", "label").iter_rows():
        marks.setdefault(row[0], ("tagged", row[1]))
    for seed in case.seeds():
        marks[seed.address] = ("seed", seed.label)
    return marks


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


@dataclass(frozen=True)
class TraceRequest:
    """One ``tracer trace``: its options as given (texts are parsed and checked by :func:`trace_case`)."""

    case: str
    #: addresses (what they received), TXID:VOUT outputs, TXID[:INDEX] transfers
    seeds: tuple[str, ...] = ()
    #: addresses whose sending (within since/until) is traced
    seeds_sent: tuple[str, ...] = ()
    chain: str | None = None
    direction: Direction = Direction.FORWARD
    #: a model name, or ``all`` for every model side by side
    model: str = "haircut"
    #: at most this many hops; 0 (or None): until nothing is left to follow
    hops: int | None = DEFAULT_HOPS
    since: str | None = None
    until: str | None = None
    min_value: str | None = None
    max_fanout: int | None = None
    #: comma-separated tag categories where a trail ends (None: the default services)
    stop_at: str | None = None
    fetch: bool = False
    esplora: str | None = None
    from_store: Path | None = None
    allow_third_party: bool = False
    #: ``address``, or ``cluster``: start from every member of the seeds' clusters
    by: str = "address"
    #: continue across matched bridge crossings on the other chain (account chains)
    follow_bridges: bool = True


@dataclass
class TraceOutcome:
    """The runs of one request (one per model), what to print as data, and the chain; ``crossings``:
    the bridge crossings reached and the continuation runs (:mod:`jobs.bridge_follow`)."""

    chain: Chain
    runs: list[dict[str, Any]]
    data: dict[str, Any]
    tokens: dict[str, Any]
    crossings: list[dict[str, Any]] = field(default_factory=list)


def _crossing_data(crossing: dict[str, Any]) -> dict[str, Any]:
    """A crossing as JSON data: the link, and the continuation run's folder, hash and totals."""
    out = {k: v for k, v in crossing.items() if k != "run"}
    if "run" in crossing:
        run = crossing["run"]
        out["continuation"] = {"chain": run["result"].spec.chain, "directory": str(run["directory"]),
                               "manifest_sha256": run["manifest_sha256"], "totals": run["summary"]["totals"]}
    return out


def trace_case(session: Session, request: TraceRequest) -> TraceOutcome:
    """Run a trace (or one per model) from a case's seeds, write each run's files into the case and
    record it in the audit log; note the other cases whose addresses it touched."""
    settings = session.settings
    case = session.workspace.open(request.case)
    chain, seeds = _seeds(settings, case, list(request.seeds), list(request.seeds_sent), request.chain)
    models = list(MODELS) if request.model.strip().lower() == "all" else [parse_model(request.model)]
    if request.by not in ("address", "cluster"):
        raise InputError(f"--by must be address or cluster, not {request.by!r}")
    stop_at = request.stop_at
    stops = tuple(sorted({c.strip() for c in stop_at.split(",") if c.strip()})) if stop_at is not None \
        else DEFAULT_STOP_CATEGORIES
    if stop_at is not None and not stops:
        raise InputError("--stop-at names no category: give tag categories, e.g. --stop-at exchange,mixing_service")
    if request.fetch and chain.is_account:
        raise InputError("--fetch works for UTXO chains; fill an account chain's store with `tracer ingest evm`")
    # the blocks the store holds completely (block-range ingest, checked frames): only there is value "held"
    coverage = tuple(Checkpoint.load(checkpoint_path(settings, case, chain.key), chain.key).done)
    specs = [
        TraceSpec(chain=chain.key, account_model=chain.is_account, seeds=seeds, direction=request.direction,
                  model=m, hops=request.hops or None, since=parse_time(request.since, "--since"),
                  until=parse_time(request.until, "--until"), min_value=parse_min_value(request.min_value, chain),
                  max_fanout=request.max_fanout, stop_categories=stops, coverage=coverage)
        for m in models
    ]
    if stop_at:
        known = set(TagLibrary.for_home(settings.home).current([chain.key])["category"].drop_nulls().to_list())
        unknown = [c for c in stops if c not in known]
        if unknown:
            session.notify(f"note: no tag in the library has category {', '.join(unknown)} (a typo?): "
                           "a trail cannot stop there unless the case's store has such tags")
    # the trace writes to the store (its Trace nodes, what --fetch pulls): bracketed in the audit log
    started = {"chain": chain.key, "models": [str(s.model) for s in specs], "fetch": request.fetch}
    with store_write(case, "trace", session.argv, started, StoreProbe(settings, case),
                     touches=(*TRACE_RESULT_PARTS, *(CHAIN_PARTS if request.fetch else ())),
                     finished="trace.finished") as bracket:
        store = open_case_store(settings, case)
        closer = None
        try:
            fetcher = None
            if request.fetch:
                source, closer = address_source(settings, chain, request.esplora, request.from_store,
                                                request.allow_third_party or settings.allow_third_party, case.dir)
                fetcher = FetchingFrontier(store, source, chain.key)
            if request.by == "cluster":
                specs = [_cluster_spec(s, store) for s in specs]
            runs = [run_trace(settings, case, s, store, argv=session.argv, fetch=fetcher) for s in specs]
            crossings = follow_bridges(
                settings, case, store, runs, lambda spec, links: run_trace(settings, case, spec, store,
                                                                           argv=session.argv, bridged_from=links),
            ) if request.follow_bridges and chain.is_account else []
        finally:
            if closer is not None:
                closer()
            store.close()
        continued = list({id(c["run"]): c["run"] for c in crossings if "run" in c}.values())
        bracket.details = {"chain": chain.key, "runs": [r["directory"].name for r in runs + continued]}
    data: dict[str, Any]
    if len(runs) == 1:
        data = {**runs[0]["summary"], "directory": str(runs[0]["directory"]),
                "manifest_sha256": runs[0]["manifest_sha256"]}
    else:
        comparison = compare_models({str(r["result"].spec.model): r["result"] for r in runs})
        data = {"comparison": comparison.to_dicts(),
                "model_totals": model_totals({str(r["result"].spec.model): r["result"] for r in runs}),
                "runs": [{"model": str(r["result"].spec.model), "directory": str(r["directory"]),
                          "manifest_sha256": r["manifest_sha256"], "totals": r["summary"]["totals"]} for r in runs]}
    if crossings:
        data["bridges"] = [_crossing_data(c) for c in crossings]
    # deconfliction: does this trace touch addresses of other cases? (jobs/case_index.py)
    data["other_cases"] = other_case_notices(session.workspace, settings.home / "index", request.case, chain.key,
                                             touched_addresses(r["result"] for r in runs), session.notify)
    return TraceOutcome(chain, runs, data, read_tokens(settings, case, chain.key), crossings)


