# SPDX-License-Identifier: Apache-2.0
"""The committed ``op-fixture`` case: a drug vendor's proceeds, frozen as canonical frames.

``scripts/make_fixture_case.py`` made it on real nodes (``litecoind -regtest`` and ``anvil``) and
ingested it with the real adapters; its ``story.json`` says what it did. These tests load the
frames into a fresh embedded store and check that the tracer's detectors see the story the way it
was made: the buyers' payments on the seed addresses, the consolidation that ties both payout
addresses into one cluster, the 6-step peel chain, the CoinJoin (which must *not* cluster the
vendor with the other participants), the exchange deposits the TagPack tags, and the token leg.
Addresses and txids change whenever the fixture is regenerated, so every expectation is read from
``story.json``; the amounts are the story's own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.addresses import normalize_address
from graph.embedded import EmbeddedStore
from tracer.chains import default_registry
from tracer.clustering import clusters, multi_input_links
from tracer.coinjoin import coinjoin_transactions
from tracer.peel_chains import peel_chains
from tracer.schema import FRAMES, FrameSet, validate
from tracer.tagpacks import parse_tagpack

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"
LTC, ETH = "ltc-regtest", "eth-devnet"
FRAME_NAMES = ("transactions", "inputs", "outputs", "transfers")


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return dict(json.loads((FIXTURE / "story.json").read_text()))


def _verified_frames() -> dict[str, FrameSet]:
    """The committed frames, after checking every file against ``frames/SHA256SUMS``."""
    root = FIXTURE / "frames"
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, f"{name} changed"
    return {chain: FrameSet(**{n: pl.read_parquet(root / chain / f"{n}.parquet") for n in FRAME_NAMES})
            for chain in (LTC, ETH)}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FrameSet]:
    """The frames loaded into a fresh embedded store and read back from it."""
    frames = _verified_frames()
    with EmbeddedStore.open(tmp_path_factory.mktemp("op-fixture") / "graph.lbug") as store:
        store.ensure_schema()
        for chain_frames in frames.values():
            store.load(chain_frames.validate())
        return {chain: store.read_frames(chain) for chain in frames}


@pytest.fixture(scope="module")
def ltc(loaded: dict[str, FrameSet]) -> FrameSet:
    return loaded[LTC]


def test_every_frame_file_is_listed_in_sha256sums_and_canonical() -> None:
    listed = {line.split("  ", 1)[1] for line in (FIXTURE / "frames" / "SHA256SUMS").read_text().splitlines()}
    # the frames, the token metadata (symbol, decimals) the EVM ingest read for the fUSD contract, and
    # the blocks each chain's ingest loaded completely (so a trace may call value there held)
    assert listed == ({f"{c}/{n}.parquet" for c in (LTC, ETH) for n in FRAME_NAMES} | {f"{ETH}/tokens.json"}
                      | {f"{c}/coverage.json" for c in (LTC, ETH)})
    for chain, frames in _verified_frames().items():
        for name in FRAME_NAMES:
            frame = getattr(frames, name)
            validate(frame, FRAMES[name])
            key = list(FRAMES[name].key)
            assert frame.equals(frame.sort(key, nulls_last=True)), f"{chain}/{name} is not sorted by its key"


def test_the_fixture_claims_the_story_blocks_complete() -> None:
    story = json.loads((FIXTURE / "story.json").read_text())
    for chain, key in ((LTC, "ltc"), (ETH, "eth")):
        coverage = json.loads((FIXTURE / "frames" / chain / "coverage.json").read_text())
        assert coverage == {"chain": chain, "complete_blocks": [[story[key]["first_block"], story[key]["last_block"]]]}


def test_the_store_gives_back_exactly_the_committed_frames(loaded: dict[str, FrameSet]) -> None:
    committed = _verified_frames()
    for chain in (LTC, ETH):
        for name in FRAME_NAMES:
            key = list(FRAMES[name].key)
            back = getattr(loaded[chain], name).sort(key, nulls_last=True)
            assert back.equals(getattr(committed[chain], name)), f"{chain}/{name} differs after a load"


def test_the_story_blocks_are_all_there(ltc: FrameSet, story: dict[str, Any]) -> None:
    s = story["ltc"]
    heights = ltc.transactions["block_height"]
    assert (heights.min(), heights.max()) == (s["first_block"], s["last_block"])
    # one coinbase per block, plus 1 setup + 8 sales + 1 consolidation + 6 peels + 1 CoinJoin + 1 deposit
    blocks = s["last_block"] - s["first_block"] + 1
    assert ltc.transactions.height == blocks + 18
    story_txids = {s["funding"]["txid"], s["consolidation"]["txid"], s["coinjoin"]["txid"],
                   s["exchange_deposit"]["txid"], *(x["txid"] for x in s["sales"]),
                   *(p["txid"] for p in s["peel_chain"])}
    non_coinbase = ltc.transactions.filter(~pl.col("is_coinbase"))
    assert set(non_coinbase["txid"]) == story_txids
    assert non_coinbase["fee"].cast(pl.Int64).to_list() == [10_000] * 18


def test_the_buyers_paid_the_vendor_what_the_seed_outputs_hold(ltc: FrameSet, story: dict[str, Any]) -> None:
    case = json.loads((FIXTURE / "case.json").read_text())
    seeds = [s["address"] for s in case["seeds"] if s["chain"] == LTC]
    assert seeds == story["ltc"]["roles"]["vendor_payout"]
    at_seeds = ltc.outputs.filter(pl.col("address").is_in(seeds))
    assert at_seeds.height == 8
    assert at_seeds["value"].sum() == sum(s["value"] for s in story["ltc"]["sales"]) == 1_050_000_000
    per_seed = at_seeds.group_by("address").agg(pl.col("value").sum())
    assert dict(per_seed.iter_rows()) == {seeds[0]: 730_000_000, seeds[1]: 320_000_000}
    # every sale output is spent by the consolidation, and nothing else reaches the seeds
    consolidation = story["ltc"]["consolidation"]
    spent = ltc.inputs.filter(pl.col("txid") == consolidation["txid"])
    assert sorted(zip(spent["prev_txid"], spent["prev_index"], strict=True)) == sorted(
        (s["txid"], 0) for s in story["ltc"]["sales"])
    assert spent["value"].sum() == consolidation["input_value"] == 1_050_000_000


def test_the_consolidation_puts_both_payout_addresses_in_one_cluster(ltc: FrameSet, story: dict[str, Any]) -> None:
    roles = story["ltc"]["roles"]
    coinjoins = coinjoin_transactions(ltc.inputs, ltc.outputs)
    edges = multi_input_links(ltc.inputs, coinjoins)
    found = dict(clusters(edges, None, LTC, "test").select("address", "cluster_id").iter_rows())
    a, b = roles["vendor_payout"]
    assert found[a] == found[b] == f"{LTC}:{min(a, b)}"
    link = edges.filter(pl.col("txid") == story["ltc"]["consolidation"]["txid"])
    assert link.select("address", "linked_address").rows() == [(min(a, b), max(a, b))]
    # the CoinJoin links nobody: the vendor's peel change is not clustered with the participants
    vendor_in = story["ltc"]["coinjoin"]["vendor_input"]["address"]
    assert vendor_in not in found
    assert not set(roles["participants"]) & set(found)


def test_the_peel_chain_is_found_with_its_six_steps(ltc: FrameSet, story: dict[str, Any]) -> None:
    steps = story["ltc"]["peel_chain"]
    chains = peel_chains(ltc.transactions, ltc.inputs, ltc.outputs)
    assert chains.height == 1  # the buyers' two payments each are too short to count (min_length 3)
    chain = chains.row(0, named=True)
    assert chain["length"] == 6
    assert chain["txids"] == [p["txid"] for p in steps]
    assert chain["peeled"] == [120_000_000, 40_000_000, 75_000_000, 55_000_000, 30_000_000, 25_000_000]
    assert chain["peeled_addresses"] == [p["peel"]["address"] for p in steps]
    assert chain["continuing"] == [p["change"]["value"] for p in steps]
    assert chain["total_peeled"] == story["ltc"]["totals"]["peeled"] == 345_000_000
    assert chain["continuing"][-1] == story["ltc"]["coinjoin"]["vendor_input"]["value"] == 704_930_000


def test_the_coinjoin_is_detected_and_meets_blocksci_rule(ltc: FrameSet, story: dict[str, Any]) -> None:
    join = story["ltc"]["coinjoin"]
    found = coinjoin_transactions(ltc.inputs, ltc.outputs)
    assert found["txid"].to_list() == [join["txid"]]
    ins = ltc.inputs.filter(pl.col("txid") == join["txid"])
    outs = ltc.outputs.filter(pl.col("txid") == join["txid"])
    # BlockSci: >= 2 inputs, >= 3 outputs, participants = ceil(outputs / 2) <= inputs and distinct
    # input addresses, and the most common output value occurs exactly `participants` times
    participants = (outs.height + 1) // 2
    assert (ins.height, outs.height, participants, ins["address"].n_unique()) == (5, 10, 5, 5)
    top = outs.group_by("value").len().sort("len", descending=True).row(0)
    assert top == (500_000_000, participants)
    assert outs.row(join["vendor_mix"]["vout"], named=True)["address"] == join["vendor_mix"]["address"]


def test_the_exchange_receives_the_peels_and_the_mixed_coin(ltc: FrameSet, story: dict[str, Any]) -> None:
    deposits = story["ltc"]["roles"]["exchange_deposits"]
    received = dict(ltc.outputs.filter(pl.col("address").is_in(deposits)).group_by("address")
                    .agg(pl.col("value").sum()).iter_rows())
    assert [received[a] for a in deposits] == [40_000_000, 80_000_000, 529_990_000]
    assert received == story["ltc"]["totals"]["exchange_deposits"]
    tagpack = parse_tagpack((FIXTURE / "exchange-tagpack.yaml").read_text(), "exchange-tagpack.yaml",
                            default_registry(), normalize=normalize_address)
    tagged = tagpack.tags.select("chain", "address", "label", "category").rows()
    assert tagged == sorted([*((LTC, a, "Exchange Alpha", "exchange") for a in deposits),
                             (ETH, story["eth"]["roles"]["exchange-deposit"], "Exchange Alpha", "exchange")])


def test_the_ethereum_leg_moves_the_token_and_eth_to_the_exchange(loaded: dict[str, FrameSet],
                                                                   story: dict[str, Any]) -> None:
    eth = story["eth"]
    roles, token = eth["roles"], eth["token"]["address"]
    case = json.loads((FIXTURE / "case.json").read_text())
    assert [s["address"] for s in case["seeds"] if s["chain"] == ETH] == [roles["vendor"]]
    moves = loaded[ETH].transfers.filter(pl.col("kind").is_in(["native", "token"])).select(
        "kind", "asset", "from_address", "to_address", pl.col("value").cast(pl.Int64)
    )
    path = [(roles["buyer"], roles["vendor"]), (roles["vendor"], roles["intermediate"]),
            (roles["intermediate"], roles["exchange-deposit"])]
    for (sender, receiver), wei in zip(path, [800_000_000_000_000_000, 750_000_000_000_000_000,
                                               700_000_000_000_000_000], strict=True):
        hop = moves.filter((pl.col("from_address") == sender) & (pl.col("to_address") == receiver))
        assert sorted(hop.rows()) == [("native", "native", sender, receiver, wei),
                                      ("token", token, sender, receiver, 1_250_000_000)]
    # every story transaction paid its fee from the sender's ETH
    fees = loaded[ETH].transfers.filter(pl.col("kind") == "fee").group_by("txid").agg(
        pl.col("value").cast(pl.Int64).sum())
    assert dict(fees.iter_rows()) == {s["txid"]: s["fee"] for s in eth["steps"]}
