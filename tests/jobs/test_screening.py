# SPDX-License-Identifier: Apache-2.0
"""Screening's exposure on random account-model chains: the bounds every exposure must respect, and
that a wallet's result does not depend on the batch it was screened in.

Each case is a random chain (fixed seeds, so a failure reproduces) of a dozen addresses with
transfers in both directions, cycles, self-transfers, fees, a token besides the native coin and a few
wei-scale amounts, read through the reference frontier (``tracer.frontier.FrameFrontier``) exactly as
the store is read. The properties, for every wallet, side, category and asset:

* exposure <= the wallet's own total on that side (what it received, or sent);
* exposure <= what the category's tagged addresses received in total (sent side: value can only
  reach an entity that received it) or sent in total (received side).
"""

from __future__ import annotations

import random
from collections import defaultdict

import polars as pl
import pytest

from jobs.screening import ReadCache, ScreenParams, screen_batch
from tests.tracer.chain_builder import AccountChain
from tracer.frontier import FrameFrontier
from tracer.schema import TAGS

CATEGORIES = ("scam", "exchange", "mixing_service")


def _random_chain(seed: int) -> tuple[AccountChain, list[str]]:
    rng = random.Random(seed)
    chain = AccountChain("eth")
    addresses = [f"A{i:02d}" for i in range(rng.randint(6, 14))]
    for _ in range(rng.randint(8, 40)):
        sender, recipient = rng.choice(addresses), rng.choice(addresses)  # self-transfers included
        value = rng.choice([rng.randint(1, 1_000), rng.randint(1, 10**6), rng.randint(10**18, 10**22)])
        asset = "native" if rng.random() < 0.8 else "0xtoken"
        chain.send(sender, recipient, value, asset=asset, fee=rng.choice([0, 0, 21]))
    for address in rng.sample(addresses, rng.randint(1, 4)):
        chain.tag(address, f"label of {address}", rng.choice(CATEGORIES))
    return chain, addresses


def _flows(chain: AccountChain) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(address, asset) -> everything it received, and everything it sent, other than fees and self-transfers."""
    received: dict[tuple[str, str], int] = defaultdict(int)
    sent: dict[tuple[str, str], int] = defaultdict(int)
    for row in chain.rows:
        if row["kind"] == "fee" or row["to_address"] is None or row["from_address"] == row["to_address"]:
            continue
        amount = int(row["value"]) if row["value"] is not None else int(row["value_overflow"])
        received[(row["to_address"], row["asset"])] += amount
        sent[(row["from_address"], row["asset"])] += amount
    return received, sent


def _screen(chain: AccountChain, wallets: list[str], hops: int, cache: ReadCache | None = None
            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    frames = chain.frames()
    params = ScreenParams(chain="eth", account_model=True, hops=hops)
    tags = frames.tags.select(list(TAGS.columns))
    wallet_rows, exposure_rows, _ = screen_batch(FrameFrontier(frames), params, [(w, 1) for w in wallets], tags, cache)
    return wallet_rows, exposure_rows


@pytest.mark.parametrize("seed", range(60))
def test_exposure_never_exceeds_the_wallets_flow_nor_what_the_entity_received(seed: int) -> None:
    chain, addresses = _random_chain(seed)
    hops = 1 + seed % 4
    received, sent = _flows(chain)
    by_category: dict[str, set[str]] = defaultdict(set)
    for tag in chain.tags:
        by_category[tag["category"]].add(tag["address"])
    _, found = _screen(chain, addresses, hops)
    for row in found.iter_rows(named=True):
        amount, asset, entities = int(row["amount"]), row["asset"], by_category[row["category"]]
        own = (received if row["side"] == "received_from" else sent)[(row["wallet"], asset)]
        assert amount <= int(row["total"]) == own, row
        if row["side"] == "sent_to":  # value can only reach the entity if the entity received it
            assert amount <= sum(received[(e, asset)] for e in entities), row
        else:  # and only come from it if it sent it
            assert amount <= sum(sent[(e, asset)] for e in entities), row


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_a_wallets_result_does_not_depend_on_its_batch(seed: int) -> None:
    chain, addresses = _random_chain(seed)
    hops = 1 + seed % 4
    together = _screen(chain, addresses, hops)
    cache = ReadCache()  # one wallet a batch, sharing what earlier batches read, as a run does
    alone = [_screen(chain, [w], hops, cache) for w in addresses]
    assert pl.concat([a[0] for a in alone]).sort("wallet").equals(together[0].sort("wallet"))
    assert pl.concat([a[1] for a in alone]).sort("wallet", "side", "category", "asset").equals(
        together[1].sort("wallet", "side", "category", "asset"))
