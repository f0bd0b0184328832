# SPDX-License-Identifier: Apache-2.0
"""``--help`` of the screening, tag, cluster and graph commands speaks the user's language: choices are
listed, no Python type such as ``list[str]`` is shown, and the case is called ``CASE`` everywhere
(an argument ``{CASE}``, an option ``--case CASE``), as in every other command."""

from __future__ import annotations

import pytest

from tests.conftest import Cli

COMMANDS = [
    ("screen",), ("tags", "import"), ("tags", "show"), ("tags", "list"), ("cluster", "run"), ("cluster", "explain"),
    ("cluster", "show"), ("graph", "stats"), ("graph", "query"), ("graph", "push"), ("graph", "export"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_python_types_and_calls_the_case_case(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "list[" not in result.stdout and "dict[" not in result.stdout and "None" not in result.stdout
    usage = result.stdout.splitlines()[0]
    assert "{CASE}" in usage or "--case CASE" in result.stdout or "case" not in result.stdout.lower()


def test_choices_are_listed(cli: Cli) -> None:
    assert "--hit-level <low|medium|high|severe>" in cli("screen", "--help").stdout
    assert "--format <tagpack|csv|list>" in cli("tags", "import", "--help").stdout
    assert "<neo4j-admin|graphml|parquet>" in cli("graph", "export", "--help").stdout
    assert "--param NAME=VALUE" in cli("graph", "query", "--help").stdout


def test_a_choice_outside_the_list_is_a_usage_error(cli: Cli) -> None:
    result = cli("screen", "wallets.csv", "--hit-level", "purple")
    assert result.exit_code == 2 and "--hit-level" in result.stderr
