# SPDX-License-Identifier: Apache-2.0
"""CoinJoin rounds and the launderers of :mod:`testing.economy` (each participant's wallet funds and signs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.errors import RpcError
from testing.economy_actors import b_units, decoded_outputs, deposit_address, send_raw

if TYPE_CHECKING:
    from testing.economy import _Builder, _Entity

__all__ = ["joinmarket_round", "wasabi_round", "whirlpool_round", "ransoms", "launder"]


def _eligible(b: _Builder, need: int, exclude: tuple[str, ...] = ()) -> list[tuple[int, _Entity]]:
    """Users and vendors holding at least ``need`` litoshi, richest first (ties by name)."""
    found = []
    for entity in b.of("user") + b.of("vendor"):
        if entity.name in exclude:
            continue
        balance = b.balance(entity)
        if balance >= need:
            found.append((balance, entity))
    found.sort(key=lambda p: (-p[0], p[1].name))
    return found


def _funded(b: _Builder, entity: _Entity, outputs: list[tuple[str, int]]) -> tuple[list[dict[str, Any]],
                                                                                    list[tuple[str, int]]]:
    """The participant's wallet picks coins and change for ``outputs`` (and locks the coins)."""
    from testing.economy import _coins

    raw = b.rpc.call("createrawtransaction", [], [{a: _coins(v)} for a, v in outputs])
    funded = entity.wallet.call("fundrawtransaction", raw, {"lockUnspents": True})
    return decoded_outputs(b, str(funded["hex"]))


def _join(b: _Builder, parts: list[_Entity], per_part: list[list[tuple[str, int]]], kind: str) -> str | None:
    """One CoinJoin: each participant funds its outputs, the coordinator merges inputs and outputs (outputs
    to the same address, the coordinator's fee, are added up) in a shuffled order, each wallet signs."""
    inputs: list[dict[str, Any]] = []
    merged: dict[str, int] = {}
    try:
        for entity, outputs in zip(parts, per_part, strict=True):
            ins, outs = _funded(b, entity, outputs)
            inputs += ins
            for address, value in outs:
                merged[address] = merged.get(address, 0) + value
    except RpcError:  # a wallet could not fund its part: the round fails, every coin is released
        for entity in parts:
            entity.wallet.call("lockunspent", True)
        b.skipped += 1
        return None
    b.rng.shuffle(inputs)
    ordered = sorted(merged.items())
    b.rng.shuffle(ordered)
    return send_raw(b, parts, inputs, ordered, "coinjoin", coinjoin=kind)


def joinmarket_round(b: _Builder, taker: _Entity | None = None, denom: int | None = None) -> str | None:
    """JoinMarket-style: a taker and 2–4 makers, one equal output each plus each one's change."""
    makers = b.rng.randint(2, 4) if taker is not None else b.rng.randint(3, 5)
    value = denom if denom is not None else b.amount(5, 20)
    rich = _eligible(b, value + 300_000, exclude=(taker.name,) if taker else ())
    if len(rich) < makers:
        if taker is None or len(rich) < 2:
            b.skipped += 1
            return None
        makers = len(rich)
    chosen = b.rng.sample([e for _, e in rich[: makers + 3]], makers)
    parts = ([taker] if taker else []) + chosen
    return _join(b, parts, [[(b.address(p), value)] for p in parts], "joinmarket")


def wasabi_round(b: _Builder) -> str | None:
    """Wasabi 1.0-style: 10–14 participants, ~0.1 LTC each, a fee to the coordinator, each one's change."""
    from testing.economy import _WASABI_DENOM, _WASABI_FEE

    value = _WASABI_DENOM - b.rng.randrange(0, 30) * 10_000
    rich = _eligible(b, value + _WASABI_FEE + 300_000)
    if len(rich) < 10:
        b.skipped += 1
        return None
    parts = b.rng.sample([e for _, e in rich], min(len(rich), b.rng.randint(10, 14)))
    fee_address = b.address(b.entities["coordinator"])
    return _join(b, parts, [[(b.address(p), value), (fee_address, _WASABI_FEE)] for p in parts], "wasabi")


def _outpoint(b: _Builder, txid: str, address: str) -> dict[str, Any]:
    tx = b.rpc.call("getrawtransaction", txid, True)
    for v in tx["vout"]:
        spk = v["scriptPubKey"]
        if address in (spk.get("address"), *(spk.get("addresses") or [])):
            return {"txid": txid, "vout": int(v["n"])}
    raise RuntimeError(f"{txid} pays nothing to {address}")


def whirlpool_round(b: _Builder) -> str | None:
    """Whirlpool-style: 5 inputs, 5 outputs of exactly 0.01; 1–3 remixes of earlier outputs of exactly
    0.01, 2–4 new entrants whose own "tx0" made a premix coin of 0.01 plus the miner fee they pay."""
    from testing.economy import _WHIRLPOOL_DENOM as d

    remixes = [(n, t, v) for n, t, v in b.postmix if b.rpc.call("gettxout", t, v, True) is not None]
    b.rng.shuffle(remixes)
    picked: list[tuple[_Entity, dict[str, Any]]] = []
    for name, txid, vout in remixes:
        if len(picked) < 3 and name not in {p.name for p, _ in picked}:
            picked.append((b.entities[name], {"txid": txid, "vout": vout}))
    fresh_needed = 5 - len(picked)
    rich = [e for _, e in _eligible(b, d + 400_000, exclude=tuple(p.name for p, _ in picked))]
    if len(rich) < fresh_needed:
        b.skipped += 1
        return None
    newcomers = b.rng.sample(rich, fresh_needed)
    # without remixes (the first round), two newcomers' tx0 make coins of exactly d, as a remix has
    exact = 0 if picked else 2
    for i, entity in enumerate(newcomers):
        premix = b.address(entity)
        eps = 0 if i < exact else b.rng.randint(6_000, 30_000)
        tx0 = b.pay(entity, {premix: d + eps}, "tx0")
        if tx0 is None:
            return None
        picked.append((entity, _outpoint(b, tx0, premix)))
    b.rng.shuffle(picked)
    outputs = [(b.address(e), d) for e, _ in picked]
    b.rng.shuffle(outputs)
    mix = send_raw(b, [e for e, _ in picked], [o for _, o in picked], outputs, "coinjoin", coinjoin="whirlpool")
    if mix is not None:
        owner = {a: _owner_of(b, a, [e for e, _ in picked]) for a, _ in outputs}
        b.postmix += [(owner[a], mix, i) for i, (a, _) in enumerate(outputs)]
    return mix


def _owner_of(b: _Builder, address: str, candidates: list[_Entity]) -> str:
    for entity in candidates:
        if entity.wallet.call("getaddressinfo", address).get("ismine"):
            return entity.name
    raise RuntimeError(f"no participant owns {address}")


# -- the launderers -----------------------------------------------------------------------------------------
def ransoms(b: _Builder) -> None:
    """3–5 victims pay each launderer a ransom to a fresh address."""
    for launderer in b.of("launderer"):
        victims = b.rng.sample(b.of("user"), min(len(b.of("user")), b.rng.randint(3, 5)))
        for victim in victims:
            b.pay(victim, {b.address(launderer): b.amount(8, 20)}, "ransom", launderer=launderer.name)
    b.mine()


def launder(b: _Builder) -> None:
    """Each launderer consolidates its ransoms, ``launderer-2`` mixes as a JoinMarket taker, then each
    peels its coin out step by step and cashes the rest out at an exchange."""
    b.mine()
    for launderer in b.of("launderer"):
        balance = b.balance(launderer)
        if balance < 1_000_000:
            continue
        b.pay(launderer, {b.address(launderer): balance}, "launder_consolidation", subtract=True,
              launderer=launderer.name)
        if launderer.name == "launderer-2":
            _mix_first(b, launderer)
        _peel(b, launderer)


def _mix_first(b: _Builder, launderer: _Entity) -> None:
    coin = b.balance(launderer)
    rich = _eligible(b, 0, exclude=(launderer.name,))
    third = rich[2][0] if len(rich) >= 3 else 0
    denom = min(coin - 400_000, third - 300_000) // 10_000 * 10_000
    if denom < 1_000_000:
        return
    txid = joinmarket_round(b, taker=launderer, denom=denom)
    if txid is None:
        return
    b.mine()  # a CoinJoin's outputs are not the wallet's own change: spendable once confirmed
    # keep the taker's change aside: the peel chain spends the mixed coin only
    for coin_row in launderer.wallet.call("listunspent", 0):
        if coin_row["txid"] == txid and b_units(coin_row["amount"]) != denom:
            launderer.wallet.call("lockunspent", False, [{"txid": txid, "vout": coin_row["vout"]}])


def _peel(b: _Builder, launderer: _Entity) -> None:
    for step in range(b.config.peel_steps):
        value = b.amount(1, 4)
        if b.balance(launderer) - sum(_locked(b, launderer)) < value + 500_000:
            break
        target = b.rng.random()
        if target < 0.4:
            exchange = b.rng.choice(b.of("exchange")).name
            address = deposit_address(b, launderer, exchange)
        else:
            kind = "vendor" if target < 0.7 else "user"
            address = b.address(b.rng.choice(b.of(kind)))
        b.pay(launderer, {address: value}, "peel", launderer=launderer.name, step=step)
    launderer.wallet.call("lockunspent", True)
    rest = b.balance(launderer)
    if rest > 100_000:
        b.pay(launderer, {deposit_address(b, launderer): rest}, "launder_cashout", subtract=True,
              launderer=launderer.name)


def _locked(b: _Builder, entity: _Entity) -> list[int]:
    locked = entity.wallet.call("listlockunspent")
    values = []
    for o in locked:
        tx = b.rpc.call("getrawtransaction", o["txid"], True)
        values.append(b_units(tx["vout"][o["vout"]]["value"]))
    return values
