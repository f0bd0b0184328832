# SPDX-License-Identifier: Apache-2.0
"""``tracer watch`` survives being killed and its node going away.

SIGKILL during a watch, then a restart, gives the same alert file (byte for byte) as an uninterrupted
watch of the same blocks in another workspace: alerts are recorded before the ingest checkpoint moves,
so the blocks of a kill are evaluated again and the ids already recorded are skipped. A node that
stops while a watch runs is reported once, retried with backoff, and the watch goes on when it is
back. No timings are asserted: the waits below only bound how long the test may take.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.errors import RpcError
from testing.devnodes import LITECOIND_FLAGS, LitecoinRegtest, _spawn, _wait, find_binary
from tests.conftest import Cli
from tests.watch.conftest import Watch, make_flow, mine, new_address, pay, spend, traced_case

ROOT = Path(__file__).resolve().parents[2]
PAYMENTS = 30


def _wait_for(what: str, check: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _watch_process(home: Path, *args: str, stderr: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRACER_HOME": str(home), "TRACER_ACTOR": "analyst@unit-test"}
    with stderr.open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "tests.watch.watch_app", "watch", *args], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)


def test_sigkill_then_restart_gives_the_same_alert_file_as_an_uninterrupted_watch(
        cli: Cli, watch: Watch, ltc: LitecoinRegtest, tracer_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    flow = make_flow(ltc)
    clean_home = tmp_path / "clean-home"
    for home in (clean_home, tracer_home):  # the same case, traced on the same blocks, in two workspaces
        monkeypatch.setenv("TRACER_HOME", str(home))
        traced_case(cli, ltc, flow, "op-kill")
    for i in range(PAYMENTS):  # one alert per block: the seed receives
        pay(ltc, flow.seed, f"0.0{i + 10}")
        mine(ltc)
    spend(ltc, [(flow.split, 0)], [(new_address(ltc, "w"), "0.5999")])
    mine(ltc)
    monkeypatch.setenv("TRACER_HOME", str(clean_home))
    clean_file = tmp_path / "clean.jsonl"
    assert watch("op-kill", "--node", ltc.url, "--once", "--alerts", str(clean_file)).exit_code == 3
    assert len(clean_file.read_text().splitlines()) == PAYMENTS + 1

    monkeypatch.setenv("TRACER_HOME", str(tracer_home))
    killed_file = tmp_path / "killed.jsonl"
    # one block per load and a slow hook, so the kill lands in the middle
    process = _watch_process(tracer_home, "op-kill", "--node", ltc.url, "--once", "--alerts", str(killed_file),
                             "--batch-blocks", "1", "--exec", "sleep 0.05", stderr=tmp_path / "stderr")
    _wait_for("a few alerts", lambda: killed_file.exists() and len(killed_file.read_bytes().split(b"\n")) > 6
              or process.poll() is not None)
    assert process.poll() is None, "the watch finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(killed_file.read_text().splitlines()) < PAYMENTS + 1
    resumed = watch("op-kill", "--node", ltc.url, "--once", "--alerts", str(killed_file))
    assert resumed.exit_code == 3, resumed.output
    assert killed_file.read_bytes() == clean_file.read_bytes()
    log = cli.json("case", "log", "op-kill")
    assert len([e for e in log if e["action"] == "watch.alert"]) == PAYMENTS + 1
    assert cli("case", "verify", "op-kill").exit_code == 0


def _restart(node: LitecoinRegtest) -> None:
    """Start ``node`` again on its data directory, ports and credentials (as a restarted node would be)."""
    args = [str(find_binary("litecoind", env_var="TRACER_LITECOIND")), *LITECOIND_FLAGS, f"-datadir={node.datadir}",
            f"-rpcport={node.rpc_port}", f"-port={node.p2p_port}", f"-rpcuser={node.user}",
            f"-rpcpassword={node.password}"]
    node.process = _spawn(args, node.datadir / "litecoind.stderr.log")
    with node.rpc(timeout=5, retries=0) as rpc:
        _wait("litecoind", lambda: rpc.call("getblockchaininfo"), node.process, 60)
        for wallet in ("w", "suspect"):
            try:
                rpc.call("loadwallet", wallet)
            except RpcError:
                pass  # loaded at startup already


@pytest.fixture()
def own_node(tmp_path: Path) -> Iterator[LitecoinRegtest]:
    node = LitecoinRegtest.start(tmp_path / "ltc-restart")
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "w")
            rpc.call("createwallet", "suspect")
        mine(node, 110)
        yield node
    finally:
        node.stop()


def test_a_node_restart_is_reported_once_and_the_watch_goes_on(
        cli: Cli, own_node: LitecoinRegtest, tracer_home: Path, tmp_path: Path) -> None:
    flow = make_flow(own_node)
    traced_case(cli, own_node, flow)
    alerts = tmp_path / "alerts.jsonl"
    stderr = tmp_path / "stderr"
    process = _watch_process(tracer_home, "op-watch", "--node", own_node.url, "--interval", "0.2",
                             "--alerts", str(alerts), stderr=stderr)
    try:
        state = tracer_home / "cases" / "op-watch" / "watch" / "ltc-regtest.json"
        _wait_for("the first poll", state.exists)
        own_node.stop()
        _wait_for("the outage to be reported", lambda: b"node unavailable" in stderr.read_bytes())
        _restart(own_node)
        moved = spend(own_node, [(flow.split, 0)], [(new_address(own_node, "w"), "0.5999")])
        mine(own_node)
        _wait_for("the alert", lambda: alerts.exists() and moved in alerts.read_text())
        _wait_for("the recovery line", lambda: b"node answers again" in stderr.read_bytes())
    finally:
        process.terminate()
        process.wait()
    said = stderr.read_text()
    assert said.count("node unavailable") == 1, said
    assert len(alerts.read_text().splitlines()) == 1
