# SPDX-License-Identifier: Apache-2.0
"""Start and stop real local nodes (``litecoind -regtest`` and ``anvil``) on 127.0.0.1.

Used by the test fixtures, the benchmarks and the fixture-recording scripts, so all three run
against the same node software with the same flags (shared design notes §1). Every node gets
a free loopback port and its own temporary data directory, and nothing listens on any other
interface.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.errors import NodeUnavailableError, RpcError
from adapters.jsonrpc import JsonRpcClient

__all__ = ["find_binary", "free_port", "LitecoinRegtest", "Anvil", "ANVIL_PACKAGE_BIN"]

#: Where ``scripts/install_nodes.sh`` puts anvil (npm package ``@foundry-rs/anvil-linux-amd64``).
ANVIL_PACKAGE_BIN = Path(".nodes/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")

LITECOIND_FLAGS = (
    "-regtest",
    "-txindex=1",
    "-server=1",
    "-rpcbind=127.0.0.1",
    "-rpcallowip=127.0.0.1",
    "-listen=0",
    "-dnsseed=0",
    "-fallbackfee=0.0001",
    # keep MWEB inactive: once active, mining block 432 fails with bad-txns-vin-empty
    "-vbparams=mweb:2000000000:2000000001",
    "-printtoconsole=0",
    "-rpcworkqueue=64",
    "-rpcthreads=8",
    # shutdown waits for idle keep-alive HTTP connections up to this many seconds
    "-rpcservertimeout=5",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, *, env_var: str, extra: tuple[Path, ...] = ()) -> Path:
    """Locate a node binary: ``$env_var``, then ``PATH``, then ``extra`` paths (relative to cwd and repo)."""
    explicit = os.environ.get(env_var)
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise FileNotFoundError(f"${env_var} points to {explicit}, which is not an executable file")
    found = shutil.which(name)
    if found:
        return Path(found)
    repo = Path(__file__).resolve().parent.parent
    for candidate in extra:
        for base in (Path.cwd(), repo):
            path = base / candidate
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"{name} not found (set ${env_var} or run scripts/install_nodes.sh to install it)"
    )


def _spawn(args: list[str], stderr_log: Path) -> subprocess.Popen[bytes]:
    """Start a node with stderr in a file (read back if it fails to start)."""
    with stderr_log.open("wb") as log:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
    process.stderr_log = stderr_log  # type: ignore[attr-defined]
    return process


def _wait(what: str, probe: Callable[[], object], process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = getattr(process, "stderr_log", None)
            detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {process.returncode} before answering: {detail}")
        try:
            probe()
            return
        except (NodeUnavailableError, RpcError) as exc:  # warming up
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not answer within {timeout:g}s: {last}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class LitecoinRegtest:
    """A ``litecoind -regtest -txindex`` process with a throw-away data directory."""

    datadir: Path
    rpc_port: int
    p2p_port: int
    user: str = "tracer"
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls, datadir: Path | None = None, *, timeout: float = 60.0, txindex: bool = True
    ) -> LitecoinRegtest:
        binary = find_binary("litecoind", env_var="TRACER_LITECOIND")
        directory = Path(datadir) if datadir else Path(tempfile.mkdtemp(prefix="tracer-ltc-"))
        directory.mkdir(parents=True, exist_ok=True)
        node = cls(directory, free_port(), free_port())
        args = [
            str(binary),
            *(f for f in LITECOIND_FLAGS if txindex or not f.startswith("-txindex")),
            *(() if txindex else ("-txindex=0",)),
            f"-datadir={directory}",
            f"-rpcport={node.rpc_port}",
            f"-port={node.p2p_port}",
            f"-rpcuser={node.user}",
            f"-rpcpassword={node.password}",
        ]
        node.process = _spawn(args, directory / "litecoind.stderr.log")
        with node.rpc(timeout=5, retries=0) as rpc:
            _wait("litecoind", lambda: rpc.call("getblockchaininfo"), node.process, timeout)
        return node

    @property
    def url(self) -> str:
        """RPC URL with credentials (pass it to the adapter; never print it)."""
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.rpc_port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def rpc(self, *, wallet: str | None = None, timeout: float = 60.0, retries: int = 2) -> JsonRpcClient:
        path = f"/wallet/{wallet}" if wallet else ""
        return JsonRpcClient(self.url + path, timeout=timeout, retries=retries, jsonrpc="1.0")

    def stop(self) -> None:
        """Shut the node down cleanly.

        Bitcoin Core waits for open HTTP keep-alive connections before it exits, so callers
        should close their clients first; a node still up after ``timeout`` is killed.
        """
        if self.process is None:
            return
        try:
            with self.rpc(timeout=5, retries=0) as rpc:
                rpc.call("stop", retry=False)
            self.process.wait(timeout=15)
        except Exception:  # noqa: BLE001 - fall back to signals whatever went wrong
            _stop(self.process, timeout=5)
        self.process = None


@dataclass
class Anvil:
    """A Foundry ``anvil`` process (chain id 31337) on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes] | None = None
    log_dir: Path | None = None

    @classmethod
    def start(cls, *, timeout: float = 30.0, extra_args: tuple[str, ...] = ()) -> Anvil:
        binary = find_binary("anvil", env_var="TRACER_ANVIL", extra=(ANVIL_PACKAGE_BIN,))
        node = cls(free_port())
        args = [str(binary), "--host", "127.0.0.1", "--port", str(node.port), "--silent", *extra_args]
        node.log_dir = Path(tempfile.mkdtemp(prefix="tracer-anvil-"))
        node.process = _spawn(args, node.log_dir / "anvil.stderr.log")
        with node.rpc(timeout=5, retries=0) as rpc:
            _wait("anvil", lambda: rpc.call("eth_chainId"), node.process, timeout)
        return node

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rpc(self, *, timeout: float = 60.0, retries: int = 2) -> JsonRpcClient:
        return JsonRpcClient(self.url, timeout=timeout, retries=retries)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None
        if self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None
