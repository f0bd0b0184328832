# SPDX-License-Identifier: Apache-2.0
"""Validate and normalize addresses per chain.

* Bitcoin family: Base58Check (version byte checked against the chain's P2PKH / P2SH versions)
  and segwit addresses in Bech32 (witness v0, BIP-173) or Bech32m (v1+, BIP-350). The checksum
  arithmetic is ``bitcoinlib``'s; which prefixes belong to which chain is ours (``tracer.chains``).
  Normal form: Base58 as given, Bech32 in lower case.
* Ethereum family: 20-byte hex with ``0x``; EIP-55 mixed-case checksum via ``eth_utils``. An
  all-lower-case or all-upper-case address carries no checksum and is accepted; a mixed-case one
  must match its checksum exactly. Normal form: the EIP-55 checksummed spelling.
* Tron: Base58Check with version byte ``0x41`` (``T…``) or the hex form ``41`` + 40 hex digits
  (:mod:`adapters.tron.addresses`). Normal form: the Base58Check spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from adapters.bitcoin.bitcoinlib_setup import bitcoinlib_modules
from adapters.tron.addresses import TronAddressError, parse_tron
from tracer.chains import AddressFormat, Chain, ChainRegistry, default_registry
from tracer.errors import InvalidAddressError

__all__ = ["AddressInfo", "parse_address", "normalize_address"]

_HEX40 = re.compile(r"^0[xX][0-9a-fA-F]{40}$")
_WITNESS_TYPES = {(0, 20): "p2wpkh", (0, 32): "p2wsh", (1, 32): "p2tr"}


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """A validated address in normal form, with the script or account type it encodes."""

    chain: str
    address: str
    kind: str  # p2pkh | p2sh | p2wpkh | p2wsh | p2tr | witness_unknown | account


def normalize_address(chain: Chain, address: str) -> str:
    """The normal form of ``address`` on ``chain``; raises :class:`InvalidAddressError`."""
    return parse_address(chain, address).address


def parse_address(chain: Chain, address: str, *, registry: ChainRegistry | None = None) -> AddressInfo:
    """Validate ``address`` for ``chain`` and return it normalized.

    Raises
    ------
    InvalidAddressError
        With the reason: bad characters, bad length, checksum mismatch, or a prefix that belongs
        to another chain (the message names that chain when it is a known one).
    """
    if not isinstance(address, str):
        raise InvalidAddressError(repr(address), chain.key, "address must be text")
    text = address.strip()
    if not text:
        raise InvalidAddressError(address, chain.key, "empty address")
    if chain.address_format is AddressFormat.TRON:
        try:
            return AddressInfo(chain.key, parse_tron(text), "account")
        except TronAddressError as exc:
            raise InvalidAddressError(text, chain.key, exc.reason) from None
    if chain.is_account:
        return _parse_evm(chain, text)
    return _parse_utxo(chain, text, registry or default_registry())


def _parse_evm(chain: Chain, text: str) -> AddressInfo:
    from eth_utils import to_checksum_address

    if not _HEX40.fullmatch(text):
        raise InvalidAddressError(text, chain.key, "expected 0x followed by 40 hexadecimal digits")
    body = text[2:]
    checksummed = to_checksum_address("0x" + body.lower())
    if body != body.lower() and body != body.upper() and "0x" + body != checksummed:
        raise InvalidAddressError(text, chain.key, f"EIP-55 checksum mismatch (expected {checksummed})")
    return AddressInfo(chain.key, checksummed, "account")


def _parse_utxo(chain: Chain, text: str, registry: ChainRegistry) -> AddressInfo:
    encoding, _ = bitcoinlib_modules()
    hrp = chain.bech32_hrp
    if hrp and text.lower().startswith(hrp + "1"):
        return _parse_bech32(chain, text, encoding)
    if text.lower().startswith("0x"):
        raise InvalidAddressError(text, chain.key, "this is an Ethereum-style address")
    try:
        raw = encoding.change_base(text, 58, 256, 25)
    except (encoding.EncodingError, ValueError, TypeError):
        other = _bech32_chain_of(text, registry)
        reason = f"bech32 address of {other}, not {chain.key}" if other else "not a Base58 or Bech32 address"
        raise InvalidAddressError(text, chain.key, reason) from None
    if len(raw) != 25 or encoding.base58encode(raw) != text:
        # change_base pads to 25 bytes, so a dropped or added leading "1" (zero byte) must be caught here
        raise InvalidAddressError(text, chain.key, "Base58 payload is not 25 bytes (leading '1's missing or extra?)")
    payload, check = raw[:-4], raw[-4:]
    if encoding.double_sha256(payload)[:4] != check:
        raise InvalidAddressError(text, chain.key, "Base58Check checksum mismatch")
    version = payload[0]
    if version in chain.p2pkh_versions:
        return AddressInfo(chain.key, text, "p2pkh")
    if version in chain.p2sh_versions:
        return AddressInfo(chain.key, text, "p2sh")
    owners = sorted(
        c.key for c in registry if c.is_utxo and (version in c.p2pkh_versions or version in c.p2sh_versions)
    )
    hint = f" (used by {', '.join(owners)})" if owners else ""
    raise InvalidAddressError(text, chain.key, f"version byte 0x{version:02x} is not valid on {chain.key}{hint}")


def _parse_bech32(chain: Chain, text: str, encoding: ModuleType) -> AddressInfo:
    try:
        raw = encoding.addr_bech32_to_pubkeyhash(text, prefix=chain.bech32_hrp, include_witver=True)
    except (encoding.EncodingError, ValueError, TypeError, IndexError) as exc:
        raise InvalidAddressError(text, chain.key, f"bad Bech32/Bech32m encoding: {exc}") from None
    witver = raw[0] - 0x50 if raw[0] else 0
    program_len = len(raw) - 2
    kind = _WITNESS_TYPES.get((witver, program_len), "witness_unknown")
    return AddressInfo(chain.key, text.lower(), kind)


def _bech32_chain_of(text: str, registry: ChainRegistry) -> str | None:
    lowered = text.lower()
    for chain in registry:
        if chain.bech32_hrp and lowered.startswith(chain.bech32_hrp + "1"):
            return chain.key
    return None
