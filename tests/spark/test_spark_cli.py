# SPDX-License-Identifier: Apache-2.0
"""``tracer spark cluster … --case``: the whole-chain clustering run on Spark, loaded into a case.

The fixture chain's frames are clustered by the Spark job (local mode, the test session's Spark),
the result loaded into a case through the audited store path: the case's clusters then answer
``tracer cluster show`` exactly as a ``tracer cluster run`` on one machine does, and the case
verifies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cli

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "op-fixture"


def _case(cli: Cli, name: str) -> None:
    assert cli("case", "create", name).exit_code == 0
    assert cli("ingest", "frames", str(FIXTURE / "frames"), "--case", name).exit_code == 0


def test_spark_clusters_load_into_a_case_like_a_single_machine_run(spark: Any, cli: Cli, tmp_path: Path) -> None:
    story = json.loads((FIXTURE / "story.json").read_text())
    payout = story["ltc"]["roles"]["payout_addresses"][0] if "payout_addresses" in story["ltc"]["roles"] else None
    _case(cli, "on-spark")
    _case(cli, "on-one-machine")
    ran = cli("spark", "cluster", str(FIXTURE / "frames"), "--out", str(tmp_path / "out"), "--chain", "ltc-regtest",
              "--case", "on-spark", "--json")
    assert ran.exit_code == 0, ran.output
    assert cli("cluster", "run", "on-one-machine", "--chain", "ltc-regtest").exit_code == 0
    for case in ("on-spark", "on-one-machine"):
        assert cli("case", "verify", case).exit_code == 0
    seeds = json.loads((FIXTURE / "case.json").read_text())["seeds"]
    address = payout or next(s["address"] for s in seeds if s["chain"] == "ltc-regtest")
    spark_view = cli.json("cluster", "show", "on-spark", address, "--chain", "ltc-regtest")
    local_view = cli.json("cluster", "show", "on-one-machine", address, "--chain", "ltc-regtest")
    assert spark_view["cluster_id"] == local_view["cluster_id"]
    assert sorted(spark_view["members"]) == sorted(local_view["members"])
