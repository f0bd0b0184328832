# SPDX-License-Identifier: Apache-2.0
"""``graph push`` copies the fixture case's trace results to the live Bolt server (ArcadeDB):
Trace nodes, REACHED endings, the FLOW trail (no fee hop becomes a FLOW), readable amounts, times
and cluster ids; a second push writes nothing; an unknown run is one clear line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.neo4j_store import Neo4jStore
from tests.conftest import Cli
from tests.graph.op_fixture_case import CASE, ETH, LTC, build_case, push, story, tracer_env

S = story()


@pytest.fixture(scope="module")
def case_home(tmp_path_factory: pytest.TempPathFactory, bolt_server: Any) -> Path:
    home = tmp_path_factory.mktemp("push-traces") / "home"
    with tracer_env(home, bolt_server) as cli:
        build_case(cli)
    return home


@pytest.fixture(scope="module")
def pushed(case_home: Path, bolt_server: Any, bolt_database: str) -> Iterator[tuple[dict[str, Any], Neo4jStore]]:
    with tracer_env(case_home, bolt_server) as cli:
        result = push(cli, bolt_server, bolt_database)
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, database=bolt_database) as store:
        yield result, store


def _q(store: Neo4jStore, cypher: str, **params: Any) -> list[dict[str, Any]]:
    return store.query(cypher, params).to_dicts()


def test_push_writes_the_latest_runs_as_trace_nodes(pushed: tuple[dict[str, Any], Neo4jStore]) -> None:
    result, store = pushed
    assert [r.split("-")[:3] for r in result["traces"]] == [["0001", "forward", "fifo"], ["0002", "forward", "fifo"]]
    assert len(result["traces_written"]) == 2 and result["traces_unchanged"] == []
    traces = _q(store, "MATCH (c:Case {name: $case})-[:RAN]->(t:Trace) RETURN t.number AS n, t.caption AS caption, "
                       "t.seed_value AS seeds, t.fees AS fees ORDER BY n", case=CASE)
    assert [t["n"] for t in traces] == [1, 2]
    assert traces[0]["caption"] == "#1 forward fifo · 10.5 rLTC"  # the 8 sales, 1,050,000,000 litoshi
    assert traces[1]["caption"] == "#2 forward fifo · 1250 fUSD, 0.8 ETH"


def test_reached_carries_amount_share_model_and_ending(pushed: tuple[dict[str, Any], Neo4jStore]) -> None:
    _, store = pushed
    deposits = S["ltc"]["roles"]["exchange_deposits"]
    rows = _q(store, "MATCH (t:Trace {number: 1})-[r:REACHED]->(a:Address) WHERE r.ending = 'entity' "
                     "RETURN a.address AS address, r.amount AS amount, r.amount_coins AS coins, r.symbol AS symbol, "
                     "r.decimals AS decimals, r.share AS share, r.share_ppm AS ppm, r.model AS model ORDER BY address")
    got = {r["address"]: r for r in rows}
    assert set(got) == set(deposits)
    first = got[deposits[0]]  # peel 2: 40,000,000 litoshi of 1,050,000,000
    assert (first["amount"], first["coins"], first["symbol"], first["decimals"]) == ("40000000", "0.4", "rLTC", 8)
    assert (first["share"], first["ppm"], first["model"]) == ("3.80%", 38095, "fifo")


def test_flow_is_the_traced_trail_without_fees(pushed: tuple[dict[str, Any], Neo4jStore]) -> None:
    _, store = pushed
    flows = _q(store, "MATCH (a:Address)-[f:FLOW]->(b:Address) WHERE f.chain = $chain "
                      "RETURN a.address AS a, b.address AS b, f.amount AS amount, f.asset AS asset, f.txid AS txid, "
                      "f.time AS time, f.datetime AS dt, f.block AS block, f.model AS model, f.kind AS kind "
                      "ORDER BY time, txid, amount", chain=ETH)
    assert len(flows) == 4 and {f["kind"] for f in flows} == {"native", "token"}
    assert not any(f["b"].startswith("0x000000000000") for f in flows)
    vendor_eth = [f for f in flows if f["asset"] == "native" and f["a"] == S["eth"]["roles"]["vendor"]]
    assert vendor_eth[0]["amount"] == "750000000000000000" and vendor_eth[0]["block"] == 7
    assert vendor_eth[0]["dt"].year == 2026 and vendor_eth[0]["time"] == 1772658300  # 2026-03-04 21:05 UTC
    fees = _q(store, "MATCH ()-[f:FLOW]->(b:Address) WHERE f.kind = 'fee' OR b.address = '(none)' "
                     "RETURN count(f) AS n")
    assert fees == [{"n": 0}]


def test_readable_properties_and_cluster_ids(pushed: tuple[dict[str, Any], Neo4jStore]) -> None:
    _, store = pushed
    clusters = _q(store, "MATCH (k:Cluster) RETURN k.uid AS uid, k.caption AS caption")
    payout = sorted(S["ltc"]["roles"]["vendor_payout"])
    caption = f"cluster {payout[0][:6]}…{payout[0][-4:]} (2)"
    assert clusters == [{"uid": f"cluster:{LTC}:{payout[0]}", "caption": caption}]
    consolidation = S["ltc"]["consolidation"]["txid"]
    tx = _q(store, "MATCH (t:Transaction {txid: $txid}) RETURN t.fee AS fee, t.fee_coins AS coins, t.symbol AS s, "
                   "t.timestamp AS epoch, t.time_utc AS utc, t.datetime AS dt", txid=consolidation)[0]
    assert (tx["fee"], tx["coins"], tx["s"], tx["utc"]) == ("10000", "0.0001", "rLTC", "2026-03-04 20:00 UTC")
    assert tx["epoch"] == 1772654400 and (tx["dt"].month, tx["dt"].hour) == (3, 20)
    token = _q(store, "MATCH ()-[x:TRANSFER {kind: 'token'}]->(b:Address {address: $to}) "
                      "RETURN x.value AS value, x.value_coins AS coins, x.symbol AS symbol, x.decimals AS d",
               to=S["eth"]["roles"]["exchange-deposit"])
    assert token == [{"value": "1250000000", "coins": "1250", "symbol": "fUSD", "d": 6}]


def test_a_second_push_writes_nothing(pushed: tuple[dict[str, Any], Neo4jStore], case_home: Path,
                                      bolt_server: Any, bolt_database: str) -> None:
    with tracer_env(case_home, bolt_server) as cli:
        again = push(cli, bolt_server, bolt_database)
    assert sum(again["created"].values()) == 0 and again["traces_written"] == []
    assert len(again["traces_unchanged"]) == 2 and set(again["removed"].values()) == {0}


def test_an_unknown_run_is_one_line_and_exit_2(case_home: Path, bolt_server: Any) -> None:
    with tracer_env(case_home, bolt_server) as cli:
        result = _push_result(cli, bolt_server, "--trace", "99")
    assert result.exit_code == 2
    assert "no trace run '99'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def _push_result(cli: Cli, bolt: Any, *extra: str) -> Any:
    return cli("graph", "push", CASE, "--neo4j", bolt.uri, "--database", "nosuchdb", *extra)


def test_exports_carry_the_traces_flow_and_the_schema(case_home: Path, tmp_path: Path) -> None:
    import csv
    import xml.etree.ElementTree as ET

    with tracer_env(case_home) as cli:
        admin = cli.json("graph", "export", CASE, "--format", "neo4j-admin", "--out", str(tmp_path / "csv"))
        graphml = cli.json("graph", "export", CASE, "--format", "graphml", "--out", str(tmp_path / "gml"))
    names = [f["file"] for f in admin["files"]]
    assert {"nodes_Trace.csv", "rels_REACHED.csv", "rels_FLOW.csv", "rels_RAN.csv", "schema.cypher"} <= set(names)
    schema = (tmp_path / "csv" / "schema.cypher").read_text(encoding="utf-8")
    assert "CREATE CONSTRAINT trace_uid IF NOT EXISTS FOR (n:Trace) REQUIRE n.uid IS UNIQUE;" in schema
    with (tmp_path / "csv" / "rels_FLOW.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 + len([r for r in rows if r["chain"] == LTC])  # the 4 Ethereum hops, no fee
    assert "datetime:datetime" in rows[0] and all(r["datetime:datetime"].endswith("Z") for r in rows)
    root = ET.parse(tmp_path / "gml" / graphml["files"][0]["file"]).getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    labels = {d.text for d in root.iter(f"{{{ns['g']}}}data") if d.get("key") == "n_label"}
    assert "Exchange Alpha" in labels and any((t or "").startswith("#1 forward fifo") for t in labels)
