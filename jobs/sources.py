# SPDX-License-Identifier: Apache-2.0
"""Where address histories come from when a job must fetch them: the node of a chain, a self-hosted
Esplora, an Etherscan-compatible API (a third party: only if the user allows it), or another
embedded store filled by a block-range ingest (a "chain store")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.bitcoin.esplora import EsploraSource
from adapters.evm.address_source import EvmAddressSource
from adapters.evm.etherscan import DEFAULT_URL as ETHERSCAN_URL
from adapters.evm.etherscan import EtherscanSource
from adapters.evm.node import EvmNode
from graph.embedded import EmbeddedStore
from jobs.seed_ingest import AddressTxSource, StoreTransferSource, StoreTxSource
from jobs.settings import Settings
from tracer.chains import Chain
from tracer.errors import ConfigError, InputError

__all__ = ["ETHERSCAN_URL", "node_url", "chain_store", "address_source", "evm_address_source"]


def node_url(settings: Settings, chain: str, given: str | None) -> str:
    """The RPC URL of ``chain``'s node: ``given``, else the configured one (may hold credentials: never print it)."""
    url = given or settings.node_url(chain)
    if not url:
        raise ConfigError(f"no node configured for {chain}: pass --node URL or set [nodes] {chain} in the config")
    return url


def chain_store(settings: Settings, from_store: Path, case_dir: Path) -> EmbeddedStore:
    """Another embedded store to copy from, read-only (never the case's own store)."""
    case_store = settings.embedded_store_path(case_dir)
    if settings.store_backend == "embedded" and from_store.resolve() == case_store.resolve():
        raise InputError(f"--from-store {from_store} is the case's own store; give the chain store to copy from")
    return EmbeddedStore.open(from_store, read_only=True)


def evm_address_source(
    settings: Settings, chain: Chain, node: str | None, from_block: int, from_store: Path | None,
    etherscan: str | None, third_party: bool, case_dir: Path,
) -> tuple[AddressTxSource, Callable[[], None]]:
    """EVM seeds: a chain store (``--from-store``), an Etherscan-compatible API (``--etherscan``), else the node.
    Returns the source and how to close it."""
    if from_store is not None and etherscan is not None:
        raise InputError("give one source for EVM seeds: --from-store or --etherscan, not both")
    if from_store is not None:
        store = chain_store(settings, from_store, case_dir)
        return StoreTransferSource(store, chain.key), store.close
    if etherscan is not None:
        api = EtherscanSource(etherscan, chain, api_key=settings.etherscan_key, allow_third_party=third_party,
                              from_height=from_block)
        return api, api.close
    evm_source = EvmAddressSource(EvmNode(node_url(settings, chain.key, node), chain), from_height=from_block)
    return evm_source, evm_source.close


def address_source(
    settings: Settings, chain: Chain, esplora: str | None, from_store: Path | None, third_party: bool,
    case_dir: Path,
) -> tuple[AddressTxSource, Callable[[], None]]:
    """UTXO address histories: a chain store (``--from-store``), else Esplora (``--esplora`` or the config).
    Returns the source and how to close it."""
    if from_store is not None:
        store = chain_store(settings, from_store, case_dir)
        return StoreTxSource(store, chain.key), store.close
    url = esplora or settings.esplora.get(chain.key)
    if not url:
        raise ConfigError(
            f"no source for addresses on {chain.key}: pass --esplora URL (self-hosted electrs/Esplora), "
            f"--from-store PATH, or set [esplora] {chain.key} in the config"
        )
    source = EsploraSource(url, chain, allow_third_party=third_party)
    return source, source.close
