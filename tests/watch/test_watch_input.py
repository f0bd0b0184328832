# SPDX-License-Identifier: Apache-2.0
"""``tracer watch`` refuses bad input with one line and exit 2, writing nothing: an unknown case, a
chain without a node, a bad ``--exec``, a case with nothing to watch, a second watch of one case. An
unreachable node with ``--once`` exits 4 (retry later)."""

from __future__ import annotations

from pathlib import Path

from jobs.watch_state import watch_lock
from jobs.workspace import Workspace
from testing.devnodes import LitecoinRegtest, free_port
from tests.conftest import Cli
from tests.watch.conftest import CHAIN, Watch, make_flow, new_address

SEED = "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4"


def _one_line_exit_2(result: object, *needles: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    text = result.stderr.strip()  # type: ignore[attr-defined]
    assert len(text.splitlines()) == 1 and text.startswith("error: "), text
    for needle in needles:
        assert needle in text, text


def _seeded(cli: Cli, name: str = "op-w") -> None:
    assert cli("case", "create", name).exit_code == 0
    assert cli("case", "seed", "add", name, SEED, "--chain", CHAIN).exit_code == 0


def test_an_unknown_case_is_bad_input(cli: Cli, watch: Watch) -> None:
    _one_line_exit_2(watch("no-such-case", "--once"), "no case named 'no-such-case'")


def test_a_chain_without_a_node_is_bad_input_and_writes_nothing(cli: Cli, watch: Watch, tracer_home: Path) -> None:
    _seeded(cli)
    before = cli.json("case", "log", "op-w")
    _one_line_exit_2(watch("op-w", "--once"), f"no node configured for {CHAIN}")
    assert cli.json("case", "log", "op-w") == before
    assert not (tracer_home / "cases" / "op-w" / "watch").exists()


def test_a_bad_exec_command_is_bad_input(cli: Cli, watch: Watch, tracer_home: Path) -> None:
    _seeded(cli)
    url = f"http://127.0.0.1:{free_port()}"
    _one_line_exit_2(watch("op-w", "--node", url, "--once", "--exec", "/no/such/program --flag"),
                     "not an executable program")
    _one_line_exit_2(watch("op-w", "--node", url, "--once", "--exec", "notify 'unbalanced"), "--exec")
    _one_line_exit_2(watch("op-w", "--node", url, "--once", "--exec", "  "), "--exec is empty")
    assert not (tracer_home / "cases" / "op-w" / "watch").exists()


def test_a_case_with_nothing_to_watch_is_bad_input(cli: Cli, watch: Watch) -> None:
    assert cli("case", "create", "op-empty").exit_code == 0
    _one_line_exit_2(watch("op-empty", "--once"), "no chain to watch")
    _one_line_exit_2(watch("op-empty", "--chain", CHAIN, "--node", "http://127.0.0.1:1", "--once"),
                     "nothing to watch")


def test_an_alert_file_of_something_else_is_bad_input(cli: Cli, watch: Watch, tmp_path: Path) -> None:
    _seeded(cli)
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    _one_line_exit_2(watch("op-w", "--node", "http://127.0.0.1:1", "--once", "--alerts", str(other)),
                     "not an alert line")


def test_a_second_watch_of_one_case_is_refused(cli: Cli, watch: Watch, tracer_home: Path) -> None:
    _seeded(cli)
    case = Workspace(tracer_home / "cases").open("op-w")
    with watch_lock(case):
        _one_line_exit_2(watch("op-w", "--node", "http://127.0.0.1:1", "--once"), "another `tracer watch op-w`")


def test_an_unreachable_node_exits_4_with_once(cli: Cli, watch: Watch, ltc: LitecoinRegtest) -> None:
    make_flow(ltc)
    assert cli("case", "create", "op-w").exit_code == 0
    assert cli("case", "seed", "add", "op-w", new_address(ltc), "--chain", CHAIN).exit_code == 0
    result = watch("op-w", "--node", f"http://u:secret@127.0.0.1:{free_port()}", "--once")
    assert result.exit_code == 4, result.output
    assert "secret" not in result.stderr


def test_help_shows_every_option_and_an_example(watch: Watch) -> None:
    result = watch("--help")
    assert result.exit_code == 0
    for option in ("--chain", "--node", "--interval", "--once", "--alerts", "--watch-list", "--exec",
                   "--exec-timeout", "--json", "Example:"):
        assert option in result.stdout, option
    assert "None" not in result.stdout and "list[" not in result.stdout
    assert "{CASE}" in result.stdout.splitlines()[0]
