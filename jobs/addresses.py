# SPDX-License-Identifier: Apache-2.0
"""Addresses as a person types them: validated and normalized for one chain, or for every chain
whose address form fits (``0x…`` is valid on every EVM chain, ``3…`` on Bitcoin and Litecoin)."""

from __future__ import annotations

from collections.abc import Callable

from adapters.addresses import AddressInfo, parse_address
from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError

__all__ = ["check_address", "normal_address", "candidate_chains", "address_normalizer", "AddressInfo"]


def check_address(registry: ChainRegistry, chain: str, text: str) -> AddressInfo:
    """``text`` validated for ``chain`` (its checksum rules) with its normal form and kind.

    Raises
    ------
    InputError
        Unknown chain, invalid address or checksum.
    """
    return parse_address(registry.get(chain), text, registry=registry)


def normal_address(registry: ChainRegistry, chain: str, text: str) -> str:
    """The normal form of ``text`` on ``chain`` (see :func:`check_address`)."""
    return check_address(registry, chain, text).address


def address_normalizer(registry: ChainRegistry) -> Callable[[Chain, str], str]:
    """``normalize(chain, address) -> normal form`` for the tag parsers of :mod:`tracer.tagpacks`."""
    return lambda chain, address: parse_address(chain, address, registry=registry).address


def candidate_chains(registry: ChainRegistry, text: str) -> list[tuple[str, str]]:
    """``(chain, normal form)`` for every chain on which ``text`` is a valid address."""
    found = []
    for candidate in registry:
        try:
            found.append((candidate.key, parse_address(candidate, text, registry=registry).address))
        except InputError:
            continue
    return found
