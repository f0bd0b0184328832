# SPDX-License-Identifier: Apache-2.0
"""Uniswap V2 and WETH9 on a development node (anvil): the real contracts, deployed from their published builds.

Test support for the conversion decoders (:mod:`adapters.evm.conversions`), outside the product.
Nothing is compiled: the contracts are the npm build artifacts ``scripts/install_nodes.sh`` installs
under ``.nodes/node_modules`` (ABI + init bytecode):

* ``@uniswap/v2-core@1.0.1`` ``build/UniswapV2Factory.json`` (it creates ``UniswapV2Pair`` with
  CREATE2; solc 0.5.16, the mainnet build);
* ``@uniswap/v2-periphery@1.1.0-beta.0`` ``build/UniswapV2Router02.json`` (solc 0.6.6);
* ``canonical-weth@1.4.0`` ``build/contracts/WETH9.json`` (Gnosis' build of the Dapphub WETH9
  source with solc 0.5.0: the same ``deposit``/``withdraw``/``Deposit``/``Withdrawal`` as mainnet
  WETH9, which was compiled with solc 0.4.19).

The router finds a pair without asking the factory: ``UniswapV2Library.pairFor`` computes the
CREATE2 address from a hard-coded init-code hash. :func:`init_code_hash` computes keccak256 of the
pair's creation code inside the factory build and looks for it in the router's bytecode: for these
artifacts they are equal (``0x96e8ac42…845f``, the mainnet value), so the router and this factory
agree.

The ERC-20 "USDT" (6 decimals, like Tether) and "TK2" are the project's ``TestToken``
(``fixtures/contracts``). Transactions go through ``eth_sendTransaction`` from anvil's unlocked
accounts (:mod:`testing.devcontracts`), one block each (automine).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import keccak, to_checksum_address

from adapters.jsonrpc import JsonRpcClient
from testing import devcontracts as dc

__all__ = [
    "NODE_MODULES",
    "Deployment",
    "LaunderingRoute",
    "MultiHop",
    "npm_artifact",
    "init_code_hash",
    "deploy_uniswap",
    "add_liquidity",
    "laundering_route",
    "multi_hop_swap",
]

NODE_MODULES = Path(__file__).resolve().parents[1] / ".nodes" / "node_modules"
_ARTIFACTS = {
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "canonical-weth/build/contracts/WETH9.json",
}
#: far in the future: the router's ``deadline`` argument
DEADLINE = 2**64
GAS_DEPLOY = 8_000_000
GAS_CALL = 600_000


@cache
def npm_artifact(name: str) -> dc.Artifact:
    """One of the published builds (see the module docstring) as a :class:`testing.devcontracts.Artifact`."""
    path = NODE_MODULES / _ARTIFACTS[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/install_nodes.sh (npm install of the DeFi artifacts)")
    data = json.loads(path.read_text())
    bytecode = data.get("bytecode") or data["evm"]["bytecode"]["object"]
    return dc.Artifact(name, data["abi"], bytecode if bytecode.startswith("0x") else "0x" + bytecode)


def init_code_hash() -> tuple[str, bool]:
    """keccak256 of the pair's creation code (as the factory build embeds it), and whether the router's
    bytecode pushes exactly that constant (``PUSH32 <hash>`` in ``UniswapV2Library.pairFor``)."""
    pair = bytes.fromhex(npm_artifact("UniswapV2Pair").bytecode[2:])
    if pair.hex() not in npm_artifact("UniswapV2Factory").bytecode:
        raise ValueError("the factory build does not embed this UniswapV2Pair creation code")
    computed = keccak(pair).hex()
    return "0x" + computed, ("7f" + computed) in npm_artifact("UniswapV2Router02").bytecode.lower()


@dataclass(frozen=True)
class Deployment:
    """Addresses of one Uniswap V2 deployment (EIP-55)."""

    deployer: str
    factory: str
    router: str
    weth: str
    usdt: str
    token2: str
    #: USDT/WETH and WETH/TK2 pairs (created by :func:`deploy_uniswap`, empty until liquidity is added)
    pair: str
    pair2: str
    txids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunderingRoute:
    """What :func:`laundering_route` did: every transaction and its exact amounts (base units)."""

    txids: dict[str, str]
    #: USDT (6 decimals) the seed paid the launderer and the launderer swapped
    usdt: int
    #: ETH (wei) the swap paid out (WETH from the pair, unwrapped by the router)
    eth: int
    #: WETH wrapped again by the launderer and paid to the exchange (= ``eth``)
    weth: int


@dataclass(frozen=True)
class MultiHop:
    """A swap USDT -> WETH -> TK2 through the two pairs: its txid and the router's amounts per hop."""

    txid: str
    amounts: tuple[int, int, int]  # USDT in, WETH between the pairs, TK2 out


def _send(rpc: JsonRpcClient, art: dc.Artifact, address: str, function: str, args: Sequence[Any], sender: str,
          *, value: int = 0, gas: int = GAS_CALL) -> str:
    data = str(art.codec.encode_abi(function, args=list(args)))
    txid = dc.send(rpc, sender, address, value=value, data=data, gas=gas)
    done = dc.receipt(rpc, txid)
    if int(done["status"], 16) != 1:
        raise RuntimeError(f"{art.name}.{function} failed in {txid}")
    return txid


def _call(rpc: JsonRpcClient, art: dc.Artifact, address: str, function: str, args: Sequence[Any] = ()) -> Any:
    outputs = next(i["outputs"] for i in art.abi if i.get("type") == "function" and i.get("name") == function)
    raw = rpc.call("eth_call", {"to": address, "data": art.codec.encode_abi(function, args=list(args))}, "latest")
    decoded = eth_abi.decode([o["type"] for o in outputs], bytes.fromhex(raw[2:]))
    return decoded[0] if len(decoded) == 1 else tuple(decoded)


def _deploy(rpc: JsonRpcClient, art: dc.Artifact, args: Sequence[Any], sender: str) -> tuple[str, str]:
    data = art.codec.constructor(*args).data_in_transaction
    txid = dc.send(rpc, sender, None, data=data, gas=GAS_DEPLOY)
    done = dc.receipt(rpc, txid)
    if int(done["status"], 16) != 1:
        raise RuntimeError(f"deploying {art.name} failed in {txid}")
    return to_checksum_address(done["contractAddress"]), txid


def deploy_uniswap(rpc: JsonRpcClient, deployer: str | None = None) -> Deployment:
    """WETH9, the V2 factory and Router02, "USDT" (6 decimals, 10**12 units = 1,000,000 USDT) and "TK2"
    (18 decimals, 10**24 units), both minted to ``deployer``, and the USDT/WETH and WETH/TK2 pairs."""
    sender = deployer or dc.accounts(rpc)[0]
    tx: dict[str, str] = {}
    weth, tx["weth"] = _deploy(rpc, npm_artifact("WETH9"), [], sender)
    factory, tx["factory"] = _deploy(rpc, npm_artifact("UniswapV2Factory"), [sender], sender)
    router, tx["router"] = _deploy(rpc, npm_artifact("UniswapV2Router02"), [factory, weth], sender)
    usdt, tx["usdt"] = dc.deploy_with_txid(rpc, "TestToken", ["Tether USD (test)", "USDT", 6, 10**12], sender=sender)
    token2, tx["token2"] = dc.deploy_with_txid(rpc, "TestToken", ["Token Two", "TK2", 18, 10**24], sender=sender)
    fac = npm_artifact("UniswapV2Factory")
    tx["pair"] = _send(rpc, fac, factory, "createPair", [usdt, weth], sender, gas=GAS_DEPLOY)
    tx["pair2"] = _send(rpc, fac, factory, "createPair", [weth, token2], sender, gas=GAS_DEPLOY)
    pair = to_checksum_address(_call(rpc, fac, factory, "getPair", [usdt, weth]))
    pair2 = to_checksum_address(_call(rpc, fac, factory, "getPair", [weth, token2]))
    return Deployment(sender, factory, router, weth, usdt, token2, pair, pair2, tx)


def add_liquidity(rpc: JsonRpcClient, d: Deployment, token: str, token_amount: int, eth_amount: int,
                  provider: str | None = None) -> list[str]:
    """``provider`` (default: the deployer) approves the router and adds ``token_amount`` of ``token``
    with ``eth_amount`` wei to the token/WETH pair (``addLiquidityETH``; the router wraps the ETH).
    Returns the approval's and the deposit's txids."""
    who = provider or d.deployer
    approve = dc.transact(rpc, "TestToken", token, "approve", [d.router, token_amount], sender=who)
    dc.receipt(rpc, approve)
    add = _send(rpc, npm_artifact("UniswapV2Router02"), d.router, "addLiquidityETH",
                [token, token_amount, token_amount, eth_amount, who, DEADLINE], who, value=eth_amount)
    return [approve, add]


def laundering_route(rpc: JsonRpcClient, d: Deployment, seed: str, launderer: str, exchange: str,
                     *, usdt: int = 25_000 * 10**6) -> LaunderingRoute:
    """USDT from ``seed`` to ``launderer``, swapped to ETH, wrapped to WETH, paid to ``exchange``.

    Transactions (``txids`` keys): ``pay`` (seed -> launderer, ``usdt`` USDT units; the seed must hold
    them), ``approve`` (launderer lets the router spend them), ``swap``
    (``swapExactTokensForETH([USDT, WETH])``: the pair pays WETH to the router, the router
    ``withdraw``s it and sends the ETH to the launderer), ``wrap`` (``WETH.deposit`` of that ETH),
    ``deposit_exchange`` (WETH ``transfer`` of it to the exchange)."""
    router = npm_artifact("UniswapV2Router02")
    weth = npm_artifact("WETH9")
    path = [d.usdt, d.weth]
    tx: dict[str, str] = {}
    tx["pay"] = dc.transact(rpc, "TestToken", d.usdt, "transfer", [launderer, usdt], sender=seed)
    dc.receipt(rpc, tx["pay"])
    tx["approve"] = dc.transact(rpc, "TestToken", d.usdt, "approve", [d.router, usdt], sender=launderer)
    dc.receipt(rpc, tx["approve"])
    eth = int(_call(rpc, router, d.router, "getAmountsOut", [usdt, path])[-1])
    tx["swap"] = _send(rpc, router, d.router, "swapExactTokensForETH", [usdt, eth, path, launderer, DEADLINE],
                       launderer)
    tx["wrap"] = _send(rpc, weth, d.weth, "deposit", [], launderer, value=eth, gas=100_000)
    tx["deposit_exchange"] = _send(rpc, weth, d.weth, "transfer", [exchange, eth], launderer, gas=100_000)
    return LaunderingRoute(tx, usdt, eth, eth)


def multi_hop_swap(rpc: JsonRpcClient, d: Deployment, trader: str, recipient: str, usdt: int) -> MultiHop:
    """``trader`` (holding ``usdt`` USDT units) swaps them for TK2 through USDT/WETH and WETH/TK2
    (``swapExactTokensForTokens`` with path ``[USDT, WETH, TK2]``): pair 1 pays its WETH straight into
    pair 2, which pays TK2 to ``recipient``. Approves the router first."""
    router = npm_artifact("UniswapV2Router02")
    path = [d.usdt, d.weth, d.token2]
    dc.receipt(rpc, dc.transact(rpc, "TestToken", d.usdt, "approve", [d.router, usdt], sender=trader))
    amounts = tuple(int(a) for a in _call(rpc, router, d.router, "getAmountsOut", [usdt, path]))
    txid = _send(rpc, router, d.router, "swapExactTokensForTokens", [usdt, amounts[-1], path, recipient, DEADLINE],
                 trader)
    return MultiHop(txid, (amounts[0], amounts[1], amounts[2]))
