# SPDX-License-Identifier: Apache-2.0
"""Deploy and drive the project's test contracts on a development node (anvil).

Used by the tests, the benchmark and the fixture-chain generator, so they all build chains the
same way. The contracts are the Solidity sources in ``fixtures/contracts/`` compiled once with
solc-js into ``<Name>.json`` (ABI + init bytecode; the command is in that directory's README):
nothing here needs a compiler. Transactions are sent with ``eth_sendTransaction`` from the
node's unlocked accounts (anvil's ten funded dev accounts), ABI-encoded with web3.

Anvil mines one block per transaction by default ("automine"). To put several transactions in one
block: ``automine(rpc, False)``, :func:`send_many` (explicit nonces, one JSON-RPC batch), then
:func:`mine`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import to_checksum_address
from web3 import Web3

from adapters.jsonrpc import Call, JsonRpcClient

__all__ = [
    "CONTRACTS_DIR",
    "Artifact",
    "artifact",
    "accounts",
    "automine",
    "mine",
    "deploy",
    "deploy_with_txid",
    "send",
    "send_many",
    "transact",
    "call",
    "encode_call",
    "receipt",
    "Scenario",
    "build_scenario",
]

#: Solidity sources and their compiled ``<Name>.json`` artifacts
CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI and init bytecode (``0x`` hex)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str

    @property
    def codec(self) -> Any:
        """A provider-less web3 contract object, used only to encode and decode ABI data."""
        return Web3().eth.contract(abi=self.abi, bytecode=self.bytecode)


@cache
def artifact(name: str) -> Artifact:
    """The compiled contract ``fixtures/contracts/<name>.json``."""
    path = CONTRACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONTRACTS_DIR.glob("*.json")))
        raise FileNotFoundError(f"no compiled contract {name!r} in {CONTRACTS_DIR} (known: {known})")
    data = json.loads(path.read_text())
    return Artifact(name, data["abi"], data["bytecode"])


def accounts(rpc: JsonRpcClient) -> list[str]:
    """The node's unlocked accounts, EIP-55 spelled."""
    return [to_checksum_address(a) for a in rpc.call("eth_accounts")]


def automine(rpc: JsonRpcClient, enabled: bool) -> None:
    """Turn anvil's one-block-per-transaction mining on or off."""
    rpc.call("evm_setAutomine", enabled)


def mine(rpc: JsonRpcClient, blocks: int = 1) -> int:
    """Mine ``blocks`` blocks now (holding every pending transaction); return the new height."""
    for _ in range(blocks):
        rpc.call("evm_mine")
    return int(rpc.call("eth_blockNumber"), 16)


def encode_call(name: str, function: str, args: Sequence[Any] = ()) -> str:
    """ABI-encoded call data for ``function(args)`` of contract ``name``."""
    return str(artifact(name).codec.encode_abi(function, args=list(args)))


def receipt(rpc: JsonRpcClient, txid: str, timeout: float = 10.0) -> Mapping[str, Any]:
    """The transaction's receipt: waited for under automine, else a block is mined to hold it."""
    deadline = time.monotonic() + timeout
    while True:
        found = rpc.call("eth_getTransactionReceipt", txid)
        if isinstance(found, Mapping):
            return found
        if not rpc.call("anvil_getAutomine"):
            mine(rpc)
        elif time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {txid} after {timeout:g}s")
        else:
            time.sleep(0.01)


def deploy(rpc: JsonRpcClient, name: str, args: Sequence[Any] = (), *, sender: str | None = None,
           value: int = 0) -> str:
    """Deploy contract ``name`` with constructor ``args``; return its EIP-55 address (mines if needed)."""
    return deploy_with_txid(rpc, name, args, sender=sender, value=value)[0]


def deploy_with_txid(rpc: JsonRpcClient, name: str, args: Sequence[Any] = (), *, sender: str | None = None,
                     value: int = 0) -> tuple[str, str]:
    """:func:`deploy`, also returning the creating transaction's id."""
    data = artifact(name).codec.constructor(*args).data_in_transaction
    txid = send(rpc, sender or accounts(rpc)[0], None, value=value, data=data, gas=3_000_000)
    done = receipt(rpc, txid)
    if int(done["status"], 16) != 1:
        raise RuntimeError(f"deploying {name} failed in {txid}")
    return to_checksum_address(done["contractAddress"]), txid


def _tx(sender: str, to: str | None, value: int, data: str | None, gas: int | None,
        nonce: int | None) -> dict[str, Any]:
    tx: dict[str, Any] = {"from": sender, "value": hex(value)}
    if to is not None:
        tx["to"] = to
    if data is not None:
        tx["data"] = data
    if gas is not None:
        tx["gas"] = hex(gas)  # given, the node does not estimate (estimation refuses a reverting call)
    if nonce is not None:
        tx["nonce"] = hex(nonce)
    return tx


def send(rpc: JsonRpcClient, sender: str, to: str | None, *, value: int = 0, data: str | None = None,
         gas: int | None = None, nonce: int | None = None) -> str:
    """``eth_sendTransaction`` from an unlocked account; return the txid (mined at once under automine)."""
    return str(rpc.call("eth_sendTransaction", _tx(sender, to, value, data, gas, nonce)))


def send_many(rpc: JsonRpcClient, txs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Send many transactions in one JSON-RPC batch, nonces set here per sender (anvil does not
    order a batch's nonces itself). Each item: ``from``, ``to`` (None: creation), optional
    ``value``, ``data``, ``gas``. Turn automine off first to put them in one block."""
    nonces: dict[str, int] = {}
    calls = []
    for tx in txs:
        sender = str(tx["from"])
        if sender not in nonces:
            nonces[sender] = int(rpc.call("eth_getTransactionCount", sender, "pending"), 16)
        calls.append(Call("eth_sendTransaction", (_tx(sender, tx.get("to"), int(tx.get("value", 0)), tx.get("data"),
                                                      tx.get("gas", 100_000), nonces[sender]),)))
        nonces[sender] += 1
    return [str(t) for t in rpc.batch(calls)]


def transact(rpc: JsonRpcClient, name: str, address: str, function: str, args: Sequence[Any] = (), *,
             sender: str | None = None, value: int = 0, gas: int | None = None) -> str:
    """Call ``function(args)`` of contract ``name`` at ``address`` in a transaction; return the txid.

    Give ``gas`` for a call expected to revert (the node cannot estimate it)."""
    return send(rpc, sender or accounts(rpc)[0], address, value=value, data=encode_call(name, function, args),
                gas=gas)


def call(rpc: JsonRpcClient, name: str, address: str, function: str, args: Sequence[Any] = (),
         block: str = "latest") -> Any:
    """``eth_call`` of a view function; the decoded result (one value, or a tuple for several)."""
    outputs = next(item["outputs"] for item in artifact(name).abi
                   if item.get("type") == "function" and item.get("name") == function)
    raw = rpc.call("eth_call", {"to": address, "data": encode_call(name, function, args)}, block)
    decoded = eth_abi.decode([o["type"] for o in outputs], bytes.fromhex(raw[2:]))
    return decoded[0] if len(decoded) == 1 else tuple(decoded)


@dataclass(frozen=True)
class Scenario:
    """What :func:`build_scenario` created: named contract addresses and transaction ids."""

    accounts: list[str]
    contracts: dict[str, str]
    txs: dict[str, str]
    first_block: int
    last_block: int


def build_scenario(rpc: JsonRpcClient) -> Scenario:
    """Every kind of value movement the EVM adapter must see, on a fresh anvil (automine on).

    Transactions (``Scenario.txs`` keys), each in its own block unless said otherwise:

    * ``eth_plain``: account 0 pays account 5 1.5 ETH;
    * ``deploy_six`` / ``deploy_eighteen`` / ``deploy_b32``: tokens SIX (6 decimals, 1,000,000 minted
      to account 0), EIG (18 decimals, 1,000,000 minted) and the bytes32-symbol token (10**9 units);
      ``deploy_forwarder`` (splits to accounts 2 and 3), ``deploy_rejecter``;
    * ``six_transfer``: 1,234.567890 SIX (1,234,567,890 units) from account 0 to account 6;
      ``eighteen_transfer``: 2.5 EIG to account 7; ``b32_transfer``: 777 units to account 6;
    * ``forward``: account 1 sends 3 ETH + 2 wei to the forwarder, which sends a third (1 ETH) to
      account 2 and the rest (2 ETH + 2 wei) to account 3: two internal transfers;
    * ``reject``: account 1 calls ``reject`` with 1 ETH: the transaction fails, only the fee moves;
    * ``try_forward``: account 1 sends 0.5 ETH through the forwarder to the rejecter; the inner call
      reverts, the forwarder keeps the 0.5 ETH;
    * ``destroy``: the forwarder self-destructs, its 0.5 ETH going to account 4;
    * ``batch_a``, ``batch_b``, ``batch_c`` in one block: account 8 pays account 9 0.1 ETH, account 9
      pays account 8 0.2 ETH, account 0 sends 5 SIX units to account 8.
    """
    acc = accounts(rpc)
    start = int(rpc.call("eth_blockNumber"), 16) + 1
    c: dict[str, str] = {}
    t: dict[str, str] = {}
    eth = 10**18
    t["eth_plain"] = send(rpc, acc[0], acc[5], value=3 * eth // 2)
    for key, name, args in (
        ("six", "TestToken", ["Six Decimals", "SIX", 6, 10**6 * 10**6]),
        ("eighteen", "TestToken", ["Eighteen Decimals", "EIG", 18, 10**6 * eth]),
        ("b32", "Bytes32Token", [10**9]),
        ("forwarder", "Forwarder", [acc[2], acc[3]]),
        ("rejecter", "Rejecter", []),
    ):
        c[key], t[f"deploy_{key}"] = deploy_with_txid(rpc, name, args, sender=acc[0])
    t["six_transfer"] = transact(rpc, "TestToken", c["six"], "transfer", [acc[6], 1_234_567_890], sender=acc[0])
    t["eighteen_transfer"] = transact(rpc, "TestToken", c["eighteen"], "transfer", [acc[7], 5 * eth // 2],
                                      sender=acc[0])
    t["b32_transfer"] = transact(rpc, "Bytes32Token", c["b32"], "transfer", [acc[6], 777], sender=acc[0])
    t["forward"] = send(rpc, acc[1], c["forwarder"], value=3 * eth + 2, gas=100_000)
    t["reject"] = transact(rpc, "Forwarder", c["forwarder"], "reject", value=eth, sender=acc[1], gas=100_000)
    t["try_forward"] = transact(rpc, "Forwarder", c["forwarder"], "tryForward", [c["rejecter"]], value=eth // 2,
                                sender=acc[1], gas=200_000)
    t["destroy"] = transact(rpc, "Forwarder", c["forwarder"], "destroy", [acc[4]], sender=acc[1], gas=100_000)
    for txid in t.values():  # anvil answers eth_sendTransaction before it has mined the block
        receipt(rpc, txid)
    automine(rpc, False)
    try:
        t["batch_a"], t["batch_b"], t["batch_c"] = send_many(rpc, [
            {"from": acc[8], "to": acc[9], "value": eth // 10, "gas": 21_000},
            {"from": acc[9], "to": acc[8], "value": eth // 5, "gas": 21_000},
            {"from": acc[0], "to": c["six"], "data": encode_call("TestToken", "transfer", [acc[8], 5])},
        ])
        last = mine(rpc)
    finally:
        automine(rpc, True)
    return Scenario(acc, c, t, start, last)
