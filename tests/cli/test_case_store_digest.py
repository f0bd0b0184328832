# SPDX-License-Identifier: Apache-2.0
"""``tracer case verify`` finds the case's store changed in place, as an investigator runs it.

The main job's case is loaded and traced through the CLI; every closing audit entry carries the
store's content digest. Then one output of the fixture chain gains one litoshi behind the log's
back — the same rows, the same counts — and ``case verify`` exits 1 naming the frame that no longer
matches, in the terminal and in ``--json``. Before the change the same case verifies and says which
digest the store has, and which audit entry recorded it.
"""

from __future__ import annotations

from pathlib import Path

from graph.embedded import EmbeddedStore
from tests.cli.test_fixture_trace import LTC, _open_case
from tests.conftest import Cli


def test_case_verify_finds_an_amount_changed_in_the_store(cli: Cli, tracer_home: Path) -> None:
    case = _open_case(cli)
    assert cli("trace", case, "--chain", LTC, "--model", "haircut", "--hops", "6").exit_code == 0
    log = cli.json("case", "log", case)
    digests = [e["details"]["store_digest"] for e in log if e["details"].get("store_digest")]
    assert [e["action"] for e in log if e["details"].get("store_digest")] == ["ingest.frames", "trace.finished"]
    assert all(d["construction"] == "tracer-store-digest/1" and len(d["sha256"]) == 64 for d in digests)
    assert digests[0]["parts"]["outputs"] == digests[1]["parts"]["outputs"]  # the trace did not touch them
    verified = cli("case", "verify", case)
    entry = max(e["seq"] for e in log if e["details"].get("store_digest"))
    assert verified.exit_code == 0
    assert (f"store content sha256 {digests[1]['sha256']}, as recorded by audit entry {entry}"
            in " ".join(verified.stdout.split()))
    assert cli.json("case", "verify", case)["store_digest"] == digests[1]["sha256"]

    with EmbeddedStore.open(tracer_home / "cases" / case / "graph.lbug") as store:
        store._exec("MATCH (o:Output) WITH o ORDER BY o.id LIMIT 1 SET o.value = o.value + 1")

    verify = cli("case", "verify", case)
    assert verify.exit_code == 1
    assert "with the same row counts: outputs no longer match the content digest" in " ".join(verify.stdout.split())
    as_json = cli("case", "verify", case, "--json")
    assert as_json.exit_code == 1 and '"verified": false' in as_json.stdout
    assert "outputs no longer match" in as_json.stdout
