# SPDX-License-Identifier: Apache-2.0
"""The real Across Protocol SpokePool on two anvil chains: deploy, deposit on one, fill on the other.

Test support for the bridge decoder and matcher (issue 19). Nothing is compiled and nothing is
home-made on the bridge side: the contracts are the published build artifacts (ABI + init bytecode)
of the npm package ``@across-protocol/contracts`` (version pinned in ``scripts/install_nodes.sh``,
installed under ``.nodes/``):

* ``Ethereum_SpokePool`` (the SpokePool Across runs on Ethereum L1; constructor
  ``(wrappedNativeToken, depositQuoteTimeBuffer, fillDeadlineBuffer, gateway)``) behind the
  package's ``ERC1967Proxy``, initialized with ``initialize(initialDepositId, withdrawalRecipient)``,
  the way Across deploys it (UUPS: the implementation's own initializer is disabled);
* ``WETH9`` from the same package, which the SpokePool constructor requires.

The ERC-20 bridged is the project's own ``TestToken`` (``fixtures/contracts``), one per chain.

One hop, as Across runs it (https://docs.across.to/reference/tracking-events): the depositor approves
the SpokePool on chain A and calls ``deposit(...)`` (addresses as ``bytes32``), which pulls
``inputAmount`` into the SpokePool and emits ``FundsDeposited``; a relayer on chain B approves the
SpokePool there and calls ``fillRelay(relayData, repaymentChainId, repaymentAddress)`` with the
deposit's data, which pulls ``outputAmount`` from the relayer to the recipient and emits
``FilledRelay``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import to_checksum_address

from adapters.jsonrpc import JsonRpcClient
from testing.devcontracts import Artifact, accounts, artifact, receipt, send
from testing.devnodes import Anvil

__all__ = [
    "ACROSS_PACKAGE",
    "ACROSS_VERSION",
    "across_artifact",
    "SpokeDeployment",
    "AcrossHop",
    "two_anvils",
    "deploy_spoke_pool",
    "deposit_and_fill",
]

#: Where ``scripts/install_nodes.sh`` installs the Across package
ACROSS_PACKAGE = Path(__file__).resolve().parents[1] / ".nodes" / "node_modules" / "@across-protocol" / "contracts"
ACROSS_VERSION = "5.0.27"
QUOTE_TIME_BUFFER = 3600
FILL_DEADLINE_BUFFER = 6 * 3600
_ZERO = "0x" + "00" * 20


@cache
def across_artifact(name: str) -> Artifact:
    """``dist/evm/artifacts/<name>.sol/<name>.json`` of the installed Across package."""
    path = ACROSS_PACKAGE / "dist" / "evm" / "artifacts" / f"{name}.sol" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run scripts/install_nodes.sh "
                                f"(installs @across-protocol/contracts@{ACROSS_VERSION})")
    data = json.loads(path.read_text())
    bytecode = data["bytecode"]["object"] if isinstance(data["bytecode"], dict) else data["bytecode"]
    return Artifact(name, data["abi"], bytecode)


def installed_version() -> str:
    """Version of the installed Across package (from its ``package.json``)."""
    return str(json.loads((ACROSS_PACKAGE / "package.json").read_text())["version"])


def _bytes32(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _deploy(rpc: JsonRpcClient, art: Artifact, args: Sequence[Any], sender: str) -> str:
    data = art.codec.constructor(*args).data_in_transaction
    txid = send(rpc, sender, None, data=data, gas=12_000_000)
    done = receipt(rpc, txid)
    if int(done["status"], 16) != 1:
        raise RuntimeError(f"deploying {art.name} failed in {txid}")
    return to_checksum_address(done["contractAddress"])


def _transact(rpc: JsonRpcClient, art: Artifact, to: str, function: str, args: Sequence[Any], sender: str,
              gas: int = 1_000_000) -> tuple[str, dict[str, Any]]:
    data = str(art.codec.encode_abi(function, args=list(args)))
    txid = send(rpc, sender, to, data=data, gas=gas)
    done = dict(receipt(rpc, txid))
    if int(done["status"], 16) != 1:
        raise RuntimeError(f"{art.name}.{function} reverted in {txid}")
    return txid, done


def _latest_time(rpc: JsonRpcClient) -> int:
    return int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


@dataclass(frozen=True)
class SpokeDeployment:
    """A SpokePool deployed on one anvil, with its tokens."""

    rpc_url: str
    chain_id: int
    spoke_pool: str  # the ERC1967 proxy: the address that emits the events
    implementation: str
    weth: str
    token: str  # TestToken, whole supply minted to the deployer (account 0)
    owner: str

    def rpc(self) -> JsonRpcClient:
        return JsonRpcClient(self.rpc_url, timeout=30, retries=1)


@dataclass(frozen=True)
class AcrossHop:
    """What :func:`deposit_and_fill` did: the two transactions and the identifiers that tie them."""

    origin_chain_id: int
    destination_chain_id: int
    deposit_id: int
    deposit_txid: str
    deposit_block: int
    fill_txid: str
    fill_block: int
    depositor: str
    recipient: str
    relayer: str
    input_token: str
    output_token: str
    input_amount: int
    output_amount: int
    fill_deadline: int


@contextmanager
def two_anvils(chain_ids: tuple[int, int] = (31_001, 31_002)) -> Iterator[tuple[Anvil, Anvil]]:
    """Two anvil nodes with different EIP-155 chain ids (``anvil --chain-id``), stopped on exit."""
    first = Anvil.start(extra_args=("--chain-id", str(chain_ids[0])))
    try:
        second = Anvil.start(extra_args=("--chain-id", str(chain_ids[1])))
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def deploy_spoke_pool(node: Anvil, *, skip_nonces: int = 0) -> SpokeDeployment:
    """Deploy WETH9, ``Ethereum_SpokePool`` behind an ``ERC1967Proxy`` (initialized, owner account 0)
    and a ``TestToken`` (6 decimals) on ``node``. ``skip_nonces`` empty transactions first make the
    addresses differ from another chain's deployment by the same account."""
    with node.rpc() as rpc:
        owner = accounts(rpc)[0]
        for _ in range(skip_nonces):
            receipt(rpc, send(rpc, owner, owner))
        chain_id = int(rpc.call("eth_chainId"), 16)
        weth = _deploy(rpc, across_artifact("WETH9"), [], owner)
        pool = across_artifact("Ethereum_SpokePool")
        implementation = _deploy(rpc, pool, [weth, QUOTE_TIME_BUFFER, FILL_DEADLINE_BUFFER, _ZERO], owner)
        init = str(pool.codec.encode_abi("initialize", args=[0, owner]))
        proxy = _deploy(rpc, across_artifact("ERC1967Proxy"), [implementation, bytes.fromhex(init[2:])], owner)
        token = _deploy(rpc, artifact("TestToken"), ["Bridged USD", "BUSD", 6, 10**12 * 10**6], owner)
        return SpokeDeployment(node.url, chain_id, proxy, implementation, weth, token, owner)


def deposit_and_fill(origin: SpokeDeployment, destination: SpokeDeployment, *, input_amount: int = 1_000_000_000,
                     output_amount: int = 999_000_000, depositor_index: int = 1, recipient_index: int = 3,
                     relayer_index: int = 2) -> AcrossHop:
    """Deposit ``input_amount`` of the origin token on ``origin`` for the recipient on ``destination``,
    then fill it there as the relayer (``output_amount`` of the destination token); both must succeed.

    Accounts are anvil's dev accounts by index (the same keys on both chains).
    """
    spoke = across_artifact("Ethereum_SpokePool")
    token = artifact("TestToken")
    with origin.rpc() as a, destination.rpc() as b:
        acc = accounts(a)
        depositor, recipient, relayer = acc[depositor_index], acc[recipient_index], acc[relayer_index]
        # fund the depositor on A and the relayer on B, and let each SpokePool pull from them
        _transact(a, token, origin.token, "transfer", [depositor, input_amount], origin.owner)
        _transact(a, token, origin.token, "approve", [origin.spoke_pool, input_amount], depositor)
        _transact(b, token, destination.token, "transfer", [relayer, output_amount], destination.owner)
        _transact(b, token, destination.token, "approve", [destination.spoke_pool, output_amount], relayer)

        deposit_id = int(_call(a, spoke, origin.spoke_pool, "numberOfDeposits"))
        quote = _latest_time(a)
        deadline = quote + FILL_DEADLINE_BUFFER // 2
        deposit_txid, deposited = _transact(a, spoke, origin.spoke_pool, "deposit", [
            _bytes32(depositor), _bytes32(recipient), _bytes32(origin.token), _bytes32(destination.token),
            input_amount, output_amount, destination.chain_id, bytes(32), quote, deadline, 0, b"",
        ], depositor)

        relay_data = (
            _bytes32(depositor), _bytes32(recipient), bytes(32), _bytes32(origin.token), _bytes32(destination.token),
            input_amount, output_amount, origin.chain_id, deposit_id, deadline, 0, b"",
        )
        fill_txid, filled = _transact(b, spoke, destination.spoke_pool, "fillRelay",
                                      [relay_data, origin.chain_id, _bytes32(relayer)], relayer)
        return AcrossHop(
            origin_chain_id=origin.chain_id, destination_chain_id=destination.chain_id, deposit_id=deposit_id,
            deposit_txid=deposit_txid, deposit_block=int(deposited["blockNumber"], 16),
            fill_txid=fill_txid, fill_block=int(filled["blockNumber"], 16),
            depositor=depositor, recipient=recipient, relayer=relayer,
            input_token=origin.token, output_token=destination.token,
            input_amount=input_amount, output_amount=output_amount, fill_deadline=deadline,
        )


def _call(rpc: JsonRpcClient, art: Artifact, to: str, function: str, args: Sequence[Any] = ()) -> Any:
    fn = art.codec.get_function_by_name(function)
    raw = rpc.call("eth_call", {"to": to, "data": str(art.codec.encode_abi(function, args=list(args)))}, "latest")
    types = [o["type"] for o in fn.abi["outputs"]]
    decoded = eth_abi.decode(types, bytes.fromhex(raw[2:]))
    return decoded[0] if len(decoded) == 1 else tuple(decoded)
