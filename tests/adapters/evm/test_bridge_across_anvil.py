# SPDX-License-Identifier: Apache-2.0
"""Across on two real anvil chains: the published SpokePool deployed on each, a deposit on chain A
filled by a relayer on chain B; both blocks fetched with the EVM node adapter, the events decoded
(adapters.evm.bridges) and paired (tracer.bridge_match)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import eth_abi
import polars as pl
import pytest

from adapters.evm.bridges import BridgeStats, DecodedBridgeEvents, event_topic, map_bridge_events
from adapters.evm.node import EvmNode
from testing.across import AcrossHop, SpokeDeployment, deploy_spoke_pool, deposit_and_fill, two_anvils
from tracer.bridge_match import match_bridge_events
from tracer.bridges import ACROSS, BridgeRegistry, parse_bridges_config
from tracer.chains import Chain, ChainRegistry
from tracer.schema import BRIDGE_EVENTS, TRANSFERS, conform, validate

CHAIN_IDS = (31_001, 31_002)


@dataclass(frozen=True)
class Setup:
    hop: AcrossHop
    a: SpokeDeployment
    b: SpokeDeployment
    chain_a: Chain
    chain_b: Chain
    registry: BridgeRegistry


@pytest.fixture(scope="module")
def across() -> Iterator[Setup]:
    with two_anvils(CHAIN_IDS) as (node_a, node_b):
        a = deploy_spoke_pool(node_a)
        b = deploy_spoke_pool(node_b, skip_nonces=1)  # other addresses than on chain A
        hop = deposit_and_fill(a, b)
        # the anvil SpokePools are registered the way a user's config.toml adds contracts
        config = tomllib.loads(
            f'[bridges.across.contracts]\n"{a.chain_id}" = ["{a.spoke_pool}"]\n"{b.chain_id}" = ["{b.spoke_pool}"]\n')
        registry = parse_bridges_config(config["bridges"], where="test config")
        chains = ChainRegistry([ChainRegistry.evm_chain_from_mapping("anvil-a", {"chain_id": a.chain_id}),
                                ChainRegistry.evm_chain_from_mapping("anvil-b", {"chain_id": b.chain_id})])
        yield Setup(hop, a, b, chains.get("anvil-a"), chains.get("anvil-b"), registry)


def _decode(url: str, chain: Chain, height: int, registry: BridgeRegistry) -> tuple[DecodedBridgeEvents,
                                                                                      pl.DataFrame]:
    with EvmNode(url, chain) as node:
        node.check_network()
        raw = node.fetch_raw([height])
        transfers = node.frames_of(raw).frames.transfers
        decoded = map_bridge_events(raw[0].block, raw[0].receipts, transfers, registry, chain, source=node.source)
    return decoded, transfers


def _leg(transfers: pl.DataFrame, row: dict[str, object]) -> dict[str, object]:
    found = transfers.filter((pl.col("txid") == row["txid"]) & (pl.col("kind") == row["leg_kind"])
                             & (pl.col("log_index") == row["leg_log_index"]))
    assert found.height == 1, f"leg of {row['txid']} not in the transfers frame"
    return found.row(0, named=True)


def test_deposit_on_a_and_fill_on_b_decode_and_match_exactly(across: Setup) -> None:
    hop = across.hop
    deposit, transfers_a = _decode(across.a.rpc_url, across.chain_a, hop.deposit_block, across.registry)
    release, transfers_b = _decode(across.b.rpc_url, across.chain_b, hop.fill_block, across.registry)
    assert deposit.stats.warnings == [] and release.stats.warnings == []
    assert (deposit.stats.deposits, release.stats.releases) == (1, 1)

    d = deposit.events.row(0, named=True)
    assert (d["role"], d["bridge"], d["chain"], d["txid"]) == ("deposit", "across", "anvil-a", hop.deposit_txid)
    assert (d["deposit_id"], d["origin_chain_id"], d["destination_chain_id"]) == (
        str(hop.deposit_id), hop.origin_chain_id, hop.destination_chain_id)
    assert (d["depositor"], d["recipient"], d["contract"]) == (hop.depositor, hop.recipient, across.a.spoke_pool)
    assert (d["asset_in"], d["value_in"]) == (hop.input_token, Decimal(hop.input_amount))
    assert (d["asset_out"], d["value_out"]) == (hop.output_token, Decimal(hop.output_amount))
    leg = _leg(transfers_a, d)
    assert (leg["kind"], leg["asset"], leg["from_address"], leg["to_address"], leg["value"]) == (
        "token", hop.input_token, hop.depositor, across.a.spoke_pool, Decimal(hop.input_amount))

    r = release.events.row(0, named=True)
    assert (r["role"], r["chain"], r["txid"], r["contract"]) == ("release", "anvil-b", hop.fill_txid,
                                                                 across.b.spoke_pool)
    assert (r["deposit_id"], r["origin_chain_id"], r["destination_chain_id"]) == (
        str(hop.deposit_id), hop.origin_chain_id, hop.destination_chain_id)
    assert (r["recipient"], r["asset_out"], r["value_out"]) == (hop.recipient, hop.output_token,
                                                                Decimal(hop.output_amount))
    leg = _leg(transfers_b, r)
    assert (leg["kind"], leg["asset"], leg["from_address"], leg["to_address"], leg["value"]) == (
        "token", hop.output_token, hop.relayer, hop.recipient, Decimal(hop.output_amount))

    events = pl.concat([deposit.events, release.events])
    validate(events, BRIDGE_EVENTS)
    hops = match_bridge_events(events, pl.concat([deposit.deadlines, release.deadlines]))
    assert hops.height == 1
    h = hops.row(0, named=True)
    assert (h["status"], h["confidence"], h["mismatches"], h["ambiguous"]) == ("matched", "exact", [], False)
    assert (h["deposit_txid"], h["release_txid"], h["deadline"]) == (hop.deposit_txid, hop.fill_txid,
                                                                     hop.fill_deadline)
    assert h["deposit_time"] <= h["release_time"] <= h["deadline"]


def test_events_of_unregistered_contracts_are_ignored(across: Setup) -> None:
    only_a = BridgeRegistry().with_contracts("across", across.a.chain_id, [across.a.spoke_pool])
    stats = BridgeStats()
    with EvmNode(across.b.rpc_url, across.chain_b) as node:
        raw = node.fetch_raw([across.hop.fill_block])
        decoded = map_bridge_events(raw[0].block, raw[0].receipts, node.frames_of(raw).frames.transfers, only_a,
                                    across.chain_b, source=node.source, stats=stats)
    assert decoded.events.height == 0 and stats.warnings == [] and stats.releases == 0
    # chain B's SpokePool address is, on chain A, the token contract: registering it for A must not matter
    assert across.b.spoke_pool == across.a.token


def test_a_fill_without_its_transfers_row_is_kept_with_a_warning(across: Setup) -> None:
    with EvmNode(across.b.rpc_url, across.chain_b) as node:
        raw = node.fetch_raw([across.hop.fill_block])
        transfers = node.frames_of(raw).frames.transfers.filter(pl.col("kind") != "token")
        decoded = map_bridge_events(raw[0].block, raw[0].receipts, transfers, across.registry, across.chain_b,
                                    source=node.source)
    assert decoded.events.height == 1 and decoded.events["leg_kind"][0] is None
    assert [w.txid for w in decoded.stats.warnings] == [across.hop.fill_txid]
    assert "no transfers row" in str(decoded.stats.warnings[0])


# --- pure decoding cases (hand-built logs, no node) -------------------------------------------------

POOL = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
TOKEN = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TXID = "0x" + "12" * 32


def _word(value: int) -> str:
    return "0x" + eth_abi.encode(["uint256"], [value]).hex()


def _deposit_log(recipient: bytes, *, topics: int = 4, address: str = POOL) -> dict[str, object]:
    event = next(e for e in ACROSS.events if e.name == "FundsDeposited")
    data = eth_abi.encode(
        [i.type for i in event.data],
        [bytes(12) + bytes.fromhex(TOKEN[2:]), bytes(12) + bytes.fromhex(TOKEN[2:]), 500, 490, 1_700_000_000,
         1_700_003_600, 0, recipient, bytes(32), b""])
    all_topics = [event_topic(event), _word(10), _word(42), "0x" + (bytes(12) + bytes.fromhex(ALICE[2:])).hex()]
    return {"address": address.lower(), "topics": all_topics[:topics], "data": "0x" + data.hex(),
            "transactionHash": TXID, "transactionIndex": "0x0", "logIndex": "0x1", "blockNumber": "0x5"}


def _transfers(kind: str = "token", asset: str = TOKEN) -> pl.DataFrame:
    return conform(pl.DataFrame([{
        "chain": "anvil", "txid": TXID, "block_height": 5, "block_hash": "0x" + "ab" * 32, "tx_index": 0,
        "timestamp": 1_700_000_000, "kind": kind, "log_index": 0 if kind == "token" else None,
        "trace_path": None, "asset": asset, "token_id": None, "from_address": ALICE, "to_address": POOL,
        "value": Decimal(500), "value_overflow": None, "source": "test"}], schema=TRANSFERS.polars_schema), TRANSFERS)


_BLOCK = {"number": "0x5", "hash": "0x" + "ab" * 32, "timestamp": hex(1_700_000_000)}


def _chain() -> Chain:
    return ChainRegistry.evm_chain_from_mapping("anvil", {"chain_id": 31337})


def test_an_event_that_does_not_decode_warns_and_the_block_goes_on() -> None:
    registry = BridgeRegistry().with_contracts("across", 31337, [POOL])
    receipts = [{"logs": [_deposit_log(bytes(12) + bytes.fromhex(ALICE[2:]), topics=3),
                          _deposit_log(bytes(12) + bytes.fromhex(ALICE[2:]))]}]
    decoded = map_bridge_events(_BLOCK, receipts, _transfers(), registry, _chain(), source="test")
    assert decoded.events.height == 1  # the good one
    assert [(w.txid, w.event) for w in decoded.stats.warnings] == [(TXID, "FundsDeposited")]
    assert "does not decode" in decoded.stats.warnings[0].reason
    assert decoded.deadlines["fill_deadline"].to_list() == [1_700_003_600]


def test_a_non_evm_bytes32_recipient_is_kept_as_hex_and_a_coin_deposit_finds_its_native_leg() -> None:
    registry = BridgeRegistry().with_contracts("across", 31337, [POOL])
    solana = bytes(range(1, 33))
    decoded = map_bridge_events(_BLOCK, [{"logs": [_deposit_log(solana)]}], _transfers("native", "native"),
                                registry, _chain(), source="test")
    row = decoded.events.row(0, named=True)
    assert row["recipient"] == "0x" + solana.hex() and decoded.stats.non_evm_addresses == 1
    assert (row["depositor"], row["destination_chain_id"], row["deposit_id"]) == (ALICE, 10, "42")
    assert (row["leg_kind"], row["asset_in"]) == ("native", TOKEN)
    assert decoded.stats.warnings == []


def test_a_look_alike_event_from_another_contract_is_ignored() -> None:
    registry = BridgeRegistry().with_contracts("across", 31337, [POOL])
    log = _deposit_log(bytes(32), address=TOKEN)
    decoded = map_bridge_events(_BLOCK, [{"logs": [log]}], _transfers(), registry, _chain(), source="test")
    assert decoded.events.height == 0 and decoded.stats.warnings == []
