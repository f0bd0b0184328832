# SPDX-License-Identifier: Apache-2.0
"""Benchmark: a 6-hop forward haircut trace against the variable-length Cypher path query (issue 6).

Builds a synthetic account-model chain in the embedded store (``benchmarks/_synthetic.py``:
>= 1,000,000 transfers between ~300,000 addresses, blocks and times increasing, skewed degrees,
20 hub addresses tagged ``exchange``, wei-scale integer amounts), picks 10 seed addresses with a
fixed RNG seed, and in the same process times:

* ``trace_s``: :func:`tracer.trace.trace` forward, haircut, 6 hops, from the 10 seeds, with the
  store as frontier and the store's tags as tag look-up (so the trace stops at the exchange hubs,
  the default stop set). ``trace_s`` is the median of the runs after the first on an open store
  (an investigator traces many times per session); ``trace_first_s`` is the first, which also
  reads the store's id dictionaries and warms its buffers, reported beside it.
* ``baseline_s``: the equivalent query an analyst would write in Cypher on the same store,
  through :meth:`EmbeddedStore.query` (its ``QUERY_TIMEOUT_MS`` bounds it)::

      MATCH p = (s:Address)-[:TRANSFER*1..6 (r, n | WHERE NOT n.id IN $stops)]->(x:Address)
      WHERE s.id IN $seeds
      WITH x, properties(rels(p), 'tx') AS txs, properties(rels(p), 'value') AS values
      WHERE list_sort(txs) = txs
      RETURN x.id AS reached, txs[size(txs)] AS tx, values[size(values)] AS value

  the same seeds and hops, not through the exchange hubs (a path may end at one, as the trace
  does), time-respecting (each transfer of a path in the same or a later transaction than the
  one before: transaction ids are assigned in chain order, which the benchmark checks), then the
  reached addresses and the amounts of the transfers reaching them are aggregated in polars
  (``sum()`` refuses DECIMAL in LadybugDB). It can only enumerate walks, it cannot share value
  out by a taint model: it answers a weaker question than the trace and still does more work. If it
  hits the timeout, ``baseline_s`` is the time it ran, ``baseline_timed_out`` is true, and
  ``speedup`` is a lower bound (``speedup_is_lower_bound``).
* ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``), store load included.

Targets (issue 6): ``trace_s`` < 1 s, ``speedup`` >= 20, ``peak_rss_mb`` < 1024.

``--scale`` (issue 21: the cost of a trace follows the case, not the chain) builds two stores with
the same generator, each in a child process: the 1M-transfer chain above, and a 10M-transfer chain
whose first tenth is that same chain and whose other nine tenths are later segments drawn by the
same rules (``skewed_transfers(..., shard=k)``: other ordinary addresses, the same 20 exchange
hubs), loaded in two halves as a growing ingest would. The seeds are the same addresses in both,
so their neighbourhood has exactly the same shape (the benchmark checks that both traces reach the
same addresses with the same totals), and the only thing that differs is the size of the store
around them. It reports ``trace_s_1m``, ``trace_s_10m`` (median warm runs, as ``trace_s``),
``growth`` = 10m / 1m (target <= 2.0), the first runs beside them, ``peak_rss_mb`` of this process
(both traces; target < 1024) and each store's build time and build peak RSS. No Cypher baseline.

    python benchmarks/trace.py --json          # full size (a few minutes: the baseline times out)
    python benchmarks/trace.py --quick --json  # small, seconds
    python benchmarks/trace.py --scale --json  # 1M and 10M (~15 min, mostly building the 10M store)
    python benchmarks/trace.py --scale --keep DIR  # keep (or reuse) the two stores in DIR
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import CHAIN, hub_tags, skewed_transfers  # noqa: E402
from _timing import print_result  # noqa: E402

from graph.base import StoreError  # noqa: E402
from graph.embedded import QUERY_TIMEOUT_MS, EmbeddedStore  # noqa: E402
from tracer.frontier import Direction  # noqa: E402
from tracer.schema import FrameSet  # noqa: E402
from tracer.taint import Model  # noqa: E402
from tracer.trace import Seed, TraceResult, TraceSpec, reconcile, trace  # noqa: E402

HOPS = 6
N_SEEDS = 10
RNG_SEED = 20_240_601

BASELINE = (
    "MATCH p = (s:Address)-[:TRANSFER*1..{hops} (r, n | WHERE NOT n.id IN $stops)]->(x:Address) "
    "WHERE s.id IN $seeds "
    "WITH x, properties(rels(p), 'tx') AS txs, properties(rels(p), 'value') AS amounts "
    "WHERE list_sort(txs) = txs "
    "RETURN x.id AS reached, txs[size(txs)] AS tx, amounts[size(amounts)] AS value"
)


def pick_seeds(frames: FrameSet, n_hubs: int, n: int = N_SEEDS) -> list[str]:
    """``n`` ordinary addresses (not hubs) that both received and paid in the first half of the
    chain, picked with a fixed RNG seed from the sorted candidates."""
    transfers = frames.transfers
    half = transfers["block_height"].max() // 2  # type: ignore[operator]
    early = transfers.filter(pl.col("block_height") <= half)
    hubs = set(hub_tags(n_hubs)["address"].to_list())
    candidates = sorted(
        set(early["from_address"].to_list()) & set(early["to_address"].to_list()) - hubs
    )
    return sorted(random.Random(RNG_SEED).sample(candidates, n))


def run_trace(store: EmbeddedStore, seeds: list[str]) -> tuple[float, TraceResult]:
    spec = TraceSpec(
        chain=CHAIN, account_model=True, seeds=tuple(Seed(address=a) for a in seeds),
        direction=Direction.FORWARD, model=Model.HAIRCUT, hops=HOPS,
    )
    started = time.perf_counter()
    result = trace(spec, store, store.tags)
    return time.perf_counter() - started, result


def run_baseline(store: EmbeddedStore, seeds: list[str], n_hubs: int) -> dict[str, Any]:
    seed_ids = store._address_ids(CHAIN, seeds)  # noqa: SLF001 - the analyst would look the ids up too
    stops = store._address_ids(CHAIN, hub_tags(n_hubs)["address"].to_list())  # noqa: SLF001
    started = time.perf_counter()
    try:
        rows = store.query(BASELINE.format(hops=HOPS), {"seeds": seed_ids, "stops": stops})
        reached = rows.unique().group_by("reached").agg(pl.col("value").cast(pl.Decimal(38, 0)).sum())
        seconds = time.perf_counter() - started
        return {"baseline_s": round(seconds, 3), "baseline_timed_out": False, "baseline_paths": rows.height,
                "baseline_reached": reached.height}
    except StoreError as exc:
        seconds = time.perf_counter() - started
        if "timeout" not in str(exc).lower() and "interrupt" not in str(exc).lower():
            raise
        return {"baseline_s": round(seconds, 3), "baseline_timed_out": True, "baseline_paths": None,
                "baseline_reached": None}


def check_chain_order(store: EmbeddedStore) -> None:
    """The baseline's time rule compares transaction ids: they must follow (block, position)."""
    order = store._run(  # noqa: SLF001
        "MATCH (t:`Transaction`) RETURN t.id AS id, t.block_height AS h, t.position AS p ORDER BY id"
    )
    if not order.select((pl.col("h").diff() > 0) | ((pl.col("h").diff() == 0) & (pl.col("p").diff() > 0))).slice(
        1
    ).to_series().all():
        raise SystemExit("transaction ids do not follow chain order: the baseline's time rule would be wrong")


def build(path: Path, quick: bool) -> dict[str, Any]:
    """Generate the chain, load it and the hub tags into a new store at ``path``; pick the seeds."""
    n, m, hubs = (12_000, 6_000, 5) if quick else (1_000_000, 300_000, 20)
    started = time.perf_counter()
    frames = skewed_transfers(n, m, n_hubs=hubs)
    info: dict[str, Any] = {
        "quick": quick, "edges": frames.transfers.height,
        "addresses": pl.concat([frames.transfers["from_address"], frames.transfers["to_address"]]).n_unique(),
        "transactions": frames.transactions.height, "hubs_tagged_exchange": hubs,
        "seed_addresses": pick_seeds(frames, hubs),
    }
    with EmbeddedStore.open(path) as store:
        store.load(frames)
        store.load(FrameSet(tags=hub_tags(hubs)))
        check_chain_order(store)
    info["build_s"] = round(time.perf_counter() - started, 1)
    return info


def build_scaled(path: Path, shards: int, quick: bool) -> dict[str, Any]:
    """The ``--scale`` stores: ``shards`` segments of the benchmark chain loaded one after another
    (in two loads, as a growing ingest; memory stays that of half the segments); seeds from shard 0."""
    n, m, hubs = (12_000, 6_000, 5) if quick else (1_000_000, 300_000, 20)
    started = time.perf_counter()
    info: dict[str, Any] = {"quick": quick, "shards": shards, "edges": 0, "transactions": 0,
                            "hubs_tagged_exchange": hubs}
    load_s = []
    with EmbeddedStore.open(path) as store:
        # in loads of at most half the shards (memory stays that of a few shards), each at least as
        # large as what is stored: every load is then a COPY (appending by LOAD FROM ... CREATE a
        # million relationships to millions is several times slower)
        per_load = max(1, (shards + 1) // 2)
        for first in range(0, shards, per_load):
            parts = [skewed_transfers(n, m, n_hubs=hubs, shard=k) for k in range(first, min(shards, first + per_load))]
            if first == 0:
                info["seed_addresses"] = pick_seeds(parts[0], hubs)
            frames = FrameSet(transactions=pl.concat([p.transactions for p in parts]),
                              transfers=pl.concat([p.transfers for p in parts]))
            del parts
            info["edges"] += frames.transfers.height
            info["transactions"] += frames.transactions.height
            loading = time.perf_counter()
            store.load(frames)
            load_s.append(round(time.perf_counter() - loading, 1))
            del frames
        store.load(FrameSet(tags=hub_tags(hubs)))
    info["addresses"] = hubs + shards * (m - hubs)  # at most: the generator's address space
    info["build_s"] = round(time.perf_counter() - started, 1)
    info["load_s"] = load_s
    info["build_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return info


def build_in_child(path: Path, quick: bool) -> dict[str, Any]:
    """Build the store in a child process, so this process's peak RSS is the trace's and the
    baseline's, not the generator's and the bulk load's (reported as ``build_peak_rss_mb``)."""
    sidecar = path.with_suffix(".json")
    if not path.exists():
        command = [sys.executable, __file__, "--build", str(path)] + (["--quick"] if quick else [])
        subprocess.run(command, check=True)
    info: dict[str, Any] = json.loads(sidecar.read_text())
    info["build_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024) or None
    return info


def run(quick: bool, repeats: int, keep: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        path = keep if keep is not None else Path(tmp) / "bench.lbug"
        info = build_in_child(path, quick)
        seeds: list[str] = info.pop("seed_addresses")
        hubs: int = info["hubs_tagged_exchange"]
        result: dict[str, Any] = {**info, "seeds": len(seeds), "hops": HOPS, "model": "haircut",
                                  "rng_seed": RNG_SEED}
        with EmbeddedStore.open(path, read_only=True) as store:
            times = []
            for _ in range(repeats):
                seconds, traced = run_trace(store, seeds)
                times.append(seconds)
            result.update(
                trace_s=round(statistics.median(times[1:] or times), 3),
                trace_first_s=round(times[0], 3),
                trace_queries=traced.queries,
                trace_hops=traced.hops.height,
                trace_reached=traced.hops["to_address"].n_unique(),
                trace_endings={k: v for k, v in traced.totals.get("native", {}).items() if v},
                reconciles=all(v == 0 for v in reconcile(traced).values()),
            )
            result["trace_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            result.update(run_baseline(store, seeds, hubs))
            result["baseline_timeout_s"] = QUERY_TIMEOUT_MS / 1000
    result["speedup"] = round(result["baseline_s"] / result["trace_s"], 1)
    result["speedup_is_lower_bound"] = result["baseline_timed_out"]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["targets_met"] = {
        "trace_s < 1": result["trace_s"] < 1,
        "speedup >= 20": result["speedup"] >= 20,
        "peak_rss_mb < 1024": result["peak_rss_mb"] < 1024,
    }
    return result


def _trace_store(path: Path, seeds: list[str], repeats: int) -> dict[str, Any]:
    with EmbeddedStore.open(path, read_only=True) as store:
        times, traced = [], None
        for _ in range(repeats):
            seconds, traced = run_trace(store, seeds)
            times.append(seconds)
    assert traced is not None
    hops = traced.hops
    return {
        "trace_s": round(statistics.median(times[1:] or times), 3),
        "trace_first_s": round(times[0], 3),
        "trace_runs_s": [round(t, 3) for t in times],
        "queries": traced.queries,
        "hops": hops.height,
        "reached": hops["to_address"].n_unique(),
        "totals": {k: {e: str(v) for e, v in t.items() if v} for k, t in traced.totals.items()},
        "reconciles": all(v == 0 for v in reconcile(traced).values()),
        # the shape of the answer without the txids, blocks and times (later segments shift none of
        # shard 0's, but the comparison should not depend on it)
        "_shape": hops.drop([c for c in hops.columns if c in {"txid", "block_height", "timestamp", "time",
                                                               "block"}]).hash_rows().sum(),
    }


def run_scale(quick: bool, repeats: int, keep: Path | None) -> dict[str, Any]:
    """``--scale``: the same trace on a 1M- and a 10M-transfer store (see the module docstring)."""
    sizes = {"1m": 1, "10m": 10}
    result: dict[str, Any] = {"quick": quick, "hops": HOPS, "model": "haircut", "rng_seed": RNG_SEED}
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        directory = keep if keep is not None else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        traces = {}
        for name, shards in sizes.items():
            path = directory / f"scale-{name}{'-quick' if quick else ''}.lbug"
            sidecar = path.with_suffix(".json")
            if not path.exists():
                command = [sys.executable, __file__, "--build", str(path), "--shards", str(shards)]
                subprocess.run(command + (["--quick"] if quick else []), check=True)
            info = json.loads(sidecar.read_text())
            seeds: list[str] = info.pop("seed_addresses")
            result[f"store_{name}"] = info
            traces[name] = _trace_store(path, seeds, repeats)
    same = traces["1m"].pop("_shape") == traces["10m"].pop("_shape")
    for name, traced in traces.items():
        result[f"trace_s_{name}"] = traced.pop("trace_s")
        result[f"trace_first_s_{name}"] = traced.pop("trace_first_s")
        result[f"trace_{name}"] = traced
    result["growth"] = round(result["trace_s_10m"] / result["trace_s_1m"], 2)
    result["growth_first"] = round(result["trace_first_s_10m"] / result["trace_first_s_1m"], 2)
    result["same_answer"] = same and traces["1m"]["totals"] == traces["10m"]["totals"]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["targets_met"] = {
        "growth <= 2.0": result["growth"] <= 2.0,
        "peak_rss_mb < 1024": result["peak_rss_mb"] < 1024,
        "same answer on both stores": result["same_answer"],
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=4,
                        help="trace runs (the median of all but the first is reported)")
    parser.add_argument("--keep", type=Path, help="build the store here (or reuse the one built there); "
                        "with --scale a directory for both stores")
    parser.add_argument("--scale", action="store_true",
                        help="the same trace on a 1M- and a 10M-transfer store, side by side (issue 21)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child process's job
    parser.add_argument("--shards", type=int, default=0, help=argparse.SUPPRESS)  # --scale's child
    args = parser.parse_args()
    if args.build is not None:
        info = build_scaled(args.build, args.shards, args.quick) if args.shards else build(args.build, args.quick)
        args.build.with_suffix(".json").write_text(json.dumps(info))
        return 0
    if args.scale:
        result = run_scale(args.quick, args.repeats, args.keep)
    else:
        result = run(args.quick, args.repeats, args.keep)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
