"""Every command has help with an example, appears in the README, and errors are one line."""

import re
from pathlib import Path

from typer.main import get_command

from cli.app import app
from tests.conftest import Cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[tuple[str, object]]:
    out = []

    def walk(prefix: str, command: object) -> None:
        sub = getattr(command, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(f"{prefix} {name}", child)
        else:
            out.append((prefix, command))

    walk("tracer", get_command(app))
    return out


def test_root_help_lists_the_command_groups(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for group in ("case", "chains", "config"):
        assert re.search(rf"^\s+{group}\s", result.stdout, re.MULTILINE)
    assert "Exit codes" in result.stdout


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = README.read_text()
    for name, command in _commands():
        help_text = getattr(command, "help", "") or ""
        assert help_text.strip(), f"{name} has no help"
        assert "Example:" in help_text, f"{name} help has no example"
        assert name in readme, f"{name} is not described in README.md"


def test_every_printing_command_offers_json() -> None:
    for name, command in _commands():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}  # type: ignore[attr-defined]
        assert "--json" in options, f"{name} has no --json"


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("tracer ")


def test_usage_error_is_exit_2(cli: Cli) -> None:
    assert cli("case", "create").exit_code == 2
    assert cli("no-such-command").exit_code == 2
