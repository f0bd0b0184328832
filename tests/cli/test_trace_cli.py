# SPDX-License-Identifier: Apache-2.0
"""``tracer trace``: a case's trace from the command line, its files, its manifest and its errors.

The case's embedded store holds a small hand-checked chain (the one of
``tests/tracer/test_trace_engine.py``, with real ``ltc-regtest`` addresses): the seed S's 100,000
units and U's 50,000 are spent together, and P's share reaches an exchange deposit address E
tagged through the workspace tag library.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain

CHAIN = "ltc-regtest"
#: P2WPKH addresses of the 20-byte hashes 0x01.., 0x02.., ... (fixed, so the test needs no key material)
ADDR = {
    "S": "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4", "U": "rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er",
    "P": "rltc1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcrzlqxnz", "Q": "rltc1qqszqgpqyqszqgpqyqszqgpqyqszqgpqyz08r57",
    "R": "rltc1qq5zs2pg9q5zs2pg9q5zs2pg9q5zs2pg9rlxz7l", "E": "rltc1qqcrqvpsxqcrqvpsxqcrqvpsxqcrqvpsxjmq84f",
}
NOT_IN_STORE = "rltc1qqurswpc8qurswpc8qurswpc8qurswpc8ntpxlg"


@pytest.fixture()
def case(cli: Cli, tracer_home: Path, tmp_path: Path) -> str:
    chain = UtxoChain(CHAIN)
    chain.coinbase("a", [(ADDR["S"], 100_000)])
    chain.coinbase("x", [(ADDR["U"], 50_000)])
    chain.tx("b", [("a", 0), ("x", 0)], [(ADDR["P"], 90_000), (ADDR["Q"], 59_000)])
    chain.tx("c", [("b", 0)], [(ADDR["E"], 80_000), (ADDR["R"], 9_500)])
    assert cli("case", "create", "op-t").exit_code == 0
    assert cli("case", "seed", "add", "op-t", ADDR["S"], "--chain", CHAIN, "--label", "vendor").exit_code == 0
    with EmbeddedStore.open(tracer_home / "cases" / "op-t" / "graph.lbug") as store:
        store.ensure_schema()
        store.load(chain.frames())
    tags = tmp_path / "deposits.txt"
    tags.write_text(ADDR["E"] + "\n")
    result = cli("tags", "import", str(tags), "--format", "list", "--chain", CHAIN, "--label", "Exchange X",
                 "--category", "exchange", "--source", "production order 2026/77")
    assert result.exit_code == 0, result.output
    return "op-t"


def test_forward_trace_reports_the_exchange_with_share_and_evidence(cli: Cli, case: str) -> None:
    data = cli.json("trace", case, "--model", "haircut")
    top = data["endings"][0]
    assert (top["ending"], top["address"], top["label"], top["amount"], top["share_of_seed"]) == (
        "entity", ADDR["E"], "Exchange X", "53333", "53.33%")
    assert [(h["from_address"], h["to_address"], h["taint"]) for h in top["path"]] == [
        (ADDR["S"], ADDR["P"], "60000"), (ADDR["P"], ADDR["E"], "53333")]
    assert top["path"][1]["txid"] == UtxoChain.txid("c") and top["path"][1]["block_height"] == 4
    totals = data["totals"]["native"]
    assert totals["seed_value"] == "100000" and totals["reached_entities"] == "53333"
    # the store was filled without a block-range ingest: unspent is not proven, so not "held"
    assert (totals["fees"], totals["held_unspent"], totals["unverified"], totals["reconciled"]) == (
        "1001", "0", "45666", True)
    human = cli("trace", case, "--model", "haircut")
    assert human.exit_code == 0
    assert "Exchange X" in human.stdout and "0.00053333 rLTC" in human.stdout and "Reconciliation" in human.stdout


def test_value_is_held_only_where_the_store_holds_every_later_block(cli: Cli, case: str, tracer_home: Path) -> None:
    before = cli.json("trace", case, "--model", "haircut")
    assert {e["ending"] for e in before["endings"]} == {"entity", "unverified", "fee"}
    assert any("unspent as far as the store knows" in note for note in before["notes"])
    # a block-range ingest of blocks 0..50 would have left this checkpoint: those blocks are complete
    checkpoint = tracer_home / "cases" / case / "graph.lbug.ingest" / f"{CHAIN}.json"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_text(json.dumps({"chain": CHAIN, "done": [[0, 50]]}))
    after = cli.json("trace", case, "--model", "haircut")
    held = [e for e in after["endings"] if e["ending"] == "held"]
    assert {(e["address"], e["amount"], e["through_block"]) for e in held} == {
        (ADDR["Q"], "39333", 50), (ADDR["R"], "6333", 50)}
    assert after["totals"]["native"]["held_unspent"] == before["totals"]["native"]["unverified"] == "45666"
    manifest = json.loads((Path(after["directory"]) / "manifest.json").read_text())
    assert manifest["evidence"] == {"coverage": [[0, 50]]}
    assert "held through block 50" in cli("trace", case, "--model", "haircut").stdout


def test_the_same_trace_twice_gives_byte_identical_files_in_a_new_folder(cli: Cli, case: str,
                                                                          tracer_home: Path) -> None:
    first = cli.json("trace", case, "--model", "fifo", "--hops", "4")
    directory = Path(first["directory"])
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}
    second = cli.json("trace", case, "--model", "fifo", "--hops", "4")
    assert second["manifest_sha256"] == first["manifest_sha256"]
    again = Path(second["directory"])
    assert again != directory and again.parent == directory.parent  # the earlier result is kept as it was
    assert directory.name.startswith("0001-forward-fifo-") and again.name.startswith("0002-forward-fifo-")
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())} == files
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(again.iterdir())} == files
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["parameters"]["model"] == "fifo" and manifest["parameters"]["hops"] == 4
    assert manifest["files"]["endings.parquet"] == files["endings.parquet"]
    (source,) = manifest["tags"]["sources"]  # the tag list the exchange ending came from, with its hash
    assert source["rows"] == 1 and len(source["sha256"]) == 64
    assert manifest["store"]["queries"] >= 3 and len(manifest["store"]["read_digest"]) == 64
    endings = pl.read_parquet(directory / "endings.parquet")
    assert endings.filter(pl.col("ending") == "entity")["amount"].to_list() == ["80000"]
    audit = cli.json("case", "log", case)
    assert any(e["action"] == "trace.run" and e["details"]["manifest_sha256"] == first["manifest_sha256"]
               for e in audit)


def test_an_edited_result_file_fails_case_verify(cli: Cli, case: str) -> None:
    run = cli.json("trace", case, "--model", "haircut")
    assert cli("case", "verify", case).exit_code == 0
    result = Path(run["directory"]) / "result.json"
    result.write_bytes(result.read_bytes().replace(b"53333", b"99999"))
    verify = cli("case", "verify", case)
    assert verify.exit_code == 1
    assert f"trace result {Path(run['directory']).name}/result.json was changed" in verify.stdout


def test_a_tag_version_a_trace_used_must_stay_in_the_library(cli: Cli, case: str, tracer_home: Path) -> None:
    run = cli.json("trace", case, "--model", "haircut")
    (source,) = json.loads((Path(run["directory"]) / "manifest.json").read_text())["tags"]["sources"]
    assert cli("case", "verify", case).exit_code == 0
    (tracer_home / "tags" / f"{source['sha256']}.parquet").unlink()  # the tags the exchange ending came from
    verify = cli("case", "verify", case)
    assert verify.exit_code == 1 and "cited by the trace of audit entry" in verify.stdout


def test_a_result_folder_without_an_audit_entry_fails_case_verify(cli: Cli, case: str) -> None:
    run = cli.json("trace", case, "--model", "haircut")
    planted = Path(run["directory"]).with_name("0099-forward-haircut-000000000000")
    planted.mkdir()
    verify = cli("case", "verify", case)
    assert verify.exit_code == 1 and "0099-forward-haircut-000000000000 has no audit entry" in verify.stdout


def test_trace_is_written_back_to_the_store(cli: Cli, case: str) -> None:
    cli.json("trace", case)
    rows = cli.json("graph", "query", case,
                    "MATCH (:`Case`)-[:RAN]->(t:Trace)-[r:REACHED]->(a:Address) WHERE r.ending = 'entity' "
                    "RETURN t.model AS model, a.address AS address, r.amount AS amount")
    assert rows == [{"model": "haircut", "address": ADDR["E"], "amount": "53333"}]


def test_all_models_side_by_side(cli: Cli, case: str) -> None:
    data = cli.json("trace", case, "--model", "all")
    exchange = next(r for r in data["comparison"] if r["ending"] == "entity")
    assert {m: exchange[m] for m in ("poison", "haircut", "fifo", "lifo", "tiho")} == {
        "poison": "80000", "haircut": "53333", "fifo": "80000", "lifo": "30000", "tiho": "80000"}
    assert len(data["runs"]) == 5


def test_backward_trace_from_the_exchange_deposit(cli: Cli, case: str) -> None:
    data = cli.json("trace", case, "--seed", ADDR["E"], "--direction", "backward", "--model", "haircut")
    by_ending = data["totals"]["native"]["by_ending"]
    assert by_ending == {"mined": "79999", "rounding": "1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "fofi"], "'fofi' is not one of 'poison', 'haircut', 'fifo', 'lifo', 'tiho', 'all'"),
        (["--hops", "-1"], "Invalid value for '--hops'"),
        (["--stop-at", ",,"], "--stop-at names no category"),
        (["--seed", "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kmx7v6j"], "invalid"),
        (["--seed", NOT_IN_STORE], "no transactions in the store"),
        (["--since", "yesterday"], "neither UTC seconds nor an ISO date"),
        (["--since", "²"], "neither UTC seconds nor an ISO date"),
        (["--since", "1" + "0" * 30], "after the year 9999"),
        (["--min-value", "٣"], "give base units (1234)"),
        (["--min-value", "1_000"], "give base units (1234)"),
        (["--min-value", "1e5"], "give base units (1234)"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, case: str, tracer_home: Path, args: list[str],
                                              message: str) -> None:
    result = cli("trace", case, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tracer_home / "cases" / case / "traces").exists()


def test_unknown_case_exits_2(cli: Cli) -> None:
    result = cli("trace", "no-such-case")
    assert result.exit_code == 2 and "no-such-case" in result.stderr


def test_fetch_fills_an_empty_case_store_from_a_chain_store(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    chain = UtxoChain(CHAIN)
    chain.coinbase("a", [(ADDR["S"], 100_000)])
    chain.coinbase("x", [(ADDR["U"], 50_000)])
    chain.tx("b", [("a", 0), ("x", 0)], [(ADDR["P"], 90_000), (ADDR["Q"], 59_000)])
    chain.tx("c", [("b", 0)], [(ADDR["E"], 80_000), (ADDR["R"], 9_500)])
    chain_store = tmp_path / "chain.lbug"
    with EmbeddedStore.open(chain_store) as store:
        store.ensure_schema()
        store.load(chain.frames())
    cli("case", "create", "op-f")
    cli("case", "seed", "add", "op-f", ADDR["S"], "--chain", CHAIN)
    without = cli("trace", "op-f")
    assert without.exit_code == 2 and "no transactions in the store" in without.stderr
    data = cli.json("trace", "op-f", "--fetch", "--from-store", str(chain_store))
    # unspent in what was fetched, but nothing proves they were still unspent at a known block
    unverified = {e["address"]: e["amount"] for e in data["endings"] if e["ending"] == "unverified"}
    assert unverified == {ADDR["E"]: "53333", ADDR["Q"]: "39333", ADDR["R"]: "6333"}  # E is not tagged here
    assert data["totals"]["native"]["reconciled"] is True
    # what was fetched is now in the case's store: the same trace runs without --fetch
    again = cli.json("trace", "op-f")
    assert again["totals"] == data["totals"]


def test_cluster_level_trace_starts_from_every_member_of_the_seeds_cluster(cli: Cli, case: str) -> None:
    # S and U are spent together in one transaction: common-input ownership puts them in one cluster
    clustered = cli.json("cluster", "run", case)
    assert clustered
    data = cli.json("trace", case, "--by", "cluster", "--model", "haircut")
    assert sorted(data["parameters"]["seeds"]) == sorted([ADDR["S"], ADDR["U"]])
    totals = data["totals"]["native"]
    # all 150,000 of b's inputs are the cluster's: E gets 80,000, Q 59,000 and R 9,500 unspent, fees 1,500
    assert (totals["seed_value"], totals["reached_entities"], totals["unverified"], totals["fees"]) == (
        "150000", "80000", "68500", "1500")
    assert totals["reconciled"] is True
