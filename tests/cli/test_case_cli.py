"""Case workspaces: create a case, add validated seeds, keep a verifiable audit log.

Bad input (invalid address or checksum, unknown chain, duplicate case, missing case) gets one
line on stderr, exit code 2, and nothing is written.
"""

import json
from pathlib import Path

from jobs.workspace import Workspace
from tests.conftest import Cli

ETH_LOWER = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
ETH_EIP55 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_create_list_and_show_a_case(cli: Cli, tracer_home: Path) -> None:
    created = cli.json("case", "create", "op-harbor", "--description", "vendor payouts")
    assert created["name"] == "op-harbor"
    assert created["created_by"] == "analyst@unit-test"
    assert Path(created["path"]) == tracer_home / "cases" / "op-harbor"
    listed = cli.json("case", "list")
    assert [(c["name"], c["seeds"], c["description"]) for c in listed] == [("op-harbor", 0, "vendor payouts")]
    shown = cli.json("case", "show", "op-harbor")
    assert shown["audit"] == {"entries": 1, "verified": True, "problem": None}


def test_seeds_are_validated_and_normalized(cli: Cli) -> None:
    cli("case", "create", "op-harbor")
    seed = cli.json("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth", "--label", "broker",
                    "--note", "from exchange reply 2026-11-02")
    assert (seed["address"], seed["kind"], seed["added"]) == (ETH_EIP55, "account", True)
    cli("case", "seed", "add", "op-harbor", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "--chain", "btc")
    seeds = cli.json("case", "seed", "list", "op-harbor")
    assert [(s["chain"], s["address"], s["label"]) for s in seeds] == [
        ("eth", ETH_EIP55, "broker"),
        ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", None),
    ]


def test_re_adding_a_seed_changes_nothing(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth")
    before = _snapshot(tracer_home)
    again = cli.json("case", "seed", "add", "op-harbor", ETH_EIP55, "--chain", "eth")
    assert again["added"] is False
    assert _snapshot(tracer_home) == before


def test_human_output_is_a_table(cli: Cli) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth", "--label", "broker")
    result = cli("case", "seed", "list", "op-harbor")
    assert result.exit_code == 0
    assert ETH_EIP55 in result.stdout and "broker" in result.stdout and "┃" in result.stdout


def _assert_refused(cli: Cli, home: Path, args: list[str], message: str) -> None:
    before = _snapshot(home) if home.exists() else {}
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert (_snapshot(home) if home.exists() else {}) == before


def test_invalid_checksum_is_refused_and_nothing_written(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    _assert_refused(cli, tracer_home, ["case", "seed", "add", "op-harbor", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
                                       "--chain", "btc"], "Base58Check checksum mismatch")
    _assert_refused(cli, tracer_home, ["case", "seed", "add", "op-harbor",
                                       "0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "--chain", "eth"],
                    "EIP-55 checksum mismatch")


def test_address_of_another_chain_is_refused(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    _assert_refused(cli, tracer_home, ["case", "seed", "add", "op-harbor", "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1",
                                       "--chain", "btc"], "used by ltc")


def test_unknown_chain_is_refused(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    _assert_refused(cli, tracer_home, ["case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "doge"],
                    "unknown chain 'doge'")


def test_duplicate_case_name_is_refused(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor", "--description", "first")
    _assert_refused(cli, tracer_home, ["case", "create", "op-harbor", "--description", "second"],
                    "case 'op-harbor' already exists")
    assert cli.json("case", "show", "op-harbor")["description"] == "first"


def test_missing_case_is_refused(cli: Cli, tracer_home: Path) -> None:
    _assert_refused(cli, tracer_home, ["case", "show", "op-nowhere"], "no case named 'op-nowhere'")
    _assert_refused(cli, tracer_home, ["case", "seed", "add", "op-nowhere", ETH_LOWER, "--chain", "eth"],
                    "no case named 'op-nowhere'")


def test_case_name_that_is_not_a_safe_directory_name_is_refused(cli: Cli, tracer_home: Path) -> None:
    _assert_refused(cli, tracer_home, ["case", "create", "../escape"], "invalid case name")


def test_case_name_ending_in_a_newline_is_refused(cli: Cli, tracer_home: Path) -> None:
    _assert_refused(cli, tracer_home, ["case", "create", "op\n"], "invalid case name")


def test_audit_log_records_who_did_what(cli: Cli) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth")
    log = cli.json("case", "log", "op-harbor")
    assert [(e["seq"], e["action"], e["actor"]) for e in log] == [
        (1, "case.create", "analyst@unit-test"),
        (2, "seed.add", "analyst@unit-test"),
    ]
    assert log[1]["prev"] == log[0]["hash"]
    assert log[1]["details"]["address"] == ETH_EIP55


def test_tampering_with_the_audit_log_is_detected(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth")
    assert cli.json("case", "verify", "op-harbor")["verified"] is True
    audit = tracer_home / "cases" / "op-harbor" / "audit.jsonl"
    lines = audit.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "someone-else@elsewhere"
    audit.write_text(lines[0] + "\n" + json.dumps(entry) + "\n")
    result = cli("case", "verify", "op-harbor")
    assert result.exit_code == 1
    assert "modified after it was written" in result.stdout


def test_truncating_the_audit_log_is_detected(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth")
    audit = tracer_home / "cases" / "op-harbor" / "audit.jsonl"
    audit.write_text(audit.read_text().splitlines()[0] + "\n")
    check = Workspace(tracer_home / "cases").open("op-harbor").verify()
    assert not check.ok and "removed at the end" in (check.problem or "")


def test_seeds_edited_outside_the_tool_are_detected(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    seeds = tracer_home / "cases" / "op-harbor" / "seeds.json"
    seeds.write_text(json.dumps([{"chain": "eth", "address": ETH_EIP55, "kind": "account", "label": None,
                                  "note": None, "added_at": "2026-01-01T00:00:00Z", "added_by": "x"}]))
    result = cli("case", "verify", "op-harbor", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problem"] == "seeds.json does not match the seeds recorded in the audit log"


def test_secrets_in_the_command_line_never_reach_the_audit_log() -> None:
    from cli.context import safe_argv

    assert safe_argv(["tracer", "ingest", "--node", "http://rpc:hunter2@127.0.0.1:8332", "--password", "pw",
                      "--token=abc"]) == [
        "tracer", "ingest", "--node", "http://***@127.0.0.1:8332", "--password", "***", "--token=***"]


def test_text_that_looks_like_markup_is_printed_as_typed(cli: Cli) -> None:
    cli("case", "create", "op-harbor", "--description", "desc [/] end [red]x")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth", "--label", "[/]")
    shown = cli("case", "show", "op-harbor")
    assert shown.exit_code == 0 and "desc [/] end [red]x" in shown.stdout and "[/]" in shown.stdout
    refused = cli("chains", "check", "[red]zz", "--chain", "btc")
    assert refused.exit_code == 2 and "'[red]zz'" in refused.stderr


def test_an_edited_seed_label_is_detected(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    cli("case", "seed", "add", "op-harbor", ETH_LOWER, "--chain", "eth", "--label", "broker")
    seeds = tracer_home / "cases" / "op-harbor" / "seeds.json"
    seeds.write_text(seeds.read_text().replace('"broker"', '"innocent"'))
    assert cli("case", "verify", "op-harbor").exit_code == 1


def test_an_edited_case_description_is_detected(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor", "--description", "original")
    meta = tracer_home / "cases" / "op-harbor" / "case.json"
    meta.write_text(meta.read_text().replace('"original"', '"rewritten"'))
    result = cli("case", "verify", "op-harbor", "--json")
    assert result.exit_code == 1
    assert "case.json does not match" in json.loads(result.stdout)["problem"]


def test_damaged_case_files_are_one_line_errors(cli: Cli, tracer_home: Path) -> None:
    cli("case", "create", "op-harbor")
    (tracer_home / "cases" / "op-harbor" / "seeds.json").write_text('[{"unexpected": 1}]')
    result = cli("case", "seed", "list", "op-harbor")
    assert result.exit_code == 1 and "is damaged" in result.stderr and "Traceback" not in result.output
    (tracer_home / "cases" / "op-harbor" / "audit.jsonl").write_text("garbage\n")
    assert cli("case", "log", "op-harbor").exit_code == 1


def test_a_home_that_is_a_file_is_a_clear_error(cli: Cli, tracer_home: Path) -> None:
    tracer_home.parent.mkdir(parents=True, exist_ok=True)
    tracer_home.write_text("not a directory")
    result = cli("case", "create", "op-harbor")
    assert result.exit_code == 2 and "cannot create the case directory" in result.stderr
