# SPDX-License-Identifier: Apache-2.0
"""``tracer deconflict offer | answer | open``: two agencies, each in its own workspace, learn which
addresses their cases share — with the partner's declared contact and reference — and nothing about
the rest (Diffie–Hellman PSI over ristretto255; the cases are in ``tests/cli/agencies.py``).

Agency A's case ``op-a`` traced S forward to the exchange deposit E (A's roles for E: hop,
terminal); agency B's case ``op-b`` holds E, U and an unrelated address as seeds.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.deconflict_protocol import Item
from tests.cli.agencies import ADDR, CHAIN, UNRELATED, Agencies, built_once, copy_of
from tests.conftest import Cli
from tests.jobs.psi_sets import leaks


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from built_once(tmp_path_factory.mktemp("deconflict"))


@pytest.fixture()
def agencies(template: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Agencies:
    return copy_of(template, cli, tmp_path, monkeypatch)


def _exchange(agencies: Agencies, tmp_path: Path, *offer: str, answer: tuple[str, ...] = ()) -> dict:
    request, response = tmp_path / "A.req", tmp_path / "B.resp"
    agencies.json("a", "deconflict", "offer", "op-a", "--out", str(request), "--reference", "PJ 2026/118", *offer)
    agencies.json("b", "deconflict", "answer", "op-b", str(request), "--out", str(response),
                  "--reference", "BKA 41-2026", *answer)
    return dict(agencies.json("a", "deconflict", "open", f"{request}.state", str(response)))


def test_two_agencies_find_the_one_address_their_cases_share(agencies: Agencies, tmp_path: Path) -> None:
    result = _exchange(agencies, tmp_path)
    assert result["shared"] == [{"chain": CHAIN, "address": ADDR["E"], "roles": ["hop", "terminal"],
                                 "cluster_id": None, "via": "address"}]
    assert result["partner"]["name"] == "b" and result["partner"]["contact"] == "BKA SO 41 +49 000"
    assert result["partner"]["reference"] == "BKA 41-2026" and result["case"] == "op-a"
    human = agencies.run("a", "deconflict", "open", str(tmp_path / "A.req.state"), str(tmp_path / "B.resp"))
    assert human.exit_code == 0 and ADDR["E"] in human.stdout and "BKA 41-2026" in human.stderr


def test_the_answer_tells_the_responder_who_asked_not_what_is_shared(agencies: Agencies, tmp_path: Path) -> None:
    request = tmp_path / "A.req"
    agencies.json("a", "deconflict", "offer", "op-a", "--out", str(request), "--reference", "PJ 2026/118")
    answered = agencies.json("b", "deconflict", "answer", "op-b", str(request), "--out", str(tmp_path / "B.resp"))
    assert answered["requester"]["contact"] == "FIU A duty desk +351 000"
    assert answered["requester"]["reference"] == "PJ 2026/118"
    assert "shared" not in json.dumps(answered) and ADDR["E"] not in json.dumps(answered)


def test_the_state_stays_private_and_the_files_carry_no_address_case_or_hash(agencies: Agencies,
                                                                             tmp_path: Path) -> None:
    _exchange(agencies, tmp_path)
    state = tmp_path / "A.req.state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    known = [Item(CHAIN, address) for address in [*ADDR.values(), UNRELATED]]
    for exchanged in (tmp_path / "A.req", tmp_path / "B.resp"):
        data = exchanged.read_bytes()
        assert leaks(data, known) == []
        assert b"op-a" not in data and b"op-b" not in data  # case names never travel
    assert leaks(state.read_bytes(), known[:1]) != []  # the state holds the items: it never leaves


def test_each_step_is_in_the_audit_log_without_the_other_sides_data(agencies: Agencies, tmp_path: Path) -> None:
    result = _exchange(agencies, tmp_path)
    offered, opened = agencies.log("a", "op-a")[-2:]
    answered = agencies.log("b", "op-b")[-1]
    assert (offered["action"], answered["action"], opened["action"]) == (
        "deconflict.offer", "deconflict.answer", "deconflict.open")
    request_id = result["request_id"]
    assert offered["details"]["request_id"] == answered["details"]["request_id"] == request_id
    assert offered["details"]["items"] == answered["details"]["request_elements"]
    assert answered["details"]["requester_fingerprint"] == offered["details"]["key_fingerprint"]
    assert opened["details"]["partner_fingerprint"] == answered["details"]["key_fingerprint"]
    assert opened["details"]["shared"] == 1 and opened["details"]["their_items"] == 3
    assert answered["details"]["response_sha256"] == opened["details"]["response_sha256"]
    assert ADDR["S"] not in json.dumps(answered) and ADDR["E"] not in json.dumps(opened)
    for name, case in (("a", "op-a"), ("b", "op-b")):
        assert agencies.json(name, "case", "verify", case)["verified"] is True


def test_count_only_gives_the_number_and_no_address(agencies: Agencies, tmp_path: Path) -> None:
    result = _exchange(agencies, tmp_path, "--count-only")
    assert (result["count_only"], result["shared_count"], result["shared"]) == (True, 1, [])
    human = agencies.run("a", "deconflict", "open", str(tmp_path / "A.req.state"), str(tmp_path / "B.resp"))
    assert "shares 1 address(es)" in human.stdout and ADDR["E"] not in human.output


def test_the_responder_may_answer_with_the_count_only(agencies: Agencies, tmp_path: Path) -> None:
    result = _exchange(agencies, tmp_path, answer=("--count-only",))
    assert (result["count_only"], result["shared_count"], result["shared"]) == (True, 1, [])


def test_with_clusters_an_address_clustered_on_the_other_side_is_shared(agencies: Agencies, tmp_path: Path) -> None:
    # S (A's seed) and U (B's seed) were spent together in tx b: both agencies' clustering joins them
    for name, case in (("a", "op-a"), ("b", "op-b")):
        assert agencies.run(name, "cluster", "run", case, "--chain", CHAIN).exit_code == 0
    result = _exchange(agencies, tmp_path, "--clusters")
    rows = {r["address"]: (r["via"], r["roles"]) for r in result["shared"]}
    assert rows == {ADDR["E"]: ("address", ["hop", "terminal"]), ADDR["S"]: ("address", ["seed", "hop"]),
                    ADDR["U"]: ("cluster", ["cluster"])}


def test_answering_the_same_request_twice_is_fine(agencies: Agencies, tmp_path: Path) -> None:
    request = tmp_path / "A.req"
    agencies.json("a", "deconflict", "offer", "op-a", "--out", str(request))
    for out in ("B1.resp", "B2.resp"):
        agencies.json("b", "deconflict", "answer", "op-b", str(request), "--out", str(tmp_path / out))
        opened = agencies.json("a", "deconflict", "open", f"{request}.state", str(tmp_path / out))
        assert opened["shared_count"] == 1
    assert (tmp_path / "B1.resp").read_bytes() != (tmp_path / "B2.resp").read_bytes()  # a fresh secret each time
