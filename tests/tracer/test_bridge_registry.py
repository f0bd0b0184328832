# SPDX-License-Identifier: Apache-2.0
"""The bridge registry (tracer.bridges): built-in Across contracts and events, the user's
``[bridges]`` config table, and the typed errors for what cannot be used."""

from __future__ import annotations

import json
import tomllib

import pytest

from testing.across import ACROSS_PACKAGE, ACROSS_VERSION, installed_version
from tracer.bridges import (
    ACROSS,
    ACROSS_SPOKE_POOLS,
    BridgeConfigError,
    BridgeRegistry,
    UnknownBridgeError,
    default_bridge_registry,
    parse_bridges_config,
)
from tracer.errors import ConfigError

ANVIL_POOL = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"


def test_builtin_registry_knows_the_across_spoke_pools() -> None:
    registry = default_bridge_registry()
    assert registry.bridge_of(1, "0x5c7bcd6e7de5423a257d81b442095a1a6ced35c5") == "across"
    assert registry.bridge_of(42161, "0xE35E9842FCEACA96570B734083F4A58E8F7C5F2A") == "across"
    assert registry.bridge_of(10, "0x5c7BCd6E7De5423a257D81B442095A1a6ced35C5") is None  # chain 1's pool, not 10's
    assert registry.contracts_on(8453) == {"0x09aea4b2242abC8bb4BB78D537A67a245A7bEC64": "across"}
    assert 1 in registry.chain_ids() and 11155111 not in registry.chain_ids()  # mainnets only
    assert registry.window_seconds("across") == ACROSS.default_window_seconds


def test_mainnet_addresses_are_those_of_the_installed_package() -> None:
    """Each built-in address is the package's ``deployed-addresses.json`` SpokePool for that chain."""
    assert installed_version() == ACROSS_VERSION
    deployed = json.loads((ACROSS_PACKAGE / "dist" / "broadcast" / "deployed-addresses.json").read_text())
    for chain_id, address in ACROSS_SPOKE_POOLS.items():
        assert deployed["chains"][str(chain_id)]["contracts"]["SpokePool"]["address"] == address, chain_id


def test_event_definitions_are_those_of_the_installed_spoke_pool() -> None:
    path = ACROSS_PACKAGE / "dist" / "evm" / "artifacts" / "SpokePool.sol" / "SpokePool.json"
    abi = {item["name"]: item for item in json.loads(path.read_text())["abi"] if item["type"] == "event"}

    def spelled(param: dict[str, object]) -> str:
        if param["type"] == "tuple":
            return "(" + ",".join(spelled(c) for c in param["components"]) + ")"  # type: ignore[attr-defined]
        return str(param["type"])

    for event in ACROSS.events:
        published = abi[event.name]["inputs"]
        assert [(i.name, i.type, i.indexed) for i in event.inputs] == [
            (p["name"], spelled(p), p["indexed"]) for p in published], event.name
    assert {e.name: e.role for e in ACROSS.events} == {
        "FundsDeposited": "deposit", "V3FundsDeposited": "deposit", "FilledRelay": "release",
        "FilledV3Relay": "release"}


def test_config_adds_contracts_without_replacing_the_builtin_ones() -> None:
    config = tomllib.loads(f"""
[bridges.across]
window_seconds = 7200
[bridges.across.contracts]
"31337" = ["{ANVIL_POOL}"]
"10" = "{ANVIL_POOL.lower()}"
""")
    registry = parse_bridges_config(config["bridges"])
    assert registry.bridge_of(31337, ANVIL_POOL) == "across"
    assert registry.bridge_of(10, ANVIL_POOL) == "across"
    assert registry.bridge_of(10, ACROSS_SPOKE_POOLS[10]) == "across"  # built-in kept
    assert registry.window_seconds("across") == 7200
    assert parse_bridges_config(None) == default_bridge_registry()
    empty = parse_bridges_config({"across": {"contracts": {"5": [ANVIL_POOL]}}}, base=BridgeRegistry())
    assert empty.chain_ids() == [5]


def test_unknown_bridge_name_is_a_typed_error() -> None:
    with pytest.raises(UnknownBridgeError, match=r"unknown bridge 'wormhole'; known bridges: across") as caught:
        parse_bridges_config({"wormhole": {"contracts": {"1": [ANVIL_POOL]}}})
    assert isinstance(caught.value, ConfigError) and caught.value.name == "wormhole"
    with pytest.raises(UnknownBridgeError):
        BridgeRegistry().with_contracts("hop", 1, [ANVIL_POOL])


@pytest.mark.parametrize(("table", "message"), [
    ({"across": {"contracts": {"1": ["0x1234"]}}}, r"'0x1234' is not an EVM address"),
    ({"across": {"contracts": {"1": ["5c7BCd6E7De5423a257D81B442095A1a6ced35C5"]}}}, "not an EVM address"),
    ({"across": {"contracts": {"1": [ANVIL_POOL.replace("9fE4", "9Fe4")]}}}, "fails its EIP-55 checksum"),
    ({"across": {"contracts": {"eth": [ANVIL_POOL]}}}, r"chain id 'eth' must be a positive decimal integer"),
    ({"across": {"contracts": {"0": [ANVIL_POOL]}}}, "must be a positive decimal integer"),
    ({"across": {"contracts": {"1": 5}}}, "must be a list of addresses"),
    ({"across": {"contracts": ["0x"]}}, "must be a table of chain id"),
    ({"across": {"window_seconds": 0}}, "window_seconds must be a positive integer"),
    ({"across": {"contract": {}}}, r"unknown option\(s\) contract"),
    ({"across": "0x"}, r"\[bridges.across\] must be a table"),
    (["across"], r"\[bridges\] must be a table"),
])
def test_malformed_entries_name_what_is_wrong(table: object, message: str) -> None:
    with pytest.raises(BridgeConfigError, match=message) as caught:
        parse_bridges_config(table, where="config file /tmp/config.toml")
    assert "config file /tmp/config.toml" in str(caught.value)


def test_one_contract_cannot_belong_to_two_bridges() -> None:
    other = BridgeRegistry(protocols={"across": ACROSS, "copy": ACROSS})
    registry = other.with_contracts("across", 1, [ANVIL_POOL])
    with pytest.raises(BridgeConfigError, match="already registered for bridge 'across'"):
        registry.with_contracts("copy", 1, [ANVIL_POOL.lower()])
