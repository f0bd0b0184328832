"""The chain registry resolves keys, aliases and EVM chain ids, and can be extended by config."""

import pytest

from tracer.chains import ChainRegistry, Family, default_registry
from tracer.errors import UnknownChainError


def test_builtin_chains_cover_bitcoin_litecoin_ethereum_networks() -> None:
    keys = default_registry().keys()
    for key in ("btc", "btc-testnet", "btc-regtest", "ltc", "ltc-testnet", "ltc-regtest", "eth", "eth-devnet"):
        assert key in keys


def test_aliases_and_case_are_accepted() -> None:
    registry = default_registry()
    assert registry.get("BTC").key == "btc"
    assert registry.get("litecoin").key == "ltc"
    assert registry.get("anvil").evm_chain_id == 31337


def test_unknown_chain_lists_the_known_ones() -> None:
    with pytest.raises(UnknownChainError, match="known chains: btc"):
        default_registry().get("doge")


def test_evm_chain_from_config_is_looked_up_by_chain_id() -> None:
    bsc = ChainRegistry.evm_chain_from_mapping("bsc", {"chain_id": 56, "symbol": "BNB"})
    registry = default_registry().extended([bsc])
    assert registry.by_evm_chain_id(56) == bsc
    assert bsc.family is Family.ACCOUNT and bsc.decimals == 18


def test_bad_evm_chain_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="chain_id"):
        ChainRegistry.evm_chain_from_mapping("bsc", {"chain_id": "56"})


def test_config_chain_cannot_take_over_a_builtin_key_alias_or_chain_id() -> None:
    registry = default_registry()
    for key, chain_id in (("bitcoin", 5), ("eth", 5), ("mainnet-copy", 1), ("has space", 7)):
        with pytest.raises(ValueError):
            registry.extended([ChainRegistry.evm_chain_from_mapping(key, {"chain_id": chain_id})])
