# SPDX-License-Identifier: Apache-2.0
"""Every saved Browser query (graph/browser/queries.cypher), run on the live Bolt server (ArcadeDB)
after ``graph push`` of the fixture case, returns the fixture's trail: exact addresses, txids and
amounts of ``fixtures/op-fixture/STORY.md`` (read from its ``story.json``).

The case is built through the CLI (seeds, frames, the exchange's TagPack, clustering, a Litecoin
and an Ethereum forward FIFO trace), one extra tag marks the courier and the Ethereum
intermediate as sanctioned so that the sanctions queries have something to find, and the case is
pushed once per module. A query added to the file without an expectation here fails
:func:`test_every_saved_query_is_checked`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest

from graph.browser import saved_queries
from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from tests.graph.op_fixture_case import CASE, ETH, LTC, build_case, push, story, tracer_env
from tracer.schema import TAGS, FrameSet

S = story()
L, E = S["ltc"], S["eth"]
DEPOSITS = L["roles"]["exchange_deposits"]
PEELS = L["peel_chain"]
ETH_STEPS = {step["step"]: step for step in E["steps"]}
VENDOR, INTERMEDIATE, EXCHANGE = (E["roles"][r] for r in ("vendor", "intermediate", "exchange-deposit"))
TOKEN = E["token"]["address"]
COURIER = L["roles"]["courier"]
SEEDS = L["roles"]["vendor_payout"]


def _sanctioned_tags() -> FrameSet:
    rows = [{"chain": chain, "address": address, "label": "OFAC SDN (test)", "category": "sanctioned",
             "confidence": 100, "tagpack": "test", "source": "test: sanctioned"}
            for chain, address in ((LTC, COURIER), (ETH, INTERMEDIATE))]
    return FrameSet(tags=pl.DataFrame(rows, schema=TAGS.columns))


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, bolt_server: Any, bolt_database: str) -> Iterator[Neo4jStore]:
    home = tmp_path_factory.mktemp("saved-queries") / "home"
    with tracer_env(home, bolt_server) as cli:
        build_case(cli)
        with EmbeddedStore.open(home / "cases" / CASE / "graph.lbug") as store:
            store.load(_sanctioned_tags())
        push(cli, bolt_server, bolt_database)
    with Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, database=bolt_database) as store:
        yield store


def _rows(store: Neo4jStore, name: str, **params: Any) -> list[dict[str, Any]]:
    _, cypher = saved_queries()[name]
    return store.query(cypher, {"limit": 1000, "case": CASE, "chain": None, "address": None, **params}).to_dicts()


def _case_seeds(store: Neo4jStore) -> None:
    rows = _rows(store, "case-seeds")
    assert [(r["chain"], r["address"]) for r in rows] == sorted([(ETH, VENDOR)] + [(LTC, a) for a in SEEDS])
    assert all(r["seed_source"] == f"case {CASE}" and r["tags"] == [] for r in rows)


def _case_graph(store: Neo4jStore) -> None:
    rows = _rows(store, "case-graph")
    assert len(rows) == 3  # one path per seed; no seed is tagged
    assert all(r["q"] is None for r in rows)


def _seed_to_exchange_transfers(store: Neo4jStore) -> None:
    rows = _rows(store, "seed-to-exchange-transfers")
    # vendor -> intermediate -> exchange, once in fUSD and once in ETH; never through a fee to 0x000...
    assert [(r["txids"], r["value"], r["asset"], r["hops"]) for r in rows] == [
        ([ETH_STEPS["vendor-forward-eth"]["txid"], ETH_STEPS["intermediate-deposit-eth"]["txid"]],
         "700000000000000000", "native", 2),
        ([ETH_STEPS["vendor-forward-token"]["txid"], ETH_STEPS["intermediate-deposit-token"]["txid"]],
         "1250000000", TOKEN, 2),
    ]


def _seed_to_exchange_outputs(store: Neo4jStore) -> None:
    rows = _rows(store, "seed-to-exchange-outputs")
    # each of the 8 sale outputs: consolidation, peels 1-2 -> deposit 1 (3 transactions); peels 3-4 ->
    # deposit 2 (5); peel 5 -> deposit 3 (6); peel 6 needs 7 transactions, beyond the 6 of the query
    assert sorted(r["transactions"] for r in rows) == [3] * 8 + [5] * 8 + [6] * 8


def _largest_flows_out(store: Neo4jStore) -> None:
    rows = _rows(store, "largest-flows-out", chain=LTC, address=PEELS[0]["change"]["address"])
    assert [(r["txid"], r["value"], r["counterparties"]) for r in rows] == [
        (PEELS[1]["txid"], str(PEELS[1]["change"]["value"]), [PEELS[1]["change"]["address"]]),
        (PEELS[1]["txid"], str(PEELS[1]["peel"]["value"]), [DEPOSITS[0]]),
    ]
    eth = _rows(store, "largest-flows-out", chain=ETH, address=VENDOR)
    assert [(r["kind"], r["value"]) for r in eth] == [("native", "750000000000000000"), ("token", "1250000000")]


def _largest_flows_in(store: Neo4jStore) -> None:
    rows = _rows(store, "largest-flows-in", chain=LTC, address=DEPOSITS[2])
    assert [(r["txid"], r["value"]) for r in rows] == [
        (L["exchange_deposit"]["txid"], "499990000"), (PEELS[4]["txid"], "30000000"),
    ]
    eth = _rows(store, "largest-flows-in", chain=ETH, address=EXCHANGE)
    assert [(r["kind"], r["value"], r["counterparties"]) for r in eth] == [
        ("native", "700000000000000000", [INTERMEDIATE]), ("token", "1250000000", [INTERMEDIATE])]


def _sanctioned_exposure(store: Neo4jStore) -> None:
    rows = _rows(store, "sanctioned-exposure")
    # the courier's one output (peel 3) and the intermediate's 4 transfers (2 in, 2 out; its fees left out)
    assert len(rows) == 5
    assert len(_rows(store, "sanctioned-exposure", chain=LTC)) == 1


def _case_sanctioned_paths(store: Neo4jStore) -> None:
    rows = _rows(store, "case-sanctioned-paths")
    assert {r["sanctioned"] for r in rows} == {INTERMEDIATE}
    direct = [r["txids"] for r in rows if r["hops"] == 1]
    assert sorted(direct) == sorted([[ETH_STEPS["vendor-forward-eth"]["txid"]],
                                     [ETH_STEPS["vendor-forward-token"]["txid"]]])
    assert rows[0]["hops"] == 1


def _address_transactions(store: Neo4jStore) -> None:
    rows = _rows(store, "address-transactions", chain=LTC, address=PEELS[0]["change"]["address"])
    assert [(r["txid"], r["roles"]) for r in rows] == [(PEELS[0]["txid"], ["receives"]),
                                                       (PEELS[1]["txid"], ["spends"])]


def _address_neighbourhood(store: Neo4jStore) -> None:
    rows = _rows(store, "address-neighbourhood", chain=LTC, address=DEPOSITS[0])
    # the deposit's tag, its one output, and the FLOW of the trace that reached it are not listed here
    assert len(rows) == 2 and all(r["a"]["address"] == DEPOSITS[0] for r in rows)


def _cluster_members(store: Neo4jStore) -> None:
    rows = _rows(store, "cluster-members", chain=LTC, address=SEEDS[0])
    # the consolidation spends both payout addresses: one cluster, named by its smallest address
    assert [r["member"] for r in rows] == sorted(SEEDS)
    assert {r["cluster"] for r in rows} == {f"{LTC}:{min(SEEDS)}"}


def _case_traces(store: Neo4jStore) -> None:
    rows = _rows(store, "case-traces")
    assert [(r["number"], r["chain"], r["direction"], r["model"]) for r in rows] == [
        (1, LTC, "forward", "fifo"), (2, ETH, "forward", "fifo")]
    assert all(len(r["manifest_sha256"]) == 64 for r in rows)
    assert rows[1]["flows"] == 4  # vendor -> intermediate -> exchange, token and ETH; the fees are no FLOW


def _case_trail(store: Neo4jStore) -> None:
    rows = _rows(store, "case-trail")
    ltc = [r for r in rows if r["trace"] == 1]
    assert ltc[0]["txid"] == L["consolidation"]["txid"] and ltc[0]["value"] == "1049990000"
    assert [r["time"] for r in rows if r["trace"] == 1] == sorted(r["time"] for r in ltc)
    peels = {(r["txid"], r["to_address"], r["value"]) for r in ltc}
    for peel in PEELS:
        assert (peel["txid"], peel["peel"]["address"], str(peel["peel"]["value"])) in peels
    eth = [(r["from_address"], r["to_address"], r["amount"], r["symbol"]) for r in rows if r["trace"] == 2]
    assert eth == [(VENDOR, INTERMEDIATE, "1250", "fUSD"), (VENDOR, INTERMEDIATE, "0.75", "ETH"),
                   (INTERMEDIATE, EXCHANGE, "0.7", "ETH"), (INTERMEDIATE, EXCHANGE, "1250", "fUSD")]
    assert not any(r["to_address"].startswith("0x0000000000") for r in rows)


def _trace_endings(store: Neo4jStore) -> None:
    rows = _rows(store, "trace-endings")
    ltc = {r["address"]: r for r in rows if r["trace"] == 1 and r["ending"] == "entity"}
    peeled = L["totals"]["peeled_by_recipient"]
    assert {a: r["value"] for a, r in ltc.items()} == {
        DEPOSITS[0]: str(peeled["exchange-deposit-1"]), DEPOSITS[1]: str(peeled["exchange-deposit-2"]),
        DEPOSITS[2]: str(peeled["exchange-deposit-3"])}
    assert ltc[DEPOSITS[1]]["amount"] == "0.8" and ltc[DEPOSITS[1]]["share"] == "7.61%"  # 80M of 1,050M
    assert ltc[DEPOSITS[1]]["label"] == "Exchange Alpha" and ltc[DEPOSITS[1]]["category"] == "exchange"
    eth = [(r["ending"], r["address"], r["asset"], r["value"]) for r in rows if r["trace"] == 2]
    assert ("held", VENDOR, "native", "49898459991925040") in eth  # STORY.md: what the vendor keeps
    assert ("entity", EXCHANGE, "native", "700000000000000000") in eth
    assert ("entity", EXCHANGE, TOKEN, "1250000000") in eth
    assert not any(r["ending"] == "fee" for r in rows)
    values = [int(r["value"]) for r in rows if r["trace"] == 1]
    assert values == sorted(values, reverse=True)


def _seed_to_exchange_trail(store: Neo4jStore) -> None:
    rows = _rows(store, "seed-to-exchange-trail")
    ltc = sorted((r["exchange_address"], r["hops"], r["value"]) for r in rows if r["trace"] == 1)
    # FIFO: the peels to the exchange arrive whole; what went through the CoinJoin does not
    assert ltc == sorted([(DEPOSITS[0], 3, "40000000"), (DEPOSITS[1], 5, "55000000"),
                          (DEPOSITS[2], 6, "30000000"), (DEPOSITS[1], 7, "25000000")])
    assert {r["seed"] for r in rows if r["trace"] == 1} <= set(SEEDS)
    eth = sorted((r["amount"], r["symbol"], r["hops"]) for r in rows if r["trace"] == 2)
    assert eth == [("0.7", "ETH", 2), ("1250", "fUSD", 2)]


CHECKS: dict[str, Callable[[Neo4jStore], None]] = {
    "case-seeds": _case_seeds,
    "case-graph": _case_graph,
    "seed-to-exchange-transfers": _seed_to_exchange_transfers,
    "seed-to-exchange-outputs": _seed_to_exchange_outputs,
    "largest-flows-out": _largest_flows_out,
    "largest-flows-in": _largest_flows_in,
    "sanctioned-exposure": _sanctioned_exposure,
    "case-sanctioned-paths": _case_sanctioned_paths,
    "address-transactions": _address_transactions,
    "address-neighbourhood": _address_neighbourhood,
    "cluster-members": _cluster_members,
    "case-traces": _case_traces,
    "case-trail": _case_trail,
    "trace-endings": _trace_endings,
    "seed-to-exchange-trail": _seed_to_exchange_trail,
}


def test_every_saved_query_is_checked() -> None:
    assert list(CHECKS) == list(saved_queries())


@pytest.mark.parametrize("name", list(CHECKS))
def test_saved_query_returns_the_fixture_trail(pushed: Neo4jStore, name: str) -> None:
    CHECKS[name](pushed)
