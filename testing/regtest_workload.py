# SPDX-License-Identifier: Apache-2.0
"""Make chain data on a *regtest* ``litecoind`` (or ``bitcoind``) for tests and benchmarks.

Pure helpers over a wallet RPC client (``LitecoinRegtest.rpc(wallet=...)``): no graph, tracer or
CLI imports. They only ever *add* blocks and transactions and always use fresh addresses, so they
can share a node with other test modules.

* :func:`fund_wallet` mines coinbases to a fresh wallet address and lets them mature.
* :func:`build_scenarios` creates the transaction shapes the tracer has to understand (payment
  with change, consolidation, peel chain, CoinJoin, P2SH/P2WSH, OP_RETURN, P2PK, bare multisig,
  P2TR) and returns a :class:`Scenarios` read back from the node after mining: txids, block
  heights, which outpoint every input spends, and every output's value (litoshi, ``int``),
  ``scriptPubKey.type``, address and *role* (``"payment"``, ``"change"``, ``"remainder"``, ...).
* :func:`make_payments` is the fast path for benchmarks: thousands of 1–3-input, 2-output
  transactions through batched ``createrawtransaction`` → ``signrawtransactionwithkey`` →
  ``sendrawtransaction``, mining a block every ``per_block`` transactions.

Amounts go to the node as decimal text (never floats) and come back as :class:`~decimal.Decimal`
(the client parses JSON numbers that way); they are converted to integers exactly with
:func:`tracer.units.to_base_units`.

Found on litecoind 0.21.2.1 (regtest, legacy BDB wallet): P2PKH, P2SH (multisig and
P2SH-P2WPKH), P2WPKH, P2WSH, OP_RETURN, P2PK and bare multisig outputs are all created and
spent. Taproot is active from genesis and a witness-v1 output is standard to *create*, but the
legacy wallet has no ``bech32m`` address type and cannot sign a taproot spend, so the P2TR output
is made by hand and stays unspent (:attr:`Scenarios.unsupported` says so).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.jsonrpc import Call, JsonRpcClient
from tracer.units import format_units, to_base_units

__all__ = [
    "COIN",
    "COINBASE_MATURITY",
    "Outpoint",
    "TxIn",
    "TxOut",
    "ScenarioTx",
    "Scenarios",
    "fund_wallet",
    "build_scenarios",
    "make_payments",
]

#: Base units (litoshi / satoshi) per coin.
COIN = 100_000_000
#: Blocks before a coinbase output can be spent.
COINBASE_MATURITY = 100
#: Fee of every scenario transaction (each is well under 1 kvB, so >= 10 litoshi per vbyte).
SCENARIO_FEE = 10_000
#: The OP_RETURN payload of :attr:`Scenarios.op_return` ("tracer regtest" in ASCII).
OP_RETURN_DATA = b"tracer regtest".hex()

_LEGACY, _P2SH_SEGWIT, _BECH32 = "legacy", "p2sh-segwit", "bech32"


# -- what was created ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outpoint:
    """An output of a transaction: ``txid:index``."""

    txid: str
    index: int


@dataclass(frozen=True, slots=True)
class TxIn:
    """One input: the outpoint it spends and that output's address (or ``None``) and value."""

    spends: Outpoint
    address: str | None
    value: int


@dataclass(frozen=True, slots=True)
class TxOut:
    """One output as the node reports it, plus the role the workload gave it.

    ``script_type`` is Core's ``scriptPubKey.type`` (``pubkeyhash``, ``scripthash``,
    ``witness_v0_keyhash``, ``witness_v0_scripthash``, ``witness_v1_taproot``, ``pubkey``,
    ``multisig``, ``nulldata``). ``address`` is ``None`` for ``nulldata`` and bare ``multisig``
    (several keys own it) and whenever the node gives no single address.
    """

    index: int
    value: int
    script_type: str
    address: str | None
    script_hex: str
    role: str


@dataclass(frozen=True, slots=True)
class ScenarioTx:
    """A confirmed transaction made by :func:`build_scenarios`, read back from the node."""

    name: str
    txid: str
    block_height: int
    block_hash: str
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    fee: int

    def with_role(self, role: str) -> list[TxOut]:
        """The outputs that have ``role``, in output order."""
        return [o for o in self.outputs if o.role == role]

    def output(self, role: str) -> TxOut:
        """The single output that has ``role`` (``ValueError`` if there is not exactly one)."""
        found = self.with_role(role)
        if len(found) != 1:
            raise ValueError(f"{self.name}: {len(found)} outputs have role {role!r}, expected 1")
        return found[0]

    def outpoint(self, index: int) -> Outpoint:
        return Outpoint(self.txid, index)


@dataclass(frozen=True)
class Scenarios:
    """Everything :func:`build_scenarios` created, each transaction confirmed.

    Output roles per transaction: ``funding`` ``fund:<purpose>`` and ``change``; ``payment``
    ``payment``/``change`` (the wallet's own change); ``consolidation`` ``consolidated``;
    each ``peel_chain`` step ``peel`` (small payment to a fresh address) and ``remainder`` (spent by
    the next step; the last remainder stays unspent); ``coinjoin`` ``mix`` (equal values) and
    ``change``; ``p2sh``/``p2wsh``/``p2pk``/``bare_multisig``/``p2tr`` an output of that role and
    ``change``; every ``*_spend`` ``sweep``; ``op_return`` ``payment``, ``data`` and ``change``.
    A ``None`` field was not supported by the node; :attr:`unsupported` says why.
    """

    funding: ScenarioTx
    payment: ScenarioTx
    consolidation: ScenarioTx
    peel_chain: tuple[ScenarioTx, ...]
    coinjoin: ScenarioTx
    coinjoin_denomination: int
    p2sh: ScenarioTx
    p2sh_spend: ScenarioTx
    p2wsh: ScenarioTx
    p2wsh_spend: ScenarioTx
    op_return: ScenarioTx
    op_return_data: str
    p2pk: ScenarioTx | None
    p2pk_spend: ScenarioTx | None
    bare_multisig: ScenarioTx | None
    bare_multisig_spend: ScenarioTx | None
    p2tr: ScenarioTx | None
    #: feature -> why it is missing (e.g. ``"p2tr_spend"``).
    unsupported: dict[str, str] = field(default_factory=dict)

    def transactions(self) -> dict[str, ScenarioTx]:
        """Every transaction by its :attr:`ScenarioTx.name`, in creation order."""
        out: dict[str, ScenarioTx] = {}
        for value in (self.funding, self.payment, self.consolidation, *self.peel_chain, self.coinjoin,
                      self.p2sh, self.p2sh_spend, self.p2wsh, self.p2wsh_spend, self.op_return,
                      self.p2pk, self.p2pk_spend, self.bare_multisig, self.bare_multisig_spend, self.p2tr):
            if value is not None:
                out[value.name] = value
        return out

    def by_txid(self) -> dict[str, ScenarioTx]:
        return {tx.txid: tx for tx in self.transactions().values()}

    @property
    def block_heights(self) -> tuple[int, int]:
        """Lowest and highest block height holding a scenario transaction."""
        heights = [tx.block_height for tx in self.transactions().values()]
        return min(heights), max(heights)


# -- small RPC helpers ---------------------------------------------------------------------------
def _coins(value: int) -> str:
    """Litoshi -> the decimal text the RPC takes (``150000000`` -> ``"1.50000000"``)."""
    return format_units(value, 8) if value % COIN else f"{value // COIN}.00000000"


def _units(amount: Decimal | str) -> int:
    return to_base_units(amount, 8)


def _mine(rpc: JsonRpcClient, blocks: int = 1) -> list[str]:
    address = rpc.call("getnewaddress", "", _BECH32)
    return list(rpc.call("generatetoaddress", blocks, address))


def _take_coins(rpc: JsonRpcClient, amount: int) -> tuple[list[dict[str, Any]], int]:
    """Confirmed, unlocked wallet coins (largest first) worth at least ``amount`` litoshi, and their total."""
    coins = [c for c in rpc.call("listunspent", 1) if c.get("spendable") and c.get("safe", True)]
    coins.sort(key=lambda c: (-_units(c["amount"]), c["txid"], c["vout"]))
    chosen: list[dict[str, Any]] = []
    total = 0
    for coin in coins:
        if total >= amount:
            break
        chosen.append(coin)
        total += _units(coin["amount"])
    if total < amount:
        raise RuntimeError(f"wallet has {total} litoshi in confirmed coins, {amount} needed (mine a block?)")
    return chosen, total


def _script_address(script_pub_key: dict[str, Any]) -> str | None:
    if script_pub_key.get("type") in ("multisig", "nulldata", "nonstandard"):
        return None
    if script_pub_key.get("address"):
        return str(script_pub_key["address"])
    addresses = script_pub_key.get("addresses") or []
    return str(addresses[0]) if len(addresses) == 1 else None


def _signed(result: dict[str, Any], what: str) -> str:
    if not result.get("complete"):
        raise RuntimeError(f"{what}: signing incomplete: {result.get('errors')}")
    return str(result["hex"])


def fund_wallet(rpc: JsonRpcClient, blocks: int = 101, *, min_balance: int = 0, max_blocks: int = 3000) -> int:
    """Mine ``blocks`` blocks to a fresh address of ``rpc``'s wallet; return its spendable balance (litoshi).

    As with ``generatetoaddress 101`` on a fresh chain, a coinbase is spendable only once
    :data:`COINBASE_MATURITY` blocks are on top of it, so ``blocks=101`` matures one. While the
    confirmed balance is below ``min_balance``, more blocks are mined, as few as it takes: one at a
    time while the wallet has immature coinbases, else 101 (the node is shared, and tests elsewhere
    may care about the height; the regtest subsidy also halves every 150 blocks). Gives up with
    ``RuntimeError`` after ``max_blocks`` blocks in all.
    """
    address = str(rpc.call("getnewaddress", "", _BECH32))
    if blocks > 0:
        rpc.call("generatetoaddress", blocks, address)
    mined = blocks
    balances = rpc.call("getbalances")["mine"]
    while _units(balances["trusted"]) < min_balance:
        step = 1 if _units(balances["immature"]) else COINBASE_MATURITY + 1
        if mined + step > max_blocks:
            raise RuntimeError(f"wallet balance {_units(balances['trusted'])} litoshi still below {min_balance} "
                               f"after {mined} blocks")
        rpc.call("generatetoaddress", step, address)
        mined += step
        balances = rpc.call("getbalances")["mine"]
    return _units(balances["trusted"])


# -- transaction building ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Out:
    """An output to create: an address, a raw script (hex) or OP_RETURN data (hex)."""

    role: str
    value: int = 0
    address: str | None = None
    script: str | None = None
    data: str | None = None


@dataclass(frozen=True, slots=True)
class _Coin:
    """A spendable output we know everything about (for ``prevtxs`` and ``signrawtransactionwithkey``)."""

    txid: str
    vout: int
    value: int
    script: str
    address: str | None = None


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def _push(data: bytes) -> bytes:
    if len(data) >= 0x4C:
        raise ValueError("push too long for this helper")
    return bytes([len(data)]) + data


def _serialize_unsigned(inputs: Sequence[_Coin], outputs: Sequence[tuple[str, int]]) -> str:
    """A version-2 transaction with empty scriptSigs: what ``createrawtransaction`` makes, but with any scripts."""
    raw = struct.pack("<i", 2) + _varint(len(inputs))
    for coin in inputs:
        raw += bytes.fromhex(coin.txid)[::-1] + struct.pack("<I", coin.vout) + b"\x00" + b"\xff\xff\xff\xff"
    raw += _varint(len(outputs))
    for script, value in outputs:
        script_bytes = bytes.fromhex(script)
        raw += struct.pack("<q", value) + _varint(len(script_bytes)) + script_bytes
    return (raw + struct.pack("<I", 0)).hex()


class _Builder:
    """Creates the scenario transactions and remembers the role of every output it made."""

    def __init__(self, rpc: JsonRpcClient) -> None:
        self.rpc = rpc
        self.roles: dict[str, list[str]] = {}  # txid -> role per output index
        self.names: dict[str, str] = {}  # txid -> scenario name
        self.locked: list[dict[str, Any]] = []

    def address(self, kind: str = _BECH32) -> str:
        return str(self.rpc.call("getnewaddress", "", kind))

    def coin(self, txid: str, vout: int) -> _Coin:
        tx = self.rpc.call("getrawtransaction", txid, True)
        out = tx["vout"][vout]
        return _Coin(txid, vout, _units(out["value"]), out["scriptPubKey"]["hex"], _script_address(out["scriptPubKey"]))

    def send(self, name: str, inputs: Sequence[_Coin], outputs: Sequence[_Out], *,
             keys: Sequence[str] = ()) -> str:
        """Create, sign (wallet, or ``keys`` with ``signrawtransactionwithkey``) and send one transaction."""
        prevtxs = [{"txid": c.txid, "vout": c.vout, "scriptPubKey": c.script, "amount": _coins(c.value)}
                   for c in inputs]
        if any(o.script is not None for o in outputs):
            scripts = [(o.script if o.script is not None else self._script_of(o), o.value) for o in outputs]
            unsigned = _serialize_unsigned(inputs, scripts)
        else:
            spec: list[dict[str, str]] = [
                {"data": o.data} if o.data is not None else {str(o.address): _coins(o.value)} for o in outputs
            ]
            unsigned = self.rpc.call("createrawtransaction",
                                     [{"txid": c.txid, "vout": c.vout} for c in inputs], spec)
        if keys:
            result = self.rpc.call("signrawtransactionwithkey", unsigned, list(keys), prevtxs)
        else:
            result = self.rpc.call("signrawtransactionwithwallet", unsigned, prevtxs)
        txid = str(self.rpc.call("sendrawtransaction", _signed(result, name)))
        self.roles[txid] = [o.role for o in outputs]
        self.names[txid] = name
        return txid

    def test_accept(self, inputs: Sequence[_Coin], outputs: Sequence[_Out]) -> str | None:
        """``None`` if the node would relay this transaction, else its reject reason."""
        scripts = [(o.script if o.script is not None else self._script_of(o), o.value) for o in outputs]
        unsigned = _serialize_unsigned(inputs, scripts)
        prevtxs = [{"txid": c.txid, "vout": c.vout, "scriptPubKey": c.script, "amount": _coins(c.value)}
                   for c in inputs]
        result = self.rpc.call("signrawtransactionwithwallet", unsigned, prevtxs)
        if not result.get("complete"):
            return f"cannot sign: {result.get('errors')}"
        verdict = self.rpc.call("testmempoolaccept", [result["hex"]])[0]
        return None if verdict.get("allowed") else str(verdict.get("reject-reason"))

    def _script_of(self, out: _Out) -> str:
        if out.data is not None:
            return (b"\x6a" + _push(bytes.fromhex(out.data))).hex()
        return str(self.rpc.call("validateaddress", out.address)["scriptPubKey"])

    def lock(self, txid: str, count: int) -> None:
        """Keep the wallet's own coin selection (``sendtoaddress`` here or in other tests) off our outputs."""
        outpoints = [{"txid": txid, "vout": i} for i in range(count)]
        self.rpc.call("lockunspent", False, outpoints)
        self.locked.extend(outpoints)

    def unlock(self) -> None:
        if self.locked:
            unspent = {(c["txid"], c["vout"]) for c in self.rpc.call("listlockunspent")}
            still = [o for o in self.locked if (o["txid"], o["vout"]) in unspent]
            if still:
                self.rpc.call("lockunspent", True, still)
            self.locked.clear()

    def describe(self, txids: Sequence[str]) -> dict[str, ScenarioTx]:
        """Read the (mined) transactions back from the node in batches."""
        txs = self.rpc.batch([Call("getrawtransaction", [t, True]) for t in txids])
        prev_ids = sorted({i["txid"] for tx in txs for i in tx["vin"] if "txid" in i})
        prevs = dict(zip(prev_ids, self.rpc.batch([Call("getrawtransaction", [t, True]) for t in prev_ids]),
                         strict=True))
        hashes = sorted({tx["blockhash"] for tx in txs})
        headers = dict(zip(hashes, self.rpc.batch([Call("getblockheader", [h]) for h in hashes]), strict=True))
        described: dict[str, ScenarioTx] = {}
        for txid, tx in zip(txids, txs, strict=True):
            roles = self.roles[txid]
            inputs = []
            for vin in tx["vin"]:
                prev = prevs[vin["txid"]]["vout"][vin["vout"]]
                inputs.append(TxIn(Outpoint(vin["txid"], int(vin["vout"])), _script_address(prev["scriptPubKey"]),
                                   _units(prev["value"])))
            outputs = tuple(
                TxOut(int(o["n"]), _units(o["value"]), str(o["scriptPubKey"]["type"]),
                      _script_address(o["scriptPubKey"]), str(o["scriptPubKey"]["hex"]), roles[int(o["n"])])
                for o in tx["vout"]
            )
            fee = sum(i.value for i in inputs) - sum(o.value for o in outputs)
            described[txid] = ScenarioTx(self.names[txid], txid, int(headers[tx["blockhash"]]["height"]),
                                         str(tx["blockhash"]), tuple(inputs), outputs, fee)
        return described


def _peel_payment(step: int) -> int:
    return (15 + 7 * step) * COIN // 100  # 0.15, 0.22, 0.29, ... LTC: small next to the remainder


def build_scenarios(rpc: JsonRpcClient) -> Scenarios:
    """Create, mine and describe every scenario transaction (see :class:`Scenarios`).

    ``rpc`` is a *wallet* client (``node.rpc(wallet="miner")``); the wallet is funded by mining
    when its confirmed balance is short. About 25 transactions in about 20 blocks.
    """
    b = _Builder(rpc)
    try:
        return _build(b)
    finally:
        b.unlock()


def _build(b: _Builder) -> Scenarios:
    rpc = b.rpc
    unsupported: dict[str, str] = {}

    # funding: one transaction from wallet coins to fresh addresses of mixed types
    consolidation_values = [70_000_000, 110_000_000, 45_000_000]
    coinjoin_values = [130_000_000, 170_000_000, 210_000_000, 115_000_000, 300_000_000]
    plan: list[tuple[str, int, str]] = [
        *((f"fund:consolidation:{i}", v, k) for i, (v, k) in
          enumerate(zip(consolidation_values, (_LEGACY, _P2SH_SEGWIT, _BECH32), strict=True))),
        ("fund:peel", 1_000_000_000, _BECH32),
        *((f"fund:coinjoin:{i}", v, k) for i, (v, k) in
          enumerate(zip(coinjoin_values, (_LEGACY, _BECH32, _P2SH_SEGWIT, _BECH32, _LEGACY), strict=True))),
        ("fund:p2sh", 200_000_000, _BECH32),
        ("fund:p2wsh", 200_000_000, _LEGACY),
        ("fund:op_return", 100_000_000, _BECH32),
        ("fund:p2pk", 100_000_000, _BECH32),
        ("fund:bare_multisig", 100_000_000, _BECH32),
        ("fund:p2tr", 100_000_000, _BECH32),
    ]
    needed = sum(v for _, v, _ in plan) + SCENARIO_FEE
    fund_wallet(rpc, 0, min_balance=needed + 2 * COIN)  # + the simple payment and its fee
    unspent, total = _take_coins(rpc, needed + 100_000)
    chosen = [_Coin(c["txid"], c["vout"], _units(c["amount"]), c["scriptPubKey"]) for c in unspent]
    outs = [_Out(role, value, b.address(kind)) for role, value, kind in plan]
    outs.append(_Out("change", total - needed, str(rpc.call("getrawchangeaddress", _BECH32))))
    funding = b.send("funding", chosen, outs)
    b.lock(funding, len(outs) - 1)
    _mine(rpc)
    fund = {role: b.coin(funding, i) for i, (role, _, _) in enumerate(plan)}
    created: list[str] = [funding]

    # a) a wallet payment: the wallet picks the coins and adds its own change
    payee = b.address(_BECH32)
    payment = str(rpc.call("sendtoaddress", payee, "1.25000000"))
    tx = rpc.call("getrawtransaction", payment, True)
    b.roles[payment] = ["payment" if _script_address(o["scriptPubKey"]) == payee else "change" for o in tx["vout"]]
    b.names[payment] = "payment"
    created.append(payment)
    _mine(rpc)

    # b) consolidation: 3 inputs from 3 distinct addresses -> 1 output
    sources = [fund[f"fund:consolidation:{i}"] for i in range(3)]
    consolidation = b.send("consolidation", sources, [
        _Out("consolidated", sum(c.value for c in sources) - SCENARIO_FEE, b.address(_BECH32))])
    created.append(consolidation)
    _mine(rpc)

    # c) peel chain: 6 steps of 1 input -> small payment + remainder, each spending the last remainder
    peel: list[str] = []
    current = fund["fund:peel"]
    for step in range(6):
        pay = _peel_payment(step)
        remainder = current.value - pay - SCENARIO_FEE
        remainder_address = b.address(_BECH32)
        outputs = [_Out("peel", pay, b.address(_LEGACY if step % 2 else _BECH32)),
                   _Out("remainder", remainder, remainder_address)]
        if step % 2:  # the remainder is not always the last output
            outputs.reverse()
        txid = b.send(f"peel_{step}", [current], outputs)
        peel.append(txid)
        vout = [o.role for o in outputs].index("remainder")
        current = _Coin(txid, vout, remainder, str(rpc.call("validateaddress", remainder_address)["scriptPubKey"]))
        _mine(rpc)
    created.extend(peel)

    # d) CoinJoin: 5 participants, 5 equal outputs + 5 change outputs of differing values
    denomination = COIN
    participants = [fund[f"fund:coinjoin:{i}"] for i in range(5)]
    share = SCENARIO_FEE // len(participants)
    mix = [_Out("mix", denomination, b.address(_BECH32)) for _ in participants]
    change = [_Out("change", c.value - denomination - share, b.address(_BECH32)) for c in participants]
    interleaved = [o for pair in zip(mix, change, strict=True) for o in pair]
    random.Random(7).shuffle(interleaved)
    coinjoin = b.send("coinjoin", participants, interleaved)
    created.append(coinjoin)
    _mine(rpc)

    # e) P2SH (2-of-3 legacy multisig) and P2WSH (2-of-3 bech32 multisig), each created then spent
    keys = [b.address(_LEGACY) for _ in range(3)]
    script_outputs: dict[str, str] = {}
    for role, kind in (("p2sh", _LEGACY), ("p2wsh", _BECH32)):
        multisig = rpc.call("addmultisigaddress", 2, keys, "", kind)["address"]
        source = fund[f"fund:{role}"]
        value = COIN
        txid = b.send(role, [source], [
            _Out(role, value, multisig), _Out("change", source.value - value - SCENARIO_FEE, b.address(_BECH32))])
        script_outputs[role] = txid
        b.lock(txid, 1)
    _mine(rpc)
    for role, txid in list(script_outputs.items()):
        coin = b.coin(txid, 0)
        spend = b.send(f"{role}_spend", [coin], [_Out("sweep", coin.value - SCENARIO_FEE, b.address(_BECH32))])
        script_outputs[f"{role}_spend"] = spend
    _mine(rpc)
    created.extend(script_outputs[k] for k in ("p2sh", "p2sh_spend", "p2wsh", "p2wsh_spend"))

    # f) OP_RETURN next to a payment and change
    source = fund["fund:op_return"]
    op_return = b.send("op_return", [source], [
        _Out("payment", 30_000_000, b.address(_BECH32)),
        _Out("data", 0, data=OP_RETURN_DATA),
        _Out("change", source.value - 30_000_000 - SCENARIO_FEE, b.address(_BECH32)),
    ])
    created.append(op_return)
    _mine(rpc)

    # g) hand-made scripts: P2PK, bare 1-of-2 multisig, P2TR (witness v1 to an x-only key)
    pubkeys = [str(rpc.call("getaddressinfo", b.address(_LEGACY))["pubkey"]) for _ in range(3)]
    exotic_scripts = {
        "p2pk": (_push(bytes.fromhex(pubkeys[0])) + b"\xac").hex(),
        "bare_multisig": (b"\x51" + _push(bytes.fromhex(pubkeys[1])) + _push(bytes.fromhex(pubkeys[2]))
                          + b"\x52\xae").hex(),
        "p2tr": (b"\x51" + _push(bytes.fromhex(pubkeys[0])[1:])).hex(),
    }
    expected_type = {"p2pk": "pubkey", "bare_multisig": "multisig", "p2tr": "witness_v1_taproot"}
    exotic: dict[str, str] = {}
    for role, script in exotic_scripts.items():
        decoded = rpc.call("decodescript", script).get("type")
        if decoded != expected_type[role]:
            unsupported[role] = f"decodescript calls the script {decoded!r}, not {expected_type[role]!r}"
            continue
        source = fund[f"fund:{role}"]
        value = 50_000_000
        outputs = [_Out(role, value, script=script),
                   _Out("change", source.value - value - SCENARIO_FEE, b.address(_BECH32))]
        reason = b.test_accept([source], outputs)
        if reason is not None:
            unsupported[role] = f"node refuses to relay a {role} output: {reason}"
            continue
        exotic[role] = b.send(role, [source], outputs)
        b.lock(exotic[role], 1)
    _mine(rpc)
    for role in ("p2pk", "bare_multisig"):
        if role not in exotic:
            continue
        coin = b.coin(exotic[role], 0)
        outputs = [_Out("sweep", coin.value - SCENARIO_FEE, b.address(_BECH32))]
        reason = b.test_accept([coin], outputs)
        if reason is not None:
            unsupported[f"{role}_spend"] = reason
            continue
        exotic[f"{role}_spend"] = b.send(f"{role}_spend", [coin], outputs)
    if "p2tr" in exotic:
        unsupported["p2tr_spend"] = (
            "the legacy (BDB) wallet of litecoind 0.21 has no 'bech32m' address type and cannot sign taproot "
            "inputs, so the P2TR output (made by hand to an x-only key) stays unspent")
    else:
        unsupported.setdefault("p2tr_spend", "no P2TR output was created")
    try:
        rpc.call("getnewaddress", "", "bech32m")
    except Exception as exc:  # noqa: BLE001 - any refusal means "not supported"; keep the node's words
        unsupported["bech32m_address"] = str(getattr(exc, "message", exc))
    _mine(rpc)
    created.extend(exotic.values())

    d = b.describe(created)

    def opt(role: str) -> ScenarioTx | None:
        return d[exotic[role]] if role in exotic else None

    return Scenarios(
        funding=d[funding],
        payment=d[payment],
        consolidation=d[consolidation],
        peel_chain=tuple(d[t] for t in peel),
        coinjoin=d[coinjoin],
        coinjoin_denomination=denomination,
        p2sh=d[script_outputs["p2sh"]],
        p2sh_spend=d[script_outputs["p2sh_spend"]],
        p2wsh=d[script_outputs["p2wsh"]],
        p2wsh_spend=d[script_outputs["p2wsh_spend"]],
        op_return=d[op_return],
        op_return_data=OP_RETURN_DATA,
        p2pk=opt("p2pk"),
        p2pk_spend=opt("p2pk_spend"),
        bare_multisig=opt("bare_multisig"),
        bare_multisig_spend=opt("bare_multisig_spend"),
        p2tr=opt("p2tr"),
        unsupported=unsupported,
    )


# -- the fast path -------------------------------------------------------------------------------
#: Value of each coin the payment pool starts with (0.05 LTC).
_POOL_COIN = 5_000_000
#: Smallest output make_payments creates (far above any dust limit).
_MIN_OUTPUT = 100_000
#: Fee rate of make_payments transactions, litoshi per vbyte (the relay minimum is 1).
_FEERATE = 10
_VSIZE_IN = {"pubkeyhash": 148, "witness_v0_keyhash": 68}
_MAX_OUTPUTS_PER_SPLIT = 2000  # ~70 kvB, under the 100 kvB standard limit


@dataclass(frozen=True, slots=True)
class _Key:
    address: str
    wif: str
    script: str
    script_type: str


def _key_pool(rpc: JsonRpcClient, n_keys: int) -> list[_Key]:
    """``n_keys`` fresh wallet keys, alternately P2PKH and P2WPKH, with their WIF private keys."""
    kinds = [_LEGACY if i % 2 else _BECH32 for i in range(n_keys)]
    addresses = [str(a) for a in rpc.batch([Call("getnewaddress", ["", k]) for k in kinds])]
    wifs = rpc.batch([Call("dumpprivkey", [a]) for a in addresses])
    infos = rpc.batch([Call("validateaddress", [a]) for a in addresses])
    return [_Key(a, str(w), str(i["scriptPubKey"]), "witness_v0_keyhash" if k == _BECH32 else "pubkeyhash")
            for a, w, i, k in zip(addresses, wifs, infos, kinds, strict=True)]


def make_payments(rpc: JsonRpcClient, n_tx: int, *, per_block: int = 500, n_keys: int | None = None,
                  seed: int = 0) -> list[str]:
    """Create and mine ``n_tx`` payment transactions fast; return their txids in creation order.

    ``rpc`` is a wallet client. ``n_keys`` wallet keys (default ``n_tx // 4``, between 8 and 200; half
    P2PKH, half P2WPKH; fetched once with ``getnewaddress``/``dumpprivkey``, about 5-10 ms per key
    because the legacy wallet writes every new key to disk) receive every output, so addresses are
    reused the way busy wallets reuse them. The wallet's coins are first split into a
    pool of 0.05 LTC coins on those keys (a few extra split transactions, not counted or returned);
    then each round builds up to ``per_block`` transactions that spend only confirmed pool coins
    (1–3 inputs, 2 outputs: a payment and change to two different keys, fee 10 litoshi/vbyte),
    creates, signs and sends them as three JSON-RPC batches, and mines one block. The shape is
    drawn from ``random.Random(seed)``.
    """
    if n_tx <= 0:
        return []
    rng = random.Random(seed)
    keys = _key_pool(rpc, max(n_keys if n_keys is not None else min(200, n_tx // 4), 8))
    by_script = {k.script: k for k in keys}
    target_pool = 2 * min(per_block, n_tx) + 16

    # split wallet coins into the starting pool: one output per coin, keys taken in turn
    fund_wallet(rpc, 0, min_balance=target_pool * _POOL_COIN + COIN)
    pool: list[_Coin] = []
    while len(pool) < target_pool:
        count = min(target_pool - len(pool), _MAX_OUTPUTS_PER_SPLIT)
        owners = [keys[(len(pool) + i) % len(keys)] for i in range(count)]
        fee_guess = _FEERATE * (100 + 34 * (count + 1) + 150 * 10)
        unspent, total = _take_coins(rpc, count * _POOL_COIN + fee_guess + _MIN_OUTPUT)
        split_coins = [_Coin(c["txid"], c["vout"], _units(c["amount"]), c["scriptPubKey"]) for c in unspent]
        fee = _FEERATE * (100 + 34 * (count + 1) + 150 * len(split_coins))
        change_script = str(rpc.call("validateaddress", rpc.call("getrawchangeaddress", _BECH32))["scriptPubKey"])
        split_outputs = [(k.script, _POOL_COIN) for k in owners] + [(change_script, total - count * _POOL_COIN - fee)]
        # createrawtransaction refuses a repeated address; the pool wants one, so serialize it here
        split = rpc.call("signrawtransactionwithwallet", _serialize_unsigned(split_coins, split_outputs))
        txid = str(rpc.call("sendrawtransaction", _signed(split, "pool split")))
        pool.extend(_Coin(txid, i, _POOL_COIN, k.script, k.address) for i, k in enumerate(owners))
    _mine(rpc)

    made: list[str] = []
    while len(made) < n_tx:
        rng.shuffle(pool)
        batch = min(per_block, n_tx - len(made))
        planned: list[tuple[list[_Coin], list[tuple[_Key, int]]]] = []
        while len(planned) < batch and pool:
            surplus = len(pool) - 2 * (batch - len(planned))
            weights = (1, 2, 4) if surplus > 0 else (4, 2, 1)
            want = rng.choices((1, 2, 3), weights=weights)[0]
            inputs = [pool.pop() for _ in range(min(want, len(pool)))]
            while sum(c.value for c in inputs) < 2 * _MIN_OUTPUT + 3 * 148 * _FEERATE and pool and len(inputs) < 3:
                inputs.append(pool.pop())
            total = sum(c.value for c in inputs)
            vsize = 11 + sum(_VSIZE_IN[by_script[c.script].script_type] for c in inputs) + 2 * 34
            spendable = total - vsize * _FEERATE
            if spendable < 2 * _MIN_OUTPUT:
                continue  # leave these small coins behind for good
            pay = max(_MIN_OUTPUT, min(spendable - _MIN_OUTPUT, spendable * rng.randint(10, 90) // 100))
            pay -= pay % 1000 if pay - pay % 1000 >= _MIN_OUTPUT else 0  # payments tend to be round
            payee, change_key = rng.sample(keys, 2)
            planned.append((inputs, [(payee, pay), (change_key, spendable - pay)]))
        if not planned:
            raise RuntimeError(f"make_payments ran out of coins after {len(made)} transactions")
        unsigned = rpc.batch([
            Call("createrawtransaction", [[{"txid": c.txid, "vout": c.vout} for c in inputs],
                                          [{k.address: _coins(v)} for k, v in outputs]])
            for inputs, outputs in planned
        ])
        signed = rpc.batch([
            Call("signrawtransactionwithkey", [
                hex_tx,
                sorted({by_script[c.script].wif for c in inputs}),
                [{"txid": c.txid, "vout": c.vout, "scriptPubKey": c.script, "amount": _coins(c.value)}
                 for c in inputs],
            ])
            for hex_tx, (inputs, _) in zip(unsigned, planned, strict=True)
        ])
        txids = [str(t) for t in rpc.batch([Call("sendrawtransaction", [_signed(s, "payment")]) for s in signed])]
        _mine(rpc)
        for txid, (_, outputs) in zip(txids, planned, strict=True):
            for index, (key, value) in enumerate(outputs):
                pool.append(_Coin(txid, index, value, key.script, key.address))
        made.extend(txids)
    return made
