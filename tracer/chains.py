# SPDX-License-Identifier: Apache-2.0
"""Registry of the chains the tracer supports.

A chain is identified everywhere by a short key (``btc``, ``ltc-regtest``, ``eth``...). The key
travels with every address, transaction and amount, because the same text can be a valid
address on several chains (base58 prefixes ``m...`` and ``3...`` are shared by Bitcoin testnet,
regtest and Litecoin's legacy P2SH; ``0x...`` by every EVM chain).

The address parameters are those of the reference clients:

* Bitcoin Core ``src/chainparams.cpp`` (base58 version bytes; bech32 HRP per BIP-173).
* Litecoin Core ``src/chainparams.cpp`` (``L``/``M`` prefixes, legacy ``3`` P2SH still valid,
  ``ltc``/``tltc``/``rltc`` HRPs).
* EIP-155 chain ids for the Ethereum family.
* Tron (account model, TRX in sun = 10**-6): Base58Check addresses with version byte ``0x41``
  (https://developers.tron.network/docs/account), so its addresses follow their own rules
  (:class:`AddressFormat`), not the Ethereum family's.

New EVM chains (BSC, Polygon...) are added by configuration through :meth:`ChainRegistry.extended`;
no code change is needed because the account-model adapter reads the chain id from the node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tracer.errors import UnknownChainError

_KEY_RULE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")

__all__ = ["Family", "AddressFormat", "Chain", "ChainRegistry", "DEFAULT_CHAINS", "default_registry"]


class Family(StrEnum):
    """Data model of a chain: which canonical frames and taint semantics apply."""

    UTXO = "utxo"  # Bitcoin family: transactions spend outputs
    ACCOUNT = "account"  # Ethereum family and Tron: balances move between accounts


class AddressFormat(StrEnum):
    """How a chain writes its addresses (which validator applies)."""

    BITCOIN = "bitcoin"  # Base58Check with the chain's version bytes, Bech32/Bech32m
    EVM = "evm"  # 0x + 40 hex digits, EIP-55 checksum
    TRON = "tron"  # Base58Check, version byte 0x41 ("T..."); hex form 41 + 40 hex digits


@dataclass(frozen=True, slots=True)
class Chain:
    """One network of one chain, with what is needed to validate addresses and show amounts."""

    key: str
    name: str
    family: Family
    symbol: str
    decimals: int  # base units per coin = 10**decimals (satoshi: 8, wei: 18)
    network: str  # mainnet | testnet | regtest | devnet ...
    # Bitcoin family
    p2pkh_versions: tuple[int, ...] = ()
    p2sh_versions: tuple[int, ...] = ()
    bech32_hrp: str | None = None
    bitcoinlib_network: str | None = None
    # Ethereum family (EIP-155)
    evm_chain_id: int | None = None
    aliases: tuple[str, ...] = field(default=())
    #: how addresses are written; None: by family (UTXO: Bitcoin rules, account: EVM rules)
    address_rules: AddressFormat | None = None

    @property
    def is_utxo(self) -> bool:
        return self.family is Family.UTXO

    @property
    def is_account(self) -> bool:
        return self.family is Family.ACCOUNT

    @property
    def address_format(self) -> AddressFormat:
        """Which address rules apply (see :class:`AddressFormat`)."""
        if self.address_rules is not None:
            return self.address_rules
        return AddressFormat.BITCOIN if self.is_utxo else AddressFormat.EVM

    @property
    def is_evm(self) -> bool:
        """An account chain of the Ethereum family (0x addresses, JSON-RPC nodes)."""
        return self.is_account and self.address_format is AddressFormat.EVM


DEFAULT_CHAINS: tuple[Chain, ...] = (
    Chain("btc", "Bitcoin", Family.UTXO, "BTC", 8, "mainnet", (0x00,), (0x05,), "bc", "bitcoin",
          aliases=("bitcoin", "xbt")),
    Chain("btc-testnet", "Bitcoin testnet", Family.UTXO, "tBTC", 8, "testnet", (0x6F,), (0xC4,), "tb",
          "testnet"),
    Chain("btc-regtest", "Bitcoin regtest", Family.UTXO, "rBTC", 8, "regtest", (0x6F,), (0xC4,), "bcrt",
          "regtest"),
    # Litecoin kept the Bitcoin-style P2SH version 0x05 ("3...") valid next to its own 0x32 ("M...").
    Chain("ltc", "Litecoin", Family.UTXO, "LTC", 8, "mainnet", (0x30,), (0x32, 0x05), "ltc", "litecoin",
          aliases=("litecoin",)),
    Chain("ltc-testnet", "Litecoin testnet", Family.UTXO, "tLTC", 8, "testnet", (0x6F,), (0x3A, 0xC4),
          "tltc", "litecoin_testnet"),
    Chain("ltc-regtest", "Litecoin regtest", Family.UTXO, "rLTC", 8, "regtest", (0x6F,), (0x3A, 0xC4),
          "rltc", "litecoin_regtest"),
    Chain("eth", "Ethereum", Family.ACCOUNT, "ETH", 18, "mainnet", evm_chain_id=1, aliases=("ethereum",)),
    Chain("eth-sepolia", "Ethereum Sepolia", Family.ACCOUNT, "SepoliaETH", 18, "testnet",
          evm_chain_id=11155111),
    Chain("eth-holesky", "Ethereum Holesky", Family.ACCOUNT, "HoleskyETH", 18, "testnet", evm_chain_id=17000),
    # Local development chains (Foundry anvil, Hardhat) use chain id 31337.
    Chain("eth-devnet", "Ethereum local devnet (anvil/hardhat)", Family.ACCOUNT, "ETH", 18, "devnet",
          evm_chain_id=31337, aliases=("eth-regtest", "anvil")),
    # Tron mainnet: TRX has 6 decimals (1 TRX = 1,000,000 sun), developers.tron.network/docs/trx
    Chain("trx", "Tron", Family.ACCOUNT, "TRX", 6, "mainnet", aliases=("tron",),
          address_rules=AddressFormat.TRON),
)


class ChainRegistry:
    """Look-up of :class:`Chain` by key, alias or EVM chain id."""

    def __init__(self, chains: Iterable[Chain]) -> None:
        self._by_key: dict[str, Chain] = {}
        self._by_alias: dict[str, Chain] = {}
        chain_ids: dict[int, str] = {}
        for chain in chains:
            if not _KEY_RULE.fullmatch(chain.key):
                raise ValueError(f"chain key {chain.key!r} must be lower-case letters, digits and '-'")
            if chain.key in self._by_key or chain.key in self._by_alias:
                raise ValueError(f"chain key {chain.key!r} is already taken")
            if chain.evm_chain_id is not None:
                if chain.evm_chain_id in chain_ids:
                    raise ValueError(f"chain {chain.key!r}: chain id {chain.evm_chain_id} is already used by "
                                     f"{chain_ids[chain.evm_chain_id]!r}")
                chain_ids[chain.evm_chain_id] = chain.key
            self._by_key[chain.key] = chain
            for alias in chain.aliases:
                if alias in self._by_key or alias in self._by_alias:
                    raise ValueError(f"chain alias {alias!r} is already taken")
                self._by_alias[alias] = chain

    def get(self, key: str) -> Chain:
        """Return the chain for ``key`` (case-insensitive; aliases accepted).

        Raises
        ------
        UnknownChainError
            If no chain has that key or alias.
        """
        wanted = key.strip().lower()
        chain = self._by_key.get(wanted) or self._by_alias.get(wanted)
        if chain is None:
            raise UnknownChainError(key, self.keys())
        return chain

    def by_evm_chain_id(self, chain_id: int) -> Chain | None:
        """The account chain whose EIP-155 id is ``chain_id``, or ``None``."""
        for chain in self._by_key.values():
            if chain.evm_chain_id == chain_id:
                return chain
        return None

    def keys(self) -> list[str]:
        return sorted(self._by_key)

    def __iter__(self) -> Iterator[Chain]:
        return iter(sorted(self._by_key.values(), key=lambda c: c.key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key.lower() in self._by_key or key.lower() in self._by_alias)

    def extended(self, extra: Iterable[Chain]) -> ChainRegistry:
        """A new registry with ``extra`` chains added (e.g. EVM chains declared in the config)."""
        return ChainRegistry([*self._by_key.values(), *extra])

    @staticmethod
    def evm_chain_from_mapping(key: str, spec: Mapping[str, object]) -> Chain:
        """Build an EVM chain from a configuration table such as ``{chain_id = 56, symbol = "BNB"}``."""
        chain_id = spec.get("chain_id")
        if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
            raise ValueError(f"chain {key!r}: 'chain_id' must be a positive integer")
        symbol = spec.get("symbol", "ETH")
        decimals = spec.get("decimals", 18)
        name = spec.get("name", key)
        if not isinstance(symbol, str) or not isinstance(name, str):
            raise ValueError(f"chain {key!r}: 'symbol' and 'name' must be text")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 36:
            raise ValueError(f"chain {key!r}: 'decimals' must be an integer between 0 and 36")
        return Chain(key.lower(), name, Family.ACCOUNT, symbol, decimals, str(spec.get("network", "mainnet")),
                     evm_chain_id=chain_id)


def default_registry() -> ChainRegistry:
    """The built-in chains."""
    return ChainRegistry(DEFAULT_CHAINS)
