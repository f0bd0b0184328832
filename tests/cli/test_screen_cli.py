# SPDX-License-Identifier: Apache-2.0
"""``tracer screen``: a list of flagged wallets screened against real sanctions data on a real chain.

On a real ``anvil`` node running with Ethereum mainnet's chain id (so the tags of real mainnet
addresses apply), real OFAC-sanctioned Ethereum addresses (``../shared/data/sanctions``,
impersonated: anvil lets a test spend from any address) pay wallets whose exposure is known
exactly: one is itself sanctioned (direct), one received from a sanctioned address (1 hop), one
received from a middleman half of whose funds came from one (2 hops: a quarter of what it
received), one only from a clean account (none). The chain is ingested with ``tracer ingest evm``
and the sanctions list imported with ``tracer tags import --sanctions-list``; the screening's numbers are checked
to the wei, its exit codes, its rejects file, and that a run interrupted half-way and resumed
writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from jobs import screen_run
from testing.devcontracts import receipt
from testing.devnodes import Anvil
from tests.conftest import Cli

CHAIN = "eth"  # anvil started with --chain-id 1
ETH = 10**18
W1 = "0x1111111111111111111111111111111111111111"
W2 = "0x2222222222222222222222222222222222222222"
W0 = "0x3333333333333333333333333333333333333333"
MIDDLEMAN = "0x4444444444444444444444444444444444444444"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh anvil with the story above; yields its URL, block range and the sanctioned addresses."""
    sanctions = Path(__file__).resolve().parents[3] / "shared" / "data" / "sanctions" / "sanctioned_addresses_ETH.txt"
    if not sanctions.is_file():
        pytest.skip(f"third-party sanctions list not present at {sanctions}")
    listed = [line.strip() for line in sanctions.read_text().splitlines() if line.strip().startswith("0x")]
    s1, s2 = listed[0], listed[1]
    exchange = "0xc96c1609a1a45ccc667b2b7fa6508e29617f7b69"  # first tag of etherscan-wordcloud-exchange.yaml
    node = Anvil.start(extra_args=("--chain-id", "1"))
    try:
        with node.rpc() as rpc:
            clean = rpc.call("eth_accounts")[0]
            first = int(rpc.call("eth_blockNumber"), 16) + 1
            for address in (s1, MIDDLEMAN):
                rpc.call("anvil_impersonateAccount", address)
            rpc.call("anvil_setBalance", s1, hex(100 * ETH))

            def send(sender: str, to: str, value: int) -> None:
                txid = rpc.call("eth_sendTransaction", {"from": sender, "to": to, "value": hex(value)})
                assert receipt(rpc, txid)["status"] == "0x1"  # waits: anvil answers before it mines

            send(s1, W1, 10 * ETH)  # W1: 1 hop from a sanctioned address, all it received
            send(s1, MIDDLEMAN, 4 * ETH)  # the middleman: half of its 8 ETH from a sanctioned address
            send(clean, MIDDLEMAN, 4 * ETH)
            send(MIDDLEMAN, W2, 2 * ETH)  # W2: 2 hops; floor(2 * 4/8) = 1 ETH of the 4 ETH it received
            send(clean, W2, 2 * ETH)
            send(clean, W0, 1 * ETH)  # W0: clean money only
            send(clean, s2, 1 * ETH)  # s2 is itself sanctioned (direct exposure)
            rpc.call("anvil_impersonateAccount", W1)
            send(W1, exchange, 3 * ETH)  # W1 cashes out 3 of its 10 ETH at an exchange
            last = int(rpc.call("eth_blockNumber"), 16)
        yield {"url": node.url, "first": first, "last": last, "s1": s1, "s2": s2, "sanctions": sanctions,
               "tagpack": sanctions.parents[1] / "tagpacks" / "etherscan-wordcloud-exchange.yaml",
               "exchange": exchange}
    finally:
        node.stop()


@pytest.fixture()
def case(cli: Cli, chain: dict[str, Any]) -> str:
    assert cli("case", "create", "op-s").exit_code == 0
    ingest = cli("ingest", "evm", "--chain", CHAIN, "--node", chain["url"], "--from", str(chain["first"]),
                 "--to", str(chain["last"]), "--case", "op-s")
    assert ingest.exit_code == 0, ingest.output
    tags = cli("tags", "import", str(chain["sanctions"]), "--format", "list", "--chain", CHAIN,
               "--label", "OFAC SDN list", "--category", "user", "--source", "OFAC 2024-09-27",
               "--sanctions-list", "OFAC SDN", "--sanctions-date", "2024-09-27")  # as README documents it
    assert tags.exit_code == 0, tags.output
    pack = cli("tags", "import", str(chain["tagpack"]))
    assert pack.exit_code == 0, pack.output
    return "op-s"


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


def _wallet_file(path: Path, chain: dict[str, Any], extra: list[list[str]] | None = None) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["address", "reference"])
        for row in [[chain["s2"], "direct"], [W1, "one hop"], [W2, "two hops"], [W0, "clean"], *(extra or [])]:
            writer.writerow(row)
    return path


def test_direct_one_hop_two_hop_and_clean_wallets(cli: Cli, case: str, chain: dict[str, Any],
                                                  tmp_path: Path) -> None:
    wallets = _wallet_file(tmp_path / "flagged.csv", chain,
                           [["0x1111111111111111111111111111111111111112x", "typo"], [W1.upper(), "again"]])
    out = tmp_path / "screened.csv"
    result = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--hops", "2", "--out", str(out),
                 "--json")
    assert result.exit_code == 3, result.output  # hits found
    rows = {r["wallet"].lower(): r for r in _csv(out)}
    assert rows[chain["s2"].lower()]["risk"] == "severe"
    assert "sanctioned (direct)" in rows[chain["s2"].lower()]["reason"]
    assert rows[W1]["risk"] == "severe" and rows[W1]["received"] == str(10 * ETH)
    assert rows[W2]["risk"] == "severe" and rows[W0]["risk"] == "none"
    exposures = {(r["wallet"].lower(), r["side"], r["category"]): r
                 for r in _csv(tmp_path / "screened.exposures.csv")}
    one = exposures[(W1, "received_from", "sanctioned")]
    assert (one["amount"], one["total"], one["share"], one["hops"]) == (str(10 * ETH), str(10 * ETH), "100.00%", "1")
    assert one["path"].lower() == f"{W1} -> {chain['s1'].lower()}"
    two = exposures[(W2, "received_from", "sanctioned")]
    assert (two["amount"], two["total"], two["share"], two["hops"]) == (str(ETH), str(4 * ETH), "25.00%", "2")
    assert two["path"].lower() == f"{W2} -> {MIDDLEMAN} -> {chain['s1'].lower()}"
    assert not any(w == W0 for w, _, _ in exposures)
    cash_out = exposures[(W1, "sent_to", "exchange")]
    assert (cash_out["amount"], cash_out["share"], cash_out["labels"]) == (str(3 * ETH), "100.00%", "2GT_token (2GT)")
    rejects = _csv(tmp_path / "screened.rejects.csv")
    assert [(r["line"], r["value"][:10]) for r in rejects] == [("6", "0x11111111")]
    assert "invalid" in rejects[0]["reason"]


def test_one_hop_screening_does_not_see_the_middleman(cli: Cli, case: str, chain: dict[str, Any],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "one-hop.parquet"
    result = cli("screen", str(_wallet_file(tmp_path / "f.csv", chain)), "--chain", CHAIN, "--case", case,
                 "--hops", "1", "--out", str(out))
    assert result.exit_code == 3
    risk = dict(pl.read_parquet(out).select(pl.col("wallet").str.to_lowercase(), "risk").iter_rows())
    assert risk[W2] == "none" and risk[W1] == "severe"


def test_a_clean_list_exits_0(cli: Cli, case: str, tmp_path: Path) -> None:
    wallets = tmp_path / "clean.csv"
    wallets.write_text(f"address\n{W0}\n")
    result = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--json")
    assert result.exit_code == 0, result.output


UNINTERRUPTED = screen_run.batch_saved


def _stop_after(batches: int) -> Callable[[int, int], None]:
    """A stand-in for the job's after-batch seam that stops the run as Ctrl-C would after ``batches``."""

    def stop(done: int, total: int) -> None:
        if done >= batches and done < total:
            raise KeyboardInterrupt

    return stop


def test_an_interrupted_run_resumes_to_the_same_bytes(cli: Cli, case: str, chain: dict[str, Any],
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wallets = _wallet_file(tmp_path / "flagged.csv", chain)
    whole = tmp_path / "whole" / "out.parquet"
    whole.parent.mkdir()
    assert cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "1",
               "--out", str(whole)).exit_code == 3
    resumed = tmp_path / "resumed" / "out.parquet"
    resumed.parent.mkdir()
    monkeypatch.setattr(screen_run, "batch_saved", _stop_after(2))
    stopped = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "1",
                  "--out", str(resumed))
    assert stopped.exit_code == 130 and not resumed.exists()
    assert sorted(p.name for p in (resumed.parent / "out.parquet.parts").glob("wallets-*")) == [
        "wallets-000000.parquet", "wallets-000001.parquet"]
    monkeypatch.setattr(screen_run, "batch_saved", UNINTERRUPTED)
    finished = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "1",
                   "--out", str(resumed), "--resume", "--json")
    assert finished.exit_code == 3
    assert '"resumed_batches": 2' in finished.stdout
    for name in ("out.parquet", "out.exposures.parquet", "out.rejects.csv"):
        assert (resumed.parent / name).read_bytes() == (whole.parent / name).read_bytes(), name
    # a resume with other options is refused rather than mixing two runs
    monkeypatch.setattr(screen_run, "batch_saved", _stop_after(1))
    cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "1", "--out", str(resumed),
        "--force")
    monkeypatch.setattr(screen_run, "batch_saved", UNINTERRUPTED)
    other = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "2",
                "--out", str(resumed), "--resume")
    assert other.exit_code == 2 and "another input or other options" in other.stderr


def test_two_workers_write_the_same_bytes_as_one(cli: Cli, case: str, chain: dict[str, Any], tmp_path: Path) -> None:
    wallets = _wallet_file(tmp_path / "flagged.csv", chain)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}" / "out.parquet"
        out.parent.mkdir()
        result = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, "--batch-size", "2",
                     "--workers", workers, "--out", str(out))
        assert result.exit_code == 3, result.output
        outputs.append((out.read_bytes(), (out.parent / "out.exposures.parquet").read_bytes()))
    assert outputs[0] == outputs[1]


def test_an_organisations_own_risk_rules(cli: Cli, case: str, chain: dict[str, Any], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nlevel = "severe"\ncategories = ["sanctioned"]\nmin_share = 50\nname = "majority"\n'
                     '[[rule]]\nlevel = "low"\ncategories = []\nname = "anything tagged"\n')
    out = tmp_path / "ruled.csv"
    result = cli("screen", str(_wallet_file(tmp_path / "f.csv", chain)), "--chain", CHAIN, "--case", case,
                 "--rules", str(rules), "--out", str(out))
    assert result.exit_code == 3
    risk = {r["wallet"].lower(): (r["risk"], r["reason"]) for r in _csv(out)}
    assert risk[W1] == ("severe", "majority: sanctioned (100.00%)")
    assert risk[W2] == ("low", "anything tagged: sanctioned (25.00%)")  # 25% is below this unit's 50%
    missing = cli("screen", str(_wallet_file(tmp_path / "g.csv", chain)), "--chain", CHAIN, "--case", case,
                  "--rules", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "nope.toml" in missing.stderr


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("wallet\n0x1111111111111111111111111111111111111111\n", [], "no column 'address'"),
        ("address\n0x1111111111111111111111111111111111111111\n", ["--hit-level", "purple"], "--hit-level"),
        ("address\n0x1111111111111111111111111111111111111111\n", ["--out", "x.txt"], "--out must end in"),
    ],
)
def test_bad_input_exits_2(cli: Cli, case: str, tmp_path: Path, content: str, args: list[str],
                           message: str) -> None:
    wallets = tmp_path / "in.csv"
    wallets.write_text(content)
    result = cli("screen", str(wallets), "--chain", CHAIN, "--case", case, *args)
    assert result.exit_code == 2 and message in result.stderr
