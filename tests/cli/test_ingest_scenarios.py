# SPDX-License-Identifier: Apache-2.0
"""Every transaction shape the tracer must understand, ingested from a real node and read back exactly.

:func:`testing.regtest_workload.build_scenarios` creates, on the session ``litecoind``, a
payment with change, a consolidation, a 6-step peel chain, a CoinJoin-shaped transaction, P2SH
and P2WSH outputs and their spends, an OP_RETURN, P2PK and bare-multisig outputs and their spends
and a P2TR output. The blocks holding them are ingested once (module fixture) with
:func:`jobs.utxo_ingest.ingest_block_range` into an :class:`~graph.embedded.EmbeddedStore`, in
small batches so that previous outputs are resolved all three ways (same batch, the store, the
node). Each test then reads one shape back through the store's public reads
(``transactions``, ``read_frames``, ``spending``) and compares the canonical rows with what the
workload reported from the node: output index, address, script type and value in litoshi; input
links with the spent output's address and value; fee = inputs - outputs.

The session node is shared with other modules: this module only adds blocks and transactions.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.bitcoin.node import BitcoinNode
from graph.embedded import EmbeddedStore
from jobs.checkpoints import Checkpoint
from jobs.utxo_ingest import IngestSummary, ingest_block_range
from testing.devnodes import LitecoinRegtest
from testing.regtest_workload import COIN, SCENARIO_FEE, Scenarios, ScenarioTx, TxOut, build_scenarios
from tracer.chains import default_registry
from tracer.schema import FrameSet

CHAIN = "ltc-regtest"
#: small batches: the ~20 scenario blocks span several, so some inputs are resolved from the store
BATCH_BLOCKS = 4

#: Core's ``scriptPubKey.type`` -> the canonical ``script_type`` the store must hold (written out
#: here rather than imported from the mapper, so the test states the contract on its own)
CANONICAL_SCRIPT_TYPE = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "p2wpkh",
    "witness_v0_scripthash": "p2wsh",
    "witness_v1_taproot": "p2tr",
    "nulldata": "nulldata",
    "multisig": "multisig",
    "pubkey": "p2pk",
}


@dataclass(frozen=True)
class Ingested:
    """The scenarios, the store they were ingested into, and what the ingest reported."""

    scenarios: Scenarios
    store: EmbeddedStore
    summary: IngestSummary
    frames: FrameSet  # ``store.read_frames(CHAIN)`` after the ingest
    from_height: int
    to_height: int

    def stored(self, tx: ScenarioTx) -> FrameSet:
        """The canonical rows of one transaction, read back with ``store.transactions``."""
        return self.store.transactions(CHAIN, [tx.txid])

    def spenders(self, txid: str, index: int) -> FrameSet:
        """The stored transactions spending ``txid:index`` (``store.spending``)."""
        outpoint = pl.DataFrame({"txid": [txid], "index": [index]}, schema={"txid": pl.String, "index": pl.Int64})
        return self.store.spending(CHAIN, outpoint)


@pytest.fixture(scope="module")
def ingested(litecoind: LitecoinRegtest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    """Build the scenarios on the session node and ingest exactly the blocks that hold them."""
    with litecoind.rpc(wallet="miner") as wallet:
        scenarios = build_scenarios(wallet)
    low, high = scenarios.block_heights
    directory: Path = tmp_path_factory.mktemp("scenario-store")
    chain = default_registry().get(CHAIN)
    with BitcoinNode(litecoind.url, chain) as node, EmbeddedStore.open(directory / "graph.lbug") as store:
        checkpoint = Checkpoint(directory / "checkpoint.json", CHAIN)
        summary = ingest_block_range(node, store, checkpoint, low, high, batch_blocks=BATCH_BLOCKS)
        yield Ingested(scenarios, store, summary, store.read_frames(CHAIN), low, high)


# -- helpers ---------------------------------------------------------------------------------------
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def p2pkh_address(pubkey_hex: str, version: int = 0x6F) -> str:
    """Base58Check(version || hash160(pubkey)): the address explorers show for a P2PK output."""
    payload = bytes([version]) + hashlib.new("ripemd160", hashlib.sha256(bytes.fromhex(pubkey_hex)).digest()).digest()
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _BASE58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def p2pk_pubkey(out: TxOut) -> str:
    """The public key in a ``<push 33|65> <pubkey> OP_CHECKSIG`` script."""
    assert out.script_type == "pubkey" and out.script_hex.endswith("ac")
    length = int(out.script_hex[:2], 16)
    assert out.script_hex == out.script_hex[:2] + out.script_hex[2 : 2 + 2 * length] + "ac"
    return out.script_hex[2 : 2 + 2 * length]


def expected_address(out: TxOut) -> str | None:
    """The canonical address of an output: the node's, except P2PK, which gets its key's P2PKH address
    (litecoind 0.21 lists none for ``pubkey`` scripts, so the workload reports ``None`` there)."""
    return p2pkh_address(p2pk_pubkey(out)) if out.script_type == "pubkey" else out.address


def expected_output_rows(tx: ScenarioTx) -> list[dict[str, Any]]:
    """The canonical ``outputs`` rows of ``tx`` as the node described it."""
    return [
        {"index": o.index, "address": expected_address(o), "script_type": CANONICAL_SCRIPT_TYPE[o.script_type],
         "value": o.value}
        for o in tx.outputs
    ]


def output_rows(stored: FrameSet) -> list[dict[str, Any]]:
    return stored.outputs.sort("index").select("index", "address", "script_type", "value").to_dicts()


def input_rows(stored: FrameSet) -> list[dict[str, Any]]:
    return stored.inputs.sort("index").select("index", "prev_txid", "prev_index", "address", "value").to_dicts()


def expected_input_rows(tx: ScenarioTx, scenarios: Scenarios) -> list[dict[str, Any]]:
    """The canonical ``inputs`` rows: each input carries the address and value of the output it spends."""
    made = scenarios.by_txid()
    rows = []
    for i, txin in enumerate(tx.inputs):
        spent = made.get(txin.spends.txid)
        address = expected_address(spent.outputs[txin.spends.index]) if spent else txin.address
        rows.append({"index": i, "prev_txid": txin.spends.txid, "prev_index": txin.spends.index, "address": address,
                     "value": txin.value})
    return rows


def assert_stored_exactly(ingested: Ingested, tx: ScenarioTx) -> FrameSet:
    """The transaction, its outputs and its inputs are stored exactly as the node has them; returns its rows.

    Also checks that each input's address and value are those of the stored output it spends
    (when that output's transaction is in the ingested range) and that the fee is inputs - outputs.
    """
    stored = ingested.stored(tx)
    assert stored.transactions.height == 1, tx.name
    row = stored.transactions.row(0, named=True)
    assert (row["chain"], row["txid"], row["block_height"], row["block_hash"], row["is_coinbase"]) == (
        CHAIN, tx.txid, tx.block_height, tx.block_hash, False), tx.name
    assert row["position"] >= 1, tx.name  # the coinbase is at 0
    assert output_rows(stored) == expected_output_rows(tx), tx.name
    assert input_rows(stored) == expected_input_rows(tx, ingested.scenarios), tx.name
    # every input links to the stored output it spends, with that output's address and value
    for row_in in input_rows(stored):
        spent = ingested.frames.outputs.filter(
            (pl.col("txid") == row_in["prev_txid"]) & (pl.col("index") == row_in["prev_index"])
        )
        if row_in["prev_txid"] in ingested.scenarios.by_txid():
            assert spent.height == 1, f"{tx.name}: spent output {row_in['prev_txid']}:{row_in['prev_index']} missing"
        if spent.height:
            assert (spent["address"][0], spent["value"][0]) == (row_in["address"], row_in["value"]), tx.name
    fee = stored.inputs["value"].sum() - stored.outputs["value"].sum()
    assert row["fee"] == Decimal(fee) == Decimal(tx.fee), tx.name
    return stored


def the_output(stored: FrameSet, index: int) -> dict[str, Any]:
    rows = stored.outputs.filter(pl.col("index") == index).to_dicts()
    assert len(rows) == 1
    return rows[0]


def required(tx: ScenarioTx | None, scenarios: Scenarios, feature: str) -> ScenarioTx:
    """A scenario the node is expected to support (fail, not skip, if it did not make it)."""
    assert tx is not None, f"{feature} was not created: {scenarios.unsupported.get(feature)}"
    return tx


# -- the ingest as a whole -------------------------------------------------------------------------
def test_the_scenario_blocks_land_whole_with_every_prevout_resolved_once(ingested: Ingested) -> None:
    summary, frames = ingested.summary, ingested.frames
    low, high = ingested.from_height, ingested.to_height
    assert (summary.blocks_loaded, summary.blocks_already_done) == (high - low + 1, 0)
    assert set(ingested.scenarios.by_txid()) <= set(frames.transactions["txid"])
    assert frames.transactions["txid"].is_unique().all()
    assert (summary.transactions, summary.inputs, summary.outputs) == (
        frames.transactions.height, frames.inputs.height, frames.outputs.height)
    # where each previous output came from follows from where its transaction is: below the range ->
    # the node; in an earlier batch -> the store; in the same batch -> the batch itself (not counted)
    spends = frames.inputs.filter(pl.col("prev_txid").is_not_null())
    made_at = frames.transactions.select(pl.col("txid").alias("prev_txid"), pl.col("block_height").alias("made_at"))
    spent_at = frames.transactions.select("txid", pl.col("block_height").alias("spent_at"))
    origin = spends.join(made_at, on="prev_txid", how="left").join(spent_at, on="txid", how="left")
    assert origin["spent_at"].null_count() == 0
    from_node = origin.filter(pl.col("made_at").is_null()).height
    batch_of = ((pl.col("made_at") - low) // BATCH_BLOCKS, (pl.col("spent_at") - low) // BATCH_BLOCKS)
    from_store = origin.filter(pl.col("made_at").is_not_null() & (batch_of[0] < batch_of[1])).height
    assert origin.filter(pl.col("made_at").is_not_null() & (batch_of[0] > batch_of[1])).height == 0
    assert (summary.prevouts_from_node, summary.prevouts_from_store) == (from_node, from_store)
    assert from_node > 0  # the funding transaction spends coinbases mined below the range
    assert from_store > 0  # the range spans several batches and later scenarios spend earlier ones
    # every input whose output is in the range is linked to it exactly
    linked = spends.join(frames.outputs, left_on=["prev_txid", "prev_index"], right_on=["txid", "index"])
    assert linked.height == spends.height - from_node
    assert (linked["address"].eq_missing(linked["address_right"])).all()
    assert (linked["value"] == linked["value_right"]).all()


def test_every_scenario_transaction_reads_back_exactly(ingested: Ingested) -> None:
    for tx in ingested.scenarios.transactions().values():
        assert_stored_exactly(ingested, tx)


# -- one test per shape ----------------------------------------------------------------------------
def test_payment_with_change(ingested: Ingested) -> None:
    """A wallet payment of 1.25 LTC to a fresh bech32 address; the wallet adds its own change.

    ``sendtoaddress`` chooses the coins: when the wallet holds many small coins (after
    ``make_payments`` ran on the same wallet) its branch-and-bound selection can find an exact
    match and leave the change out, so the change output is checked when the wallet made one.
    """
    tx = ingested.scenarios.payment
    stored = assert_stored_exactly(ingested, tx)
    payment = tx.output("payment")
    assert the_output(stored, payment.index) | {"source": None} == {
        "chain": CHAIN, "txid": tx.txid, "index": payment.index, "address": payment.address,
        "script_type": "p2wpkh", "value": 125_000_000, "source": None}
    assert payment.address is not None and payment.address.startswith("rltc1q")
    changes = tx.with_role("change")
    assert len(changes) <= 1 and stored.outputs.height == 1 + len(changes)
    for change in changes:
        assert the_output(stored, change.index)["address"] == change.address != payment.address
        assert change.value > 0
    assert 0 < tx.fee < 1_000_000
    assert stored.inputs["value"].sum() == 125_000_000 + sum(c.value for c in changes) + tx.fee


def test_consolidation_of_three_addresses_into_one_output(ingested: Ingested) -> None:
    """Three inputs (P2PKH, P2SH-P2WPKH, P2WPKH) from three distinct addresses -> one output."""
    tx = ingested.scenarios.consolidation
    stored = assert_stored_exactly(ingested, tx)
    inputs = input_rows(stored)
    assert [i["value"] for i in inputs] == [70_000_000, 110_000_000, 45_000_000]
    assert len({i["address"] for i in inputs}) == 3
    assert [ingested.frames.outputs.filter(
        (pl.col("txid") == i["prev_txid"]) & (pl.col("index") == i["prev_index"]))["script_type"][0]
        for i in inputs] == ["p2pkh", "p2sh", "p2wpkh"]
    consolidated = tx.output("consolidated")
    assert output_rows(stored) == [{"index": 0, "address": consolidated.address, "script_type": "p2wpkh",
                                    "value": 225_000_000 - SCENARIO_FEE}]
    assert stored.transactions["fee"][0] == Decimal(SCENARIO_FEE)


def test_peel_chain_follows_remainder_to_remainder(ingested: Ingested) -> None:
    """Six links, each spending the previous remainder into a small payment and a new remainder."""
    chain = ingested.scenarios.peel_chain
    assert len(chain) == 6
    funding = ingested.scenarios.funding
    first_input = chain[0].inputs[0].spends
    assert (first_input.txid, funding.outputs[first_input.index].role) == (funding.txid, "fund:peel")
    remainder_value = 1_000_000_000
    txid, index = first_input.txid, first_input.index
    for step, link in enumerate(chain):
        spenders = ingested.spenders(txid, index)
        assert spenders.transactions["txid"].to_list() == [link.txid], f"step {step}"
        stored = assert_stored_exactly(ingested, link)
        assert input_rows(stored) == [{"index": 0, "prev_txid": txid, "prev_index": index,
                                       "address": link.inputs[0].address, "value": remainder_value}]
        peel, remainder = link.output("peel"), link.output("remainder")
        assert peel.value == (15 + 7 * step) * COIN // 100
        assert remainder.value == remainder_value - peel.value - SCENARIO_FEE
        assert the_output(stored, peel.index)["script_type"] == ("p2pkh" if step % 2 else "p2wpkh")
        assert the_output(stored, remainder.index)["script_type"] == "p2wpkh"
        assert remainder.index == (0 if step % 2 else 1)  # the remainder is not always the last output
        assert stored.transactions["fee"][0] == Decimal(SCENARIO_FEE)
        txid, index, remainder_value = link.txid, remainder.index, remainder.value
    assert ingested.spenders(txid, index).transactions.height == 0  # the last remainder is unspent
    assert remainder_value == 1_000_000_000 - sum((15 + 7 * s) * COIN // 100 for s in range(6)) - 6 * SCENARIO_FEE


def test_coinjoin_has_five_equal_outputs(ingested: Ingested) -> None:
    """Five participants: five 1-LTC mix outputs and five change outputs of differing values."""
    tx = ingested.scenarios.coinjoin
    stored = assert_stored_exactly(ingested, tx)
    assert stored.inputs.height == 5 and stored.outputs.height == 10
    assert stored.inputs["address"].n_unique() == 5
    value, count = Counter(stored.outputs["value"].to_list()).most_common(1)[0]
    assert (value, count) == (ingested.scenarios.coinjoin_denomination, 5) and value == COIN
    mixed = sorted(o.index for o in tx.with_role("mix"))
    assert sorted(stored.outputs.filter(pl.col("value") == COIN)["index"].to_list()) == mixed
    change = stored.outputs.filter(pl.col("value") != COIN)["value"].to_list()
    assert len(set(change)) == 5
    assert sorted(change) == sorted(v - COIN - SCENARIO_FEE // 5 for v in
                                    (130_000_000, 170_000_000, 210_000_000, 115_000_000, 300_000_000))
    assert set(stored.outputs["script_type"]) == {"p2wpkh"}


def _script_output_then_spend(ingested: Ingested, created: ScenarioTx, spend: ScenarioTx, role: str,
                              script_type: str) -> TxOut:
    """A ``role`` output (1 or 0.5 LTC) at index 0 next to change, then swept by ``spend``; returns it."""
    stored = assert_stored_exactly(ingested, created)
    out = created.output(role)
    assert out.index == 0
    assert the_output(stored, 0)["script_type"] == script_type
    assert the_output(stored, 0)["address"] == expected_address(out)
    assert the_output(stored, 1)["script_type"] == "p2wpkh"  # change
    swept = assert_stored_exactly(ingested, spend)
    assert ingested.spenders(created.txid, 0).transactions["txid"].to_list() == [spend.txid]
    assert input_rows(swept) == [{"index": 0, "prev_txid": created.txid, "prev_index": 0,
                                  "address": expected_address(out), "value": out.value}]
    assert output_rows(swept) == [{"index": 0, "address": spend.output("sweep").address, "script_type": "p2wpkh",
                                   "value": out.value - SCENARIO_FEE}]
    assert swept.transactions["fee"][0] == Decimal(SCENARIO_FEE)
    return out


def test_p2sh_multisig_output_and_its_spend(ingested: Ingested) -> None:
    """A 2-of-3 multisig behind P2SH (legacy address), created and then spent."""
    s = ingested.scenarios
    out = _script_output_then_spend(ingested, s.p2sh, s.p2sh_spend, "p2sh", "p2sh")
    assert out.value == COIN
    assert out.address is not None and out.address[0] in "Q2"  # regtest P2SH versions 0x3A and 0xC4


def test_p2wsh_multisig_output_and_its_spend(ingested: Ingested) -> None:
    """A 2-of-3 multisig behind P2WSH (bech32, 32-byte program), created and then spent."""
    s = ingested.scenarios
    out = _script_output_then_spend(ingested, s.p2wsh, s.p2wsh_spend, "p2wsh", "p2wsh")
    assert out.value == COIN
    assert out.address is not None and out.address.startswith("rltc1q") and len(out.address) == 64


def test_op_return_output_has_no_address_and_zero_value(ingested: Ingested) -> None:
    """A payment, an OP_RETURN with 14 bytes of data, and change."""
    tx = ingested.scenarios.op_return
    stored = assert_stored_exactly(ingested, tx)
    payment, change = tx.output("payment"), tx.output("change")
    assert output_rows(stored) == [
        {"index": 0, "address": payment.address, "script_type": "p2wpkh", "value": 30_000_000},
        {"index": 1, "address": None, "script_type": "nulldata", "value": 0},
        {"index": 2, "address": change.address, "script_type": "p2wpkh",
         "value": 100_000_000 - 30_000_000 - SCENARIO_FEE},
    ]
    assert tx.output("data").script_hex == "6a0e" + ingested.scenarios.op_return_data
    # an address-less output is not locked to any address
    assert ingested.store.address_outputs(CHAIN, [payment.address or ""])["txid"].to_list() == [tx.txid]


def test_p2pk_output_gets_the_p2pkh_address_of_its_key(ingested: Ingested, litecoind: LitecoinRegtest) -> None:
    """A pay-to-public-key output carries the P2PKH address of that key; its spend carries it too."""
    s = ingested.scenarios
    created = required(s.p2pk, s, "p2pk")
    spend = required(s.p2pk_spend, s, "p2pk_spend")
    out = _script_output_then_spend(ingested, created, spend, "p2pk", "p2pk")
    assert out.value == 50_000_000
    pubkey = p2pk_pubkey(out)
    assert len(pubkey) == 66  # compressed key
    address = the_output(ingested.stored(created), 0)["address"]
    assert address == p2pkh_address(pubkey) and address[0] in "mn"  # regtest P2PKH version 0x6F
    with litecoind.rpc(wallet="miner") as wallet:  # the node agrees: that address is this key's
        assert wallet.call("getaddressinfo", address)["pubkey"] == pubkey
    assert ingested.store.address_outputs(CHAIN, [address]).filter(
        pl.col("txid") == created.txid)["spent_txid"].to_list() == [spend.txid]


def test_bare_multisig_output_has_no_address_and_its_spend_neither(ingested: Ingested) -> None:
    """A bare 1-of-2 multisig belongs to two keys at once: no address on the output or the input."""
    s = ingested.scenarios
    created = required(s.bare_multisig, s, "bare_multisig")
    spend = required(s.bare_multisig_spend, s, "bare_multisig_spend")
    out = _script_output_then_spend(ingested, created, spend, "bare_multisig", "multisig")
    assert out.address is None and out.value == 50_000_000
    assert out.script_hex.startswith("51") and out.script_hex.endswith("52ae")


def test_p2tr_output_is_stored_unspent(ingested: Ingested) -> None:
    """A witness-v1 (taproot) output to an x-only key, bech32m address; the legacy wallet cannot spend it."""
    s = ingested.scenarios
    created = required(s.p2tr, s, "p2tr")
    stored = assert_stored_exactly(ingested, created)
    out = created.output("p2tr")
    assert the_output(stored, out.index) | {"source": None} == {
        "chain": CHAIN, "txid": created.txid, "index": 0, "address": out.address, "script_type": "p2tr",
        "value": 50_000_000, "source": None}
    assert out.address is not None and out.address.startswith("rltc1p") and len(out.address) == 64
    assert out.script_hex.startswith("5120") and len(out.script_hex) == 68
    assert ingested.spenders(created.txid, out.index).transactions.height == 0
    assert "p2tr_spend" in s.unsupported
