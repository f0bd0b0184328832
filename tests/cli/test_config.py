"""Configuration comes from a TOML file and environment variables; secrets are never printed."""

import json
from pathlib import Path

import pytest

from tests.conftest import Cli


def _write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_config_file(cli: Cli, tracer_home: Path) -> None:
    view = cli.json("config", "show")
    assert view["home"] == str(tracer_home)
    assert view["config_file"] is None
    assert view["store"] == {"backend": "embedded", "path": "<case directory>/graph.lbug"}
    assert view["privacy"] == {"allow_third_party": False}


def test_file_and_environment_are_merged_and_secrets_masked(
    cli: Cli, tracer_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_config(tracer_home, """
[store]
backend = "neo4j"

[neo4j]
uri = "bolt://127.0.0.1:7687"
password = "file-secret"

[nodes]
btc = "http://rpc:node-secret@127.0.0.1:8332"

[chains.bsc]
chain_id = 56
symbol = "BNB"
""")
    monkeypatch.setenv("NEO4J_PASSWORD", "env-secret")
    monkeypatch.setenv("TRACER_NODE_LTC_REGTEST", "http://u:ltc-secret@127.0.0.1:19443")
    result = cli("config", "show", "--json")
    assert result.exit_code == 0
    for secret in ("file-secret", "env-secret", "node-secret", "ltc-secret"):
        assert secret not in result.output
    view = json.loads(result.stdout)
    assert view["config_file"] == str(path)
    assert view["store"]["backend"] == "neo4j"
    assert view["neo4j"]["password"] == "***"
    assert view["nodes"] == {"btc": "http://***@127.0.0.1:8332", "ltc-regtest": "http://***@127.0.0.1:19443"}
    assert "bsc" in view["chains"]
    human = cli("config", "show")
    assert "node-secret" not in human.output and "env-secret" not in human.output


def test_config_chain_is_usable_for_seeds(cli: Cli, tracer_home: Path) -> None:
    _write_config(tracer_home, "[chains.bsc]\nchain_id = 56\nsymbol = \"BNB\"\n")
    cli("case", "create", "op-bsc")
    seed = cli.json("case", "seed", "add", "op-bsc", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", "--chain", "bsc")
    assert seed["chain"] == "bsc"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[store\nbackend = 1", "is not valid TOML"),
        ("[store]\nbackend = \"mysql\"\n", "unknown store backend 'mysql'"),
        ("[nodes]\ndoge = \"http://127.0.0.1:1\"\n", "node for unknown chain 'doge'"),
        ("[chains.bsc]\nchain_id = \"56\"\n", "chain_id"),
        ("[surprise]\n", "unknown section"),
    ],
)
def test_unreadable_or_invalid_config_is_exit_2_and_nothing_written(
    cli: Cli, tracer_home: Path, text: str, message: str
) -> None:
    _write_config(tracer_home, text)
    result = cli("case", "create", "op-harbor")
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tracer_home / "cases").exists()


def test_missing_config_named_by_environment(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_CONFIG", str(tmp_path / "nope.toml"))
    result = cli("config", "show")
    assert result.exit_code == 2
    assert "not a readable file" in result.stderr


def test_unreadable_config_file(cli: Cli, tracer_home: Path) -> None:
    path = _write_config(tracer_home, "")
    path.write_bytes(b"\xff\xfe[store]\n")  # not UTF-8: e.g. saved as UTF-16 by an editor
    result = cli("config", "show")
    assert result.exit_code == 2
    assert "cannot read config file" in result.stderr and "UTF-8" in result.stderr
