# SPDX-License-Identifier: Apache-2.0
"""Spark clustering against the single-machine job on a large synthetic UTXO chain (issue 21).

The test suite checks that ``tracer spark cluster`` gives exactly the clusters (ids and members),
evidence edges and CoinJoins of ``tracer cluster run`` on the fixture chain and on a synthetic chain
of 20,000 transactions (``tests/spark``); a chain of a million is too slow for every CI run on two
cores, so this script checks the same equality at that size, once, in Spark local mode:

    python benchmarks/spark_equality.py --transactions 1000000

The chain is ``tests.spark.helpers.synthetic_utxo`` (payments of 1-4 inputs and 1-3 outputs between a
pool of addresses, CoinJoin-shaped rounds mixed in, every spent output present). It prints the
sizes, both jobs' times (the single-machine job is the baseline, same process) and ``equal``; the
exit code is 1 when any frame differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import print_result  # noqa: E402

from jobs.spark.clustering import read_result, run_spark_clustering  # noqa: E402
from jobs.spark.session import spark_session  # noqa: E402
from tests.spark.helpers import reference_clusters, synthetic_utxo, write_frames  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    frames = synthetic_utxo("btc", args.transactions)
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="spark-equality-") as tmp:
        root = write_frames(frames, Path(tmp) / "frames", "btc")
        started = time.perf_counter()
        want = reference_clusters(frames.inputs, frames.outputs, "btc")
        single = time.perf_counter() - started
        spark = spark_session("local[2]", "tracer-spark-equality")
        try:
            started = time.perf_counter()
            run_spark_clustering(spark, str(root), Path(tmp) / "out", "btc", checksums=False)
            distributed = time.perf_counter() - started
        finally:
            spark.stop()
        got = read_result(Path(tmp) / "out", "btc")
    differ = [name for name in ("clusters", "evidence", "coinjoins") if not got[name].equals(want[name])]
    print_result({
        "transactions": frames.transactions.height, "inputs": frames.inputs.height,
        "outputs": frames.outputs.height, "clusters": want["clusters"]["cluster_id"].n_unique(),
        "addresses_clustered": want["clusters"].height, "evidence_edges": want["evidence"].height,
        "coinjoins": want["coinjoins"].height, "build_s": round(built, 1), "single_machine_s": round(single, 2),
        "spark_s": round(distributed, 1), "ratio": round(distributed / single, 1) if single else None,
        "equal": not differ, "differ": differ,
    }, as_json=args.json)
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
