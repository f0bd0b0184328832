# SPDX-License-Identifier: Apache-2.0
"""``tracer screen`` on the main job's case (``fixtures/op-fixture``, loaded as
``tests/cli/test_fixture_trace.py`` loads it), checked against the story and against the trace.

The Ethereum leg (``STORY.md``): the buyer pays the vendor 0.8 ETH; the vendor forwards 0.75 ETH to an
intermediate address and keeps the rest; the intermediate deposits 0.7 ETH at Exchange Alpha. Of the
buyer's 0.8 ETH, at most 0.7 ETH can have reached an exchange that only ever received 0.7 ETH: the
trace says 0.7 ETH (87.5 %), and screening must say the same.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_fixture_trace import ETH, FIXTURE, _open_case
from tests.conftest import Cli


@pytest.fixture()
def story() -> dict[str, Any]:
    return dict(json.loads((FIXTURE / "story.json").read_text()))


@pytest.fixture()
def case(cli: Cli) -> str:
    return _open_case(cli)


def _wallets(path: Path, *addresses: str) -> Path:
    path.write_text("address\n" + "".join(f"{a}\n" for a in addresses))
    return path


def _screen(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    """``tracer screen ... --json``: exit code (0 no hits, 3 hits) and the report."""
    result = cli("screen", *args, "--json")
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def test_exposure_never_exceeds_what_the_exchange_received(cli: Cli, case: str, story: dict[str, Any],
                                                           tmp_path: Path) -> None:
    roles, totals = story["eth"]["roles"], story["eth"]["totals"]
    _, data = _screen(cli, str(_wallets(tmp_path / "w.csv", roles["buyer"])), "--chain", ETH, "--case", case,
                      "--hops", "3")
    (row,) = data["rows"]
    assert row["wallet"] == roles["buyer"] and row["sent"] == str(totals["sale_wei"])  # 0.8 ETH
    trace = cli.json("trace", case, "--chain", ETH, "--seed", roles["buyer"], "--hops", "3", "--model", "haircut")
    traced = sum(int(e["amount"]) for e in trace["endings"] if e["ending"] == "entity" and e["asset"] == "native")
    assert traced == totals["exchange_wei"]  # 0.7 ETH, 87.5 %
    out = tmp_path / "screened.csv"
    cli("screen", str(_wallets(tmp_path / "w2.csv", roles["buyer"])), "--chain", ETH, "--case", case, "--hops", "3",
        "--out", str(out))
    exposures = (tmp_path / "screened.exposures.csv").read_text().splitlines()
    native = [line for line in exposures if ",sent_to,exchange,native," in line]
    assert len(native) == 1
    assert f",{totals['exchange_wei']},{totals['sale_wei']},87.50%," in native[0]  # was 0.8 ETH, 100.00 %
    assert native[0].count("->") == 3  # buyer -> vendor -> intermediate -> Exchange Alpha


def test_a_wallet_the_store_has_never_seen_is_unknown_not_none(cli: Cli, case: str, story: dict[str, Any],
                                                                tmp_path: Path) -> None:
    never_seen = "0x000000000000000000000000000000000000dEaD"
    wallets = _wallets(tmp_path / "w.csv", story["eth"]["roles"]["intermediate"], never_seen)
    _, data = _screen(cli, str(wallets), "--chain", ETH, "--case", case)
    rows = {r["wallet"]: r for r in data["rows"]}
    assert (rows[never_seen]["risk"], rows[never_seen]["reason"]) == ("unknown", "no transactions in the store")
    assert rows[story["eth"]["roles"]["intermediate"]]["risk"] == "low"  # paid Exchange Alpha
    assert data["levels"]["unknown"] == 1 and data["without_history"] == 1
    assert "--fetch" in data["hint"]
    human = cli("screen", str(wallets), "--chain", ETH, "--case", case)
    assert human.exit_code == 0  # unknown is not a hit
    assert "risk unknown" in human.stdout and "--fetch" in human.stderr


RULES = """
[[rule]]
level = "severe"
categories = ["exchange"]
indirect = false
name = "an exchange itself"
[[rule]]
level = "high"
categories = ["exchange"]
direct = false
min_share = 100
name = "all of it reached an exchange"
[[rule]]
level = "low"
categories = []
name = "tagged"
"""


def test_flagged_wallets_are_shown_without_out_highest_risk_first(cli: Cli, case: str, story: dict[str, Any],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    roles = story["eth"]["roles"]
    never_seen = "0x000000000000000000000000000000000000dEaD"
    wallets = _wallets(tmp_path / "w.csv", *roles.values(), never_seen)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    args = ("screen", str(wallets), "--chain", ETH, "--case", case, "--hops", "4", "--rules", str(rules),
            "--hit-level", "low")
    result = cli(*args)
    assert result.exit_code == 3
    shown = [(line.split("│")[2].strip(), line.split("│")[3].strip()) for line in result.stdout.splitlines()
             if "│ eth-devnet" in line]
    # severe, then high (by address), then low; the wallet without history is not a hit, so not listed
    assert shown == [(roles["exchange-deposit"], "severe"), (roles["vendor"], "high"), (roles["intermediate"], "high"),
                     (roles["buyer"], "high"), (roles["issuer"], "low")]
    monkeypatch.setattr("cli.screen.SHOWN", 2)
    capped = cli(*args)
    assert sum("│ eth-devnet" in line for line in capped.stdout.splitlines()) == 2
    assert "3 more flagged wallet(s) not shown: use --out FILE or --json" in capped.stderr
    code, data = _screen(cli, *args[1:])
    assert code == 3  # every wallet's row is in --json, in the same order, the unknown and the clean ones too
    assert [(r["wallet"], r["risk"]) for r in data["rows"]] == [*shown, (never_seen, "unknown")]


def test_only_declared_sanctions_lists_make_a_wallet_sanctioned(cli: Cli, case: str, shared_data: Path,
                                                               tmp_path: Path) -> None:
    sdn = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # sanctioned_addresses_ETH.txt, line 1
    kyc, policy = "0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"
    decoys = tmp_path / "exchanges.yaml"  # words that merely contain "sanction" or "OFAC" prove nothing
    decoys.write_text("title: Non-sanctioned exchanges (KYC)\nsource: https://exchange.example/sanctions-policy\n"
                      f"category: exchange\ncurrency: ETH\ntags:\n- address: '{kyc}'\n  label: KYC exchange\n")
    unsanctioned = tmp_path / "cleared.txt"
    unsanctioned.write_text(policy + "\n")
    assert cli("tags", "import", str(decoys)).exit_code == 0
    assert cli("tags", "import", str(unsanctioned), "--chain", "eth", "--label", "OFAC-cleared desk",
               "--category", "exchange", "--source", "https://registry.example/unsanctioned").exit_code == 0
    # the documented way: the real OFAC TagPack and list, declared sanctions lists
    assert cli("tags", "import", str(shared_data / "tagpacks" / "ofac.yaml"), "--skip-invalid",
               "--sanctions-list", "OFAC SDN").exit_code == 0
    assert cli("tags", "import", str(shared_data / "sanctions" / "sanctioned_addresses_ETH.txt"), "--chain", "eth",
               "--label", "OFAC SDN", "--sanctions-list", "OFAC SDN", "--sanctions-date", "2024-09-27").exit_code == 0
    code, data = _screen(cli, str(_wallets(tmp_path / "w.csv", sdn, kyc, policy)), "--chain", "eth",
                         "--case", case)
    risk = {r["wallet"]: (r["risk"], r["reason"]) for r in data["rows"]}
    assert code == 3 and risk[sdn][0] == "severe" and "sanctioned (direct)" in risk[sdn][1]
    assert risk[kyc] == ("low", "any other tagged counterparty: exchange (direct)")  # was severe
    assert risk[policy] == ("low", "any other tagged counterparty: exchange (direct)")  # was severe


def test_results_are_never_overwritten_by_accident(cli: Cli, case: str, story: dict[str, Any], tmp_path: Path,
                                                   tracer_home: Path) -> None:
    wallets = _wallets(tmp_path / "w.csv", story["eth"]["roles"]["vendor"])
    args = ("screen", str(wallets), "--chain", ETH, "--case", case)
    out = tmp_path / "screened.csv"
    assert cli(*args, "--out", str(out)).exit_code == 0  # risk low: no hit
    written = out.read_bytes()
    out.write_text("an analyst's notes\n")
    again = cli(*args, "--out", str(out))
    assert again.exit_code == 2 and "already exist" in again.stderr and "--force" in again.stderr
    assert out.read_text() == "an analyst's notes\n"
    assert cli(*args, "--out", str(out), "--force").exit_code == 0 and out.read_bytes() == written
    # a sibling is protected as well, and so is the input list itself
    other = tmp_path / "other.csv"
    (tmp_path / "other.exposures.csv").write_text("keep me\n")
    sibling = cli(*args, "--out", str(other))
    assert sibling.exit_code == 2 and "other.exposures.csv" in sibling.stderr and not other.exists()
    itself = cli(*args, "--out", str(wallets), "--force")
    assert itself.exit_code == 2 and "is the input list itself" in itself.stderr
    # never inside a case folder: case.json is part of the case's evidence
    case_json = tracer_home / "cases" / case / "case.json"
    before = case_json.read_bytes()
    into_case = cli(*args, "--out", str(case_json), "--force")
    assert into_case.exit_code == 2 and "inside the workspace's case folders" in into_case.stderr
    assert case_json.read_bytes() == before and cli("case", "verify", case).exit_code == 0


def test_the_audit_log_records_the_input_files_hash_and_row_count(cli: Cli, case: str, story: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    roles = story["eth"]["roles"]
    wallets = _wallets(tmp_path / "w.csv", roles["vendor"], roles["buyer"], roles["vendor"], "not an address")
    cli("screen", str(wallets), "--chain", ETH, "--case", case)
    entry = cli.json("case", "log", case)[-1]
    assert entry["action"] == "screen.run"
    assert entry["details"]["input_sha256"] == hashlib.sha256(wallets.read_bytes()).hexdigest()
    assert (entry["details"]["rows_read"], entry["details"]["wallets"], entry["details"]["rejected"]) == (4, 2, 1)
    assert "rows" not in entry["details"]  # the per-wallet rows are results, not audit details


def test_without_a_case_the_hint_is_to_pass_one(cli: Cli, tmp_path: Path) -> None:
    wallets = _wallets(tmp_path / "w.csv", "0x1111111111111111111111111111111111111111")
    result = cli("screen", str(wallets), "--chain", ETH)
    assert result.exit_code == 2 and "pass --case CASE" in result.stderr
    assert "ingest chain data first" not in result.stderr
