# SPDX-License-Identifier: Apache-2.0
"""Seeds as investigators hold them, typed or kept in a case: an address (everything it received),
an address's sending (what it sent in a time window: the victim of a theft only sends), one output
``TXID:VOUT`` (UTXO chains) or one transfer ``TXID[:INDEX]`` (account chains). Validated and put in
normal form per chain; :class:`tracer.trace.Seed` is what the engine takes."""

from __future__ import annotations

import re

from jobs.addresses import normal_address
from jobs.workspace import Seed as CaseSeed
from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError
from tracer.trace import Seed

__all__ = ["TXID", "parse_seed", "trace_seed", "ROLES"]

#: what a case's address seed stands for: what it received, or what it sent
ROLES = ("received", "sent")

#: a transaction id as people paste it: 64 hex digits, on account chains with 0x
TXID = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")


def parse_seed(registry: ChainRegistry, chain: Chain, text: str) -> Seed:
    """A seed as typed: an address (what it received), ``TXID:VOUT`` (one output, UTXO chains), or
    ``TXID`` / ``TXID:INDEX`` (one transfer, account chains: the transaction's own value transfer, or
    the row with that log index / trace path, see :class:`tracer.trace.Seed`), ``TXID:INDEX@UNITS``
    (only UNITS base units of it: a bridge continuation)."""
    value = text.strip()
    base, at, units = value.partition("@")  # TXID[:INDEX]@UNITS: part of a transfer (no address has an @)
    txid, sep, rest = base.partition(":")
    if TXID.fullmatch(txid) and (sep or chain.is_account):
        if not chain.is_account:
            if at or not rest.isdigit() or not rest.isascii():
                raise InputError(f"{text}: an output seed is TXID:VOUT with VOUT a number")
            return Seed(txid=txid.lower().removeprefix("0x"), vout=int(rest))
        if not txid.lower().startswith("0x"):
            raise InputError(f"{text}: a transaction on {chain.key} is 0x followed by 64 hex digits")
        if at and not (units.isascii() and units.isdigit() and int(units) > 0):
            raise InputError(f"{text}: TXID[:INDEX]@UNITS traces UNITS base units of the transfer (a whole number > 0)")
        return Seed(txid=txid.lower(), index=rest or None, taint=int(units) if at else None)
    if at:
        raise InputError(f"{text}: @UNITS follows a transfer (TXID[:INDEX]@UNITS), not an address")
    return Seed(address=normal_address(registry, chain.key, value))


def trace_seed(registry: ChainRegistry, chain: Chain, seed: CaseSeed) -> Seed:
    """The trace seed a case seed stands for (its kind: an address, what it sent, an output or a transfer)."""
    if seed.role == "sent":
        return Seed(address=seed.address, sent=True)
    if seed.kind in ("output", "transfer"):
        return parse_seed(registry, chain, seed.address)
    return Seed(address=seed.address)
