# SPDX-License-Identifier: Apache-2.0
"""``tracer screen --fetch``: screening wallets the store does not hold yet, pulling their histories
(and their neighbours') from a source — here a chain store from a block-range ingest — into the store.

The hand-checked chain of ``tests/cli/test_trace_cli.py``: S (sanctioned) and U pay P 90,000 in one
transaction (S's share 60,000 by haircut), P pays R 9,500. R's exposure two hops back is
floor(9,500 * 60,000 / 90,000) = 6,333 of the 9,500 it received.
"""

from __future__ import annotations

import csv
from pathlib import Path

from graph.embedded import EmbeddedStore
from tests.cli.test_trace_cli import ADDR, CHAIN
from tests.conftest import Cli
from tests.tracer.chain_builder import UtxoChain


def test_fetch_pulls_missing_histories_then_screens(cli: Cli, tmp_path: Path) -> None:
    chain = UtxoChain(CHAIN)
    chain.coinbase("a", [(ADDR["S"], 100_000)])
    chain.coinbase("x", [(ADDR["U"], 50_000)])
    chain.tx("b", [("a", 0), ("x", 0)], [(ADDR["P"], 90_000), (ADDR["Q"], 59_000)])
    chain.tx("c", [("b", 0)], [(ADDR["E"], 80_000), (ADDR["R"], 9_500)])
    chain_store = tmp_path / "chain.lbug"
    with EmbeddedStore.open(chain_store) as store:
        store.ensure_schema()
        store.load(chain.frames())
    listed = tmp_path / "sdn.txt"
    listed.write_text(ADDR["S"] + "\n")
    assert cli("tags", "import", str(listed), "--format", "list", "--chain", CHAIN, "--label", "SDN",
               "--source", "OFAC", "--sanctions-list", "OFAC SDN", "--sanctions-date", "2024-09-27").exit_code == 0
    cli("case", "create", "op-w")
    wallets = tmp_path / "wallets.csv"
    wallets.write_text(f"address\n{ADDR['R']}\n")
    without = cli("screen", str(wallets), "--chain", CHAIN, "--case", "op-w")
    assert without.exit_code == 2 and "--fetch" in without.stderr  # the case has no store yet
    out = tmp_path / "out.csv"
    result = cli("screen", str(wallets), "--chain", CHAIN, "--case", "op-w", "--fetch", "--from-store",
                 str(chain_store), "--out", str(out))
    assert result.exit_code == 3, result.output
    (exposure,) = list(csv.DictReader((tmp_path / "out.exposures.csv").read_text().splitlines()))
    assert (exposure["side"], exposure["category"], exposure["amount"], exposure["total"], exposure["hops"]) == (
        "received_from", "sanctioned", "6333", "9500", "2")
    # what was fetched stays in the case's store: the same screening now runs without --fetch
    again = cli("screen", str(wallets), "--chain", CHAIN, "--case", "op-w", "--out", str(tmp_path / "again.csv"))
    assert again.exit_code == 3
    assert (tmp_path / "again.exposures.csv").read_bytes() == (tmp_path / "out.exposures.csv").read_bytes()
    # what --fetch wrote into the case's store is bracketed in its audit log, so the case verifies
    actions = [e["action"] for e in cli.json("case", "log", "op-w")]
    assert actions[-4:] == ["screen.fetch.started", "screen.fetch", "screen.run", "screen.run"]
    assert cli("case", "verify", "op-w").exit_code == 0
