# SPDX-License-Identifier: Apache-2.0
"""Benchmark: ``tracer screen`` of 20,000 wallets at 2 hops against a 1,000,000-transfer store (issue 7).

Builds, in a child process (so the measuring process's peak RSS is the screening's; the child's is
``build_peak_rss_mb``), the synthetic account-model chain of the trace benchmark
(``benchmarks/_synthetic.py``: >= 1,000,000 transfers between ~300,000 addresses, skewed degrees,
20 hubs, wei-scale integer amounts) in the embedded store, and a workspace tag library under a
temporary ``TRACER_HOME`` with >= 10,000 tagged addresses (fixed RNG seed):

* the 20 hubs as ``exchange`` (TagPack "Benchmark exchanges");
* 10,000 ordinary addresses: 1 % in a TagPack named "OFAC benchmark sanctions list", imported as a
  declared sanctions list (as ``tracer tags import --sanctions-list`` does, so ``sanctioned`` is
  added by the screening, as for a real OFAC import), and the rest spread over
  ``mixing_service``, ``market``, ``gambling`` and ``scam`` (TagPack "Benchmark attributions").

Then 20,000 wallets to screen, written to a CSV: half picked among the addresses that transacted
with a hub, half among all ordinary addresses (fixed RNG seed, distinct, sorted).

The screening is the real CLI in-process (Typer's ``CliRunner`` on ``cli.app.app``, with
``TRACER_HOME`` and ``TRACER_STORE_PATH`` set), ``tracer screen wallets.csv --chain eth --hops 2
--out <tmp>/screened.parquet --json --workers W --batch-size B``; wall time is measured around it
and ``peak_rss_mb`` is this process's ``ru_maxrss`` (``workers_peak_rss_mb``: the largest worker
process's, with ``--workers`` > 1). ``--sweep`` runs every combination of workers 1, 2 and batch
size 2,000, 5,000, 10,000, each in a fresh process on the same store, and reports them all.

Targets (issue 7, raised by issue 17): ``wallets_per_min`` >= 40,000, ``peak_rss_mb`` < 1024 (2-core machine).

    python benchmarks/screen.py --json            # full size (store build: a few minutes)
    python benchmarks/screen.py --quick --json    # small, seconds
    python benchmarks/screen.py --keep /tmp/sb --sweep --json   # build once, try the options
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
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

from graph.embedded import EmbeddedStore  # noqa: E402
from jobs.tag_library import TagLibrary  # noqa: E402
from tracer.schema import TAGS, conform  # noqa: E402
from tracer.tagpacks import SanctionsList, TagImport  # noqa: E402

HOPS = 2
RNG_SEED = 20_240_707
WORKERS = 1  # the CLI's defaults
BATCH_SIZE = 5_000
SWEEP = [(w, b) for w in (1, 2) for b in (2_000, 5_000, 10_000)]
#: ordinary tagged addresses by category (the sanctioned ones come from an "OFAC ..." TagPack)
CATEGORY_SHARES = {"sanctioned": 0.01, "mixing_service": 0.09, "market": 0.2, "gambling": 0.3, "scam": 0.4}


def _tag_frame(addresses: list[str], category: str, label: str, tagpack: str, source: str) -> pl.DataFrame:
    frame = pl.DataFrame({"address": addresses}).select(
        pl.lit(CHAIN).alias("chain"), "address", pl.lit(label).alias("label"),
        pl.lit(category).alias("category"), pl.lit(100, pl.Int64).alias("confidence"),
        pl.lit(tagpack).alias("tagpack"), pl.lit(source).alias("source"),
    )
    return conform(frame, TAGS)


def _import(library: TagLibrary, root: Path, name: str, tags: pl.DataFrame,
            sanctions: SanctionsList | None = None) -> None:
    tags = tags.sort(list(TAGS.key))
    source = root / f"{name.replace(' ', '_')}.yaml"  # stands in for the TagPack file (hashed only)
    source.write_text(f"title: {name}\n")
    library.import_(TagImport(name=name, file_name=source.name, format="tagpack", tags=tags, read=tags.height,
                              meta={"title": name}, sanctions=sanctions), source, "benchmark")


def build(root: Path, quick: bool) -> dict[str, Any]:
    """Generate the chain into ``root/graph.lbug``, the tag library into ``root/home/tags`` and the
    wallets into ``root/wallets.csv``."""
    n, m, hubs, n_tags, n_wallets = (12_000, 6_000, 5, 300, 1_000) if quick else (
        1_000_000, 300_000, 20, 10_000, 20_000)
    started = time.perf_counter()
    frames = skewed_transfers(n, m, n_hubs=hubs)
    transfers = frames.transfers
    with EmbeddedStore.open(root / "graph.lbug") as store:
        store.load(frames)
    hub_set = set(hub_tags(hubs)["address"].to_list())
    addresses = sorted(set(pl.concat([transfers["from_address"], transfers["to_address"]]).unique().to_list()))
    ordinary = [a for a in addresses if a not in hub_set]
    rng = random.Random(RNG_SEED)
    # tags: the hubs as exchanges, n_tags ordinary addresses over the categories
    library = TagLibrary.for_home(root / "home")
    library.root.mkdir(parents=True, exist_ok=True)
    _import(library, root, "Benchmark exchanges", hub_tags(hubs).with_columns(pl.lit("Benchmark exchanges")
                                                                              .alias("tagpack")))
    tagged = rng.sample(ordinary, n_tags)
    frames_by_pack: dict[str, list[pl.DataFrame]] = {}
    start = 0
    for category, share in CATEGORY_SHARES.items():
        count = round(n_tags * share)
        chunk = tagged[start:start + count]
        start += count
        if category == "sanctioned":  # as an OFAC TagPack labels them: category user, sanctions source
            pack = "OFAC benchmark sanctions list"
            frame = _tag_frame(chunk, "user", "Asset listed under OFAC benchmark list", pack,
                               "https://www.treasury.gov/ofac/downloads/sdnlist.txt")
        else:
            pack = "Benchmark attributions"
            frame = _tag_frame(chunk, category, f"Benchmark {category}", pack, "benchmark")
        frames_by_pack.setdefault(pack, []).append(frame)
    for pack, parts in frames_by_pack.items():
        _import(library, root, pack, pl.concat(parts),
                SanctionsList("OFAC benchmark", "2024-09-27") if pack.startswith("OFAC") else None)
    # wallets: half among the hubs' counterparties, half among all ordinary addresses
    near_hubs = sorted(
        set(transfers.filter(pl.col("from_address").is_in(list(hub_set)))["to_address"].to_list())
        | set(transfers.filter(pl.col("to_address").is_in(list(hub_set)))["from_address"].to_list())
        - hub_set)
    chosen = set(rng.sample(near_hubs, min(len(near_hubs), n_wallets // 2)))
    rest = [a for a in ordinary if a not in chosen]
    chosen |= set(rng.sample(rest, n_wallets - len(chosen)))
    with (root / "wallets.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["address"])
        writer.writerows([a] for a in sorted(chosen))
    return {
        "quick": quick, "edges": transfers.height, "addresses": len(addresses),
        "tagged_addresses": library.current([CHAIN])["address"].n_unique(),
        "tags_by_category": dict(sorted((str(k), int(v)) for k, v in library.current([CHAIN])
                                        .group_by("category").len().iter_rows())),
        "wallets_near_hubs": len(chosen & set(near_hubs)),
        "build_s": round(time.perf_counter() - started, 1),
        "build_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def build_in_child(root: Path, quick: bool) -> dict[str, Any]:
    sidecar = root / "info.json"
    if not sidecar.exists():
        root.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--build", str(root)] + (["--quick"] if quick else [])
        subprocess.run(command, check=True)
    info: dict[str, Any] = json.loads(sidecar.read_text())
    return info


def screen(root: Path, workers: int, batch_size: int) -> dict[str, Any]:
    """``tracer screen`` in this process; wall time, peak RSS and the command's own report."""
    from typer.testing import CliRunner

    from cli.app import app

    os.environ.update({"TRACER_HOME": str(root / "home"), "TRACER_STORE_PATH": str(root / "graph.lbug"),
                       "TRACER_STORE": "embedded", "TRACER_ACTOR": "benchmark"})
    with tempfile.TemporaryDirectory(prefix="tracer-screen-") as tmp:
        out = Path(tmp) / "screened.parquet"
        args = ["screen", str(root / "wallets.csv"), "--chain", CHAIN, "--hops", str(HOPS), "--out", str(out),
                "--json", "--workers", str(workers), "--batch-size", str(batch_size)]
        started = time.perf_counter()
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        seconds = time.perf_counter() - started
        if result.exit_code not in (0, 3):
            raise SystemExit(f"tracer screen failed ({result.exit_code}): {result.output}")
        report = json.loads(result.stdout)
        exposures = pl.read_parquet(out.with_name("screened.exposures.parquet")).height
    return {
        "workers": workers, "batch_size": batch_size, "wallets": report["wallets"], "hops": HOPS,
        "screen_s": round(seconds, 2), "wallets_per_min": round(report["wallets"] / seconds * 60),
        "cli_wallets_per_min": report["wallets_per_min"], "hits": report["hits"], "levels": report["levels"],
        "exposures": exposures, "store_queries": report["store_queries"],
        "large_entities_not_expanded": len(report["large_entities_not_expanded"]),
        "files": report["files"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        if workers > 1 else None,
    }


def measure_in_child(root: Path, workers: int, batch_size: int) -> dict[str, Any]:
    """:func:`screen` in a fresh process: its peak RSS (and its workers') is the screening's alone."""
    command = [sys.executable, __file__, "--measure", str(root), "--workers", str(workers),
               "--batch-size", str(batch_size)]
    result: dict[str, Any] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return result


def _targets(result: dict[str, Any]) -> dict[str, bool]:
    return {"wallets_per_min >= 40000": result["wallets_per_min"] >= 40_000,
            "peak_rss_mb < 1024": result["peak_rss_mb"] + (result["workers_peak_rss_mb"] or 0)
            * (result["workers"] if result["workers"] > 1 else 0) < 1024}


def run(quick: bool, keep: Path | None, workers: int, batch_size: int, sweep: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        root = keep if keep is not None else Path(tmp) / "screen-bench"
        info = build_in_child(root, quick)
        if not sweep:
            result = {**info, "rng_seed": RNG_SEED, **measure_in_child(root, workers, batch_size)}
            result["targets_met"] = _targets(result)
            return result
        runs = [measure_in_child(root, w, b) for w, b in SWEEP]
        best = max(runs, key=lambda r: r["wallets_per_min"])
        keys = ("workers", "batch_size", "screen_s", "wallets_per_min", "peak_rss_mb", "workers_peak_rss_mb",
                "store_queries")
        return {**info, "rng_seed": RNG_SEED, "sweep": [{k: r[k] for k in keys} for r in runs],
                "same_output": len({json.dumps(r["files"], sort_keys=True) for r in runs}) == 1,
                "best": {k: best[k] for k in ("workers", "batch_size", "wallets_per_min")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workers", type=int, default=WORKERS, help="tracer screen --workers")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="tracer screen --batch-size")
    parser.add_argument("--sweep", action="store_true", help="try workers 1, 2 x batch size 2k, 5k, 10k")
    parser.add_argument("--keep", type=Path, help="build store, tags and wallets in this directory (or reuse them)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child processes' jobs
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(screen(args.measure, args.workers, args.batch_size)))  # noqa: T201
        return 0
    if args.build is not None:
        info = build(args.build, args.quick)
        (args.build / "info.json").write_text(json.dumps(info))
        return 0
    result = run(args.quick, args.keep, args.workers, args.batch_size, args.sweep)
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
