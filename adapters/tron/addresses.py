# SPDX-License-Identifier: Apache-2.0
"""Tron addresses: Base58Check with version byte ``0x41``, and the hex form.

A Tron address is 21 bytes: the version byte ``0x41`` followed by the 20-byte account id (the
same 20 bytes an EVM address carries: the last 20 bytes of keccak-256 of the public key). It is
written either

* in Base58Check (``T`` + 33 characters): ``base58(payload + sha256(sha256(payload))[:4])``, the
  form wallets and explorers show; or
* in hex: ``41`` + 40 hex digits (the HTTP API's default, ``visible=false``); the TVM and event
  logs (TIP-20, the ERC-20-compatible token standard) carry only the 20 bytes, without ``41``.

See https://developers.tron.network/docs/account (address format) and
https://github.com/tronprotocol/tips/blob/master/tip-20.md. The normal form is the Base58Check
spelling. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from tracer.errors import InputError

__all__ = ["VERSION", "TronAddressError", "parse_tron", "to_base58", "to_hex", "from_evm_word", "normalize_many"]

#: the version byte of every Tron mainnet address
VERSION = 0x41
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_HEX_FORM = re.compile(r"^(?:0[xX])?41[0-9a-fA-F]{40}$")
_WORD = re.compile(r"^(?:0[xX])?[0-9a-fA-F]{40,64}$")


class TronAddressError(InputError):
    """Text that is not a valid Tron address; ``reason`` says why."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address!r} is not a valid Tron address: {reason}")
        self.address = address
        self.reason = reason


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def _b58encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _ALPHABET[rest] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            raise ValueError(char)
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def to_base58(raw21: bytes) -> str:
    """The Base58Check spelling of a 21-byte address (``0x41`` + 20 bytes)."""
    if len(raw21) != 21 or raw21[0] != VERSION:
        raise ValueError("a Tron address is 21 bytes starting with 0x41")
    return _b58encode(raw21 + _checksum(raw21))


def to_hex(address: str) -> str:
    """``41`` + 40 lower-case hex digits for a valid Tron address in either form."""
    normal = parse_tron(address)
    return _b58decode(normal)[:21].hex()


def from_evm_word(word: str) -> str:
    """The Base58 address of a 20-byte account id as the TVM writes it: 40 hex digits, or a 32-byte
    ABI word / log topic (left-padded with zeros; Tron's own tooling sometimes puts ``41`` in the
    padding, which is accepted). Raises :class:`TronAddressError`."""
    text = word.strip()
    if not _WORD.fullmatch(text):
        raise TronAddressError(word, "not 20 bytes of hex (or a 32-byte ABI word)")
    body = text[2:] if text[:2].lower() == "0x" else text
    account, padding = body[-40:], body[:-40]
    if padding.strip("0") not in ("", "41"):
        raise TronAddressError(word, "the 12 bytes before the account id are not zero: not an address word")
    return to_base58(bytes([VERSION]) + bytes.fromhex(account))


def parse_tron(text: str) -> str:
    """Validate a Tron address (Base58Check ``T…`` or hex ``41…``, ``0x`` optional) and return its
    Base58Check spelling.

    Raises
    ------
    TronAddressError
        Bad characters or length, a checksum mismatch, or another version byte than ``0x41``.
    """
    value = text.strip()
    if not value:
        raise TronAddressError(text, "empty address")
    if _HEX_FORM.fullmatch(value):
        body = value[2:] if value[:2].lower() == "0x" else value
        return to_base58(bytes.fromhex(body))
    if value[:2].lower() == "0x" and len(value) == 42:
        raise TronAddressError(text, "this is an Ethereum-style address (Tron's hex form is 41 + 40 hex digits)")
    if len(value) != 34:
        raise TronAddressError(text, f"{len(value)} characters; a Base58 Tron address has 34 (T…)")
    try:
        raw = _b58decode(value)
    except ValueError as exc:
        raise TronAddressError(text, f"character {exc.args[0]!r} is not Base58") from None
    if len(raw) != 25:
        raise TronAddressError(text, "the Base58 payload is not 25 bytes")
    payload, check = raw[:21], raw[21:]
    if _checksum(payload) != check:
        raise TronAddressError(text, "Base58Check checksum mismatch (a mistyped character?)")
    if payload[0] != VERSION:
        raise TronAddressError(text, f"version byte 0x{payload[0]:02x}, not Tron's 0x41")
    return value


def normalize_many(addresses: Iterable[str]) -> dict[str, str]:
    """``{given: normal}`` for many addresses, each distinct text checked once (the frame check of a
    large export validates each distinct address once, ~10 µs each). Raises on the first bad one."""
    return {a: parse_tron(a) for a in dict.fromkeys(addresses)}
