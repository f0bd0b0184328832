# SPDX-License-Identifier: Apache-2.0
"""``graph push`` is a sync, scoped to the case: what the case no longer holds (clusters of an
earlier clustering run, traces not pushed again, a removed tag) leaves the Bolt server (ArcadeDB),
and a second case pushed to the same database keeps everything it pushed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from tests.graph.op_fixture_case import CASE, LTC, build_case, push, run, story, tracer_env
from tracer.schema import CLUSTERS, TAGS, FrameSet

OTHER = "op-other"
S = story()
PEEL_CHANGE = S["ltc"]["roles"]["vendor_peel_change"]
COURIER = S["ltc"]["roles"]["courier"]


def _q(store: Neo4jStore, cypher: str, **params: Any) -> list[dict[str, Any]]:
    return store.query(cypher, params).to_dicts()


def _count(store: Neo4jStore, cypher: str, **params: Any) -> int:
    return int(_q(store, cypher, **params)[0]["n"])


@pytest.fixture()
def two_cases(tmp_path: Path, bolt_server: Any) -> Path:
    home = tmp_path / "home"
    with tracer_env(home, bolt_server) as cli:
        build_case(cli, CASE)
        build_case(cli, OTHER)
    return home


def _store_of(home: Path, case: str) -> EmbeddedStore:
    return EmbeddedStore.open(home / "cases" / case / "graph.lbug")


def test_repush_after_reclustering_leaves_no_stale_cluster(two_cases: Path, bolt_server: Any) -> None:
    bolt_server.create_database("syncclusters")
    six = pl.DataFrame([{"chain": LTC, "address": a, "cluster_id": f"{LTC}:{a}", "source": "test: earlier run"}
                        for a in PEEL_CHANGE], schema=CLUSTERS.columns)
    with _store_of(two_cases, CASE) as store:
        store.replace_clusters(LTC, six)  # an earlier clustering run, with other results
    with tracer_env(two_cases, bolt_server) as cli:
        push(cli, bolt_server, "syncclusters", OTHER)
        push(cli, bolt_server, "syncclusters", CASE)
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, database="syncclusters") as neo:
        assert _count(neo, "MATCH (k:Cluster) RETURN count(k) AS n") == 7  # the other case's 1 + these 6
        with tracer_env(two_cases, bolt_server) as cli:
            run(cli, "cluster", "run", CASE)  # the re-run leaves 1 cluster, the one the other case has too
            result = push(cli, bolt_server, "syncclusters", CASE)
        assert result["removed"]["Cluster"] == 6 and result["removed"]["IN_CLUSTER"] == 6
        clusters = _q(neo, "MATCH (a:Address)-[:IN_CLUSTER]->(k:Cluster) RETURN k.uid AS k, a.address AS a, "
                           "k.pushed_by AS owners ORDER BY a")
        payout = sorted(S["ltc"]["roles"]["vendor_payout"])
        assert [c["a"] for c in clusters] == payout and {c["k"] for c in clusters} == {f"cluster:{LTC}:{payout[0]}"}
        assert sorted(o.split("=")[0] for o in clusters[0]["owners"]) == sorted([CASE, OTHER])
        # the other case's traces and seeds are untouched
        assert _count(neo, "MATCH (:Case {name: $c})-[:RAN]->(t:Trace) RETURN count(t) AS n", c=OTHER) == 2
        assert _count(neo, "MATCH (:Case {name: $c})-[:SEED]->(a) RETURN count(a) AS n", c=OTHER) == 3


def test_replaced_traces_and_removed_tags_leave_only_this_case(two_cases: Path, bolt_server: Any) -> None:
    bolt_server.create_database("synctraces")
    extra = FrameSet(tags=pl.DataFrame([{"chain": LTC, "address": COURIER, "label": "Courier (test)",
                                         "category": "service", "confidence": 50, "tagpack": "test",
                                         "source": "test: extra tag"}], schema=TAGS.columns))
    with _store_of(two_cases, CASE) as store:
        store.load(extra)
    with tracer_env(two_cases, bolt_server) as cli:
        push(cli, bolt_server, "synctraces", OTHER)
        push(cli, bolt_server, "synctraces", CASE)
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, database="synctraces") as neo:
        assert _q(neo, "MATCH (a:Address {address: $a}) RETURN a.caption AS c", a=COURIER) == [{"c": "Courier (test)"}]
        flows_other = _count(neo, "MATCH ()-[f:FLOW]->() WHERE f.case_name = $c RETURN count(f) AS n", c=OTHER)
        with _store_of(two_cases, CASE) as store:
            store._exec("MATCH (t:Tag) WHERE t.label = $label DETACH DELETE t", {"label": "Courier (test)"})
        with tracer_env(two_cases, bolt_server) as cli:
            result = push(cli, bolt_server, "synctraces", CASE, "--trace", "1")  # only the Litecoin run now
        assert result["removed"]["Tag"] == 1 and result["removed"]["Trace"] == 1
        assert result["removed"]["FLOW"] == 4  # the Ethereum run's trail
        traces = _q(neo, "MATCH (:Case {name: $c})-[:RAN]->(t:Trace) RETURN t.number AS n", c=CASE)
        assert traces == [{"n": 1}]
        assert _count(neo, "MATCH ()-[f:FLOW]->() WHERE f.case_name = $c AND f.chain = 'eth-devnet' "
                           "RETURN count(f) AS n", c=CASE) == 0
        assert _q(neo, "MATCH (a:Address {address: $a}) RETURN a.caption AS c", a=COURIER) == [
            {"c": f"{COURIER[:6]}…{COURIER[-4:]}"}]
        # the other case: same traces, same trail, its tags (the same TagPack) still there
        assert _count(neo, "MATCH ()-[f:FLOW]->() WHERE f.case_name = $c RETURN count(f) AS n", c=OTHER) == flows_other
        assert _count(neo, "MATCH (g:Tag {label: 'Exchange Alpha'}) RETURN count(g) AS n") == 4
