# SPDX-License-Identifier: Apache-2.0
"""What the entities of :mod:`testing.economy` do, round by round (every decision from the seeded RNG)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.errors import RpcError

if TYPE_CHECKING:
    from testing.economy import _Builder, _Entity

__all__ = ["run_economy"]

_ACTIONS = (("buy", 5), ("pay_vendor", 2), ("pay_user", 2), ("deposit", 1), ("withdraw", 2), ("cashout", 1))


def run_economy(b: _Builder) -> None:
    """Set the entities up, fund the exchanges, then run ``rounds`` rounds with CoinJoins and the launderers
    scheduled among them."""
    from testing.economy import _WASABI_DENOM, _WHIRLPOOL_DENOM, _coins  # noqa: F401 - one place for constants

    _setup(b)
    n = b.config.rounds
    schedule: dict[int, list[str]] = {}

    def at(fraction: float, what: str) -> None:
        schedule.setdefault(int(n * fraction), []).append(what)

    for i in range(b.config.joinmarket_rounds):
        at(0.25 + 0.7 * i / max(b.config.joinmarket_rounds, 1), "joinmarket")
    for i in range(b.config.wasabi_rounds):
        at(0.35 + 0.6 * i / max(b.config.wasabi_rounds, 1), "wasabi")
    for i in range(b.config.whirlpool_rounds):
        at(0.3 + 0.65 * i / max(b.config.whirlpool_rounds, 1), "whirlpool")
    at(0.15, "ransoms")
    at(0.4, "launder")
    names, weights = zip(*_ACTIONS, strict=True)
    for round_no in range(n):
        for what in schedule.get(round_no, []):
            _special(b, what)
        action = b.rng.choices(names, weights)[0]
        _act(b, action)
        if round_no % 7 == 6:
            _market_payout(b)
        if round_no % 9 == 8:
            _process_withdrawals(b)
        if round_no % 23 == 22:
            _consolidate_all(b)
    _process_withdrawals(b)
    _market_payout(b)
    _consolidate_all(b)


def _special(b: _Builder, what: str) -> None:
    from testing.economy_mixing import joinmarket_round, launder, ransoms, wasabi_round, whirlpool_round

    {"joinmarket": joinmarket_round, "wasabi": wasabi_round, "whirlpool": whirlpool_round,
     "ransoms": ransoms, "launder": launder}[what](b)


# -- set-up ----------------------------------------------------------------------------------------------
def _setup(b: _Builder) -> None:
    c = b.config
    for i in range(c.exchanges):
        b.create(f"exchange-{i + 1}", "exchange")
    b.create("market", "market")
    b.create("coordinator", "coordinator")
    for i in range(2):
        b.create(f"launderer-{i + 1}", "launderer")
    for i in range(c.vendors):
        b.create(f"vendor-{i + 1}", "vendor")
    for i in range(c.users):
        b.create(f"user-{i + 1:02d}", "user")
    exchanges = b.of("exchange")
    for entity in b.entities.values():
        if entity.kind in ("user", "vendor", "market", "launderer"):
            entity.exchange = b.rng.choice(exchanges).name
        if entity.kind == "vendor" and b.rng.random() < 0.5:
            entity.published = b.address(entity)
    hot = {e.name: b.address(e) for e in exchanges}
    share = c.funding // len(exchanges)
    b.pay(b.entities["miner"], {hot[e.name]: share for e in exchanges}, "funding")
    b.mine()
    for e in exchanges:
        e.published = hot[e.name]
    # every user starts with a withdrawal from its exchange, paid in one batch per exchange
    for user in b.of("user"):
        b.withdrawals.setdefault(str(user.exchange), []).append((user.name, b.amount(20, 60)))
    _process_withdrawals(b)
    b.mine()


def deposit_address(b: _Builder, customer: _Entity, exchange_name: str | None = None) -> str:
    """The customer's deposit address at an exchange (created once, then reused)."""
    name = exchange_name or str(customer.exchange)
    if name not in customer.deposit:
        customer.deposit[name] = b.address(b.entities[name])
    return customer.deposit[name]


# -- ordinary activity -----------------------------------------------------------------------------------
def _act(b: _Builder, action: str) -> None:
    users, vendors = b.of("user"), b.of("vendor")
    if action == "cashout":
        vendor = b.rng.choice(vendors)
        balance = b.balance(vendor)
        if balance > 2_000_000:
            value = balance * b.rng.choice((50, 80, 100)) // 100 // 10_000 * 10_000
            b.pay(vendor, {deposit_address(b, vendor): value}, "cashout", subtract=value >= balance - 10_000)
        return
    user = b.rng.choice(users)
    if action == "withdraw":
        b.withdrawals.setdefault(str(user.exchange), []).append((user.name, b.amount(10, 40)))
    elif action == "buy":
        vendor = b.rng.choice(vendors)
        value = b.amount(2, 12)
        if b.pay(user, {b.address(b.entities["market"]): value}, "purchase", vendor=vendor.name):
            b.orders.append((vendor.name, value))
    elif action == "pay_vendor":
        vendor = b.rng.choice(vendors)
        address = vendor.published if vendor.published and b.rng.random() < 0.7 else b.address(vendor)
        b.pay(user, {address: b.amount(2, 10)}, "payment")
    elif action == "pay_user":
        other = b.rng.choice([u for u in users if u is not user])
        kind = b.rng.choice(("bech32", "bech32", "p2sh-segwit", "legacy"))
        b.pay(user, {b.address(other, kind): b.amount(1, 8)}, "payment")
    elif action == "deposit":
        b.pay(user, {deposit_address(b, user): b.amount(3, 15)}, "deposit")


def _process_withdrawals(b: _Builder) -> None:
    """Each exchange pays its queued withdrawals in one ``sendmany`` (a fresh address per withdrawal)."""
    for name, queue in sorted(b.withdrawals.items()):
        if not queue:
            continue
        outputs: dict[str, int] = {}
        for customer, value in queue:
            outputs[b.address(b.entities[customer])] = value
        b.pay(b.entities[name], outputs, "withdrawal")
        queue.clear()


def _market_payout(b: _Builder) -> None:
    """The market pays the vendors 90 % of their orders in one batch, and deposits its commission."""
    if len(b.orders) < 3:
        return
    owed: dict[str, int] = {}
    for vendor, value in b.orders:
        owed[vendor] = owed.get(vendor, 0) + value * 9 // 10 // 10_000 * 10_000
    commission = sum(v for _, v in b.orders) - sum(owed.values())
    b.orders.clear()
    market = b.entities["market"]
    outputs = {b.address(b.entities[v]): value for v, value in sorted(owed.items())}
    b.pay(market, outputs, "market_payout")
    if commission > 1_000_000 and b.rng.random() < 0.5:
        b.pay(market, {deposit_address(b, market): commission - 100_000}, "deposit")


def _consolidate_all(b: _Builder) -> None:
    for exchange in b.of("exchange"):
        consolidate(b, exchange)


def consolidate(b: _Builder, exchange: _Entity) -> str | None:
    """Spend every confirmed coin on the exchange's deposit addresses into its hot address (one transaction)."""
    deposits = {a for c in b.entities.values() for n, a in c.deposit.items() if n == exchange.name}
    coins = [c for c in exchange.wallet.call("listunspent", 1) if c.get("address") in deposits]
    if len(coins) < 2:
        return None
    coins.sort(key=lambda c: (c["txid"], c["vout"]))
    total = sum(b_units(c["amount"]) for c in coins)
    fee = 1_000 * len(coins) + 1_000
    return send_raw(b, [exchange], [{"txid": c["txid"], "vout": c["vout"]} for c in coins],
                    [(str(exchange.published), total - fee)], "consolidation")


def b_units(amount: Any) -> int:
    from testing.economy import _units

    return _units(amount)


def send_raw(b: _Builder, signers: list[_Entity], inputs: list[dict[str, Any]], outputs: list[tuple[str, int]],
             kind: str, **extra: Any) -> str | None:
    """A transaction spending exactly ``inputs``, signed by each of ``signers``' wallets in turn."""
    from testing.economy import _coins

    raw = b.rpc.call("createrawtransaction", inputs, [{a: _coins(v)} for a, v in outputs])
    for signer in signers:
        raw = signer.wallet.call("signrawtransactionwithwallet", raw)["hex"]
    try:
        txid = b.rpc.call("sendrawtransaction", raw)
    except RpcError:
        b.skipped += 1
        for signer in signers:
            signer.wallet.call("lockunspent", True)
        return None
    return b.record(str(txid), kind, sorted({s.name for s in signers}), **extra)


def decoded_outputs(b: _Builder, raw: str) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Inputs (txid, vout) and outputs (address, litoshi) of a raw transaction."""
    tx: dict[str, Any] = b.rpc.call("decoderawtransaction", raw)
    inputs = [{"txid": v["txid"], "vout": v["vout"]} for v in tx["vin"]]
    outputs = []
    for v in tx["vout"]:
        spk = v["scriptPubKey"]
        address = spk.get("address") or (spk.get("addresses") or [None])[0]
        outputs.append((str(address), b_units(v["value"])))
    return inputs, outputs
