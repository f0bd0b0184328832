"""The ``getblock <hash> 2`` mapper replays real mainnet node responses into canonical frames.

The responses and the expected values are bitcoin-etl's recorded test data (Bitcoin, Bitcoin
Cash, Dogecoin and Zcash mainnet) under ``../shared/data/rpc/bitcoin-etl``; the tests skip when
that directory is absent. The Bitcoin Cash and Dogecoin recordings are ``getblock`` verbosity 1
plus ``getrawtransaction``; the tests assemble the verbosity-2 shape from them, as a node
returns it. Synthetic variations (a removed key, a ``prevout``) are made on copies of real responses.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.bitcoin.mappers import BlockFrames, map_block, unresolved_outpoints
from adapters.errors import MalformedResponseError, SchemaDriftError
from tracer.chains import Chain, Family, default_registry
from tracer.errors import TracerError
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, validate

BTC = default_registry().get("btc")
BCH = Chain("bch", "Bitcoin Cash", Family.UTXO, "BCH", 8, "mainnet", (0x00,), (0x05,), None)
DOGE = Chain("doge", "Dogecoin", Family.UTXO, "DOGE", 8, "mainnet", (0x1E,), (0x16,), None)
SOURCE = "bitcoin-etl-recording"

SHORT_TYPES = {"pubkey": "p2pk", "pubkeyhash": "p2pkh", "scripthash": "p2sh"}

BLOCK_0 = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
BLOCK_1 = "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
BLOCK_50001 = "000000001c920d495e1eeef2452b6d1c6c229a919b28196c103ecffebabee141"
BLOCK_50002 = "000000002066d7f9b134c30b5005b7bf5fbfa52f279883f1fde793dcdc964266"
PREV_TX = "0d37522b89f991f8433b80f709ad31862a54435cd003f25732fe405e9db93216"
BCH_DUPLICATE = "e3bf3d07d4b0375638d5f1db5255fe07ba2c4cb067cd81b84ee974b6585fb468"


def _root(shared_data: Path) -> Path:
    root = shared_data / "rpc" / "bitcoin-etl" / "test_export_blocks_job"
    if not root.is_dir():
        pytest.skip(f"bitcoin-etl recordings not present at {root}")
    return root


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=Decimal)


def _getblock(root: Path, case: str, block_hash: str) -> dict[str, Any]:
    block: dict[str, Any] = _load(root / case / f"rpc_response_getblock_{block_hash}_2.json")
    return block


def _expected(root: Path, case: str) -> list[dict[str, Any]]:
    text = (root / case / "expected_transactions.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _assembled(root: Path, case: str) -> dict[str, Any]:
    """A verbosity-2 block built from a verbosity-1 ``getblock`` and ``getrawtransaction`` responses."""
    directory = root / case
    [block_file] = directory.glob("rpc_response_getblock_*_True.json")
    block: dict[str, Any] = _load(block_file)
    block["tx"] = [_load(directory / f"rpc_response_getrawtransaction_{txid}.json") for txid in block["tx"]]
    return block


def _assert_matches_expected(frames: BlockFrames, expected: list[dict[str, Any]], chain: Chain) -> None:
    txs = {row["txid"]: row for row in frames.transactions.iter_rows(named=True)}
    assert len(txs) == len(expected)
    for tx in expected:
        row = txs[tx["hash"]]
        assert row["chain"] == chain.key
        assert row["block_height"] == tx["block_number"]
        assert row["block_hash"] == tx["block_hash"]
        assert row["timestamp"] == tx["block_timestamp"]
        assert row["is_coinbase"] == tx["is_coinbase"]
        assert row["source"] == SOURCE
        if tx.get("index") is not None:
            assert row["position"] == tx["index"]
        if tx["is_coinbase"]:
            assert row["fee"] == 0
        outputs = frames.outputs.filter(pl.col("txid") == tx["hash"]).sort("index").to_dicts()
        assert [(o["index"], o["address"], o["script_type"], o["value"]) for o in outputs] == [
            (o["index"], (o["addresses"] or [None])[0], SHORT_TYPES[o["type"]], o["value"]) for o in tx["outputs"]
        ]
        inputs = frames.inputs.filter(pl.col("txid") == tx["hash"]).sort("index").to_dicts()
        if tx["is_coinbase"]:
            assert [(i["prev_txid"], i["prev_index"], i["address"], i["value"]) for i in inputs] == [
                (None, None, None, None)
            ]
        else:
            assert [(i["index"], i["prev_txid"], i["prev_index"]) for i in inputs] == [
                (i["index"], i["spent_transaction_hash"], i["spent_output_index"]) for i in tx["inputs"]
            ]


def test_genesis_block_maps_to_canonical_frames_matching_bitcoin_etl(shared_data: Path) -> None:
    root = _root(shared_data)
    frames = map_block(_getblock(root, "bitcoin/block_0", BLOCK_0), BTC, source=SOURCE)
    for frame, schema in ((frames.transactions, TRANSACTIONS), (frames.inputs, INPUTS), (frames.outputs, OUTPUTS)):
        validate(frame, schema)
    assert frames.complete
    _assert_matches_expected(frames, _expected(root, "bitcoin/block_0"), BTC)
    assert frames.outputs["address"].to_list() == ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]


def test_block_1_coinbase_maps_to_canonical_frames_matching_bitcoin_etl(shared_data: Path) -> None:
    root = _root(shared_data)
    frames = map_block(_getblock(root, "bitcoin/block_1", BLOCK_1), BTC, source=SOURCE)
    assert frames.complete
    _assert_matches_expected(frames, _expected(root, "bitcoin/block_1"), BTC)


def test_p2pk_output_without_address_gets_the_p2pkh_address_of_its_key(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    del block["tx"][0]["vout"][0]["scriptPubKey"]["addresses"]  # Bitcoin Core >= 22 gives none for P2PK
    frames = map_block(block, BTC, source=SOURCE)
    assert frames.outputs.select("address", "script_type").row(0) == ("12c6DSiU4Rq3P4ZxziKxzrL5LmMBrzjrJX", "p2pk")


def test_blocks_50001_and_50002_match_bitcoin_etl_and_report_inputs_from_earlier_blocks(shared_data: Path) -> None:
    root = _root(shared_data)
    case = "bitcoin/block_with_transactions"
    block = _getblock(root, case, BLOCK_50001)
    frames_1 = map_block(block, BTC, source=SOURCE)
    frames_2 = map_block(_getblock(root, case, BLOCK_50002), BTC, source=SOURCE)
    expected = _expected(root, case)
    _assert_matches_expected(frames_1, [t for t in expected if t["block_number"] == 50001], BTC)
    _assert_matches_expected(frames_2, [t for t in expected if t["block_number"] == 50002], BTC)
    assert frames_2.complete

    wanted = [(i["spent_transaction_hash"], i["spent_output_index"])
              for t in expected if t["block_number"] == 50001 for i in t["inputs"]]
    assert unresolved_outpoints(block) == wanted
    assert list(frames_1.unresolved) == wanted
    assert not frames_1.complete
    spending = frames_1.inputs.filter(pl.col("prev_txid").is_not_null())
    assert spending["value"].null_count() == spending.height == 3
    assert frames_1.transactions.filter(~pl.col("is_coinbase"))["fee"].null_count() == 2


def test_prevouts_mapping_resolves_inputs_and_yields_the_fee(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_with_transactions", BLOCK_50001)
    raw = _load(root / "bitcoin/stream_50001_50002" / f"rpc_response_getrawtransaction_{PREV_TX}.json")
    vout = raw["vout"][0]
    prevouts = {(PREV_TX, 0): (vout["scriptPubKey"]["addresses"][0], 5_000_000_000)}

    frames = map_block(block, BTC, source=SOURCE, prevouts=prevouts)
    assert (PREV_TX, 0) not in frames.unresolved
    assert (PREV_TX, 0) not in unresolved_outpoints(block, prevouts)
    resolved = frames.inputs.filter(pl.col("prev_txid") == PREV_TX).row(0, named=True)
    assert (resolved["address"], resolved["value"]) == ("18dxbN6m8zxieN8F9BchXmhbeXUdFLr8fD", 5_000_000_000)
    spender = frames.transactions.filter(pl.col("txid") == resolved["txid"]).row(0, named=True)
    assert spender["fee"] == 0  # 50 BTC in, 50 BTC out


def test_verbosity_3_prevout_resolves_the_input_without_a_lookup(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_with_transactions", BLOCK_50001)
    raw = _load(root / "bitcoin/stream_50001_50002" / f"rpc_response_getrawtransaction_{PREV_TX}.json")
    vin = next(v for tx in block["tx"] for v in tx["vin"] if v.get("txid") == PREV_TX)
    vin["prevout"] = {"generated": True, "height": 49000, "value": Decimal("50.00000000"),
                      "scriptPubKey": {k: v for k, v in raw["vout"][0]["scriptPubKey"].items() if k != "addresses"}}
    frames = map_block(block, BTC, source=SOURCE)
    assert (PREV_TX, 0) not in unresolved_outpoints(block)
    row = frames.inputs.filter(pl.col("prev_txid") == PREV_TX).row(0, named=True)
    assert (row["address"], row["value"]) == ("18dxbN6m8zxieN8F9BchXmhbeXUdFLr8fD", 5_000_000_000)


def test_input_spending_an_output_of_the_same_block_is_resolved_from_that_block(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_with_transactions", BLOCK_50001)
    coinbase_txid = block["tx"][0]["txid"]
    vin = block["tx"][2]["vin"][0]
    vin["txid"], vin["vout"] = coinbase_txid, 0  # as if tx 2 spent this block's coinbase
    frames = map_block(block, BTC, source=SOURCE)
    row = frames.inputs.filter(pl.col("txid") == block["tx"][2]["txid"]).row(0, named=True)
    assert (row["address"], row["value"]) == ("1PkqKGbNLDdDJGveCcNUMV9CEFH77ADrPQ", 5_000_000_000)
    assert (coinbase_txid, 0) not in unresolved_outpoints(block)


def test_dogecoin_coinbase_maps_with_derived_p2pk_address_in_the_chain_prefix(shared_data: Path) -> None:
    root = _root(shared_data)
    case = "dogecoin/block_without_transactions"
    block = _assembled(root, case)
    frames = map_block(block, DOGE, source=SOURCE)
    _assert_matches_expected(frames, _expected(root, case), DOGE)
    del block["tx"][0]["vout"][0]["scriptPubKey"]["addresses"]
    derived = map_block(block, DOGE, source=SOURCE)
    assert derived.outputs["address"].to_list() == ["DPsvwvYRgt66ntxno9mMuBfwhg9nAMmGrD"]
    assert derived.outputs["value"].to_list() == [72_975_200_000_000]  # 729752 DOGE, exact


def test_bip30_overwritten_coinbase_at_91722_is_left_out_and_kept_where_it_was_recreated(shared_data: Path) -> None:
    root = _root(shared_data)
    case = "bitcoin_cash/block_with_duplicate_txid"
    block = _assembled(root, case)
    frames = map_block(block, BCH, source=SOURCE)
    assert frames.skipped_duplicates == (BCH_DUPLICATE,)
    assert frames.transactions.height == frames.inputs.height == frames.outputs.height == 0

    recreated = copy.deepcopy(block)
    recreated["height"] = 91880
    recreated["hash"] = recreated["tx"][0]["blockhash"]
    again = map_block(recreated, BCH, source=SOURCE)
    assert again.skipped_duplicates == ()
    assert again.transactions["txid"].to_list() == [BCH_DUPLICATE]
    expected = _expected(root, case)[0]["outputs"][0]
    assert again.outputs.select("address", "value").row(0) == (expected["addresses"][0], expected["value"])


def test_a_txid_twice_in_one_block_is_refused(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["tx"].append(copy.deepcopy(block["tx"][0]))
    with pytest.raises(MalformedResponseError, match="twice"):
        map_block(block, BTC, source=SOURCE)


def test_float_parsed_response_is_refused(shared_data: Path) -> None:
    root = _root(shared_data)
    path = root / "bitcoin/block_1" / f"rpc_response_getblock_{BLOCK_1}_2.json"
    block = json.loads(path.read_text())  # floats: 50.00000000 -> 50.0
    with pytest.raises(TypeError, match="parse_float=Decimal"):
        map_block(block, BTC, source=SOURCE)


def test_unknown_transaction_key_raises_schema_drift_naming_it(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["tx"][0]["shielded_value"] = Decimal("1")
    with pytest.raises(SchemaDriftError, match="shielded_value"):
        map_block(block, BTC, source=SOURCE)


def test_unknown_block_key_raises_schema_drift_naming_it(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["extension_block"] = {}
    with pytest.raises(SchemaDriftError, match="extension_block"):
        map_block(block, BTC, source=SOURCE)


def test_zcash_block_with_shielded_pools_is_refused_as_schema_drift(shared_data: Path) -> None:
    root = _root(shared_data)
    directory = root / "zcash/block_with_value_balance"
    [path] = directory.glob("rpc_response_getblock_*_2.json")
    with pytest.raises(SchemaDriftError, match="valuePools"):
        map_block(_load(path), BTC, source=SOURCE)


def test_litecoin_mweb_block_key_is_ignored_deliberately(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["mweb"] = {"hash": "00" * 32, "kernels": []}
    frames = map_block(block, BTC, source=SOURCE)
    assert frames.transactions.height == 1


def test_unknown_script_type_raises_schema_drift(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["tx"][0]["vout"][0]["scriptPubKey"]["type"] = "witness_v2_future"
    with pytest.raises(SchemaDriftError, match="witness_v2_future"):
        map_block(block, BTC, source=SOURCE)


@pytest.mark.parametrize(("node_type", "short"), [("nulldata", "nulldata"), ("nonstandard", "nonstandard"),
                                                  ("multisig", "multisig")])
def test_outputs_without_a_single_owner_have_no_address(shared_data: Path, node_type: str, short: str) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_1", BLOCK_1)
    block["tx"][0]["vout"][0]["scriptPubKey"]["type"] = node_type
    frames = map_block(block, BTC, source=SOURCE)
    assert frames.outputs.select("address", "script_type").row(0) == (None, short)


def test_core_22_single_address_field_is_used(shared_data: Path) -> None:
    root = _root(shared_data)
    block = _getblock(root, "bitcoin/block_with_transactions", BLOCK_50001)
    spk = block["tx"][1]["vout"][0]["scriptPubKey"]
    spk["address"] = spk.pop("addresses")[0]
    frames = map_block(block, BTC, source=SOURCE)
    assert frames.outputs.filter(pl.col("txid") == block["tx"][1]["txid"])["address"].to_list() == [spk["address"]]


def test_verbosity_1_block_is_refused(shared_data: Path) -> None:
    root = _root(shared_data)
    [path] = (root / "dogecoin/block_without_transactions").glob("rpc_response_getblock_*_True.json")
    with pytest.raises(MalformedResponseError, match="verbosity 2"):
        map_block(_load(path), DOGE, source=SOURCE)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.00000001", 1), ("21000000", 2_100_000_000_000_000), ("99999999999.99999999", 9_999_999_999_999_999_999),
        ("100000000000.00000001", 10_000_000_000_000_000_001), ("1E+2", 10_000_000_000), ("0", 0),
    ],
)
def test_node_amounts_convert_exactly_on_the_fast_path_and_beyond_it(text: str, units: int) -> None:
    from decimal import Decimal, localcontext

    from adapters.bitcoin.mappers import _base_units

    with localcontext() as context:
        context.prec = 5  # a caller's narrow decimal context must not round the conversion
        assert _base_units(Decimal(text)) == units


def test_node_amounts_with_more_than_eight_decimals_are_refused() -> None:
    from decimal import Decimal

    from adapters.bitcoin.mappers import _base_units

    with pytest.raises(TracerError):
        _base_units(Decimal("0.000000001"))
