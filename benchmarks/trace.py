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

    python benchmarks/trace.py --json          # full size (a few minutes: the baseline times out)
    python benchmarks/trace.py --quick --json  # small, seconds
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=4,
                        help="trace runs (the median of all but the first is reported)")
    parser.add_argument("--keep", type=Path, help="build the store here (or reuse the one built there)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.build is not None:
        info = build(args.build, args.quick)
        args.build.with_suffix(".json").write_text(json.dumps(info))
        return 0
    result = run(args.quick, args.repeats, args.keep)
    if args.json:
        print(json.dumps(result))  # noqa: T201
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
