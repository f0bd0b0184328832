# SPDX-License-Identifier: Apache-2.0
"""``tracer method`` and the ``error_rates`` block of trace manifests, on the main job's fixture case.

The command is registered on a small Typer app here (the root app registers it in ``cli/app.py``).
The rates come from the committed results file (``docs/error-rates.json``); nothing here types one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.method import method_command
from jobs.error_rates import RESULTS_FILE, manifest_reference
from tests.cli.test_fixture_trace import LTC, _open_case
from tests.conftest import Cli
from tracer.error_rates import METRICS
from tracer.error_rates_account import ACCOUNT_METRICS
from tracer.errors import NotFoundError

app = typer.Typer()
app.command("method")(method_command)


@app.callback()
def _root() -> None:
    """Test root (so that ``method`` stays a subcommand)."""


def _method(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["method", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_without_a_case_every_published_rate_is_printed_with_generator_and_seeds(tracer_home: Path) -> None:
    published = json.loads(RESULTS_FILE.read_text())
    data = _method()
    account = published.get("account", {}).get("rates", {})
    assert [r["key"] for r in data["rates"]] == [k for k in [*METRICS, *ACCOUNT_METRICS]
                                                 if k in published["rates"] or k in account]
    assert {r["side"] for r in data["rates"]} == ({"utxo", "account"} if account else {"utxo"})
    assert data["generator"] == published["generator"] and data["seeds"] == published["seeds"]
    assert data["results_sha256"] == hashlib.sha256(RESULTS_FILE.read_bytes()).hexdigest()
    human = CliRunner().invoke(app, ["method"], catch_exceptions=False)
    assert human.exit_code == 0 and "Error rates" in human.stdout and published["generator"] in human.stdout


def test_a_case_shows_the_rates_of_what_its_traces_used_and_manifests_carry_them(cli: Cli) -> None:
    case = _open_case(cli)
    run = cli.json("trace", case, "--chain", LTC, "--model", "fifo", "--hops", "12")
    manifest = json.loads((Path(run["directory"]) / "manifest.json").read_text())
    reference = manifest["error_rates"]
    assert reference["results_sha256"] == hashlib.sha256(RESULTS_FILE.read_bytes()).hexdigest()
    assert {r.split(".")[0] for r in reference["rates"]} == {"trace", "coinjoin", "peel_chain"}
    assert "trace.fifo.true_entity_share" in reference["rates"] and "trace.haircut.true_entity_share" not in \
        reference["rates"]
    data = _method(case)
    assert set(data["methods_used"]) == {"fifo", "coinjoin", "peel_chain"}
    assert {r["method"] for r in data["rates"]} == {"fifo", "coinjoin", "peel_chain"}
    cluster = cli("cluster", "run", case, "--chain", LTC, "--change")
    assert cluster.exit_code == 0, cluster.output
    used = _method(case)["methods_used"]
    assert {"multi_input", "one_time_change"} <= set(used)


def test_without_a_results_file_the_manifest_says_so_and_the_command_refuses(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_ERROR_RATES", str(tmp_path / "absent.json"))
    case = _open_case(cli)
    run = cli.json("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "12")
    assert json.loads((Path(run["directory"]) / "manifest.json").read_text())["error_rates"] == {"available": False}
    with pytest.raises(NotFoundError, match="benchmarks/heuristics.py"):
        CliRunner().invoke(app, ["method"], catch_exceptions=False)


def test_an_account_trace_manifest_carries_the_account_sides_rates_of_its_model(tracer_home: Path) -> None:
    published = json.loads(RESULTS_FILE.read_text())
    reference = manifest_reference(["haircut"], account_model=True)
    assert reference["generator"] == published["account"]["generator"]
    assert reference["seeds"] == published["account"]["seeds"]
    assert set(reference["rates"]) == {k for k, r in published["account"]["rates"].items()
                                       if r["method"] == "haircut"} != set()
    for key, rate in reference["rates"].items():
        assert rate["value"] == published["account"]["rates"][key]["value"]
    utxo = manifest_reference(["haircut", "coinjoin", "peel_chain"])
    assert utxo["generator"] == published["generator"] and not any(k.startswith("account.") for k in utxo["rates"])
