# SPDX-License-Identifier: Apache-2.0
"""The group arithmetic of private deconfliction (:mod:`tracer.psi`): blinding commutes, so equal
items meet after both secrets and different ones do not (Meadows 1986 over ristretto255, RFC 9496);
an item is its chain and address, encoded without ambiguity; received bytes are checked strictly."""

from __future__ import annotations

import pytest

from tracer import psi
from tracer.errors import InputError

ITEMS = [("ltc", "ltc1qdwrtyullxn7wr8ttsp807k3l2ar6mf82cq5s4g"), ("eth", "0x6b86B273Ff34fce19D6b804EFf5a3F5747aDa4ea")]


def test_blinding_commutes_so_equal_items_meet_and_others_do_not() -> None:
    a, b = psi.random_scalar(), psi.random_scalar()
    requester = psi.exponentiate(b, psi.blind_items(a, ITEMS), "request")       # (H(x)^a)^b
    responder = psi.exponentiate(a, psi.blind_items(b, ITEMS[:1]), "response")  # (H(y)^b)^a
    assert requester[0] == responder[0] and requester[1] not in responder
    assert psi.blind_items(a, ITEMS) != psi.blind_items(b, ITEMS)  # each secret gives other elements


def test_the_chain_is_part_of_the_item_and_the_encoding_is_unambiguous() -> None:
    address = ITEMS[1][1]
    assert psi.hash_to_group("eth", address) != psi.hash_to_group("eth-sepolia", address)
    assert psi.item_encoding("a", "bc") != psi.item_encoding("ab", "c")
    assert psi.item_encoding("eth", address).startswith(psi.DOMAIN)


def test_a_scalar_must_be_canonical_and_non_zero() -> None:
    with pytest.raises(InputError, match="non-zero"):
        psi.check_scalar(bytes(32))
    with pytest.raises(InputError, match="not reduced"):
        psi.check_scalar(b"\xff" * 32)
    scalar = psi.random_scalar()
    assert psi.check_scalar(scalar) == scalar


def test_an_element_that_is_no_point_or_the_identity_is_refused_with_its_position() -> None:
    good = psi.hash_to_group(*ITEMS[0])
    for bad in (b"\xff" * 32, bytes(32)):
        with pytest.raises(psi.InvalidElementError, match="the request: element 2 is not a valid"):
            psi.exponentiate(psi.random_scalar(), [good, bad], "the request")
        with pytest.raises(psi.InvalidElementError, match="element 2"):
            psi.check_elements([good, bad], "the answer")


def test_a_message_round_trips_and_its_signature_covers_every_byte_before_it() -> None:
    signed: list[bytes] = []

    def sign(data: bytes) -> bytes:
        signed.append(data)
        return b"s" * psi.SIGNATURE_BYTES

    lists = {"answers": [psi.hash_to_group(*ITEMS[0])], "theirs": []}
    data = psi.encode_message({"kind": "response", "n": 1}, lists, sign)
    message, body = psi.decode_message(data, "B.resp")
    assert (message.header, message.lists, message.signature) == ({"kind": "response", "n": 1}, lists, b"s" * 64)
    assert body == signed[0] == data[:-psi.SIGNATURE_BYTES]
    with pytest.raises(InputError, match="truncated or extended"):
        psi.decode_message(data[:-1], "B.resp")
    spaced = b'{ "kind": "response" }'  # valid JSON, but not the one canonical form that was signed
    with pytest.raises(InputError, match="not canonical"):
        psi.decode_message(psi.MAGIC + len(spaced).to_bytes(4, "big") + spaced + bytes(64), "B.resp")
