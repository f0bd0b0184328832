# SPDX-License-Identifier: Apache-2.0
"""Generate the ``op-fixture`` case: a drug vendor's proceeds on real nodes, ingested and frozen as Parquet.

Usage::

    .venv/bin/python scripts/make_fixture_case.py [--out fixtures/op-fixture]

What it does (about a minute; nothing outside ``--out`` and a temporary directory is touched):

1. Starts ``litecoind -regtest -txindex`` and ``anvil`` (``testing/devnodes.py``) with their clocks
   set to March 2026, so block times tell the story in days, not seconds.
2. **Litecoin.** A miner funds four buyers and four CoinJoin participants (one setup transaction).
   The buyers pay the vendor's two payout addresses for drug sales (8 payments, 2 days); the vendor
   consolidates all 8 coins into one address; a peel chain of 6 one-input/two-output steps pays a
   supplier, Exchange Alpha deposit addresses and a courier, the change continuing; the remaining
   change joins a CoinJoin-shaped transaction with the four participants (5 equal 5 LTC outputs and
   5 change outputs; BlockSci's rule, checked with :func:`tracer.coinjoin.coinjoin_transactions`);
   the vendor's mixed 5 LTC goes to an Exchange Alpha deposit address. Every transaction is built
   with explicit inputs (``createrawtransaction``), each signer signing its own inputs with its own
   wallet, so no wallet coin selection mixes coins the story does not mean to mix.
3. **Ethereum.** A 6-decimal ERC-20 (``fixtures/contracts/TestToken``) is deployed; a buyer pays the
   vendor 1,250 fUSD and 0.8 ETH; the vendor forwards both through an intermediate address to an
   Exchange Alpha deposit address. The story's addresses are fresh keys derived from fixed labels
   (not anvil's pre-funded accounts), driven with ``anvil_impersonateAccount``; fees are paid the
   usual way.
4. Ingests both chains with the real CLI (``tracer ingest utxo`` / ``tracer ingest evm``, subprocesses
   with a throw-away ``TRACER_HOME``) from the first story block, reads the canonical frames back
   from the embedded store and writes ``frames/<chain>/{transactions,inputs,outputs,transfers}.parquet``
   (sorted by natural key, zstd, no statistics), ``frames/<chain>/coverage.json`` (the block heights the
   ingest loaded completely: a trace may call value there held) and ``frames/SHA256SUMS``.
5. Writes ``case.json`` (seeds: the vendor's payout addresses and Ethereum address),
   ``exchange-tagpack.yaml`` (GraphSense TagPack tagging Exchange Alpha's deposit addresses on both
   chains), ``story.json`` (roles → addresses, steps → txids and amounts, for tests) and ``STORY.md``
   (the narrative), all from what was actually created.

Addresses and txids differ on every regeneration; tests and docs read them from ``story.json`` and
``case.json``. Amounts (in base units) and the shape of the story do not change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

# the repository root: `testing` (development helpers) is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402
import yaml  # noqa: E402

from adapters.addresses import normalize_address  # noqa: E402
from adapters.jsonrpc import JsonRpcClient  # noqa: E402
from graph.embedded import EmbeddedStore  # noqa: E402
from testing import devcontracts as dc  # noqa: E402
from testing.devnodes import Anvil, LitecoinRegtest  # noqa: E402
from testing.regtest_workload import COIN, fund_wallet  # noqa: E402
from tracer.chains import default_registry  # noqa: E402
from tracer.coinjoin import coinjoin_transactions  # noqa: E402
from tracer.peel_chains import peel_chains  # noqa: E402
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, TRANSFERS, FrameSchema, conform  # noqa: E402
from tracer.tagpacks import parse_tagpack  # noqa: E402
from tracer.units import format_units, to_base_units  # noqa: E402

CASE = "op-fixture"
LTC = "ltc-regtest"
ETH = "eth-devnet"
EXCHANGE = "Exchange Alpha"
TOKEN_DECIMALS = 6
TOKEN_UNIT = 10**TOKEN_DECIMALS
WEI = 10**18
#: every Litecoin transaction of the story pays this fee (litoshi); the CoinJoin's is shared by its 5 inputs
FEE = 10_000
REPO = Path(__file__).resolve().parents[1]
FRAME_SCHEMAS: dict[str, FrameSchema] = {
    "transactions": TRANSACTIONS, "inputs": INPUTS, "outputs": OUTPUTS, "transfers": TRANSFERS,
}

_BECH32, _LEGACY, _P2SH_SEGWIT = "bech32", "legacy", "p2sh-segwit"


def _ts(text: str) -> int:
    """``"2026-03-02 10:00"`` (UTC) -> epoch seconds."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ltc(value: int) -> str:
    return f"{format_units(value, 8)} LTC"


def _rpc_amount(value: int) -> str:
    """Litoshi -> decimal text for the node (never a float)."""
    return f"{value // COIN}.{value % COIN:08d}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the Litecoin story -----------------------------------------------------------------------------
#: buyer -> [(payout address index 0/1, litoshi)] in two rounds of sales (round = list position)
SALES: dict[str, list[tuple[int, int]]] = {
    "buyer-1": [(0, 125_000_000), (1, 80_000_000)],
    "buyer-2": [(0, 210_000_000), (1, 45_000_000)],
    "buyer-3": [(1, 160_000_000), (0, 95_000_000)],
    "buyer-4": [(0, 300_000_000), (1, 35_000_000)],
}
#: what each buyer starts with (one coin from the miner)
BUYER_FUNDS = {"buyer-1": 250_000_000, "buyer-2": 300_000_000, "buyer-3": 300_000_000, "buyer-4": 400_000_000}
#: peel step -> (recipient role, litoshi peeled)
PEELS: list[tuple[str, int]] = [
    ("supplier", 120_000_000),
    ("exchange-deposit-1", 40_000_000),
    ("courier", 75_000_000),
    ("exchange-deposit-2", 55_000_000),
    ("exchange-deposit-3", 30_000_000),
    ("exchange-deposit-2", 25_000_000),
]
COINJOIN_DENOMINATION = 500_000_000
#: the four other CoinJoin participants' coins
PARTICIPANT_FUNDS = [530_000_000, 570_000_000, 610_000_000, 515_000_000]
SCHEDULE = {
    "maturity": _ts("2026-03-01 00:00"),
    "funding": _ts("2026-03-01 12:00"),
    "sales-1": _ts("2026-03-02 10:00"),
    "sales-2": _ts("2026-03-03 15:00"),
    "consolidation": _ts("2026-03-04 20:00"),
    "peel": _ts("2026-03-05 09:00"),  # + 8 h per step
    "coinjoin": _ts("2026-03-08 18:00"),
    "deposit": _ts("2026-03-09 11:00"),
}


@dataclass(frozen=True)
class Coin:
    txid: str
    vout: int
    value: int
    address: str
    script: str
    wallet: str


class LitecoinStory:
    """Builds the Litecoin leg on a fresh regtest node and records every transaction it made."""

    def __init__(self, node: LitecoinRegtest, stack: ExitStack) -> None:
        self.node = node
        self.stack = stack
        self.rpc = stack.enter_context(node.rpc())
        self.wallets: dict[str, JsonRpcClient] = {}
        self.roles: dict[str, Any] = {}
        self.txs: dict[str, dict[str, Any]] = {}  # txid -> what we know
        self.miner_address = ""

    # wallets and coins
    def wallet(self, name: str) -> JsonRpcClient:
        if name not in self.wallets:
            self.rpc.call("createwallet", name)
            self.wallets[name] = self.stack.enter_context(self.node.rpc(wallet=name))
        return self.wallets[name]

    def address(self, wallet: str, kind: str = _BECH32) -> str:
        return str(self.wallet(wallet).call("getnewaddress", "", kind))

    def coin(self, txid: str, vout: int, wallet: str) -> Coin:
        out = self.rpc.call("getrawtransaction", txid, True)["vout"][vout]
        spk = out["scriptPubKey"]
        address = spk.get("address") or (spk.get("addresses") or [None])[0]
        return Coin(txid, vout, to_base_units(out["value"], 8), str(address), str(spk["hex"]), wallet)

    def mine(self, at: int, blocks: int = 1) -> int:
        self.rpc.call("setmocktime", at)
        self.rpc.call("generatetoaddress", blocks, self.miner_address)
        return int(self.rpc.call("getblockcount"))

    def send(self, step: str, inputs: Sequence[Coin], outputs: Sequence[tuple[str, int]]) -> str:
        """Create a transaction spending exactly ``inputs``; each input's wallet signs it in turn."""
        unsigned = self.rpc.call(
            "createrawtransaction",
            [{"txid": c.txid, "vout": c.vout} for c in inputs],
            [{address: _rpc_amount(value)} for address, value in outputs],
        )
        prevtxs = [{"txid": c.txid, "vout": c.vout, "scriptPubKey": c.script, "amount": _rpc_amount(c.value)}
                   for c in inputs]
        hex_tx = unsigned
        result: dict[str, Any] = {}
        for signer in dict.fromkeys(c.wallet for c in inputs):
            result = self.wallet(signer).call("signrawtransactionwithwallet", hex_tx, prevtxs)
            hex_tx = result["hex"]
        if not result.get("complete"):
            raise RuntimeError(f"{step}: signing incomplete: {result.get('errors')}")
        txid = str(self.rpc.call("sendrawtransaction", hex_tx))
        self.txs[txid] = {"step": step}
        return txid

    # the story
    def build(self) -> dict[str, Any]:
        self.rpc.call("setmocktime", SCHEDULE["maturity"])
        miner = self.wallet("miner")
        self.miner_address = self.address("miner")
        needed = sum(BUYER_FUNDS.values()) + sum(PARTICIPANT_FUNDS) + 2 * FEE
        fund_wallet(miner, 101, min_balance=needed + COIN)
        roles = self.roles
        roles["vendor_payout"] = [self.address("vendor", _BECH32), self.address("vendor", _LEGACY)]
        roles["buyers"] = {b: self.address(b) for b in SALES}
        roles["participants"] = [self.address(f"participant-{i + 1}") for i in range(len(PARTICIPANT_FUNDS))]
        roles["supplier"] = self.address("supplier", _LEGACY)
        roles["courier"] = self.address("courier", _BECH32)
        roles["exchange_deposits"] = [self.address("exchange", k) for k in (_BECH32, _P2SH_SEGWIT, _LEGACY)]

        # setup: the miner funds the buyers and the other CoinJoin participants (one transaction)
        coins = [c for c in miner.call("listunspent", 1) if c.get("spendable")]
        coins.sort(key=lambda c: (-to_base_units(c["amount"], 8), c["txid"], c["vout"]))
        chosen: list[Coin] = []
        for c in coins:
            if sum(x.value for x in chosen) >= needed + COIN:
                break
            chosen.append(Coin(c["txid"], c["vout"], to_base_units(c["amount"], 8), c["address"],
                               c["scriptPubKey"], "miner"))
        plan = [(roles["buyers"][b], v) for b, v in BUYER_FUNDS.items()]
        plan += list(zip(roles["participants"], PARTICIPANT_FUNDS, strict=True))
        change = sum(c.value for c in chosen) - sum(v for _, v in plan) - FEE
        funding = self.send("funding", chosen, [*plan, (self.address("miner"), change)])
        self.mine(SCHEDULE["funding"])
        buyer_coin = {b: self.coin(funding, i, b) for i, b in enumerate(BUYER_FUNDS)}
        participant_coins = [self.coin(funding, len(BUYER_FUNDS) + i, f"participant-{i + 1}")
                             for i in range(len(PARTICIPANT_FUNDS))]

        # 1. drug sales: each buyer pays a vendor payout address twice, the change back to itself
        sales: list[dict[str, Any]] = []
        for round_, at in ((0, SCHEDULE["sales-1"]), (1, SCHEDULE["sales-2"])):
            for buyer, payments in SALES.items():
                payout, value = payments[round_]
                source = buyer_coin[buyer]
                to = roles["vendor_payout"][payout]
                change_address = self.address(buyer)
                txid = self.send("sale", [source], [(to, value), (change_address, source.value - value - FEE)])
                buyer_coin[buyer] = self.coin(txid, 1, buyer)
                sales.append({"txid": txid, "buyer": buyer, "from": source.address, "to": to,
                              "payout": payout, "vout": 0, "value": value, "fee": FEE})
            self.mine(at)

        # 2. consolidation: every coin on both payout addresses -> one vendor address
        vendor_coins = [self.coin(s["txid"], 0, "vendor") for s in sales]
        consolidated_to = self.address("vendor")
        total = sum(c.value for c in vendor_coins)
        consolidation = self.send("consolidation", vendor_coins, [(consolidated_to, total - FEE)])
        self.mine(SCHEDULE["consolidation"])
        current = self.coin(consolidation, 0, "vendor")

        # 3. peel chain: 1 input -> (peel, change); the change continues; the peel is output 0 or 1
        peel: list[dict[str, Any]] = []
        recipients = {"supplier": roles["supplier"], "courier": roles["courier"],
                      **{f"exchange-deposit-{i + 1}": a for i, a in enumerate(roles["exchange_deposits"])}}
        for step, (recipient, value) in enumerate(PEELS):
            change_address = self.address("vendor")
            rest = current.value - value - FEE
            outputs = [(recipients[recipient], value), (change_address, rest)]
            if step % 2:
                outputs.reverse()  # the change is not always the last output
            txid = self.send("peel", [current], outputs)
            change_vout = 1 if step % 2 == 0 else 0
            self.mine(SCHEDULE["peel"] + step * 8 * 3600)
            peel.append({"txid": txid, "step": step + 1, "input": current.address, "input_value": current.value,
                         "peel": {"role": recipient, "address": recipients[recipient], "vout": 1 - change_vout,
                                  "value": value},
                         "change": {"address": change_address, "vout": change_vout, "value": rest}, "fee": FEE})
            current = self.coin(txid, change_vout, "vendor")

        # 4. CoinJoin: the vendor's change and four participants; 5 x 5 LTC, 5 change outputs
        join_inputs = [current, *participant_coins]
        share = FEE // len(join_inputs)
        members = [("vendor", current)] + [(f"participant-{i + 1}", c) for i, c in enumerate(participant_coins)]
        outs: list[tuple[str, int, str, str]] = []  # address, value, owner, kind
        for owner, c in members:
            outs.append((self.address(owner), COINJOIN_DENOMINATION, owner, "mix"))
            outs.append((self.address(owner), c.value - COINJOIN_DENOMINATION - share, owner, "change"))
        random.Random(6).shuffle(outs)
        coinjoin = self.send("coinjoin", join_inputs, [(a, v) for a, v, _, _ in outs])
        self.mine(SCHEDULE["coinjoin"])
        mix_vout = next(i for i, o in enumerate(outs) if o[2] == "vendor" and o[3] == "mix")
        vendor_change_vout = next(i for i, o in enumerate(outs) if o[2] == "vendor" and o[3] == "change")

        # 5. the vendor's mixed coin -> an Exchange Alpha deposit address
        mixed = self.coin(coinjoin, mix_vout, "vendor")
        deposit_to = roles["exchange_deposits"][2]
        deposit = self.send("exchange-deposit", [mixed], [(deposit_to, mixed.value - FEE)])
        last = self.mine(SCHEDULE["deposit"])

        roles["vendor_consolidation"] = consolidated_to
        roles["vendor_peel_change"] = [p["change"]["address"] for p in peel]
        roles["vendor_coinjoin_mix"] = mixed.address
        roles["vendor_coinjoin_change"] = outs[vendor_change_vout][0]
        first = self._height(funding)
        story = {
            "chain": LTC,
            "first_block": first,
            "last_block": last,
            "roles": roles,
            "funding": {"txid": funding, "inputs": len(chosen),
                        "buyers": {b: {"vout": i, "value": v} for i, (b, v) in enumerate(BUYER_FUNDS.items())},
                        "participants": [{"vout": len(BUYER_FUNDS) + i, "value": v}
                                         for i, v in enumerate(PARTICIPANT_FUNDS)],
                        "fee": FEE},
            "sales": sales,
            "consolidation": {"txid": consolidation, "inputs": len(vendor_coins), "input_value": total,
                              "address": consolidated_to, "value": total - FEE, "fee": FEE},
            "peel_chain": peel,
            "coinjoin": {
                "txid": coinjoin, "denomination": COINJOIN_DENOMINATION, "participants": len(members),
                "inputs": len(join_inputs), "outputs": len(outs), "fee": share * len(join_inputs),
                "vendor_input": {"address": current.address, "value": current.value},
                "vendor_mix": {"vout": mix_vout, "address": mixed.address, "value": mixed.value},
                "vendor_change": {"vout": vendor_change_vout, "address": outs[vendor_change_vout][0],
                                  "value": outs[vendor_change_vout][1]},
                "other_inputs": [{"owner": f"participant-{i + 1}", "address": c.address, "value": c.value}
                                 for i, c in enumerate(participant_coins)],
            },
            "exchange_deposit": {"txid": deposit, "address": deposit_to, "value": mixed.value - FEE, "fee": FEE},
        }
        story["totals"] = _ltc_totals(story)
        for tx in self._all_txids(story):
            self.txs[tx]["block_height"] = self._height(tx)
        return story

    def _height(self, txid: str) -> int:
        block = self.rpc.call("getrawtransaction", txid, True)["blockhash"]
        return int(self.rpc.call("getblockheader", block)["height"])

    @staticmethod
    def _all_txids(story: dict[str, Any]) -> list[str]:
        return [story["funding"]["txid"], *(s["txid"] for s in story["sales"]), story["consolidation"]["txid"],
                *(p["txid"] for p in story["peel_chain"]), story["coinjoin"]["txid"],
                story["exchange_deposit"]["txid"]]


def _ltc_totals(story: dict[str, Any]) -> dict[str, Any]:
    sales = sum(s["value"] for s in story["sales"])
    per_payout = [sum(s["value"] for s in story["sales"] if s["payout"] == i) for i in (0, 1)]
    deposits: dict[str, int] = {a: 0 for a in story["roles"]["exchange_deposits"]}
    for p in story["peel_chain"]:
        if p["peel"]["role"].startswith("exchange-deposit"):
            deposits[p["peel"]["address"]] += p["peel"]["value"]
    deposits[story["exchange_deposit"]["address"]] += story["exchange_deposit"]["value"]
    peeled: dict[str, int] = {}
    for p in story["peel_chain"]:
        peeled[p["peel"]["role"]] = peeled.get(p["peel"]["role"], 0) + p["peel"]["value"]
    return {"sales": sales, "sales_per_payout_address": per_payout, "peeled_by_recipient": peeled,
            "peeled": sum(peeled.values()), "exchange_deposits": deposits,
            "exchange_total": sum(deposits.values())}


# -- the Ethereum story -----------------------------------------------------------------------------
ETH_SCHEDULE = {
    "genesis": _ts("2026-03-01 00:00"),
    "deploy": _ts("2026-03-01 09:00"),
    "fund-eth": _ts("2026-03-01 10:00"),
    "fund-token": _ts("2026-03-01 10:05"),
    "sale-token": _ts("2026-03-02 11:30"),
    "sale-eth": _ts("2026-03-02 11:40"),
    "vendor-token": _ts("2026-03-04 21:00"),
    "vendor-eth": _ts("2026-03-04 21:05"),
    "hop-eth": _ts("2026-03-06 08:00"),
    "hop-token": _ts("2026-03-06 08:10"),
}
TOKEN_SUPPLY = 1_000_000_000 * TOKEN_UNIT
BUYER_ETH = 2 * WEI
BUYER_TOKEN = 5_000 * TOKEN_UNIT
SALE_TOKEN = 1_250 * TOKEN_UNIT
SALE_ETH = 8 * WEI // 10
VENDOR_FORWARD_ETH = 75 * WEI // 100
HOP_FORWARD_ETH = 7 * WEI // 10


def _key_address(label: str) -> str:
    """A fresh account derived from a fixed label (keccak of ``op-fixture:<label>`` as private key)."""
    from eth_account import Account
    from eth_utils import keccak

    return str(Account.from_key(keccak(text=f"{CASE}:{label}")).address)


class EthereumStory:
    def __init__(self, node: Anvil, stack: ExitStack) -> None:
        self.rpc = stack.enter_context(node.rpc())
        self.steps: list[dict[str, Any]] = []

    def _tx(self, step: str, at: str, sender: str, to: str | None, *, value: int = 0, data: str | None = None,
            gas: int | None = None, what: dict[str, Any]) -> str:
        self.rpc.call("evm_setNextBlockTimestamp", ETH_SCHEDULE[at])
        txid = dc.send(self.rpc, sender, to, value=value, data=data, gas=gas)
        done = dc.receipt(self.rpc, txid)
        if int(done["status"], 16) != 1:
            raise RuntimeError(f"{step} failed in {txid}")
        gas_used, price = int(done["gasUsed"], 16), int(done["effectiveGasPrice"], 16)
        self.steps.append({"step": step, "txid": txid, "block_height": int(done["blockNumber"], 16),
                           "timestamp": ETH_SCHEDULE[at], "from": sender, "fee": gas_used * price, **what})
        return txid

    def _token(self, step: str, at: str, token: str, sender: str, to: str, value: int) -> str:
        return self._tx(step, at, sender, token, data=dc.encode_call("TestToken", "transfer", [to, value]),
                        what={"to": to, "asset": token, "value": value, "kind": "token"})

    def _eth(self, step: str, at: str, sender: str, to: str, value: int) -> str:
        return self._tx(step, at, sender, to, value=value, gas=21_000,
                        what={"to": to, "asset": "native", "value": value, "kind": "native"})

    def build(self) -> dict[str, Any]:
        issuer = dc.accounts(self.rpc)[0]
        roles = {"issuer": issuer, **{r: _key_address(r) for r in ("buyer", "vendor", "intermediate",
                                                                   "exchange-deposit")}}
        for role in ("buyer", "vendor", "intermediate"):
            self.rpc.call("anvil_impersonateAccount", roles[role])
        self.rpc.call("evm_setNextBlockTimestamp", ETH_SCHEDULE["deploy"])
        token, deploy_txid = dc.deploy_with_txid(self.rpc, "TestToken",
                                                 ["Fixture USD", "fUSD", TOKEN_DECIMALS, TOKEN_SUPPLY], sender=issuer)
        done = dc.receipt(self.rpc, deploy_txid)
        self.steps.append({"step": "deploy-token", "txid": deploy_txid, "block_height": int(done["blockNumber"], 16),
                           "timestamp": ETH_SCHEDULE["deploy"], "from": issuer, "to": token, "asset": token,
                           "value": TOKEN_SUPPLY, "kind": "token",
                           "fee": int(done["gasUsed"], 16) * int(done["effectiveGasPrice"], 16)})
        self._eth("fund-buyer-eth", "fund-eth", issuer, roles["buyer"], BUYER_ETH)
        self._token("fund-buyer-token", "fund-token", token, issuer, roles["buyer"], BUYER_TOKEN)
        self._token("sale-token", "sale-token", token, roles["buyer"], roles["vendor"], SALE_TOKEN)
        self._eth("sale-eth", "sale-eth", roles["buyer"], roles["vendor"], SALE_ETH)
        self._token("vendor-forward-token", "vendor-token", token, roles["vendor"], roles["intermediate"], SALE_TOKEN)
        self._eth("vendor-forward-eth", "vendor-eth", roles["vendor"], roles["intermediate"], VENDOR_FORWARD_ETH)
        self._eth("intermediate-deposit-eth", "hop-eth", roles["intermediate"], roles["exchange-deposit"],
                  HOP_FORWARD_ETH)
        self._token("intermediate-deposit-token", "hop-token", token, roles["intermediate"],
                    roles["exchange-deposit"], SALE_TOKEN)
        for role in ("buyer", "vendor", "intermediate"):
            self.rpc.call("anvil_stopImpersonatingAccount", roles[role])
        tip = int(self.rpc.call("eth_blockNumber"), 16)
        balances = {r: int(self.rpc.call("eth_getBalance", a, "latest"), 16) for r, a in roles.items()
                    if r != "issuer"}
        tokens = {r: int(dc.call(self.rpc, "TestToken", token, "balanceOf", [a])) for r, a in roles.items()
                  if r != "issuer"}
        return {
            "chain": ETH, "first_block": 0, "last_block": tip, "roles": roles,
            "token": {"address": token, "name": "Fixture USD", "symbol": "fUSD", "decimals": TOKEN_DECIMALS,
                      "supply": TOKEN_SUPPLY},
            "steps": self.steps,
            "final_balances": {"wei": balances, "token": tokens},
            "totals": {"sale_token": SALE_TOKEN, "sale_wei": SALE_ETH, "exchange_token": SALE_TOKEN,
                       "exchange_wei": HOP_FORWARD_ETH},
        }


# -- ingest with the real CLI and freeze the frames ---------------------------------------------------
def _tracer_exe() -> str:
    beside = Path(sys.executable).parent / "tracer"
    found = str(beside) if beside.exists() else shutil.which("tracer")
    if not found:
        raise RuntimeError("the tracer command is not installed (pip install -e .)")
    return found


@contextmanager
def _tracer_env(home: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACER_", "NEO4J_"))}
    env.update(TRACER_HOME=str(home), TRACER_ACTOR="fixture-generator@make_fixture_case",
               XDG_CONFIG_HOME=str(home / "xdg-config"))
    yield env


def _tracer(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([_tracer_exe(), *args, "--json"], env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"tracer {args[0]} {args[1]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


#: per chain, the token metadata cache the ingest wrote (``tokens-<chain>.json``), copied into frames/
TOKEN_FILES: dict[str, bytes] = {}
#: per chain, the block heights the ingest loaded completely (its checkpoint), as frames/<chain>/coverage.json
COVERAGE: dict[str, list[list[int]]] = {}


def ingest(home: Path, ltc_url: str, ltc_range: tuple[int, int], eth_url: str,
           eth_range: tuple[int, int]) -> dict[str, dict[str, pl.DataFrame]]:
    """Run ``tracer ingest utxo`` and ``tracer ingest evm`` into a throw-away case; return its frames."""
    with _tracer_env(home) as env:
        _tracer(env, "case", "create", CASE, "--description", "fixture generation")
        _tracer(env, "ingest", "utxo", "--chain", LTC, "--node", ltc_url, "--from", str(ltc_range[0]),
                "--to", str(ltc_range[1]), "--case", CASE)
        evm = _tracer(env, "ingest", "evm", "--chain", ETH, "--node", eth_url, "--from", str(eth_range[0]),
                      "--to", str(eth_range[1]), "--case", CASE, "--check-balances")
    balance_check = evm.get("balance_check") or {}
    if balance_check.get("mismatches") or not balance_check.get("addresses"):
        raise AssertionError(f"ingested Ethereum balances do not match eth_getBalance: {balance_check}")
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    # token metadata (symbol, decimals) the EVM ingest cached next to the store travels with the frames
    tokens = home / "cases" / CASE / "graph.lbug.ingest" / f"tokens-{ETH}.json"
    TOKEN_FILES.clear()
    if tokens.is_file():
        TOKEN_FILES[ETH] = tokens.read_bytes()
    COVERAGE.clear()
    for chain in (LTC, ETH):  # a block-range ingest holds every transaction of every block it loaded
        checkpoint = json.loads((home / "cases" / CASE / "graph.lbug.ingest" / f"{chain}.json").read_text())
        COVERAGE[chain] = [list(interval) for interval in checkpoint["done"]]
    with EmbeddedStore.open(home / "cases" / CASE / "graph.lbug", read_only=True) as store:
        for chain in (LTC, ETH):
            read = store.read_frames(chain)
            frames[chain] = {name: conform(getattr(read, name), schema).sort(list(schema.key), nulls_last=True)
                             for name, schema in FRAME_SCHEMAS.items()}
    return frames


def write_frames(out: Path, frames: dict[str, dict[str, pl.DataFrame]]) -> None:
    root = out / "frames"
    if root.exists():
        shutil.rmtree(root)
    sums: list[str] = []
    for chain, by_name in frames.items():
        (root / chain).mkdir(parents=True)
        for name, frame in by_name.items():
            path = root / chain / f"{name}.parquet"
            frame.write_parquet(path, compression="zstd", statistics=False)
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {chain}/{name}.parquet")
        if chain in TOKEN_FILES:
            path = root / chain / "tokens.json"
            path.write_bytes(TOKEN_FILES[chain])
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {chain}/tokens.json")
        if chain in COVERAGE:
            path = root / chain / "coverage.json"
            path.write_text(json.dumps({"chain": chain, "complete_blocks": COVERAGE[chain]}, indent=1,
                                       sort_keys=True) + "\n")
            sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {chain}/coverage.json")
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")


# -- checks on what was ingested ---------------------------------------------------------------------
def check(story: dict[str, Any], frames: dict[str, dict[str, pl.DataFrame]]) -> None:
    """Fail loudly if the frames do not show the story the way the tracer will read it."""
    ltc, f = story["ltc"], frames[LTC]
    found = coinjoin_transactions(f["inputs"], f["outputs"])
    if ltc["coinjoin"]["txid"] not in found["txid"].to_list():
        raise AssertionError(f"the CoinJoin {ltc['coinjoin']['txid']} is not detected: {found.rows()}")
    n_out, n_in = ltc["coinjoin"]["outputs"], ltc["coinjoin"]["inputs"]
    if not (n_in >= 2 and n_out >= 3 and (n_out + 1) // 2 == ltc["coinjoin"]["participants"] <= n_in):
        raise AssertionError("the CoinJoin does not meet BlockSci's rule")
    chains = peel_chains(f["transactions"], f["inputs"], f["outputs"])
    peel_txids = [p["txid"] for p in ltc["peel_chain"]]
    if peel_txids not in chains["txids"].to_list():
        raise AssertionError(f"the peel chain is not detected as one chain: {chains.rows()}")
    seeds = set(ltc["roles"]["vendor_payout"])
    at_seeds = f["outputs"].filter(pl.col("address").is_in(list(seeds)))["value"].sum()
    if at_seeds != ltc["totals"]["sales"]:
        raise AssertionError(f"seed outputs hold {at_seeds}, the sales were {ltc['totals']['sales']}")
    eth, t = story["eth"], frames[ETH]["transfers"]
    token_in = t.filter((pl.col("kind") == "token") & (pl.col("to_address") == eth["roles"]["exchange-deposit"]))
    if int(token_in["value"].sum()) != eth["totals"]["exchange_token"]:
        raise AssertionError(f"token transfers to the deposit address: {token_in.rows()}")


# -- documents -----------------------------------------------------------------------------------
def case_document(story: dict[str, Any]) -> dict[str, Any]:
    ltc, eth = story["ltc"], story["eth"]
    payout = ltc["roles"]["vendor_payout"]
    per = ltc["totals"]["sales_per_payout_address"]
    return {
        "case": CASE,
        "description": (
            "Proceeds of drug sales (fixture): a darknet vendor's two Litecoin payout addresses receive 8 "
            "payments, which are consolidated, peeled in 6 steps, mixed in a CoinJoin and deposited at "
            f"{EXCHANGE}; on Ethereum the vendor is paid in a 6-decimal token and ETH and forwards both "
            f"through an intermediate address to an {EXCHANGE} deposit address. Generated on regtest/anvil "
            "by scripts/make_fixture_case.py; see STORY.md."
        ),
        "seeds": [
            {"chain": LTC, "address": payout[0],
             "label": f"vendor payout address 1 ({_ltc(per[0])} from buyers)"},
            {"chain": LTC, "address": payout[1],
             "label": f"vendor payout address 2 ({_ltc(per[1])} from buyers)"},
            {"chain": ETH, "address": eth["roles"]["vendor"],
             "label": "vendor Ethereum address (paid in fUSD and ETH)"},
        ],
    }


def tagpack_document(story: dict[str, Any]) -> str:
    lastmod = datetime.fromtimestamp(SCHEDULE["deposit"], UTC).date().isoformat()
    header = {
        "title": f"{EXCHANGE} deposit addresses (op-fixture)",
        "creator": "scripts/make_fixture_case.py",
        "description": f"Deposit addresses of the fictional exchange {EXCHANGE} in the op-fixture regtest case.",
        "label": EXCHANGE,
        "category": "exchange",
        "source": "fixtures/op-fixture/STORY.md",
        "confidence": "service_data",
        "lastmod": lastmod,
        "is_public": True,
    }
    tags = [{"address": a, "currency": LTC} for a in story["ltc"]["roles"]["exchange_deposits"]]
    tags.append({"address": story["eth"]["roles"]["exchange-deposit"], "currency": ETH})
    text = "# Generated by scripts/make_fixture_case.py; regenerate, do not edit.\n"
    text += yaml.safe_dump(header, sort_keys=False, allow_unicode=True)
    text += yaml.safe_dump({"tags": tags}, sort_keys=False)
    registry = default_registry()
    parsed = parse_tagpack(text, "exchange-tagpack.yaml", registry,
                           normalize=lambda chain, a: normalize_address(chain, a))
    if parsed.rows != len(tags):
        raise AssertionError(f"the TagPack parses to {parsed.rows} tags, not {len(tags)}")
    return text


def _title(role: str) -> str:
    """``exchange-deposit-2`` -> ``Exchange Alpha deposit address 2``; ``courier`` -> ``the courier``."""
    if role.startswith("exchange-deposit-"):
        return f"{EXCHANGE} deposit address {role.rsplit('-', 1)[1]}"
    return f"the {role}"


def story_markdown(story: dict[str, Any], heights: dict[str, int], times: dict[int, int]) -> str:
    ltc, eth = story["ltc"], story["eth"]
    roles = ltc["roles"]
    seeds = roles["vendor_payout"]

    def h(txid: str) -> str:
        height = heights[txid]
        return f"{height} ({_when(times[height])})"

    lines = [
        "# op-fixture: the story",
        "",
        "<!-- Generated by scripts/make_fixture_case.py from what it created; regenerate, do not edit. -->",
        "",
        "A darknet drug vendor is paid in Litecoin and Ethereum and moves the proceeds to an exchange.",
        f"Everything below happened on a private `litecoind -regtest` ({LTC}) and `anvil` ({ETH}) chain;",
        "amounts are exact (base units: litoshi, wei, token units; 1 LTC = 100,000,000 litoshi;",
        f"the token fUSD has {TOKEN_DECIMALS} decimals). Block times were set by the generator.",
        "",
        "## Litecoin",
        "",
        "### Who is who",
        "",
        "| role | address |",
        "|---|---|",
        f"| vendor payout address 1 (seed) | `{seeds[0]}` |",
        f"| vendor payout address 2 (seed) | `{seeds[1]}` |",
        f"| vendor consolidation address | `{roles['vendor_consolidation']}` |",
        *(f"| vendor peel-chain change {i + 1} | `{a}` |" for i, a in enumerate(roles["vendor_peel_change"])),
        f"| vendor CoinJoin output (mixed) | `{roles['vendor_coinjoin_mix']}` |",
        f"| vendor CoinJoin change | `{roles['vendor_coinjoin_change']}` |",
        *(f"| {b} | `{a}` (first address) |" for b, a in roles["buyers"].items()),
        f"| supplier | `{roles['supplier']}` |",
        f"| courier | `{roles['courier']}` |",
        *(f"| {EXCHANGE} deposit address {i + 1} (tagged) | `{a}` |"
          for i, a in enumerate(roles["exchange_deposits"])),
        *(f"| CoinJoin participant {i + 1} | `{a}` |" for i, a in enumerate(roles["participants"])),
        "",
        "### What happened",
        "",
        "| step | txid | block (time) | what moved |",
        "|---|---|---|---|",
    ]
    f = ltc["funding"]
    lines.append(f"| 0. setup | `{f['txid']}` | {h(f['txid'])} | the miner funds the buyers "
                 f"({', '.join(f'{b} {_ltc(v)}' for b, v in BUYER_FUNDS.items())}) and the 4 other CoinJoin "
                 f"participants ({', '.join(_ltc(v) for v in PARTICIPANT_FUNDS)}); fee {f['fee']:,} |")
    for i, s in enumerate(ltc["sales"]):
        lines.append(f"| 1. sale {i + 1} | `{s['txid']}` | {h(s['txid'])} | {s['buyer']} pays payout address "
                     f"{s['payout'] + 1}: {s['value']:,} litoshi ({_ltc(s['value'])}), change to itself, "
                     f"fee {s['fee']:,} |")
    c = ltc["consolidation"]
    lines.append(f"| 2. consolidation | `{c['txid']}` | {h(c['txid'])} | all {c['inputs']} sale outputs "
                 f"({c['input_value']:,} litoshi) from both payout addresses to one vendor address: "
                 f"{c['value']:,} litoshi ({_ltc(c['value'])}), fee {c['fee']:,} |")
    for p in ltc["peel_chain"]:
        lines.append(f"| 3. peel {p['step']} | `{p['txid']}` | {h(p['txid'])} | {p['input_value']:,} in; "
                     f"peel {p['peel']['value']:,} ({_ltc(p['peel']['value'])}) to {_title(p['peel']['role'])} "
                     f"(output {p['peel']['vout']}); change {p['change']['value']:,} continues "
                     f"(output {p['change']['vout']}); fee {p['fee']:,} |")
    j = ltc["coinjoin"]
    lines.append(f"| 4. CoinJoin | `{j['txid']}` | {h(j['txid'])} | {j['inputs']} inputs (the vendor's "
                 f"{j['vendor_input']['value']:,} and 4 others), {j['outputs']} outputs: {j['participants']} x "
                 f"{j['denomination']:,} ({_ltc(j['denomination'])}) plus one change each; the vendor's mixed "
                 f"coin is output {j['vendor_mix']['vout']}, its change ({j['vendor_change']['value']:,}) "
                 f"output {j['vendor_change']['vout']} (stays unspent); fee {j['fee']:,} shared |")
    d = ltc["exchange_deposit"]
    lines.append(f"| 5. deposit | `{d['txid']}` | {h(d['txid'])} | the vendor's mixed coin to {EXCHANGE} "
                 f"deposit address 3: {d['value']:,} litoshi ({_ltc(d['value'])}), fee {d['fee']:,} |")
    t = ltc["totals"]
    lines += [
        "",
        "### Where the money went",
        "",
        f"- Buyers paid the vendor {t['sales']:,} litoshi ({_ltc(t['sales'])}): "
        f"{t['sales_per_payout_address'][0]:,} to payout address 1 and {t['sales_per_payout_address'][1]:,} "
        "to payout address 2.",
        f"- Peeled off in the chain: {t['peeled']:,} litoshi: "
        + ", ".join(f"{_title(r)} {v:,}" for r, v in t["peeled_by_recipient"].items()) + ".",
        f"- {EXCHANGE} received {t['exchange_total']:,} litoshi ({_ltc(t['exchange_total'])}) in all: "
        + ", ".join(f"deposit address {i + 1} {t['exchange_deposits'][a]:,}"
                    for i, a in enumerate(roles["exchange_deposits"])) + ".",
        f"- Fees: each of the {len(heights)} story transactions paid {FEE:,} litoshi (the CoinJoin's shared by "
        "its 5 inputs; the buyers paid the sales' fees from their own coins).",
        f"- Still with the vendor: the CoinJoin change, {j['vendor_change']['value']:,} litoshi.",
        "",
        f"Blocks {ltc['first_block']}..{ltc['last_block']} hold the story (the frames start there; earlier blocks "
        "are the miner's coinbases and their maturity).",
        "",
        "## Ethereum",
        "",
        "| role | address |",
        "|---|---|",
        *(f"| {r}{' (seed)' if r == 'vendor' else ''}{' (tagged)' if r == 'exchange-deposit' else ''} | "
          f"`{a}` |" for r, a in eth["roles"].items()),
        f"| token fUSD ({TOKEN_DECIMALS} decimals) | `{eth['token']['address']}` |",
        "",
        "| step | txid | block (time) | what moved | fee (wei) |",
        "|---|---|---|---|---|",
    ]
    for s in eth["steps"]:
        if s["kind"] == "token":
            amount = f"{s['value']:,} fUSD units ({format_units(s['value'], TOKEN_DECIMALS)} fUSD)"
        else:
            amount = f"{s['value']:,} wei ({format_units(s['value'], 18)} ETH)"
        target = next((r for r, a in eth["roles"].items() if a == s["to"]), "token contract")
        source = next((r for r, a in eth["roles"].items() if a == s["from"]), s["from"])
        what = f"{source} deploys fUSD, {amount} minted to itself" if s["step"] == "deploy-token" else \
            f"{source} -> {target}: {amount}"
        lines.append(f"| {s['step']} | `{s['txid']}` | {s['block_height']} ({_when(s['timestamp'])}) | {what} | "
                     f"{s['fee']:,} |")
    wei, tok = eth["final_balances"]["wei"], eth["final_balances"]["token"]
    lines += [
        "",
        f"{EXCHANGE}'s deposit address ends with {tok['exchange-deposit']:,} fUSD units and "
        f"{wei['exchange-deposit']:,} wei; the vendor keeps {wei['vendor']:,} wei (0.8 ETH received, 0.75 ETH "
        f"forwarded, the rest less fees), the intermediate {wei['intermediate']:,} wei.",
        "",
        "## Files",
        "",
        "- `case.json`: the case and its seeds; `exchange-tagpack.yaml`: the TagPack tagging the deposit addresses;",
        "- `story.json`: all of the above as data (tests read it); `frames/`: the canonical frames of both chains as",
        "  ingested by `tracer ingest utxo` / `tracer ingest evm`, with `frames/SHA256SUMS`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "fixtures" / CASE, help="Where to write the case.")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out: Path = args.out
    work = Path(tempfile.mkdtemp(prefix="tracer-fixture-"))
    try:
        with ExitStack() as nodes:
            ltc_node = LitecoinRegtest.start(work / "litecoind")
            nodes.callback(ltc_node.stop)
            anvil = Anvil.start(extra_args=("--timestamp", str(ETH_SCHEDULE["genesis"])))
            nodes.callback(anvil.stop)
            with ExitStack() as clients:  # closed before the nodes stop (keep-alive connections)
                _log("litecoin: building the story ...")
                ltc = LitecoinStory(ltc_node, clients)
                ltc_story = ltc.build()
                heights = {t: v["block_height"] for t, v in ltc.txs.items() if "block_height" in v}
                times = {h: int(ltc.rpc.call("getblockheader", ltc.rpc.call("getblockhash", h))["time"])
                         for h in range(ltc_story["first_block"], ltc_story["last_block"] + 1)}
                _log("ethereum: building the story ...")
                eth_story = EthereumStory(anvil, clients).build()
            _log("ingesting both chains with the tracer CLI ...")
            frames = ingest(work / "home", ltc_node.url, (ltc_story["first_block"], ltc_story["last_block"]),
                            anvil.url, (eth_story["first_block"], eth_story["last_block"]))
        story = {"case": CASE, "generator": "scripts/make_fixture_case.py", "ltc": ltc_story, "eth": eth_story}
        check(story, frames)
        out.mkdir(parents=True, exist_ok=True)
        write_frames(out, frames)
        (out / "story.json").write_text(json.dumps(story, indent=2, default=_json_default) + "\n")
        (out / "case.json").write_text(json.dumps(case_document(story), indent=2) + "\n")
        (out / "exchange-tagpack.yaml").write_text(tagpack_document(story))
        (out / "STORY.md").write_text(story_markdown(story, heights, times))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sizes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    _log(f"wrote {out} ({sizes:,} bytes) in {time.monotonic() - started:.1f}s")
    return 0


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


if __name__ == "__main__":
    raise SystemExit(main())
