# SPDX-License-Identifier: Apache-2.0
"""Registry of cross-chain bridges: which contracts on which chain belong to which bridge, and the
events each bridge emits (pure data, parsing and validation; no I/O).

A bridge hop is a deposit on one chain (value handed to the bridge) matched to the release on
another (value paid out), by the bridge's own identifiers (:mod:`tracer.bridge_match`). To find
those events, the EVM decoder (:mod:`adapters.evm.bridges`) needs to know which contracts are
bridge contracts: an event from any other contract is ignored, however it is named, because a
look-alike event costs nothing to emit.

Contracts are keyed by **EIP-155 chain id** (not by the tracer's chain key), since that is what the
bridges themselves use to name chains (Across' ``originChainId`` / ``destinationChainId``).

Built in
--------
**Across Protocol** (``across``). SpokePool proxy addresses from the npm package
``@across-protocol/contracts@5.0.27``, file ``dist/broadcast/deployed-addresses.json`` (key
``chains.<chain id>.contracts.SpokePool.address``), mainnets only (test networks, Solana and Tron
left out). The event ABIs are those of ``dist/evm/artifacts/SpokePool.sol/SpokePool.json`` in the
same package:

* ``FundsDeposited`` (Across v3.5+, addresses as ``bytes32``, ``depositId`` ``uint256``) and
  ``V3FundsDeposited`` (v3, ``address`` fields, ``depositId`` ``uint32``): role ``deposit``;
* ``FilledRelay`` (v3.5+) and ``FilledV3Relay`` (v3): role ``release``.

The deployed SpokePools emit the ``bytes32`` forms since v3.5; the ``V3`` forms are kept because
blocks from before the upgrade carry them. A deposit is identified by ``(originChainId,
depositId)``: "store the user's depositId and originChainId" (https://docs.across.to/reference/
tracking-events; the status API takes the same pair, https://docs.across.to/api-reference/deposit/
status/get). The Across v2 events (``FundsDeposited`` with ``relayerFeePct``, before 2024) have other
topic hashes and are not decoded.

User configuration
------------------
A ``[bridges.<name>]`` table per bridge in the TOML config adds contracts (they extend, never
replace, the built-in ones; the tests register the anvil-deployed SpokePools this way)::

    [bridges.across]
    window_seconds = 21600            # optional: time window when an event states no deadline
    [bridges.across.contracts]
    "1" = ["0x5c7BCd6E7De5423a257D81B442095A1a6ced35C5"]
    "31337" = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]

Keys of ``contracts`` are chain ids in decimal (TOML keys are text); values a list of addresses
(one address as plain text is accepted). Only bridges whose events the decoder knows can be named:
another name raises :class:`UnknownBridgeError`; a malformed address or chain id raises
:class:`BridgeConfigError`, both naming the entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address

from tracer.errors import ConfigError

__all__ = [
    "BridgeConfigError",
    "UnknownBridgeError",
    "EventInput",
    "BridgeEvent",
    "BridgeProtocol",
    "BridgeRegistry",
    "ACROSS",
    "ACROSS_SPOKE_POOLS",
    "PROTOCOLS",
    "default_bridge_registry",
    "parse_bridges_config",
]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class BridgeConfigError(ConfigError):
    """A bridge entry of the configuration that cannot be used (bad chain id, address or option)."""


class UnknownBridgeError(BridgeConfigError):
    """A bridge name the registry has no event definitions for."""

    def __init__(self, name: str, known: Iterable[str], where: str | None = None) -> None:
        self.name = name
        self.known = sorted(known)
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown bridge {name!r}; known bridges: {', '.join(self.known)}")


@dataclass(frozen=True, slots=True)
class EventInput:
    """One parameter of an event ABI: name, Solidity type (``tuple(...)`` spelled out), indexed or not."""

    name: str
    type: str
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class BridgeEvent:
    """One event a bridge contract emits, with what it means for the trace."""

    name: str
    role: str  # deposit | release (tracer.schema.BRIDGE_ROLES)
    inputs: tuple[EventInput, ...]

    @property
    def signature(self) -> str:
        """Canonical signature whose keccak-256 is the event's topic0, e.g. ``Transfer(address,address,uint256)``."""
        return f"{self.name}({','.join(i.type for i in self.inputs)})"

    @property
    def indexed(self) -> tuple[EventInput, ...]:
        return tuple(i for i in self.inputs if i.indexed)

    @property
    def data(self) -> tuple[EventInput, ...]:
        return tuple(i for i in self.inputs if not i.indexed)


@dataclass(frozen=True, slots=True)
class BridgeProtocol:
    """A bridge: its events, its decoder family and its default matching window."""

    name: str
    title: str
    docs: str
    #: which decoder of ``adapters.evm.bridges`` reads the events (one per event family)
    decoder: str
    events: tuple[BridgeEvent, ...]
    #: release must follow the deposit within this many seconds when the events state no deadline
    default_window_seconds: int


def _inputs(spec: str) -> tuple[EventInput, ...]:
    """``"type name [indexed], ..."`` -> inputs (a compact, reviewable spelling of an ABI)."""
    out = []
    for part in spec.split(";"):
        words = part.split()
        out.append(EventInput(words[1], words[0], indexed=len(words) > 2 and words[2] == "indexed"))
    return tuple(out)


#: Across SpokePool events, from ``@across-protocol/contracts@5.0.27``
#: ``dist/evm/artifacts/SpokePool.sol/SpokePool.json`` (tests compare them with the installed artifact).
ACROSS_EVENTS: tuple[BridgeEvent, ...] = (
    BridgeEvent("FundsDeposited", "deposit", _inputs(
        "bytes32 inputToken; bytes32 outputToken; uint256 inputAmount; uint256 outputAmount; "
        "uint256 destinationChainId indexed; uint256 depositId indexed; uint32 quoteTimestamp; uint32 fillDeadline; "
        "uint32 exclusivityDeadline; bytes32 depositor indexed; bytes32 recipient; bytes32 exclusiveRelayer; "
        "bytes message")),
    BridgeEvent("V3FundsDeposited", "deposit", _inputs(
        "address inputToken; address outputToken; uint256 inputAmount; uint256 outputAmount; "
        "uint256 destinationChainId indexed; uint32 depositId indexed; uint32 quoteTimestamp; uint32 fillDeadline; "
        "uint32 exclusivityDeadline; address depositor indexed; address recipient; address exclusiveRelayer; "
        "bytes message")),
    BridgeEvent("FilledRelay", "release", _inputs(
        "bytes32 inputToken; bytes32 outputToken; uint256 inputAmount; uint256 outputAmount; "
        "uint256 repaymentChainId; uint256 originChainId indexed; uint256 depositId indexed; uint32 fillDeadline; "
        "uint32 exclusivityDeadline; bytes32 exclusiveRelayer; bytes32 relayer indexed; bytes32 depositor; "
        "bytes32 recipient; bytes32 messageHash; (bytes32,bytes32,uint256,uint8) relayExecutionInfo")),
    BridgeEvent("FilledV3Relay", "release", _inputs(
        "address inputToken; address outputToken; uint256 inputAmount; uint256 outputAmount; "
        "uint256 repaymentChainId; uint256 originChainId indexed; uint32 depositId indexed; uint32 fillDeadline; "
        "uint32 exclusivityDeadline; address exclusiveRelayer; address relayer indexed; address depositor; "
        "address recipient; bytes message; (address,bytes,uint256,uint8) relayExecutionInfo")),
)

ACROSS = BridgeProtocol(
    name="across",
    title="Across Protocol",
    docs="https://docs.across.to/reference/tracking-events",
    decoder="across_v3",
    events=ACROSS_EVENTS,
    # only used when an event carries no fillDeadline (every Across v3 event does)
    default_window_seconds=6 * 3600,
)

#: Across SpokePool (proxy) per EIP-155 chain id, mainnets, from ``@across-protocol/contracts@5.0.27``
#: ``dist/broadcast/deployed-addresses.json``.
ACROSS_SPOKE_POOLS: Mapping[int, str] = {
    1: "0x5c7BCd6E7De5423a257D81B442095A1a6ced35C5",  # Ethereum
    10: "0x6f26Bf09B1C792e3228e5467807a900A503c0281",  # Optimism
    56: "0x4e8E101924eDE233C13e2D8622DC8aED2872d505",  # BNB Smart Chain
    130: "0x09aea4b2242abC8bb4BB78D537A67a245A7bEC64",  # Unichain
    137: "0x9295ee1d8C5b022Be115A2AD3c30C72E34e7F096",  # Polygon
    143: "0xd2ecb3afe598b746F8123CaE365a598DA831A449",  # Monad
    232: "0xb234cA484866c811d0e6D3318866F583781ED045",  # Lens
    288: "0xBbc6009fEfFc27ce705322832Cb2068F8C1e0A58",  # Boba
    324: "0xE0B015E54d54fc84a6cB9B666099c46adE9335FF",  # zkSync Era
    480: "0x09aea4b2242abC8bb4BB78D537A67a245A7bEC64",  # World Chain
    999: "0x35E63eA3eb0fb7A3bc543C71FB66412e1F6B0E04",  # HyperEVM
    1135: "0x9552a0a6624A23B848060AE5901659CDDa1f83f8",  # Lisk
    1868: "0x3baD7AD0728f9917d1Bf08af5782dCbD516cDd96",  # Soneium
    4326: "0x3Db06DA8F0a24A525f314eeC954fC5c6a973d40E",  # MegaETH
    8453: "0x09aea4b2242abC8bb4BB78D537A67a245A7bEC64",  # Base
    9745: "0x50039fAEfebef707cFD94D6d462fE6D10B39207a",  # Plasma
    34443: "0x3baD7AD0728f9917d1Bf08af5782dCbD516cDd96",  # Mode
    42161: "0xe35e9842fceaCA96570B734083f4a58e8F7C5f2A",  # Arbitrum One
    43114: "0xFE9D541c92E4e90437C7152A00244886dE37a658",  # Avalanche
    57073: "0xeF684C38F94F48775959ECf2012D7E864ffb9dd4",  # Ink
    59144: "0x7E63A5f1a8F0B4d0934B2f2327DAED3F6bb2ee75",  # Linea
    81457: "0x2D509190Ed0172ba588407D4c2df918F955Cc6E1",  # Blast
    534352: "0x3baD7AD0728f9917d1Bf08af5782dCbD516cDd96",  # Scroll
    7777777: "0x13fDac9F9b4777705db45291bbFF3c972c6d1d97",  # Zora
}

#: Bridges whose events a decoder knows, by registry name.
PROTOCOLS: Mapping[str, BridgeProtocol] = {ACROSS.name: ACROSS}


@dataclass(frozen=True)
class BridgeRegistry:
    """Bridge contracts per chain id, and the bridges' definitions.

    ``contracts`` maps ``(chain_id, lower-case address)`` to the bridge name; addresses are kept
    EIP-55 spelled in :meth:`contracts_on`.
    """

    protocols: Mapping[str, BridgeProtocol] = field(default_factory=lambda: dict(PROTOCOLS))
    contracts: Mapping[tuple[int, str], str] = field(default_factory=dict)
    windows: Mapping[str, int] = field(default_factory=dict)

    def protocol(self, name: str) -> BridgeProtocol:
        """The bridge called ``name`` (:class:`UnknownBridgeError` if there is none)."""
        found = self.protocols.get(name.strip().lower())
        if found is None:
            raise UnknownBridgeError(name, self.protocols)
        return found

    def bridge_of(self, chain_id: int, address: str) -> str | None:
        """Name of the bridge that owns contract ``address`` on chain ``chain_id``, or ``None``."""
        return self.contracts.get((chain_id, address.lower()))

    def contracts_on(self, chain_id: int) -> dict[str, str]:
        """EIP-55 address -> bridge name of every registered contract on ``chain_id``."""
        return {to_checksum_address(a): b for (c, a), b in self.contracts.items() if c == chain_id}

    def chain_ids(self) -> list[int]:
        return sorted({c for c, _ in self.contracts})

    def window_seconds(self, name: str) -> int:
        """The configured (else built-in) window for ``name`` when an event states no deadline."""
        return self.windows.get(name.strip().lower(), self.protocol(name).default_window_seconds)

    def with_contracts(self, bridge: str, chain_id: int, addresses: Iterable[str]) -> BridgeRegistry:
        """A new registry with ``addresses`` on ``chain_id`` added to ``bridge``.

        Raises
        ------
        UnknownBridgeError, BridgeConfigError
            Unknown bridge; a chain id that is not a positive integer; an address that is not
            ``0x`` + 40 hex digits or fails its EIP-55 checksum; an address already registered for
            another bridge on that chain.
        """
        self.protocol(bridge)  # unknown -> UnknownBridgeError
        name = bridge.strip().lower()
        where = f"bridge {name!r} on chain {chain_id}"
        if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
            raise BridgeConfigError(f"bridge {name!r}: chain id {chain_id!r} must be a positive integer")
        contracts = dict(self.contracts)
        for address in addresses:
            key = (chain_id, _address(address, where))
            owner = contracts.get(key)
            if owner is not None and owner != name:
                raise BridgeConfigError(f"{where}: contract {address} is already registered for bridge {owner!r}")
            contracts[key] = name
        return BridgeRegistry(self.protocols, contracts, self.windows)

    def with_window(self, bridge: str, seconds: int) -> BridgeRegistry:
        """A new registry whose default window for ``bridge`` is ``seconds``."""
        self.protocol(bridge)  # unknown -> UnknownBridgeError
        name = bridge.strip().lower()
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            raise BridgeConfigError(f"bridge {name!r}: window_seconds must be a positive integer, not {seconds!r}")
        return BridgeRegistry(self.protocols, self.contracts, {**self.windows, name: seconds})


def _address(text: Any, where: str) -> str:
    """Validated lower-case form of an EVM address (mixed case must be a valid EIP-55 checksum)."""
    if not isinstance(text, str) or not _ADDRESS.fullmatch(text.strip()):
        raise BridgeConfigError(f"{where}: {text!r} is not an EVM address (0x followed by 40 hex digits)")
    text = text.strip()
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise BridgeConfigError(f"{where}: {text} fails its EIP-55 checksum (mistyped?)")
    return text.lower()


def default_bridge_registry() -> BridgeRegistry:
    """The built-in bridges with their known mainnet contracts."""
    registry = BridgeRegistry()
    for chain_id, address in ACROSS_SPOKE_POOLS.items():
        registry = registry.with_contracts(ACROSS.name, chain_id, [address])
    return registry


def parse_bridges_config(table: Any, base: BridgeRegistry | None = None,
                         where: str = "configuration") -> BridgeRegistry:
    """Extend ``base`` (default: :func:`default_bridge_registry`) with a config's ``[bridges]`` table.

    ``table`` is the parsed TOML value of ``bridges`` (see the module docstring for its shape);
    ``where`` names the file in messages. ``None`` or an empty table returns ``base`` unchanged.

    Raises
    ------
    UnknownBridgeError
        A ``[bridges.<name>]`` the registry has no events for.
    BridgeConfigError
        A table of the wrong shape, an unknown option, a chain id that is not a positive decimal
        integer, a malformed address.
    """
    registry = default_bridge_registry() if base is None else base
    if table is None:
        return registry
    if not isinstance(table, Mapping):
        raise BridgeConfigError(f"{where}: [bridges] must be a table of bridges")
    for name, spec in table.items():
        if str(name).strip().lower() not in registry.protocols:
            raise UnknownBridgeError(str(name), registry.protocols, where)
        if not isinstance(spec, Mapping):
            raise BridgeConfigError(f"{where}: [bridges.{name}] must be a table")
        unknown = set(spec) - {"contracts", "window_seconds"}
        if unknown:
            raise BridgeConfigError(f"{where}: [bridges.{name}] has unknown option(s) {', '.join(sorted(unknown))}; "
                                    "expected contracts, window_seconds")
        if "window_seconds" in spec:
            try:
                registry = registry.with_window(str(name), spec["window_seconds"])
            except BridgeConfigError as exc:
                raise BridgeConfigError(f"{where}: {exc}") from None
        contracts = spec.get("contracts", {})
        if not isinstance(contracts, Mapping):
            raise BridgeConfigError(f"{where}: bridges.{name}.contracts must be a table of chain id = [addresses]")
        for chain_text, addresses in contracts.items():
            chain_id = _chain_id(chain_text, f"{where}: bridges.{name}.contracts")
            if isinstance(addresses, str):
                addresses = [addresses]
            if not isinstance(addresses, list | tuple):
                raise BridgeConfigError(f"{where}: bridges.{name}.contracts.{chain_text} must be a list of addresses")
            try:
                registry = registry.with_contracts(str(name), chain_id, addresses)
            except BridgeConfigError as exc:
                raise BridgeConfigError(f"{where}: {exc}") from None
    return registry


def _chain_id(text: Any, where: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and text.strip().isdigit() and text.strip().isascii():
        value = int(text.strip())
    else:
        raise BridgeConfigError(f"{where}: chain id {text!r} must be a positive decimal integer (EIP-155)")
    if value <= 0:
        raise BridgeConfigError(f"{where}: chain id {text!r} must be a positive decimal integer (EIP-155)")
    return value
