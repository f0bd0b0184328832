# SPDX-License-Identifier: Apache-2.0
"""``tracer tags``: an analyst imports the real OFAC TagPack and sanctions lists into the workspace
tag library (declaring them sanctions lists), re-imports them, updates one, imports a tag CSV, looks
an address up, and loads tags into a case.

The library (``$TRACER_HOME/tags``) is checked through its Python API, as the trace engine uses it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from jobs.tag_library import LIBRARY_COLUMNS, TagLibrary
from tests.conftest import Cli

OFAC_SOURCE = "https://www.treasury.gov/ofac/downloads/sdnlist.txt"
SANCTIONED_BTC = "3K35dyL85fR9ht7UgzPfd1gLRRXQtNTqE3"  # ofac.yaml line 9, sanctioned_addresses_XBT.txt line 309
SANCTIONED_ETH = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # sanctioned_addresses_ETH.txt line 1
TRON_AS_BTC_LINE = 1069  # ofac.yaml lists the Tron address TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq as BTC


@pytest.fixture()
def data(shared_data: Path) -> Path:
    return shared_data


def _library(home: Path) -> TagLibrary:
    return TagLibrary(home / "tags")


def _import_eth_list(cli: Cli, path: Path) -> dict:
    return cli.json("tags", "import", str(path), "--chain", "eth", "--label", "OFAC SDN", "--category", "user",
                    "--source", OFAC_SOURCE, "--confidence", "authority_data")


def test_the_real_ofac_tagpack_is_refused_at_its_bad_line_and_nothing_is_written(
        cli: Cli, tracer_home: Path, data: Path) -> None:
    result = cli("tags", "import", str(data / "tagpacks" / "ofac.yaml"))
    assert result.exit_code == 2
    tron = "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"
    assert f"ofac.yaml, line {TRON_AS_BTC_LINE}: invalid btc address '{tron}'" in result.stderr
    assert "nothing was imported" in result.stderr and "Traceback" not in result.output
    assert not (tracer_home / "tags").exists()


def test_import_with_skip_invalid_loads_the_rest_and_reports_what_was_skipped(
        cli: Cli, tracer_home: Path, data: Path) -> None:
    result = cli.json("tags", "import", str(data / "tagpacks" / "ofac.yaml"), "--skip-invalid")
    assert result["status"] == "created" and result["name"] == "US Treasury OFAC Sanctions List"
    # the three sanctioned Tron wallets load too (trx is a chain here)
    assert result["rows"] == 542 and result["chains"] == {"btc": 384, "eth": 147, "ltc": 8, "trx": 3}
    assert result["skipped_lines"] == [TRON_AS_BTC_LINE] and result["skipped"]["currency XMR: no chain here"] == 3
    lib = _library(tracer_home)
    assert lib.current().height == 542 and list(lib.current().columns) == list(LIBRARY_COLUMNS)
    hit = lib.lookup("btc", [SANCTIONED_BTC]).row(0, named=True)
    assert (hit["label"], hit["category"], hit["source"]) == (
        "Asset listed under US Treasury OFAC Sanctions List", "user", OFAC_SOURCE)
    assert hit["imported_at"] == result["imported_at"]


def test_reimporting_the_same_file_is_unchanged_and_keeps_the_first_import_time(
        cli: Cli, tracer_home: Path, data: Path) -> None:
    xbt = str(data / "sanctions" / "sanctioned_addresses_XBT.txt")
    first = cli.json("tags", "import", xbt, "--chain", "xbt", "--label", "OFAC SDN", "--skip-invalid")
    again = cli.json("tags", "import", xbt, "--chain", "btc", "--label", "OFAC SDN", "--skip-invalid")
    assert first["status"] == "created" and again["status"] == "unchanged"
    assert first["rows"] == again["rows"] == 434 and first["skipped_lines"] == [355]
    assert again["imported_at"] == first["imported_at"] and again["sha256"] == first["sha256"]
    assert first["name"] == "sanctioned_addresses_XBT.txt (btc: OFAC SDN)"
    index = json.loads((tracer_home / "tags" / "index.json").read_text())
    assert len(index["imports"]) == 1
    assert index["imports"][0]["source_sha256"] == first["source_sha256"]
    assert index["imports"][0]["actor"] == "analyst@unit-test"


def test_a_changed_list_supersedes_the_previous_version_which_stays_reproducible(
        cli: Cli, tracer_home: Path, data: Path, tmp_path: Path) -> None:
    full = (data / "sanctions" / "sanctioned_addresses_ETH.txt").read_text().splitlines()
    work = tmp_path / "sanctioned_addresses_ETH.txt"
    work.write_text("\n".join(full[:100]) + "\n")
    old = _import_eth_list(cli, work)
    work.write_text("\n".join(full) + "\n")
    new = _import_eth_list(cli, work)
    assert (old["status"], old["rows"]) == ("created", 100)
    assert (new["status"], new["rows"], new["previous_sha256"]) == ("superseded", 152, old["sha256"])
    lib = _library(tracer_home)
    assert lib.current(["eth"]).height == 152 and lib.current(["btc"]).height == 0
    assert lib.sources() == [{"name": "sanctioned_addresses_ETH.txt (eth: OFAC SDN)", "sha256": new["sha256"],
                              "source_sha256": new["source_sha256"], "rows": 152}]  # no clock time
    assert (tracer_home / "tags" / old["file"]).is_file()  # the old version is kept for older manifests
    listed = cli.json("tags", "list", "--all")
    assert [(e["status"], e["rows"]) for e in listed] == [("superseded", 100), ("current", 152)]
    assert [e["status"] for e in cli.json("tags", "list")] == ["current"]


def test_show_finds_a_sanctioned_address_and_infers_its_chain(cli: Cli, tracer_home: Path, data: Path) -> None:
    _import_eth_list(cli, data / "sanctions" / "sanctioned_addresses_ETH.txt")
    shown = cli.json("tags", "show", SANCTIONED_ETH.lower())  # any spelling; shown in EIP-55 form
    assert shown["chain"] == "eth" and shown["address"] == SANCTIONED_ETH
    assert [(t["label"], t["category"], t["confidence"], t["source"]) for t in shown["tags"]] == [
        ("OFAC SDN", "user", 60, OFAC_SOURCE)]
    human = cli("tags", "show", SANCTIONED_ETH)
    assert human.exit_code == 0 and "OFAC SDN" in human.stdout
    none = cli.json("tags", "show", "1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG")
    assert none["tags"] == [] and none["chain"] == "btc"


def test_show_needs_chain_only_when_several_chains_have_tags(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    # "3..." is P2SH on Bitcoin and (legacy) on Litecoin: tag it on both
    pack = tmp_path / "both.yaml"
    pack.write_text(f"title: both\nsource: test\nlabel: x\ntags:\n- address: {SANCTIONED_BTC}\n  currency: BTC\n"
                    f"- address: {SANCTIONED_BTC}\n  currency: LTC\n")
    assert cli.json("tags", "import", str(pack))["chains"] == {"btc": 1, "ltc": 1}
    ambiguous = cli("tags", "show", SANCTIONED_BTC)
    assert ambiguous.exit_code == 2 and "has tags on btc, ltc: pass --chain" in ambiguous.stderr
    assert cli.json("tags", "show", SANCTIONED_BTC, "--chain", "ltc")["tags"][0]["chain"] == "ltc"
    assert cli("tags", "show", "not-an-address").exit_code == 2


def test_a_tagpack_with_a_bad_address_changes_nothing(cli: Cli, tracer_home: Path, data: Path,
                                                      tmp_path: Path) -> None:
    cli.json("tags", "import", str(data / "tagpacks" / "walletexplorer.yaml"))
    index = (tracer_home / "tags" / "index.json").read_bytes()
    pack = tmp_path / "bad.yaml"
    pack.write_text("title: bad\nsource: test\ncurrency: BTC\ntags:\n- address: 1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG\n"
                    "  label: fine\n- address: 1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dX\n  label: typo\n")
    result = cli("tags", "import", str(pack))
    assert result.exit_code == 2 and "bad.yaml, line 7: invalid btc address" in result.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("title: u\nsource: test\nlabel: x\ntags:\n- address: abc\n  currency: NOPE\n")
    result = cli("tags", "import", str(unknown))
    assert result.exit_code == 2 and "unknown.yaml, line 6: unknown currency 'NOPE'" in result.stderr
    assert (tracer_home / "tags" / "index.json").read_bytes() == index
    assert len(list((tracer_home / "tags").glob("*.parquet"))) == 1


def test_bad_options_are_usage_errors(cli: Cli, data: Path) -> None:
    xbt = str(data / "sanctions" / "sanctioned_addresses_XBT.txt")
    no_chain = cli("tags", "import", xbt)
    assert no_chain.exit_code == 2 and "needs --chain" in no_chain.stderr
    assert cli("tags", "import", xbt, "--chain", "bch").exit_code == 2  # a chain we do not have
    tagpack_with_label = cli("tags", "import", str(data / "tagpacks" / "hacks.yaml"), "--label", "x")
    assert tagpack_with_label.exit_code == 2 and "--label: only for address lists" in tagpack_with_label.stderr
    assert cli("tags", "import", xbt, "--chain", "btc", "--format", "yaml").exit_code == 2
    assert cli("tags", "import", xbt, "--chain", "btc", "--confidence", "sure").exit_code == 2
    missing = cli("tags", "import", "/nonexistent/tags.yaml")
    assert missing.exit_code == 2 and "no file" in missing.stderr


def test_import_with_case_loads_the_tags_into_the_case_store(cli: Cli, tracer_home: Path, data: Path) -> None:
    cli("case", "create", "op-tags")
    result = cli.json("tags", "import", str(data / "tagpacks" / "walletexplorer.yaml"), "--case", "op-tags")
    assert result["store"]["created"]["Tag"] == 386
    with EmbeddedStore.open(tracer_home / "cases" / "op-tags" / "graph.lbug", read_only=True) as store:
        tags = store.tags("btc", ["1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG"])
    assert tags.select("label", "category", "confidence", "tagpack").rows() == [
        ("Huobi.com", "exchange", 50, "WalletExplorer Tag Pack")]
    log = cli.json("case", "log", "op-tags")
    assert log[-1]["action"] == "tags.load" and log[-1]["details"]["rows"] == 386
    assert cli("tags", "import", str(data / "tagpacks" / "hacks.yaml"), "--case", "no-such-case").exit_code == 2
    assert [e["name"] for e in _library(tracer_home).entries()] == ["WalletExplorer Tag Pack"]


def test_a_damaged_library_is_a_clear_error(cli: Cli, tracer_home: Path, data: Path) -> None:
    cli.json("tags", "import", str(data / "tagpacks" / "walletexplorer.yaml"))
    parquet = next((tracer_home / "tags").glob("*.parquet"))
    parquet.write_bytes(b"not parquet")
    result = cli("tags", "show", "1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG")
    assert result.exit_code == 1 and "cannot be read" in result.stderr
    (tracer_home / "tags" / "index.json").write_text("{broken")
    result = cli("tags", "list")
    assert result.exit_code == 1 and "index" in result.stderr and "cannot be read" in result.stderr


def test_a_tag_csv_imports_each_rows_label_and_category(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    attributions = tmp_path / "attributions.csv"
    attributions.write_text("address,label,category\n"
                            "1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG,Huobi.com,exchange\n"
                            f"{SANCTIONED_BTC},Hydra market wallet,market\n")
    result = cli.json("tags", "import", str(attributions), "--chain", "btc", "--source", "unit intelligence")
    assert (result["status"], result["rows"], result["name"]) == ("created", 2, "attributions.csv")
    shown = cli.json("tags", "show", SANCTIONED_BTC)
    assert [(t["label"], t["category"], t["source"]) for t in shown["tags"]] == [
        ("Hydra market wallet", "market", "unit intelligence")]
    bad = tmp_path / "bad.csv"
    bad.write_text("address,label,category\n1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG,Huobi.com,exchange,extra\n")
    refused = cli("tags", "import", str(bad), "--chain", "btc")
    assert refused.exit_code == 2 and "bad.csv, line 2: 4 fields, the header has 3" in refused.stderr


def test_import_help_lists_the_formats(cli: Cli) -> None:
    assert "--format <tagpack|csv|list>" in cli("tags", "import", "--help").stdout


def test_the_real_ofac_tagpack_and_lists_are_declared_sanctions_lists_with_name_and_date(
        cli: Cli, tracer_home: Path, data: Path) -> None:
    pack = cli.json("tags", "import", str(data / "tagpacks" / "ofac.yaml"), "--skip-invalid",
                    "--sanctions-list", "OFAC SDN")
    assert pack["sanctions"] == {"list": "OFAC SDN", "date": "2024-02-26"}  # the TagPack's lastmod
    listed = cli.json("tags", "import", str(data / "sanctions" / "sanctioned_addresses_ETH.txt"), "--chain", "eth",
                      "--label", "OFAC SDN", "--sanctions-list", "OFAC SDN", "--sanctions-date", "2024-09-27")
    assert listed["sanctions"] == {"list": "OFAC SDN", "date": "2024-09-27"}
    tags = cli.json("tags", "show", SANCTIONED_ETH)["tags"]
    assert {(t["tagpack"], t["sanctions_list"], t["sanctions_date"]) for t in tags} == {
        ("US Treasury OFAC Sanctions List", "OFAC SDN", "2024-02-26"),
        ("sanctioned_addresses_ETH.txt (eth: OFAC SDN)", "OFAC SDN", "2024-09-27")}
    assert [e["sanctions"] for e in cli.json("tags", "list")] == [pack["sanctions"], listed["sanctions"]]
    # the same content declared again is unchanged; without the declaration it is a new version
    again = cli.json("tags", "import", str(data / "tagpacks" / "ofac.yaml"), "--skip-invalid",
                     "--sanctions-list", "OFAC SDN")
    plain = cli.json("tags", "import", str(data / "tagpacks" / "ofac.yaml"), "--skip-invalid")
    assert (again["status"], plain["status"], plain["sanctions"]) == ("unchanged", "superseded", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sanctions-date", "2024-09-27"], "--sanctions-date goes with --sanctions-list"),
        (["--sanctions-list", "OFAC SDN"], "--sanctions-list needs the list's date"),
        (["--sanctions-list", "OFAC SDN", "--sanctions-date", "27.09.2024"], "is not a date"),
    ],
)
def test_a_sanctions_declaration_needs_a_name_and_a_date(cli: Cli, tracer_home: Path, data: Path, args: list[str],
                                                         message: str) -> None:
    result = cli("tags", "import", str(data / "sanctions" / "sanctioned_addresses_ETH.txt"), "--chain", "eth",
                 *args)
    assert result.exit_code == 2 and message in result.stderr
    assert not (tracer_home / "tags" / "index.json").exists()
