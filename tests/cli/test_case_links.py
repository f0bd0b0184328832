# SPDX-License-Identifier: Apache-2.0
"""``tracer case links``: two investigations that touch the same address or cluster find each other.

The chain is the hand-checked one of ``tests/cli/test_trace_cli.py`` (real ``ltc-regtest``
addresses): the seed S's 100,000 units and U's 50,000 are spent together (tx b, to P and Q), and
P's output is spent to the exchange deposit address E and to R (tx c). Case ``op-a`` traces S
forward and so reaches E; case ``op-b`` starts from E (say, from an exchange's reply); case
``op-c`` works on an address that appears nowhere else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from jobs.case_index import INDEX_COLUMNS, case_roles, links, other_cases, workspace_index
from jobs.workspace import Workspace
from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain
from tracer.schema import CLUSTERS, conform

CHAIN = "ltc-regtest"
#: P2WPKH addresses of the 20-byte hashes 0x01.., 0x02.., ... (fixed, so the test needs no key material)
ADDR = {
    "S": "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4", "U": "rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er",
    "P": "rltc1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcrzlqxnz", "Q": "rltc1qqszqgpqyqszqgpqyqszqgpqyqszqgpqyz08r57",
    "R": "rltc1qq5zs2pg9q5zs2pg9q5zs2pg9q5zs2pg9rlxz7l", "E": "rltc1qqcrqvpsxqcrqvpsxqcrqvpsxqcrqvpsxjmq84f",
}
UNRELATED = "rltc1qqurswpc8qurswpc8qurswpc8qurswpc8ntpxlg"


def _case(cli: Cli, home: Path, name: str, seed: str, chain: UtxoChain | None = None) -> None:
    assert cli("case", "create", name).exit_code == 0
    assert cli("case", "seed", "add", name, seed, "--chain", CHAIN).exit_code == 0
    if chain is not None:
        with EmbeddedStore.open(home / "cases" / name / "graph.lbug") as store:
            store.ensure_schema()
            store.load(chain.frames())


def _age(home: Path, seconds: int = 3600) -> None:
    """Make every case file look written an hour ago (a cache is only written for settled files)."""
    when = os.stat(home).st_mtime - seconds
    for path in (home / "cases").rglob("*"):
        os.utime(path, (when, when))


@pytest.fixture()
def three_cases(cli: Cli, tracer_home: Path, tmp_path: Path) -> Path:
    chain = UtxoChain(CHAIN)
    chain.coinbase("a", [(ADDR["S"], 100_000)])
    chain.coinbase("x", [(ADDR["U"], 50_000)])
    chain.tx("b", [("a", 0), ("x", 0)], [(ADDR["P"], 90_000), (ADDR["Q"], 59_000)])
    chain.tx("c", [("b", 0)], [(ADDR["E"], 80_000), (ADDR["R"], 9_500)])
    tags = tmp_path / "deposits.txt"
    tags.write_text(ADDR["E"] + "\n")
    assert cli("tags", "import", str(tags), "--format", "list", "--chain", CHAIN, "--label", "Exchange X",
               "--category", "exchange", "--source", "production order 2026/77").exit_code == 0
    _case(cli, tracer_home, "op-a", ADDR["S"], chain)
    first = cli("trace", "op-a")  # forward from S: reaches the exchange deposit E
    assert first.exit_code == 0 and "also belong" not in first.stderr  # no other case yet
    _case(cli, tracer_home, "op-b", ADDR["E"], chain)
    _case(cli, tracer_home, "op-c", UNRELATED)
    return tracer_home


def _brief(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["matched_on"], r["address"], r["this_case_roles"], r["other_case"], r["other_case_roles"])
            for r in rows]


def test_two_cases_sharing_an_address_are_linked_both_ways(cli: Cli, three_cases: Path) -> None:
    a = cli.json("case", "links", "op-a")
    assert _brief(a["links"]) == [("address", ADDR["E"], ["hop", "terminal"], "op-b", ["seed"])]
    assert a["cases"] == ["op-b"] and a["links"][0]["chain"] == CHAIN
    b = cli.json("case", "links", "op-b")
    assert _brief(b["links"]) == [("address", ADDR["E"], ["seed"], "op-a", ["hop", "terminal"])]
    human = cli("case", "links", "op-a")
    assert human.exit_code == 0
    assert ADDR["E"] in human.stdout and "op-b" in human.stdout and "hop, terminal" in human.stdout


def test_a_case_that_shares_nothing_has_no_links_and_still_exits_0(cli: Cli, three_cases: Path) -> None:
    assert cli.json("case", "links", "op-c") == {"case": "op-c", "links": [], "cases": [], "skipped": []}
    human = cli("case", "links", "op-c")
    assert human.exit_code == 0 and "shares no address or cluster" in human.stdout


def test_the_lookup_is_recorded_in_the_audit_log(cli: Cli, three_cases: Path) -> None:
    cli.json("case", "links", "op-a")
    entry = cli.json("case", "log", "op-a")[-1]
    assert entry["action"] == "case.links"
    assert entry["details"] == {"links": 1, "cases": ["op-b"], "cases_indexed": 3, "skipped": []}
    assert cli.json("case", "verify", "op-a")["verified"] is True


def test_unknown_case_exits_2(cli: Cli, three_cases: Path) -> None:
    result = cli("case", "links", "op-nope")
    assert result.exit_code == 2 and "op-nope" in result.stderr


def test_a_trace_that_touches_another_case_says_so(cli: Cli, three_cases: Path) -> None:
    result = cli("trace", "op-a")
    assert result.exit_code == 0
    assert ("note: 1 address of this trace also belongs to case op-b (roles: seed) — "
            "see `tracer case links op-a`") in result.stderr
    data = cli.json("trace", "op-a")
    assert data["other_cases"] == [
        {"other_case": "op-b", "addresses": 1, "roles": ["seed"], "shared_addresses": [ADDR["E"]]}]
    # op-b's trace from E goes backward through P to S and U: op-a's seed, hops and terminal
    backward = cli.json("trace", "op-b", "--direction", "backward")
    assert backward["other_cases"] == [
        {"other_case": "op-a", "addresses": 3, "roles": ["seed", "hop", "terminal"],
         "shared_addresses": sorted([ADDR["E"], ADDR["P"], ADDR["S"]])}]


def test_the_index_cache_is_used_and_invalidated_by_a_new_trace(cli: Cli, three_cases: Path) -> None:
    home = three_cases
    _age(home)
    assert len(cli.json("case", "links", "op-a")["links"]) == 1
    cache = home / "index" / "op-b.parquet"
    assert cache.is_file() and (home / "index" / "op-a.parquet").is_file()
    # op-b now traces backward from E: P and S (op-a's hop and seed) become shared
    assert cli("trace", "op-b", "--direction", "backward").exit_code == 0
    rows = cli.json("case", "links", "op-a")["links"]
    assert _brief(rows) == [
        ("address", ADDR["E"], ["hop", "terminal"], "op-b", ["seed", "hop"]),
        ("address", ADDR["P"], ["hop"], "op-b", ["hop"]),
        ("address", ADDR["S"], ["seed", "hop"], "op-b", ["hop"]),
    ]


def test_a_matching_cache_is_read_and_a_changed_file_rebuilds_it(three_cases: Path) -> None:
    home = three_cases
    _age(home)
    case = Workspace(home / "cases").open("op-c")
    cache_dir = home / "index"
    assert case_roles(case, cache_dir).rows() == [("op-c", CHAIN, UNRELATED, "seed", None)]
    path = cache_dir / "op-c.parquet"
    stamp = pl.read_parquet_metadata(path)
    doctored = pl.DataFrame([("op-c", CHAIN, ADDR["Q"], "seed", None)], schema=INDEX_COLUMNS, orient="row")
    doctored.write_parquet(path, metadata=stamp)  # same key: the cache is trusted as is
    assert case_roles(case, cache_dir)["address"].to_list() == [ADDR["Q"]]
    os.utime(case.dir / "seeds.json")  # the seeds file changed (its mtime moved): rebuilt from the case
    assert case_roles(case, cache_dir)["address"].to_list() == [UNRELATED]
    assert json.loads(stamp["tracer.case_index"])["case"] == "op-c"


def test_a_damaged_case_is_left_out_with_a_warning_not_an_error(cli: Cli, three_cases: Path) -> None:
    (trace_dir,) = (three_cases / "cases" / "op-a" / "traces").iterdir()
    (trace_dir / "endings.parquet").write_bytes(b"not parquet")
    result = cli("case", "links", "op-b", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["links"] == [] and data["skipped"][0].startswith("op-a: ")
    assert "warning: case op-a: " in result.stderr and "left out of the comparison" in result.stderr
    traced = cli("trace", "op-b", "--direction", "backward")  # the trace itself is not held up
    assert traced.exit_code == 0 and "warning: case op-a: " in traced.stderr


def _clusters(home: Path, case: str, members: dict[str, str]) -> None:
    """A clusters file as `tracer cluster run` writes it (CLUSTERS schema)."""
    directory = home / "cases" / case / "clusters"
    directory.mkdir(parents=True, exist_ok=True)
    rows = [{"chain": CHAIN, "address": a, "cluster_id": c, "source": "multi_input"} for a, c in members.items()]
    conform(pl.DataFrame(rows), CLUSTERS).write_parquet(directory / f"{CHAIN}-clusters.parquet")


def test_different_addresses_in_one_cluster_link_two_cases(cli: Cli, tracer_home: Path) -> None:
    # S and U were spent together (tx b): one owner. op-s works on S, op-u on U, op-q on Q.
    shared = f"{CHAIN}:{ADDR['S']}"
    for name, seed in (("op-s", ADDR["S"]), ("op-u", ADDR["U"]), ("op-q", ADDR["Q"])):
        _case(cli, tracer_home, name, seed)
    _clusters(tracer_home, "op-s", {ADDR["S"]: shared, ADDR["U"]: shared})
    _clusters(tracer_home, "op-u", {ADDR["S"]: shared, ADDR["U"]: shared})
    _clusters(tracer_home, "op-q", {ADDR["Q"]: f"{CHAIN}:{ADDR['Q']}"})
    (row,) = cli.json("case", "links", "op-s")["links"]
    assert row == {"chain": CHAIN, "address": ADDR["S"], "cluster_id": shared, "this_case_roles": ["seed"],
                   "other_case": "op-u", "other_case_roles": ["seed"], "other_addresses": [ADDR["U"]],
                   "matched_on": "cluster"}
    assert [(r["address"], r["other_addresses"]) for r in cli.json("case", "links", "op-u")["links"]] == [
        (ADDR["U"], [ADDR["S"]])]
    assert cli.json("case", "links", "op-q")["links"] == []


def test_the_index_functions_on_a_hand_built_index() -> None:
    index = pl.DataFrame([
        ("a", CHAIN, "x1", "seed", "k1"), ("a", CHAIN, "x2", "terminal", None),
        ("b", CHAIN, "x2", "seed", None), ("b", CHAIN, "x2", "hop", None), ("b", CHAIN, "x3", "hop", "k1"),
        ("c", "btc", "x2", "seed", None),  # same text on another chain: not the same address
    ], schema=INDEX_COLUMNS, orient="row")
    assert [(r["matched_on"], r["address"], r["other_case"], r["other_case_roles"], r["other_addresses"])
            for r in links(index, "a").to_dicts()] == [
        ("address", "x2", "b", ["seed", "hop"], ["x2"]), ("cluster", "x1", "b", ["hop"], ["x3"])]
    assert links(index, "c").height == 0
    assert other_cases(index, CHAIN, ["x2", "x9"], "a").rows() == [("b", 1, ["seed", "hop"], ["x2"])]
    assert other_cases(index, CHAIN, ["x9"], "a").height == 0
    assert workspace_index(Workspace(Path("/nonexistent/cases"))).schema == pl.Schema(INDEX_COLUMNS)
