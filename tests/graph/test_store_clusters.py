# SPDX-License-Identifier: Apache-2.0
"""Replacing a chain's clustering in the store (both backends).

A plain ``load`` only ever adds: loading a membership whose cluster id changed would leave the
address in its old cluster *and* the new one. ``replace_clusters(chain, rows)`` makes the rows the
chain's whole clustering (other chains untouched), is idempotent, and checks the rows before it
deletes anything.
"""

from __future__ import annotations

import polars as pl
import pytest

from graph.base import GraphStore
from tracer.errors import InputError, SchemaError
from tracer.schema import CLUSTERS, FrameSet, conform

LTC = "ltc-regtest"
BTC = "btc"


def rows(chain: str, membership: dict[str, str], source: str = "tracer cluster: multi_input") -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"chain": chain, "address": a, "cluster_id": f"{chain}:{c}", "source": source} for a, c in membership.items()],
        schema=dict(CLUSTERS.columns),
    )
    return conform(frame, CLUSTERS)


def stored(store: GraphStore, chain: str) -> dict[str, str]:
    frame = store.read_frames(chain).clusters
    assert frame["address"].is_unique().all(), "an address sits in two clusters"
    return dict(zip(frame["address"].to_list(), frame["cluster_id"].to_list(), strict=True))


def test_a_first_clustering_is_stored_and_found_by_member(store: GraphStore) -> None:
    assert store.replace_clusters(LTC, rows(LTC, {"a1": "a1", "a2": "a1", "b1": "b1", "b2": "b1"})) == 4
    assert stored(store, LTC) == {"a1": f"{LTC}:a1", "a2": f"{LTC}:a1", "b1": f"{LTC}:b1", "b2": f"{LTC}:b1"}
    assert store.cluster(LTC, "a2")["address"].to_list() == ["a1", "a2"]
    assert store.stats()["Cluster"] == 2


def test_new_evidence_moves_members_and_drops_clusters_that_no_longer_exist(store: GraphStore) -> None:
    store.replace_clusters(LTC, rows(LTC, {"a1": "a1", "a2": "a1", "b1": "b1", "b2": "b1"}))
    # a transaction spending a2 and b1 together merges the two clusters into the one of "a1"
    merged = {"a1": "a1", "a2": "a1", "b1": "a1", "b2": "a1"}
    store.replace_clusters(LTC, rows(LTC, merged))
    assert stored(store, LTC) == {a: f"{LTC}:{c}" for a, c in merged.items()}
    assert store.stats()["Cluster"] == 1
    assert store.stats()["IN_CLUSTER"] == 4
    assert store.cluster(LTC, "b2")["cluster_id"].unique().to_list() == [f"{LTC}:a1"]


def test_replacing_with_the_same_rows_changes_nothing(store: GraphStore) -> None:
    clusters = rows(LTC, {"a1": "a1", "a2": "a1"})
    store.replace_clusters(LTC, clusters)
    before = store.read_frames(LTC).clusters
    store.replace_clusters(LTC, clusters)
    assert store.read_frames(LTC).clusters.equals(before)
    assert store.stats()["Cluster"] == 1


def test_other_chains_keep_their_clusters(store: GraphStore) -> None:
    store.load(FrameSet(clusters=rows(BTC, {"x1": "x1", "x2": "x1"})))
    store.replace_clusters(LTC, rows(LTC, {"a1": "a1", "a2": "a1"}))
    store.replace_clusters(LTC, rows(LTC, {}))
    assert stored(store, LTC) == {}
    assert stored(store, BTC) == {"x1": f"{BTC}:x1", "x2": f"{BTC}:x1"}


def test_rows_of_another_chain_or_not_canonical_are_refused_before_anything_is_deleted(store: GraphStore) -> None:
    store.replace_clusters(LTC, rows(LTC, {"a1": "a1", "a2": "a1"}))
    with pytest.raises(InputError, match="chain 'btc'"):
        store.replace_clusters(LTC, rows(BTC, {"x1": "x1"}))
    with pytest.raises(SchemaError):
        store.replace_clusters(LTC, rows(LTC, {"a1": "a1"}).drop("source"))
    assert stored(store, LTC) == {"a1": f"{LTC}:a1", "a2": f"{LTC}:a1"}
