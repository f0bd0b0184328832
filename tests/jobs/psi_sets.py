# SPDX-License-Identifier: Apache-2.0
"""Test support for deconfliction: two agencies (workspaces with keys that trust each other), large
item sets of real, normalized addresses, and a scan of exchanged bytes for anything unkeyed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from adapters.bitcoin.bitcoinlib_setup import bitcoinlib_modules
from jobs.addresses import normal_address
from jobs.deconflict_protocol import Item
from jobs.keys import Signer, create_key, export_public, load_signer, trust_key
from jobs.settings import Settings, load_settings
from tracer import psi
from tracer.chains import default_registry


@dataclass(frozen=True)
class Agency:
    settings: Settings
    signer: Signer


def agencies(root: Path, *names: str) -> dict[str, Agency]:
    """One workspace per name under ``root``, each with key ``name`` and trusting all the others."""
    made: dict[str, Agency] = {}
    for name in names:
        settings = load_settings({"TRACER_HOME": str(root / name)})
        create_key(settings, name, passphrase=None, contact=f"duty desk of {name}")
        export_public(settings, name, root / f"{name}.pub")
        made[name] = Agency(settings, load_signer(settings, name, None))
    for name, agency in made.items():
        for other in names:
            if other != name:
                trust_key(agency.settings, root / f"{other}.pub")
    return made


def addresses(tag: str, count: int) -> list[Item]:
    """``count`` distinct real addresses in normal form, alternating Ethereum (EIP-55) and Litecoin
    (Bech32 P2WPKH), derived from ``tag`` so two calls with different tags never collide."""
    registry = default_registry()
    encoding, _ = bitcoinlib_modules()
    items = []
    for i in range(count):
        digest = hashlib.sha256(f"{tag}/{i}".encode()).digest()[:20]
        if i % 2:
            items.append(Item("eth", normal_address(registry, "eth", "0x" + digest.hex()), ("seed",)))
        else:
            text = encoding.pubkeyhash_to_addr_bech32(digest, prefix="ltc", witver=0)
            items.append(Item("ltc", normal_address(registry, "ltc", text), ("hop",)))
    return items


def unkeyed_forms(item: Item) -> list[bytes]:
    """What a leaky protocol could have put in a file for ``item``: the address, plain hashes of it
    (SHA-256/SHA-512 of the address, of ``chain:address``, of the protocol's own encoding) and its
    unkeyed hash to the group ``H(x)``, each raw, in hex (both cases) and in base64."""
    texts = [item.address.encode(), f"{item.chain}:{item.address}".encode()]
    digests = [hashlib.new(name, text).digest() for name in ("sha256", "sha512") for text in texts]
    digests += [hashlib.sha256(psi.item_encoding(item.chain, item.address)).digest(),
                psi.item_digest(item.chain, item.address), psi.hash_to_group(item.chain, item.address)]
    forms = [item.address.encode(), item.address.lower().encode()]
    for digest in digests:
        forms += [digest, digest.hex().encode(), digest.hex().upper().encode(), base64.b64encode(digest),
                  base64.urlsafe_b64encode(digest)]
    return forms


def leaks(data: bytes, items: Iterable[Item]) -> list[str]:
    """Every item of ``items`` any of whose :func:`unkeyed_forms` occurs anywhere in ``data``.

    Exact and fast: every form is at least 32 bytes long, so it can only occur where its first 32
    bytes do; those are looked up in the set of all 32-byte windows of ``data``, and a hit is
    confirmed with a full search."""
    windows = {data[i:i + 32] for i in range(len(data) - 31)}
    found = []
    for item in items:
        for form in unkeyed_forms(item):
            assert len(form) >= 32, form
            if form[:32] in windows and form in data:
                found.append(f"{item.chain}:{item.address}")
                break
    return found
