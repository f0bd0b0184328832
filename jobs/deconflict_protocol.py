# SPDX-License-Identifier: Apache-2.0
"""The deconfliction messages: building, signing, checking and opening them (no case, no files).

The group arithmetic is :mod:`tracer.psi` (Diffie–Hellman PSI, Meadows 1986; Huberman, Franklin
and Hogg 1999; over ristretto255, RFC 9496); this module adds who signed what (Ed25519 agency keys,
:mod:`jobs.keys`) and the bindings that make a message answer exactly one request:

* a **request** carries a random 128-bit request id, the requester's declared contact and case
  reference (free text the user gives; never the case name, seeds or findings), the options
  (``count_only``, ``clusters``) and the blinded elements ``H(x)^a`` in byte order; no timestamp;
* a **response** carries the request id and the SHA-256 of the request file it answers, the
  responder's contact and reference, ``(H(x)^a)^b`` in the request's order (in byte order when
  only the count is to be learnt) and ``H(y)^b`` in byte order;
* each is signed over its whole canonical payload (:func:`tracer.psi.signed_part`) by a key the
  other side trusts; a flipped byte, a reordered list, another key or another request is refused.

The requester's private state (the secret scalar ``a``, the request id and hash, its items in the
request's order) is a :class:`OfferState`; it never leaves the machine.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobs.keys import KeyInfo, SignatureError, Signer, fingerprint_text, verify
from jobs.settings import Settings
from tracer import psi
from tracer.errors import InputError

__all__ = ["Item", "OfferState", "Request", "Response", "build_request", "read_request", "build_response",
           "read_response", "intersect", "STATE_FORMAT"]

STATE_FORMAT = "tracer-deconflict-state/1"
_HEX = re.compile(r"[0-9a-f]+")
_REQUEST_FIELDS = {"format", "kind", "request_id", "signer", "contact", "reference", "count_only", "clusters",
                   "group", "hash"}
_RESPONSE_FIELDS = {"format", "kind", "request_id", "request_sha256", "signer", "contact", "reference",
                    "count_only"}


@dataclass(frozen=True)
class Item:
    """One thing a case holds: a chain key and an address in its normal form; ``roles`` in the case
    (seed, hop, terminal, or ``cluster`` for a member added by ``--clusters``) and its cluster."""

    chain: str
    address: str
    roles: tuple[str, ...] = ()
    cluster_id: str | None = None
    via: str = "address"  # address | cluster

    def as_row(self) -> list[Any]:
        return [self.chain, self.address, list(self.roles), self.cluster_id, self.via]

    @classmethod
    def from_row(cls, row: Any) -> Item:
        chain, address, roles, cluster_id, via = row
        return cls(str(chain), str(address), tuple(str(r) for r in roles), cluster_id, str(via))

    def as_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "address": self.address, "roles": list(self.roles),
                "cluster_id": self.cluster_id, "via": self.via}


@dataclass(frozen=True)
class OfferState:
    """What the requester keeps to open the answer: never sent."""

    request_id: str
    request_sha256: str
    scalar: bytes
    items: list[Item]
    count_only: bool
    clusters: bool
    case: str | None = None
    reference: str = ""
    signer: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "request_id": self.request_id, "request_sha256": self.request_sha256,
                "scalar": self.scalar.hex(), "count_only": self.count_only, "clusters": self.clusters,
                "case": self.case, "reference": self.reference, "signer": self.signer,
                "items": [item.as_row() for item in self.items]}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> OfferState:
        try:
            if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
                raise ValueError(f"not a {STATE_FORMAT} file")
            return cls(request_id=_hex(doc["request_id"], 32, "request id"),
                       request_sha256=_hex(doc["request_sha256"], 64, "request hash"),
                       scalar=psi.check_scalar(bytes.fromhex(str(doc["scalar"]))),
                       items=[Item.from_row(row) for row in doc["items"]], count_only=bool(doc["count_only"]),
                       clusters=bool(doc["clusters"]), case=doc.get("case"), reference=str(doc.get("reference", "")),
                       signer=str(doc.get("signer", "")))
        except (ValueError, KeyError, TypeError, InputError) as exc:
            raise InputError(f"{where} is not a deconfliction state file written by `tracer deconflict offer` "
                             f"({exc})") from None


@dataclass(frozen=True)
class Request:
    """A checked request: its header, blinded elements, who signed it and the file's SHA-256."""

    header: dict[str, Any]
    blinded: list[bytes]
    signer: KeyInfo
    sha256: str

    @property
    def request_id(self) -> str:
        return str(self.header["request_id"])


@dataclass(frozen=True)
class Response:
    header: dict[str, Any]
    answers: list[bytes]
    theirs: list[bytes]
    signer: KeyInfo
    sha256: str


def _hex(value: Any, length: int, what: str) -> str:
    text = str(value)
    if len(text) != length or not _HEX.fullmatch(text):
        raise ValueError(f"{what} is not {length} lowercase hex digits")
    return text


def build_request(signer: Signer, items: Sequence[Item], *, contact: str, reference: str, count_only: bool,
                  clusters: bool, case: str | None = None) -> tuple[bytes, OfferState]:
    """The signed request for ``items`` and the private state that opens its answer.

    A fresh secret ``a`` blinds each item (``H(x)^a``, :func:`tracer.psi.blind_items`); the
    elements are sent in byte order, so their order says nothing about the items', and the
    state keeps the items in that same order to match the answer."""
    if not items:
        raise InputError("nothing to compare: the request would hold no address")
    scalar = psi.random_scalar()
    blinded = psi.blind_items(scalar, [(item.chain, item.address) for item in items])
    order = sorted(range(len(items)), key=blinded.__getitem__)
    request_id = secrets.token_hex(16)
    header: dict[str, Any] = {"format": psi.FORMAT, "kind": "request", "request_id": request_id,
              "signer": signer.info.fingerprint, "contact": contact, "reference": reference,
              "count_only": count_only, "clusters": clusters, "group": "ristretto255", "hash": "SHA-512"}
    data = psi.encode_message(header, {"blinded": [blinded[i] for i in order]}, signer.sign)
    state = OfferState(request_id, hashlib.sha256(data).hexdigest(), scalar, [items[i] for i in order],
                       count_only, clusters, case, reference, signer.info.fingerprint)
    return data, state


def _checked(settings: Settings, data: bytes, where: str, kind: str, fields: set[str],
             lists: tuple[str, ...]) -> tuple[psi.Message, KeyInfo]:
    """Parse ``data``, check its signature by a trusted key, then its kind and fields."""
    message, signed = psi.decode_message(data, where)
    header = message.header
    try:
        fingerprint = _hex(header.get("signer"), 64, "the signer's fingerprint")
    except ValueError as exc:
        raise InputError(f"{where} is damaged: {exc}") from None
    try:
        signer = verify(settings, signed, message.signature, fingerprint)
    except SignatureError as exc:
        raise SignatureError(f"{where}: {exc}") from None
    if header.get("format") != psi.FORMAT or header.get("kind") != kind:
        raise InputError(f"{where} is a deconfliction {header.get('kind')!r}, not a {kind}")
    if set(header) != fields or tuple(message.lists) != lists:
        raise InputError(f"{where} has unexpected fields for a {kind} ({', '.join(sorted(set(header) ^ fields))})")
    try:
        _hex(header["request_id"], 32, "the request id")
        for name in ("contact", "reference"):
            if not isinstance(header[name], str):
                raise ValueError(f"{name} is not text")
        if not isinstance(header["count_only"], bool):
            raise ValueError("count_only is not true or false")
    except ValueError as exc:
        raise InputError(f"{where} is damaged: {exc}") from None
    return message, signer


def read_request(settings: Settings, data: bytes, where: str) -> Request:
    """A request whose signature verifies against a trusted key; anything else one line."""
    message, signer = _checked(settings, data, where, "request", _REQUEST_FIELDS, ("blinded",))
    header = message.header
    if header["group"] != "ristretto255" or header["hash"] != "SHA-512" or not isinstance(header["clusters"], bool):
        raise InputError(f"{where} asks for a group or hash this version does not speak")
    return Request(header, message.lists["blinded"], signer, hashlib.sha256(data).hexdigest())


def build_response(signer: Signer, request: Request, items: Sequence[Item], *, contact: str, reference: str,
                   count_only: bool = False) -> bytes:
    """The signed answer: ``(H(x)^a)^b`` in the request's order (byte order when the count only is
    asked, by either side) and ``H(y)^b`` of ``items`` in byte order, for a fresh ``b`` that is
    forgotten when this returns. Bound to the request by its id and its file's SHA-256."""
    scalar = psi.random_scalar()
    answers = psi.exponentiate(scalar, request.blinded, "the request")
    only_count = count_only or bool(request.header["count_only"])
    if only_count:
        answers.sort()
    theirs = sorted(psi.blind_items(scalar, [(item.chain, item.address) for item in items]))
    header = {"format": psi.FORMAT, "kind": "response", "request_id": request.request_id,
              "request_sha256": request.sha256, "signer": signer.info.fingerprint, "contact": contact,
              "reference": reference, "count_only": only_count}
    return psi.encode_message(header, {"answers": answers, "theirs": theirs}, signer.sign)


def read_response(settings: Settings, data: bytes, where: str, state: OfferState) -> Response:
    """A response signed by a trusted key that answers exactly the request of ``state``."""
    message, signer = _checked(settings, data, where, "response", _RESPONSE_FIELDS, ("answers", "theirs"))
    header = message.header
    if header["request_id"] != state.request_id:
        raise InputError(f"{where} answers request {header['request_id']}, not this one ({state.request_id}): "
                         "it is the reply to another request")
    if header["request_sha256"] != state.request_sha256:
        raise InputError(f"{where} names request {state.request_id} but answers a different request file "
                         f"(SHA-256 {str(header['request_sha256'])[:16]}…, ours {state.request_sha256[:16]}…)")
    if state.count_only and not header["count_only"]:
        raise InputError(f"{where} does not answer as asked: the request asked for the count only")
    if len(message.lists["answers"]) != len(state.items):
        raise InputError(f"{where} answers {len(message.lists['answers'])} elements; the request had "
                         f"{len(state.items)}")
    return Response(header, message.lists["answers"], message.lists["theirs"], signer,
                    hashlib.sha256(data).hexdigest())


def intersect(state: OfferState, response: Response) -> dict[str, Any]:
    """The shared items: ``(H(y)^b)^a`` of the partner's list met with ``(H(x)^a)^b``; with
    ``count_only`` the number only (the answers are in byte order, so no item can be placed)."""
    psi.check_elements(response.answers, "the answer to our elements")
    theirs = set(psi.exponentiate(state.scalar, response.theirs, "the partner's elements"))
    count_only = bool(response.header["count_only"])
    if count_only:
        shared: list[Item] = []
        count = len(theirs.intersection(response.answers))
    else:
        shared = sorted((item for item, answer in zip(state.items, response.answers, strict=True)
                         if answer in theirs), key=lambda item: (item.chain, item.address))
        count = len(shared)
    partner = {"name": response.signer.name, "fingerprint": response.signer.fingerprint,
               "fingerprint_text": fingerprint_text(response.signer.fingerprint),
               "contact": response.header["contact"], "reference": response.header["reference"]}
    return {"request_id": state.request_id, "count_only": count_only, "shared_count": count,
            "shared": [item.as_dict() for item in shared], "partner": partner,
            "your_items": len(state.items), "their_items": len(response.theirs)}
