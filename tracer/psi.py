# SPDX-License-Identifier: Apache-2.0
"""Private set intersection for deconfliction: the Diffie–Hellman protocol over ristretto255.

Two agencies each hold a set of case items (a chain key with an address in its normal form) and
want to learn which items they share, and nothing about the others. The protocol is Meadows'
(1986) [1]_, as Huberman, Franklin and Hogg (1999) [2]_ used it for "enhancing privacy and trust
in electronic communities", in the prime-order group ristretto255 (RFC 9496 [3]_):

1. The requester hashes each item ``x`` to the group, ``H(x)`` (SHA-512 of a domain-separated
   encoding, then RFC 9496 §4.3.4 one-way map), and sends ``H(x)^a`` for a secret scalar ``a``,
   in byte order (so the order reveals nothing).
2. The responder sends ``(H(x)^a)^b`` in the request's order, and ``H(y)^b`` for its own items,
   in byte order, with its own secret ``b``, which it then forgets.
3. The requester computes ``(H(y)^b)^a``; since ``H(x)^ab = H(y)^ba`` exactly when ``x = y``
   (but with negligible probability), the positions where the two lists meet are the shared items.

Under the decisional Diffie–Hellman assumption in the group (and ``H`` modelled as a random
oracle) neither side learns anything about the other's items outside the intersection but their
number. For cardinality only, the responder sorts the doubly-blinded list too (as De Cristofaro,
Gasti and Tsudik's PSI-CA [4]_), so the requester can count the matches but not place them.

This module is the pure group arithmetic (libsodium through ``pysodium``: a library call, no
I/O) and the canonical message container; signing, keys and files are ``jobs/deconflict*.py``.

References
----------
.. [1] C. Meadows, "A More Efficient Cryptographic Matchmaking Protocol for Use in the Absence of
   a Continuously Available Third Party", IEEE Symposium on Security and Privacy, 1986.
.. [2] B. A. Huberman, M. Franklin, T. Hogg, "Enhancing privacy and trust in electronic
   communities", ACM Conference on Electronic Commerce (EC '99), 1999.
.. [3] RFC 9496, "The ristretto255 and decaf448 Groups", 2023 (§4.3.4 element derivation).
.. [4] E. De Cristofaro, P. Gasti, G. Tsudik, "Fast and Private Computation of Cardinality of Set
   Intersection and Union", CANS 2012.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pysodium

from tracer.errors import InputError

__all__ = [
    "DOMAIN", "ELEMENT_BYTES", "SCALAR_BYTES", "FORMAT", "MAGIC", "SIGNATURE_BYTES",
    "InvalidElementError", "item_encoding", "item_digest", "hash_to_group", "random_scalar", "check_scalar",
    "blind_items", "exponentiate", "check_elements", "Message", "encode_message", "decode_message",
    "signed_part",
]

#: Domain separation of the hash to the group (versioned: a new encoding gets a new string).
DOMAIN = b"tracer-deconflict/1 ristretto255 SHA-512 item"
ELEMENT_BYTES = pysodium.crypto_core_ristretto255_BYTES  # 32
SCALAR_BYTES = pysodium.crypto_core_ristretto255_SCALARBYTES  # 32
SIGNATURE_BYTES = 64  # Ed25519 (RFC 8032)
FORMAT = "tracer-deconflict/1"
MAGIC = (FORMAT + "\n").encode("ascii")
#: elements per task handed to the thread pool (libsodium runs without the GIL held)
_CHUNK = 2048


class InvalidElementError(InputError):
    """A received group element that is not the canonical encoding of a ristretto255 point (or is
    the identity, which no honest party sends)."""


def item_encoding(chain: str, address: str) -> bytes:
    """The unambiguous byte string hashed for one item: ``DOMAIN``, then the chain key and the
    address in its normal form, each UTF-8 with a two-byte big-endian length before it.

    >>> item_encoding("ltc", "abc")[-10:]
    b'\\x00\\x03ltc\\x00\\x03abc'
    """
    chain_bytes, address_bytes = chain.encode("utf-8"), address.encode("utf-8")
    return (DOMAIN + b"\x00" + struct.pack(">H", len(chain_bytes)) + chain_bytes
            + struct.pack(">H", len(address_bytes)) + address_bytes)


def item_digest(chain: str, address: str) -> bytes:
    """SHA-512 of :func:`item_encoding`: the 64 uniform bytes RFC 9496 §4.3.4 maps to the group."""
    return hashlib.sha512(item_encoding(chain, address)).digest()


def hash_to_group(chain: str, address: str) -> bytes:
    """``H(chain, address)``: the ristretto255 element derived from :func:`item_digest` (RFC 9496
    §4.3.4, ``crypto_core_ristretto255_from_hash``). Unkeyed: it never leaves the machine."""
    return bytes(pysodium.crypto_core_ristretto255_from_hash(item_digest(chain, address)))


def random_scalar() -> bytes:
    """A fresh secret exponent: uniform, non-zero, reduced modulo the group order (libsodium's CSPRNG)."""
    while True:
        scalar = bytes(pysodium.crypto_core_ristretto255_scalar_random())
        if any(scalar):
            return scalar


def check_scalar(scalar: bytes) -> bytes:
    """``scalar`` if it is a canonical non-zero scalar, else :class:`InputError`."""
    if len(scalar) != SCALAR_BYTES or not any(scalar):
        raise InputError("the secret scalar is not 32 non-zero bytes")
    reduced = bytes(pysodium.crypto_core_ristretto255_scalar_reduce(scalar + bytes(32)))
    if reduced != scalar:
        raise InputError("the secret scalar is not reduced modulo the group order")
    return scalar


def _parallel(task: Callable[[Sequence[Any]], list[bytes]], values: Sequence[Any]) -> list[bytes]:
    """``task`` over chunks of ``values`` on a thread pool, results in order (libsodium releases
    the GIL during each call through ctypes, so chunks run on every core)."""
    chunks = [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]
    if len(chunks) <= 1:
        return task(values)
    workers = min(len(chunks), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [element for part in pool.map(task, chunks) for element in part]


def blind_items(scalar: bytes, items: Sequence[tuple[str, str]]) -> list[bytes]:
    """``H(x)^scalar`` for each ``(chain, address)`` of ``items``, in their order."""
    check_scalar(scalar)
    multiply, from_hash = pysodium.crypto_scalarmult_ristretto255, pysodium.crypto_core_ristretto255_from_hash

    def task(part: Sequence[tuple[str, str]]) -> list[bytes]:
        return [bytes(multiply(scalar, from_hash(item_digest(chain, address)))) for chain, address in part]

    return _parallel(task, items)


def exponentiate(scalar: bytes, elements: Sequence[bytes], what: str) -> list[bytes]:
    """``e^scalar`` for each received element, in order. An element that is not a valid encoding
    (or is the identity) raises :class:`InvalidElementError` naming ``what`` and its position."""
    check_scalar(scalar)
    multiply = pysodium.crypto_scalarmult_ristretto255

    def task(part: Sequence[bytes]) -> list[bytes]:
        out = []
        for element in part:
            try:
                out.append(bytes(multiply(scalar, element)))
            except ValueError:  # libsodium refuses a non-canonical encoding and an identity result
                out.append(b"")
        return out

    result = _parallel(task, elements)
    _refuse_invalid(result, what)
    return result


def check_elements(elements: Sequence[bytes], what: str) -> None:
    """Refuse any element of ``elements`` that is not a canonical ristretto255 encoding of a point
    other than the identity (RFC 9496 §4.3.1 decoding), naming ``what`` and the position."""
    valid = pysodium.crypto_core_ristretto255_is_valid_point

    def task(part: Sequence[bytes]) -> list[bytes]:
        return [element if any(element) and valid(element) else b"" for element in part]

    _refuse_invalid(_parallel(task, elements), what)


def _refuse_invalid(results: Iterable[bytes], what: str) -> None:
    for position, element in enumerate(results):
        if not element:
            raise InvalidElementError(f"{what}: element {position + 1} is not a valid ristretto255 point "
                                      "(RFC 9496): the file is damaged or was not made by tracer")


@dataclass(frozen=True)
class Message:
    """A request or response: a header (JSON object) and named lists of group elements."""

    header: dict[str, Any]
    lists: dict[str, list[bytes]]
    signature: bytes = b""


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed_part(header: dict[str, Any], lists: dict[str, list[bytes]]) -> bytes:
    """The canonical bytes a message's signature covers: ``MAGIC``, the header's length (4 bytes,
    big-endian) and canonical JSON (sorted keys, no spaces, ASCII; it names each list and its
    length, in order), then every list's elements, 32 bytes each. Every byte of the file but the
    signature, so a changed, added, removed or reordered element breaks the signature."""
    full = {**header, "lists": [[name, len(elements)] for name, elements in lists.items()]}
    head = _canonical(full)
    return b"".join([MAGIC, struct.pack(">I", len(head)), head, *(b"".join(e) for e in lists.values())])


def encode_message(header: dict[str, Any], lists: dict[str, list[bytes]], sign: Callable[[bytes], bytes]) -> bytes:
    """The file bytes of a message: :func:`signed_part` followed by its 64-byte signature."""
    for name, elements in lists.items():
        if any(len(e) != ELEMENT_BYTES for e in elements):
            raise ValueError(f"list {name}: every element must be {ELEMENT_BYTES} bytes")
    body = signed_part(header, lists)
    signature = sign(body)
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError("an Ed25519 signature is 64 bytes")
    return body + signature


def decode_message(data: bytes, where: str) -> tuple[Message, bytes]:
    """Parse a message strictly: ``(message, the signed bytes)``. Anything but the exact layout of
    :func:`signed_part` plus a signature is refused with one line naming ``where`` (the signature
    itself is checked by the caller, which holds the keys)."""
    if not data.startswith(MAGIC):
        raise InputError(f"{where} is not a tracer deconfliction file (it does not start with {FORMAT!r})")
    try:
        (size,) = struct.unpack_from(">I", data, len(MAGIC))
        start = len(MAGIC) + 4
        head = data[start:start + size]
        header = json.loads(head.decode("ascii"))
        if not isinstance(header, dict) or _canonical(header) != head:
            raise ValueError("the header is not canonical JSON")
        layout = header.pop("lists")
        if not isinstance(layout, list) or not all(
                isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and type(entry[1]) is int and entry[1] >= 0 for entry in layout):
            raise ValueError("the list layout is not [[name, count], ...]")
        names = [str(name) for name, _ in layout]
        counts = [int(count) for _, count in layout]
        if len(set(names)) != len(names):
            raise ValueError("a list is named twice")
    except (struct.error, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"{where} is damaged: its header cannot be read ({exc})") from None
    offset = start + size
    expected = offset + ELEMENT_BYTES * sum(counts) + SIGNATURE_BYTES
    if len(data) != expected:
        raise InputError(f"{where} is damaged: {len(data)} bytes where its header announces {expected} "
                         "(truncated or extended)")
    lists: dict[str, list[bytes]] = {}
    for name, count in zip(names, counts, strict=True):
        lists[name] = [data[offset + i * ELEMENT_BYTES: offset + (i + 1) * ELEMENT_BYTES] for i in range(count)]
        offset += ELEMENT_BYTES * count
    return Message(header, lists, data[offset:]), data[:offset]
