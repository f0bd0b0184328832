# SPDX-License-Identifier: Apache-2.0
"""A ground-truth economy on ``litecoind -regtest``: who owns every address is known (issue 23).

Entities, each with its **own** legacy (BDB) Core wallet, so coin selection, change outputs and
change addresses come from the real wallet software, not from this script:

* ``miner`` — the wallet that mines the blocks and funds the exchanges (on the tests' shared
  node, the session's ``miner`` wallet);
* ``exchange-N`` — a hot wallet funded by the miner; one **deposit address per customer**, reused
  for every deposit (as exchanges do); withdrawals paid in batches (``sendmany``); the deposits
  **consolidated** into the hot address every few blocks (one transaction spending all of them);
* ``user-NN`` — withdraw from their exchange, buy at the market, pay vendors and each other,
  deposit back, pay ransoms, take part in CoinJoins;
* ``vendor-N`` — paid by the market and directly (some reuse one published address), cash out to
  their exchange deposit address;
* ``market`` — a fresh address per order; pays vendors in batches, keeps a commission it deposits;
* ``coordinator`` — builds the CoinJoins: ``joinmarket`` (3–5 participants, equal outputs plus
  each participant's change), ``wasabi`` (at least 10 participants, ~0.1 LTC outputs, a
  coordinator fee output) and ``whirlpool`` (5 inputs and 5 outputs of exactly 0.01 LTC, fed by
  each participant's own "tx0"); each participant's wallet picks its coins and change
  (``fundrawtransaction``) and signs its own inputs;
* ``launderer-N`` — collects ransom payments, consolidates them and **peels** them out to
  exchanges, vendors and users one ``sendtoaddress`` at a time (its wallet holds one coin, so
  each step is the wallet's own 1-input, 2-output payment with change); ``launderer-2`` first
  sends its coin through a JoinMarket-style CoinJoin as the taker.

The same seed gives the same economy: the same entities, actions, amounts, CoinJoin rounds and
peel steps in the same order (:class:`random.Random` decides every one). Keys, txids and the
wallet's own coin selection differ from run to run, as they would between two real wallets.
:func:`generate` returns the economy read back from the node: the canonical frames of its blocks
and the truth beside them (:mod:`testing.economy_truth`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.errors import RpcError
from adapters.jsonrpc import Call, JsonRpcClient
from testing.devnodes import LitecoinRegtest
from testing.economy_truth import Economy, read_back
from testing.regtest_workload import COIN, fund_wallet
from tracer.units import format_units, to_base_units

__all__ = ["ECONOMY_VERSION", "EconomyConfig", "generate", "Economy"]

#: Version of the generator: the results file names it; change it when the economy's behaviour changes.
ECONOMY_VERSION = "tracer-economy/1"

_WASABI_DENOM = 10_000_000  # ~0.1 LTC (Wasabi 1.0's 0.1 BTC, in litoshi)
_WASABI_FEE = 30_000  # coordinator fee per participant (0.3 %)
_WHIRLPOOL_DENOM = 1_000_000  # one of Whirlpool's pool denominations (0.01)


@dataclass(frozen=True)
class EconomyConfig:
    """How big an economy is. ``small`` is for the test suite, ``benchmark`` for the results file."""

    seed: int
    users: int = 12
    vendors: int = 3
    exchanges: int = 2
    rounds: int = 120
    per_block: int = 8
    funding: int = 40 * COIN
    peel_steps: int = 8
    joinmarket_rounds: int = 2
    wasabi_rounds: int = 1
    whirlpool_rounds: int = 2

    @classmethod
    def small(cls, seed: int) -> EconomyConfig:
        return cls(seed=seed)

    @classmethod
    def benchmark(cls, seed: int) -> EconomyConfig:
        return cls(seed=seed, users=24, vendors=6, exchanges=3, rounds=600, per_block=10, funding=150 * COIN,
                   peel_steps=15, joinmarket_rounds=6, wasabi_rounds=3, whirlpool_rounds=5)

    def sizes(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "seed"}


@dataclass
class _Entity:
    name: str
    kind: str
    wallet: JsonRpcClient
    exchange: str | None = None  # the exchange it deposits to
    deposit: dict[str, str] = field(default_factory=dict)  # exchange -> its deposit address there
    published: str | None = None  # a vendor's reused address


def _coins(value: int) -> str:
    return format_units(value, 8) if value % COIN else f"{value // COIN}.00000000"


def _units(amount: Any) -> int:
    return to_base_units(Decimal(str(amount)), 8)


class _Builder:
    """Runs the economy: every action is a wallet call; :attr:`kinds` records what each txid was."""

    def __init__(self, node: LitecoinRegtest, config: EconomyConfig, funder: str) -> None:
        self.node, self.config = node, config
        self.rng = random.Random(config.seed)
        self.rpc = node.rpc()
        self.tag = f"eco{config.seed}-{uuid.uuid4().hex[:6]}"
        self.entities: dict[str, _Entity] = {"miner": _Entity("miner", "miner", node.rpc(wallet=funder))}
        self.kinds: dict[str, dict[str, Any]] = {}  # txid -> {"kind", "actors", ...}
        self.sent_since_block = 0
        self.withdrawals: dict[str, list[tuple[str, int]]] = {}
        self.orders: list[tuple[str, int]] = []  # (vendor, amount) the market owes
        self.postmix: list[tuple[str, str, int]] = []  # (entity, txid, vout) of whirlpool outputs
        self.skipped = 0
        self.miner_address = str(self.entities["miner"].wallet.call("getnewaddress"))

    # -- wallets ----------------------------------------------------------------------------------
    def create(self, name: str, kind: str) -> _Entity:
        wallet_name = f"{self.tag}-{name}"
        self.rpc.call("createwallet", wallet_name)
        entity = _Entity(name, kind, self.node.rpc(wallet=wallet_name))
        self.entities[name] = entity
        return entity

    def of(self, kind: str) -> list[_Entity]:
        return [e for e in self.entities.values() if e.kind == kind]

    def address(self, entity: _Entity, kind: str = "bech32") -> str:
        return str(entity.wallet.call("getnewaddress", "", kind))

    def balance(self, entity: _Entity) -> int:
        """What the wallet can spend now (confirmed, or its own unconfirmed change)."""
        return _units(entity.wallet.call("getbalances")["mine"]["trusted"])

    def close(self) -> None:
        for entity in self.entities.values():
            entity.wallet.close()
        self.rpc.close()

    # -- transactions -----------------------------------------------------------------------------
    def record(self, txid: str, kind: str, actors: Sequence[str], **extra: Any) -> str:
        self.kinds[txid] = {"kind": kind, "actors": list(actors), **extra}
        self.sent_since_block += 1
        if self.sent_since_block >= self.config.per_block:
            self.mine()
        return txid

    def pay(self, payer: _Entity, outputs: dict[str, int], kind: str, *, subtract: bool = False,
            **extra: Any) -> str | None:
        """``payer``'s wallet pays ``outputs`` (address -> litoshi), choosing coins and change itself."""
        try:
            if len(outputs) == 1 and not subtract:
                (address, value), = outputs.items()
                txid = payer.wallet.call("sendtoaddress", address, _coins(value))
            else:
                amounts = {a: _coins(v) for a, v in outputs.items()}
                txid = payer.wallet.call("sendmany", "", amounts, 1, "", list(outputs) if subtract else [])
        except RpcError as exc:
            if "nsufficient" in str(exc) or "too small" in str(exc) or "dust" in str(exc).lower():
                self.skipped += 1
                return None
            raise
        return self.record(str(txid), kind, [payer.name], **extra)

    def mine(self, blocks: int = 1) -> None:
        self.rpc.call("generatetoaddress", blocks, self.miner_address)
        self.sent_since_block = 0

    def amount(self, low: float, high: float) -> int:
        """A random amount between ``low`` and ``high`` hundredths of the funding per user, to 1e4 litoshi."""
        unit = self.config.funding // (100 * max(self.config.users, 1))
        return max(int(unit * self.rng.uniform(low, high)) // 10_000 * 10_000, 100_000)


def generate(node: LitecoinRegtest, config: EconomyConfig, *, funder: str = "miner",
             fund_blocks: int = 101) -> Economy:
    """Run the economy on ``node`` (wallet ``funder`` mines and funds it) and read it back.

    ``fund_blocks`` blocks are mined to the funder first (101 matures one coinbase on a fresh chain;
    more are mined while its balance is below the funding)."""
    from testing.economy_actors import run_economy

    b = _Builder(node, config, funder)
    try:
        fund_wallet(b.entities["miner"].wallet, fund_blocks, min_balance=config.funding + COIN, max_blocks=6000)
        b.mine()
        start = int(b.rpc.call("getblockcount")) + 1
        run_economy(b)
        b.mine()
        end = int(b.rpc.call("getblockcount"))
        wallets = {name: e.wallet for name, e in b.entities.items()}
        kinds = {name: e.kind for name, e in b.entities.items()}
        return read_back(node, config.seed, ECONOMY_VERSION, config.sizes(), (start, end), wallets, kinds,
                         b.kinds, b.skipped)
    finally:
        b.close()


def _batch(wallet: JsonRpcClient, method: str, params: list[list[Any]]) -> list[Any]:
    return wallet.batch([Call(method, p) for p in params]) if params else []
