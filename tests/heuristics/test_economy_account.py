# SPDX-License-Identifier: Apache-2.0
"""A small ground-truth account economy on anvil, measured; its rates must stay within the published
bounds (issue 23, account side).

The economy is ``AccountEconomyConfig.small`` (~270 transactions over ~25 blocks, about a second on
its own anvil). As on the UTXO side (``test_economy_rates.py``), each rate is one draw of a smaller
economy, so it is checked against the published interval **widened** on its bad side only by the
interval's own width plus :data:`tests.heuristics.bounds.SLACK`; size-dependent rates (pairwise recall and precision,
purity, over-merging: a smaller economy has fewer customers per merchant deposit address) are not
compared. The bounds are read from ``docs/error-rates.json`` (its ``account`` block), never typed
here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl
import pytest

from jobs.error_rates import RESULTS_FILE
from testing.devnodes import Anvil
from testing.economy_evm import CHAIN, ECONOMY_EVM_VERSION, AccountEconomy, AccountEconomyConfig, generate_account
from tests.heuristics.bounds import outside_published
from tracer.error_rates import Count
from tracer.error_rates_account import ACCOUNT_METRICS, measure_account

SEED = 23
SIZE_DEPENDENT = ("pairwise_recall", "pairwise_precision", "purity", "overmerged_clusters")


def _generate(seed: int) -> AccountEconomy:
    node = Anvil.start()  # its own node: the economy owns the chain from block 1, so a seed fixes every txid
    try:
        return generate_account(node, AccountEconomyConfig.small(seed))
    finally:
        node.stop()


@pytest.fixture(scope="module")
def economy() -> Iterator[AccountEconomy]:
    yield _generate(SEED)


@pytest.fixture(scope="module")
def counts(economy: AccountEconomy) -> dict[str, Count]:
    return measure_account(economy.frames, economy.owners, economy.transactions, CHAIN, economy.heights)


def test_the_economy_holds_every_entity_and_movement_it_promises(economy: AccountEconomy) -> None:
    kinds = set(economy.owners["kind"].drop_nulls().to_list())
    assert {"exchange", "user", "merchant", "launderer", "miner"} <= kinds
    roles = set(economy.owners["role"].drop_nulls().to_list())
    assert {"hot_wallet", "deposit", "user", "payment", "theft", "relay", "gas"} <= roles
    truth = set(economy.transactions["kind"].to_list())
    assert {"deposit", "sweep", "topup", "withdrawal", "payment", "theft", "launder_split", "launder_hop",
            "launder_deposit", "launder_otc", "launder_payment"} <= truth
    transfers = economy.frames.transfers
    assert set(transfers["kind"].to_list()) >= {"native", "token", "fee"}
    assert economy.token in set(transfers["asset"].to_list())
    # every address that moved value in the economy's own transactions has its true owner
    own = economy.transactions.filter(~pl.col("kind").is_in(["foreign", "deploy"])).select("txid")
    moved = transfers.filter(pl.col("kind") != "fee").join(own, on="txid", how="semi")
    addresses = set(moved["from_address"].to_list()) | set(moved["to_address"].to_list())
    assert economy.owners.filter(pl.col("address").is_in(list(addresses)))["entity"].null_count() == 0
    summary = economy.summary()
    assert summary["version"] == ECONOMY_EVM_VERSION and summary["transactions"] >= 200 and summary["blocks"] >= 15


def test_the_same_seed_gives_the_same_economy(economy: AccountEconomy) -> None:
    again = _generate(SEED)
    assert again.owners_digest() == economy.owners_digest()
    assert again.transactions.equals(economy.transactions)
    assert _generate(SEED + 1).owners_digest() != economy.owners_digest()


def test_the_account_rates_stay_within_the_published_bounds(counts: dict[str, Count]) -> None:
    published = json.loads(RESULTS_FILE.read_text())["account"]["rates"]
    assert outside_published(counts, published, SIZE_DEPENDENT) == []


def test_every_account_rate_is_measured(counts: dict[str, Count]) -> None:
    assert set(counts) == set(ACCOUNT_METRICS)
    assert counts["account.deposit_reuse.link_precision"].n > 0
    assert counts["account.exchange_attribution.recall"].n >= 8
    for model in ("haircut", "fifo"):
        for asset in ("eth", "token"):
            right = counts[f"account.trace.{model}.{asset}.true_entity_share"]
            wrong = counts[f"account.trace.{model}.{asset}.wrong_entity_share"]
            assert right.n > 0 and right.k + wrong.k <= right.n  # value-conserving models
