# SPDX-License-Identifier: Apache-2.0
"""A ground-truth account economy on ``anvil``: who owns every address is known (issue 23, account side).

The UTXO side (:mod:`testing.economy`) gives every entity its own Core wallet; on an account chain
there is no wallet to ask, so here every address is **derived from the seed** (``keccak(seed,
label)``) and sent from with ``anvil_autoImpersonateAccount`` (the node signs nothing; any address
can send). Entities:

* ``miner`` — funds everyone at the start (ETH and the economy's ERC-20 token, a
  ``fixtures/contracts/TestToken`` it deploys: 18 decimals);
* ``exchange-N`` — a **hot wallet** and one **deposit address per customer**, issued at the
  customer's first deposit and reused for every later one; each deposit is **swept** to the hot
  wallet after a delay (usually the next block, sometimes 2-5 or 8-15 blocks later: deposits that
  arrive meanwhile are swept together in one transfer); ETH is swept as balance minus the gas, a
  token after the hot wallet has sent the deposit address the gas for it (a "top-up") unless user
  ETH waiting there pays it; withdrawals pay customers, sometimes straight into the customer's
  deposit address at another exchange;
* ``user-NN`` — 2-4 addresses each; deposit from any of them (so one deposit address collects
  several of a user's addresses), pay merchants and each other, move funds between their own
  addresses;
* ``merchant-N`` — paid by users; some publish their **exchange deposit address** as their payment
  address (their customers' payments go straight to the exchange), the others have their own
  address and cash out to their deposit address;
* ``launderer`` — drains victims' addresses (ETH and token) into a theft address, splits the loot
  over fresh addresses, forwards the ETH through ``hops`` more fresh addresses each (every hop
  forwards the whole balance minus gas), pays the gas of the token addresses from a separate
  address of its own, and ends at its deposit address at one exchange, except one share paid to a
  merchant and one to a user (an over-the-counter buyer, who then spends it as usual).

The truth (:class:`AccountEconomy`): ``owners`` (``address``, ``entity``, ``kind``, ``role``:
``hot_wallet``, ``deposit``, ``user``, ``payment``, ``theft``, ``relay``, ``gas``, ``funder``;
``customer``: whom a deposit address was issued to) and ``transactions`` (every txid's ``kind``:
``funding``, ``deposit``, ``sweep``, ``topup``, ``withdrawal``, ``payment``, ``p2p``, ``self``,
``cashout``, ``theft``, ``launder_split``, ``launder_hop``, ``launder_deposit``, ``launder_payment``,
``launder_otc``, ``launder_gas``, ``deploy``; its ``asset`` and ``actor``). The same seed gives the
same economy: the same addresses, amounts, blocks and transaction ids (only block times differ),
so :meth:`AccountEconomy.owners_digest` is the same.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from eth_utils import keccak, to_checksum_address

from adapters.jsonrpc import Call, JsonRpcClient
from testing.devcontracts import artifact, encode_call
from testing.devnodes import Anvil
from tracer.schema import FrameSet

__all__ = ["ECONOMY_EVM_VERSION", "CHAIN", "AccountEconomyConfig", "AccountEconomy", "generate_account",
           "OWNER_COLUMNS", "TX_COLUMNS"]

#: Version of the generator: the results file names it; change it when the economy's behaviour changes.
ECONOMY_EVM_VERSION = "tracer-economy-evm/1"
CHAIN = "eth-devnet"
ETHER = 10**18
GAS_PRICE = 2 * 10**9  # legacy gas price, above anvil's base fee (1 gwei at genesis, falling in light blocks)
ETH_GAS = 21_000
TOKEN_GAS = 90_000  # gas limit of a token transfer (a first receipt costs ~52k)
RESERVE = ETHER // 50  # what a user address keeps for gas
OWNER_COLUMNS = {"address": pl.String(), "entity": pl.String(), "kind": pl.String(), "role": pl.String(),
                 "customer": pl.String()}
TX_COLUMNS = {"txid": pl.String(), "kind": pl.String(), "asset": pl.String(), "actor": pl.String()}


@dataclass(frozen=True)
class AccountEconomyConfig:
    """How big an account economy is: ``small`` for the test suite, ``benchmark`` for the results file."""

    seed: int
    users: int = 10
    exchanges: int = 2
    merchants: int = 4
    rounds: int = 140
    per_block: int = 8
    victims: int = 3
    splits: int = 4
    hops: int = 2

    @classmethod
    def small(cls, seed: int) -> AccountEconomyConfig:
        return cls(seed=seed)

    @classmethod
    def benchmark(cls, seed: int) -> AccountEconomyConfig:
        return cls(seed=seed, users=24, exchanges=3, merchants=6, rounds=500, per_block=10, victims=5, splits=6,
                   hops=3)

    def sizes(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "seed"}


@dataclass
class AccountEconomy:
    """One generated account economy: frames of its blocks, the owner of every address, each txid's kind."""

    version: str
    seed: int
    sizes: dict[str, int]
    heights: tuple[int, int]
    frames: FrameSet
    owners: pl.DataFrame
    transactions: pl.DataFrame
    token: str
    node: str = ""

    def owners_digest(self) -> str:
        """SHA-256 of the ownership file (``owners`` as sorted JSON lines): equal for equal seeds."""
        lines = [json.dumps(r, sort_keys=True) for r in self.owners.sort("address").iter_rows(named=True)]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        kinds = self.transactions.group_by("kind").len().sort("kind")
        known = self.owners.filter(pl.col("entity").is_not_null())
        return {"version": self.version, "seed": self.seed, "sizes": self.sizes,
                "blocks": self.heights[1] - self.heights[0] + 1, "first_block": self.heights[0],
                "transactions": self.frames.transactions.height,
                "transfers": self.frames.transfers.filter(pl.col("kind") != "fee").height,
                "addresses": known.height, "entities": known["entity"].n_unique(),
                "deposit_addresses": known.filter(pl.col("role") == "deposit").height,
                "node": self.node, "owners_sha256": self.owners_digest(), "kinds": dict(kinds.iter_rows())}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("transactions", "transfers"):
            getattr(self.frames, name).write_parquet(directory / f"{name}.parquet")
        self.owners.write_parquet(directory / "owners.parquet")
        self.transactions.write_parquet(directory / "truth.parquet")
        meta = self.summary() | {"heights": list(self.heights), "token": self.token}
        (directory / "economy.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> AccountEconomy:
        meta = json.loads((directory / "economy.json").read_text())
        frames = FrameSet(**{n: pl.read_parquet(directory / f"{n}.parquet") for n in ("transactions", "transfers")})
        return cls(meta["version"], meta["seed"], meta["sizes"], (meta["heights"][0], meta["heights"][1]), frames,
                   pl.read_parquet(directory / "owners.parquet"), pl.read_parquet(directory / "truth.parquet"),
                   meta["token"], meta.get("node", ""))


@dataclass
class _Actor:
    name: str
    kind: str
    addresses: list[str]
    home: str = ""  # the exchange it uses first
    deposits: dict[str, str] = field(default_factory=dict)  # exchange -> its deposit address there
    pay_to: str = ""  # a merchant's published payment address


@dataclass
class _Deposit:
    exchange: str
    eth: bool = False  # user ETH waiting to be swept
    token: int = 0  # token units waiting
    due: int | None = None  # block of the next sweep


class _Builder:
    """Plans with one seeded RNG and sends each block's transactions in one JSON-RPC batch (explicit nonces)."""

    def __init__(self, rpc: JsonRpcClient, config: AccountEconomyConfig) -> None:
        self.rpc, self.config = rpc, config
        self.rng = random.Random(config.seed)
        self.owner: dict[str, dict[str, str | None]] = {}
        self.kinds: dict[str, dict[str, str]] = {}
        self.nonce: dict[str, int] = defaultdict(int)
        self.eth: dict[str, int] = defaultdict(int)  # lower bounds (token gas counted at its limit)
        self.tok: dict[str, int] = defaultdict(int)  # exact
        self.queue: list[tuple[dict[str, Any], dict[str, str]]] = []
        #: what the queued transactions pay, credited once mined (the node checks a sender's mined balance)
        self.credit: list[tuple[dict[str, int], str, int]] = []
        self.deposits: dict[str, _Deposit] = {}
        self.actors: dict[str, _Actor] = {}
        self.token = ""
        self.height = int(rpc.call("eth_blockNumber"), 16)
        self._relays: dict[str, Any] | None = None  # the launderer's relay addresses, once it splits
        self._shares: list[float] = []

    # -- addresses and actors ---------------------------------------------------------------------------
    def address(self, label: str, entity: str, kind: str, role: str, customer: str | None = None) -> str:
        raw = keccak(text=f"{ECONOMY_EVM_VERSION}/{self.config.seed}/{label}")[-20:]
        address = to_checksum_address(raw)
        self.owner[address] = {"entity": entity, "kind": kind, "role": role, "customer": customer}
        return address

    def actor(self, name: str, kind: str, count: int, role: str) -> _Actor:
        actor = _Actor(name, kind, [self.address(f"{name}/{i}", name, kind, role) for i in range(count)])
        self.actors[name] = actor
        return actor

    def of(self, kind: str) -> list[_Actor]:
        return [a for a in self.actors.values() if a.kind == kind]

    def deposit_of(self, customer: _Actor, exchange: str) -> str:
        """The customer's deposit address at ``exchange`` (issued on first use, reused afterwards)."""
        if exchange not in customer.deposits:
            address = self.address(f"{exchange}/deposit/{customer.name}", exchange, "exchange", "deposit",
                                   customer.name)
            customer.deposits[exchange] = address
            self.deposits[address] = _Deposit(exchange)
        return customer.deposits[exchange]

    def hot(self, exchange: str) -> str:
        return self.actors[exchange].addresses[0]

    # -- transactions -----------------------------------------------------------------------------------
    def send(self, sender: str, to: str, value: int, kind: str, *, token: int = 0) -> None:
        """Queue an ETH (``value``) or token (``token``) transfer for the next block; track balances."""
        tx: dict[str, Any] = {"from": sender, "gasPrice": hex(GAS_PRICE), "nonce": hex(self.nonce[sender])}
        if token:
            tx |= {"to": self.token, "value": "0x0", "gas": hex(TOKEN_GAS),
                   "data": encode_call("TestToken", "transfer", [to, token])}
            self.tok[sender] -= token
            self.credit.append((self.tok, to, token))
            self.eth[sender] -= TOKEN_GAS * GAS_PRICE
        else:
            tx |= {"to": to, "value": hex(value), "gas": hex(ETH_GAS)}
            self.eth[sender] -= value + ETH_GAS * GAS_PRICE
            self.credit.append((self.eth, to, value))
        if self.eth[sender] < 0 or self.tok[sender] < 0:
            raise RuntimeError(f"economy plan error: {sender} cannot pay {kind}")
        self.nonce[sender] += 1
        actor = self.owner.get(sender, {}).get("entity") or ""
        self.queue.append((tx, {"kind": kind, "asset": "token" if token else "native", "actor": actor}))
        if to in self.deposits and kind not in ("topup",):
            d = self.deposits[to]
            d.eth, d.token = d.eth or not token, d.token + token
            if d.due is None:
                r = self.rng.random()
                delay = 1 if r < 0.6 else self.rng.randint(2, 5) if r < 0.9 else self.rng.randint(8, 15)
                d.due = self.height + 1 + delay

    def mine(self) -> None:
        if self.queue:
            txids = self.rpc.batch([Call("eth_sendTransaction", (tx,)) for tx, _ in self.queue])
            for txid, (_, info) in zip(txids, self.queue, strict=True):
                self.kinds[str(txid)] = info
            self.queue = []
        self.rpc.call("evm_mine")
        self.height += 1
        for book, address, value in self.credit:
            book[address] += value
        self.credit = []

    def balances(self, addresses: list[str]) -> dict[str, int]:
        found = self.rpc.batch([Call("eth_getBalance", (a, "latest")) for a in addresses]) if addresses else []
        exact = {a: int(b, 16) for a, b in zip(addresses, found, strict=True)}
        self.eth.update(exact)  # asked before this block's transactions of these addresses are queued
        return exact

    # -- exchanges ---------------------------------------------------------------------------------------
    def sweeps(self) -> None:
        """Sweep every deposit address whose time has come (one transaction per address per block)."""
        due = sorted(a for a, d in self.deposits.items() if d.due is not None and d.due <= self.height + 1)
        if not due:
            return
        balance = self.balances(due)
        for address in due:
            d, hot = self.deposits[address], self.hot(self.deposits[address].exchange)
            if d.token:
                if balance[address] < TOKEN_GAS * GAS_PRICE:
                    self.send(hot, address, TOKEN_GAS * GAS_PRICE, "topup")
                    d.due = self.height + 2
                    continue
                self.send(address, hot, 0, "sweep", token=d.token)
                d.token = 0
                d.due = self.height + 2 if d.eth else None
            elif d.eth:
                self.send(address, hot, balance[address] - ETH_GAS * GAS_PRICE, "sweep")
                d.eth, d.due = False, None
            else:
                d.due = None

    # -- setup -------------------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg, rng = self.config, self.rng
        miner = self.actor("miner", "miner", 1, "funder").addresses[0]
        self.rpc.call("anvil_autoImpersonateAccount", True)
        self.rpc.call("anvil_setBalance", miner, hex(10**7 * ETHER))
        self.nonce[miner] = int(self.rpc.call("eth_getTransactionCount", miner, "latest"), 16)
        code = artifact("TestToken").codec.constructor("Economy Token", "ECO", 18, 10**12 * ETHER).data_in_transaction
        txid = self.rpc.call("eth_sendTransaction", {"from": miner, "data": code, "gas": hex(3_000_000),
                                                     "gasPrice": hex(GAS_PRICE), "nonce": hex(self.nonce[miner])})
        self.kinds[str(txid)] = {"kind": "deploy", "asset": "native", "actor": "miner"}
        self.nonce[miner] += 1
        self.rpc.call("evm_mine")
        self.height += 1
        self.token = to_checksum_address(self.rpc.call("eth_getTransactionReceipt", txid)["contractAddress"])
        self.eth[miner], self.tok[miner] = 10**7 * ETHER - 3_000_000 * GAS_PRICE, 10**12 * ETHER
        exchanges = [self.actor(f"exchange-{i + 1}", "exchange", 1, "hot_wallet") for i in range(cfg.exchanges)]
        for i in range(cfg.users):
            user = self.actor(f"user-{i + 1:02d}", "user", rng.randint(2, 4), "user")
            user.home = rng.choice(exchanges).name
        for i in range(cfg.merchants):
            merchant = self.actor(f"merchant-{i + 1}", "merchant", 1, "payment")
            merchant.home = rng.choice(exchanges).name
            merchant.pay_to = (self.deposit_of(merchant, merchant.home) if rng.random() < 0.5
                               else merchant.addresses[0])
        self.actor("launderer", "launderer", 0, "relay")
        launderer = self.actors["launderer"]
        launderer.addresses = [self.address("launderer/theft", "launderer", "launderer", "theft"),
                               self.address("launderer/gas", "launderer", "launderer", "gas")]
        launderer.home = rng.choice(exchanges).name
        for exchange in exchanges:
            self.send(miner, exchange.addresses[0], 2000 * ETHER, "funding")
            self.send(miner, exchange.addresses[0], 0, "funding", token=10**8 * ETHER)
        for user in self.of("user"):
            for address in user.addresses:
                self.send(miner, address, rng.randint(2_000, 20_000) * ETHER // 1000, "funding")
                if rng.random() < 0.6:
                    self.send(miner, address, 0, "funding", token=rng.randint(100, 5_000) * ETHER)
        for merchant in self.of("merchant"):
            if merchant.pay_to == merchant.addresses[0]:
                self.send(miner, merchant.addresses[0], ETHER // 10, "funding")
        self.send(miner, launderer.addresses[1], ETHER, "funding")
        self.mine()

    # -- users ------------------------------------------------------------------------------------------
    def spendable(self, address: str) -> int:
        return max(self.eth[address] - RESERVE, 0)

    def amount(self, available: int, low: float, high: float) -> int:
        return int(available * self.rng.uniform(low, high)) // 10**12 * 10**12

    def action(self) -> None:
        rng = self.rng
        users = self.of("user")
        user = rng.choice(users)
        source = rng.choice(user.addresses)
        use_token = rng.random() < 0.3 and self.tok[source] > 0 and self.eth[source] >= RESERVE
        r = rng.random()
        exchanges = self.of("exchange")
        if r < 0.30:  # deposit at the home exchange (sometimes at another)
            exchange = user.home if rng.random() < 0.75 else rng.choice(exchanges).name
            target, kind = self.deposit_of(user, exchange), "deposit"
        elif r < 0.50:  # withdrawal: the exchange pays the user
            exchange = rng.choice(list(user.deposits)) if user.deposits else user.home
            others = [e for e in user.deposits if e != exchange]
            to = self.deposit_of(user, rng.choice(others)) if others and rng.random() < 0.15 else rng.choice(
                user.addresses)
            if rng.random() < 0.3:
                self.send(self.hot(exchange), to, 0, "withdrawal", token=rng.randint(50, 2_000) * ETHER)
            else:
                self.send(self.hot(exchange), to, rng.randint(500, 8_000) * ETHER // 1000, "withdrawal")
            return
        elif r < 0.75:
            target, kind = rng.choice(self.of("merchant")).pay_to, "payment"
        elif r < 0.88:
            target, kind = rng.choice(rng.choice([u for u in users if u is not user]).addresses), "p2p"
        elif r < 0.95:
            target, kind = rng.choice([a for a in user.addresses if a != source]), "self"
        else:
            self.cashout()
            return
        if use_token:
            token = self.amount(self.tok[source], 0.2, 0.8)
            if token > 0:
                self.send(source, target, 0, kind, token=token)
        else:
            value = self.amount(self.spendable(source), 0.1, 0.6)
            if value > ETHER // 1000:
                self.send(source, target, value, kind)

    def cashout(self) -> None:
        own = [m for m in self.of("merchant") if m.pay_to == m.addresses[0] and self.spendable(m.addresses[0])]
        if own:
            merchant = self.rng.choice(own)
            value = self.amount(self.spendable(merchant.addresses[0]), 0.8, 0.95)
            if value > 0:
                self.send(merchant.addresses[0], self.deposit_of(merchant, merchant.home), value, "cashout")

    # -- the launderer ----------------------------------------------------------------------------------
    def launder(self, step: int) -> bool:
        """One block's part of the theft and laundering (``step`` 0, 1, ...); False once done."""
        cfg, rng, launderer = self.config, self.rng, self.actors["launderer"]
        theft, gas = launderer.addresses[0], launderer.addresses[1]
        relays = self._relays
        if step == 0:
            victims = rng.sample(self.of("user"), cfg.victims)
            for victim in victims:
                source = max(victim.addresses, key=lambda a: (self.eth[a], a))
                value = self.amount(self.spendable(source), 0.5, 0.8)
                if value > 0:
                    self.send(source, theft, value, "theft")
                if self.tok[source] and self.eth[source] >= TOKEN_GAS * GAS_PRICE:
                    self.send(source, theft, 0, "theft", token=self.amount(self.tok[source], 0.5, 0.9))
            return True
        if step == 1:  # split the token first (its gas comes out of the stolen ETH), fund the token relays' gas
            self._relays = relays = {
                "eth": [[self.address(f"launderer/eth/{i}/{h}", "launderer", "launderer", "relay")
                         for h in range(cfg.hops + 1)] for i in range(cfg.splits)],
                "token": [self.address(f"launderer/token/{i}", "launderer", "launderer", "relay")
                          for i in range(cfg.splits)]}
            self._shares = self.shares(cfg.splits)
            if self.tok[theft]:
                parts = self.split(self.tok[theft], self._shares)
                for address, part in zip(relays["token"], parts, strict=True):
                    self.send(theft, address, 0, "launder_split", token=part)
                    self.send(gas, address, 2 * TOKEN_GAS * GAS_PRICE, "launder_gas")
            return True
        assert relays is not None
        if step == 2:  # split the ETH; the token relays pay out
            balance = self.balances([theft])[theft]
            parts = self.split(balance - cfg.splits * ETH_GAS * GAS_PRICE, self._shares)
            for chain, part in zip(relays["eth"], parts, strict=True):
                self.send(theft, chain[0], part, "launder_split")
            for i, address in enumerate(relays["token"]):
                if self.tok[address]:
                    to, kind = self.destination(i)
                    self.send(address, to, 0, kind, token=self.tok[address])
            return True
        hop = step - 3  # ETH relays forward: hop 0..hops-1 to the next relay, then to the destination
        held = self.balances([chain[hop] for chain in relays["eth"]])
        for i, chain in enumerate(relays["eth"]):
            to, kind = (chain[hop + 1], "launder_hop") if hop < cfg.hops else self.destination(i)
            self.send(chain[hop], to, held[chain[hop]] - ETH_GAS * GAS_PRICE, kind)
        return hop < cfg.hops

    def shares(self, n: int) -> list[float]:
        """Split weights: the first goes to an OTC buyer, the second to a merchant (5-15 % each)."""
        small = [self.rng.uniform(0.05, 0.15) for _ in range(min(2, n))]
        rest = [self.rng.uniform(1, 2) for _ in range(n - len(small))]
        scale = (1 - sum(small)) / sum(rest) if rest else 1.0
        return small + [w * scale for w in rest]

    @staticmethod
    def split(total: int, weights: list[float]) -> list[int]:
        parts = [int(total * w) for w in weights[:-1]]
        return [*parts, total - sum(parts)]

    def destination(self, i: int) -> tuple[str, str]:
        """Where relay ``i`` of the launderer pays out (fixed per seed)."""
        launderer = self.actors["launderer"]
        if i == 0:
            buyer = self.of("user")[self.config.seed % len(self.of("user"))]
            return buyer.addresses[0], "launder_otc"
        if i == 1:
            return self.of("merchant")[self.config.seed % len(self.of("merchant"))].pay_to, "launder_payment"
        return self.deposit_of(launderer, launderer.home), "launder_deposit"

    # -- the whole economy --------------------------------------------------------------------------------
    def run(self) -> None:
        cfg = self.config
        self.setup()
        theft_at, step, laundering = cfg.rounds * 3 // 10, 0, True
        done = 0
        while done < cfg.rounds or laundering:
            self.sweeps()
            if done >= theft_at and laundering:
                laundering = self.launder(step)
                step += 1
            for _ in range(min(cfg.per_block, cfg.rounds - done)):
                self.action()
                done += 1
            self.mine()
        for _ in range(3):  # the exchanges catch up with what is due (a late sweep may stay pending)
            self.sweeps()
            self.mine()


def generate_account(node: Anvil, config: AccountEconomyConfig) -> AccountEconomy:
    """Run the economy on ``node`` (automine off while it runs) and read it back through the project's own
    EVM adapter (:class:`adapters.evm.node.EvmNode`): the canonical frames of its blocks and the truth."""
    from adapters.evm.node import EvmNode
    from tracer.chains import default_registry

    with node.rpc() as rpc:
        rpc.call("evm_setAutomine", False)
        try:
            builder = _Builder(rpc, config)
            start = builder.height + 1
            builder.run()
            end = builder.height
        finally:
            rpc.call("evm_setAutomine", True)
        version = str(rpc.call("web3_clientVersion"))
    with EvmNode(node.url, default_registry().get(CHAIN)) as source:
        frames = source.fetch(list(range(start, end + 1))).frames
    transfers = frames.transfers
    seen = set(transfers["from_address"].drop_nulls().to_list()) | set(transfers["to_address"].drop_nulls().to_list())
    empty: dict[str, str | None] = {"entity": None, "kind": None, "role": None, "customer": None}
    owners = pl.DataFrame([{"address": a, **builder.owner.get(a, empty)} for a in sorted(seen)], schema=OWNER_COLUMNS)
    rows = [{"txid": t, **builder.kinds.get(t, {"kind": "foreign", "asset": None, "actor": None})}
            for t in frames.transactions["txid"].to_list()]
    truth = pl.DataFrame(rows, schema=TX_COLUMNS).sort("txid")
    frames = FrameSet(transactions=frames.transactions, transfers=transfers)
    return AccountEconomy(ECONOMY_EVM_VERSION, config.seed, config.sizes(), (start, end), frames, owners, truth,
                          builder.token, version)
