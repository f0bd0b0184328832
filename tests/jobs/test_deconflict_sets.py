# SPDX-License-Identifier: Apache-2.0
"""Private deconfliction at scale: two agencies holding 10,000 and 5,000 addresses, 3 of them
shared, find exactly those 3 — and the files they exchange hold no address nor any unkeyed hash
of one (Diffie–Hellman PSI over ristretto255: Meadows 1986; Huberman, Franklin and Hogg 1999;
RFC 9496).

The sets go through the protocol layer (:mod:`jobs.deconflict_protocol`) directly; the same
functions behind ``tracer deconflict`` are tested on real cases in ``tests/cli/test_deconflict_cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.deconflict_protocol import Item, build_request, build_response, intersect, read_request, read_response
from tests.jobs.psi_sets import Agency, addresses, agencies, leaks
from tracer import psi


@pytest.fixture(scope="module")
def sets() -> tuple[list[Item], list[Item], list[Item]]:
    """Agency A's 10,000 addresses and agency B's 5,000, 3 of which (2 Litecoin, 1 Ethereum) are
    A's too, as B's case knows them (other roles); and the 3."""
    mine = addresses("agency-a", 10_000)
    shared = [mine[17], mine[4_242], mine[9_998]]
    theirs = addresses("agency-b", 4_997) + [Item(i.chain, i.address, ("terminal",)) for i in shared]
    return mine, theirs, shared


@pytest.fixture()
def two(tmp_path: Path) -> dict[str, Agency]:
    return agencies(tmp_path, "agency-a", "agency-b")


def _exchange(two: dict[str, Agency], mine: list[Item], theirs: list[Item], *, count_only: bool = False,
              ) -> tuple[bytes, bytes, dict[str, Any]]:
    a, b = two["agency-a"], two["agency-b"]
    request, state = build_request(a.signer, mine, contact="FIU-A desk", reference="PJ 2026/118",
                                   count_only=count_only, clusters=False)
    received = read_request(b.settings, request, "A.req")
    response = build_response(b.signer, received, theirs, contact="BKA desk", reference="BKA 41-2026")
    result = intersect(state, read_response(a.settings, response, "B.resp", state))
    return request, response, result


def test_three_shared_out_of_ten_thousand_and_five_thousand_are_found_exactly(two: dict[str, Agency], sets) -> None:
    mine, theirs, shared = sets
    _, _, result = _exchange(two, mine, theirs)
    assert result["shared_count"] == 3
    assert [(r["chain"], r["address"]) for r in result["shared"]] == sorted((i.chain, i.address) for i in shared)
    assert {tuple(r["roles"]) for r in result["shared"]} <= {("seed",), ("hop",)}  # the requester's own roles
    assert result["partner"]["contact"] == "BKA desk" and result["partner"]["reference"] == "BKA 41-2026"
    assert (result["your_items"], result["their_items"]) == (10_000, 5_000)


def test_no_exchanged_file_holds_an_address_or_an_unkeyed_hash_of_one(two: dict[str, Agency], sets) -> None:
    mine, theirs, _ = sets
    request, response, _ = _exchange(two, mine, theirs)
    everything = mine + theirs
    assert leaks(request, everything) == []
    assert leaks(response, everything) == []
    # the scan itself finds what it looks for: a file that did carry an unkeyed hash is caught
    planted = response + psi.hash_to_group(theirs[7].chain, theirs[7].address).hex().encode()
    assert leaks(planted, theirs[:10]) == [f"{theirs[7].chain}:{theirs[7].address}"]


def test_the_same_address_on_another_chain_is_another_item(two: dict[str, Agency]) -> None:
    mine = addresses("chains", 4)
    evm = [i for i in mine if i.chain == "eth"]
    theirs = [Item("eth-sepolia", i.address) for i in evm]  # the same text, valid on every EVM chain
    _, _, result = _exchange(two, mine, theirs)
    assert result["shared_count"] == 0


def test_count_only_reveals_the_number_and_nothing_that_places_it(two: dict[str, Agency], sets) -> None:
    mine, theirs, _ = sets
    _, response, result = _exchange(two, mine, theirs, count_only=True)
    assert result["count_only"] is True and result["shared_count"] == 3 and result["shared"] == []
    # the doubly-blinded answers come back in byte order, not in the request's order: which of the
    # requester's elements matched cannot be told, only how many did
    answers = psi.decode_message(response, "B.resp")[0].lists["answers"]
    assert len(answers) == 10_000 and answers == sorted(answers)
