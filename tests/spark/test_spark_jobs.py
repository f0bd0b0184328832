# SPDX-License-Identifier: Apache-2.0
"""The Spark jobs give exactly the single-machine answers: clusters (ids and members, evidence,
CoinJoins) of ``tracer cluster run`` and exposures (exact integers) of ``tracer screen``, on the
fixture chain and on synthetic chains. The 1M-transfer equality runs in
``benchmarks/spark_jobs.py`` (too slow for the test suite in local mode)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobs.frames_ingest import read_frame_dir
from jobs.spark.clustering import read_result, run_spark_clustering
from jobs.spark.exposure import account_edges, spark_exposures, utxo_edges
from jobs.spark.frames import chain_frame
from tests.spark.helpers import COMPARED, reference_clusters, reference_exposures, synthetic_utxo, write_frames
from tests.tracer.chain_builder import AccountChain

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture" / "frames"
#: synthetic UTXO transactions in the suite (~2 inputs and ~2 outputs each): 20,000 keeps the ordinary
#: test run short; TRACER_SPARK_TEST_TXS=100000 (measured equal, 60 s) or more for a longer check
SYNTHETIC_TXS = int(os.environ.get("TRACER_SPARK_TEST_TXS", "20000"))


def _spark_exposures(spark: Any, root: Path, chain: str, wallets: list[str], tags: pl.DataFrame, hops: int,
                     max_edges: int = 10_000) -> pl.DataFrame:
    if chain.startswith("eth"):
        edges = account_edges(chain_frame(spark, str(root), chain, "transfers"))
    else:
        edges = utxo_edges(chain_frame(spark, str(root), chain, "inputs"),
                           chain_frame(spark, str(root), chain, "outputs"))
    wallet_frame = spark.createDataFrame([(w,) for w in wallets], "address string")
    tag_frame = spark.createDataFrame(tags.select("address", "category").rows(), "address string, category string")
    rows = spark_exposures(spark, chain, edges, wallet_frame, tag_frame, hops=hops, max_edges=max_edges).collect()
    frame = pl.DataFrame([r.asDict() for r in rows], schema={"chain": pl.String, "wallet": pl.String,
                                                              "side": pl.String, "category": pl.String,
                                                              "asset": pl.String, "amount": pl.String,
                                                              "total": pl.String, "share_bp": pl.Int64})
    return frame.select(COMPARED).sort(COMPARED)


def test_fixture_clusters_equal_the_single_machine_job(spark: Any, tmp_path: Path) -> None:
    done = run_spark_clustering(spark, str(FIXTURE), tmp_path, None)
    assert [c["chain"] for c in done["chains"]] == ["ltc-regtest"]
    ins = pl.read_parquet(FIXTURE / "ltc-regtest" / "inputs.parquet")
    outs = pl.read_parquet(FIXTURE / "ltc-regtest" / "outputs.parquet")
    want = reference_clusters(ins, outs, "ltc-regtest")
    got = read_result(tmp_path, "ltc-regtest")
    assert want["coinjoins"].height == 1  # the story's CoinJoin is found and skipped
    for name in ("clusters", "evidence", "coinjoins"):
        assert got[name].equals(want[name]), name


def test_synthetic_chain_clusters_equal_the_single_machine_job(spark: Any, tmp_path: Path) -> None:
    frames = synthetic_utxo("btc", SYNTHETIC_TXS)
    root = write_frames(frames, tmp_path / "frames", "btc")
    run_spark_clustering(spark, str(root), tmp_path / "out", "btc", checksums=False)
    want = reference_clusters(frames.inputs, frames.outputs, "btc")
    got = read_result(tmp_path / "out", "btc")
    # several clusters, CoinJoins skipped
    assert want["coinjoins"].height > 0 and want["clusters"]["cluster_id"].n_unique() > 1
    for name in ("coinjoins", "evidence", "clusters"):
        assert got[name].equals(want[name]), name


def _fixture_tags() -> pl.DataFrame:
    from jobs.addresses import address_normalizer
    from tracer.chains import default_registry
    from tracer.tagpacks import parse_tagpack

    registry = default_registry()
    text = (FIXTURE.parent / "exchange-tagpack.yaml").read_text(encoding="utf-8")
    return parse_tagpack(text, "exchange-tagpack.yaml", registry, normalize=address_normalizer(registry)).tags


@pytest.mark.parametrize("chain", ["ltc-regtest", "eth-devnet"])
@pytest.mark.parametrize("hops", [1, 3])
def test_fixture_exposures_equal_the_single_machine_job(spark: Any, chain: str, hops: int) -> None:
    frames, _ = read_frame_dir(FIXTURE)
    frames = type(frames)(**{name: f.filter(pl.col("chain") == chain) if "chain" in f.columns else f
                             for name, f in frames.frames().items()})
    tags = _fixture_tags().filter(pl.col("chain") == chain)
    flows = frames.transfers if frames.transfers.height else frames.outputs
    column = "to_address" if frames.transfers.height else "address"
    wallets = sorted(set(flows[column].drop_nulls().to_list()))
    want = reference_exposures(frames, chain, wallets, tags, hops)
    got = _spark_exposures(spark, FIXTURE, chain, wallets, tags, hops)
    assert want.height > 0
    assert got.equals(want)


def _random_account_chain(seed: int, size: int) -> tuple[AccountChain, list[str]]:
    rng = random.Random(seed)
    chain = AccountChain("eth")
    addresses = [f"A{i:05d}" for i in range(max(8, size // 4))]
    for _ in range(size):
        sender, recipient = rng.choice(addresses), rng.choice(addresses)  # self-transfers included
        value = rng.choice([0, rng.randint(1, 1_000), rng.randint(1, 10**6), rng.randint(10**18, 10**24)])
        asset = "native" if rng.random() < 0.8 else "0xtoken"
        chain.send(sender, recipient, value, asset=asset, fee=rng.choice([0, 0, 21]))
    for address in rng.sample(addresses, max(1, len(addresses) // 10)):
        chain.tag(address, f"label of {address}", rng.choice(("scam", "exchange", "mixing_service")))
    return chain, addresses


@pytest.mark.parametrize(("seed", "size", "hops", "max_edges"),
                         [(2, 60, 3, 10_000), (3, 80, 4, 3), (5, 3_000, 3, 12)])
def test_random_account_chain_exposures_equal_the_single_machine_job(
        spark: Any, tmp_path: Path, seed: int, size: int, hops: int, max_edges: int) -> None:
    chain, addresses = _random_account_chain(seed, size)
    frames = chain.frames()
    root = write_frames(frames, tmp_path, "eth")
    tags = frames.tags
    want = reference_exposures(frames, "eth", addresses, tags, hops, max_edges)
    got = _spark_exposures(spark, root, "eth", addresses, tags, hops, max_edges)
    assert want.height > 0
    assert got.equals(want)
