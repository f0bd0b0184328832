# SPDX-License-Identifier: Apache-2.0
"""``tracer deconflict`` refuses what it must not act on — a reply to another request, a replayed
or reordered message, one flipped byte anywhere, a wrong or untrusted key, a malformed file, an
invalid ristretto255 point — with one line, exit 2, and nothing written (no file, no audit entry).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.deconflict_protocol import OfferState, read_request, read_response
from jobs.settings import load_settings
from tests.cli.agencies import Agencies, built_once, copy_of
from tests.conftest import Cli
from tracer import psi
from tracer.errors import InputError


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from built_once(tmp_path_factory.mktemp("deconflict"))


@pytest.fixture()
def agencies(template: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Agencies:
    return copy_of(template, cli, tmp_path, monkeypatch)


@pytest.fixture()
def exchanged(agencies: Agencies, tmp_path: Path) -> tuple[Path, Path]:
    """A request of A's and B's response to it."""
    request, response = tmp_path / "A.req", tmp_path / "B.resp"
    agencies.json("a", "deconflict", "offer", "op-a", "--out", str(request))
    agencies.json("b", "deconflict", "answer", "op-b", str(request), "--out", str(response))
    return request, response


def _refused(agencies: Agencies, name: str, *args: str, says: str) -> None:
    """``tracer ARGS`` as agency ``name`` exits 2 with one line saying ``says``, and no case of that
    agency got an audit entry."""
    cases = [p.name for p in (agencies.home(name) / "cases").iterdir() if p.is_dir() and not p.name.startswith(".")]
    before = {case: len(agencies.log(name, case)) for case in cases}
    result = agencies.run(name, *args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert {case: len(agencies.log(name, case)) for case in cases} == before


def _answer(agencies: Agencies, request: Path, out: Path, says: str) -> None:
    _refused(agencies, "b", "deconflict", "answer", "op-b", str(request), "--out", str(out), says=says)
    assert not out.exists()


def _open(agencies: Agencies, state: Path, response: Path, says: str) -> None:
    _refused(agencies, "a", "deconflict", "open", str(state), str(response), says=says)


def _resign(data: bytes, sign: Callable[[bytes], bytes], change: Callable[[psi.Message], None]) -> bytes:
    """``data`` with ``change`` applied to its header or lists, signed again by ``sign``."""
    message, _ = psi.decode_message(data, "file")
    change(message)
    return psi.encode_message(message.header, message.lists, sign)


def test_a_reply_to_another_request_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    _, response = exchanged
    second = tmp_path / "A2.req"
    agencies.json("a", "deconflict", "offer", "op-a", "--out", str(second))
    _open(agencies, tmp_path / "A2.req.state", response, says="it is the reply to another request")


def test_an_answer_to_a_forged_request_with_our_id_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    request, _ = exchanged
    # someone holding a trusted key re-issues our request id with other elements; B answers that
    forged = _resign(request.read_bytes(), agencies.signer("a").sign,
                     lambda m: m.lists["blinded"].append(psi.hash_to_group("ltc-regtest", "guess")))
    (tmp_path / "forged.req").write_bytes(forged)
    agencies.json("b", "deconflict", "answer", "op-b", str(tmp_path / "forged.req"), "--out", str(tmp_path / "F.resp"))
    _open(agencies, tmp_path / "A.req.state", tmp_path / "F.resp", says="answers a different request file")


def test_a_state_file_of_another_case_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    request, response = exchanged
    assert agencies.run("a", "case", "create", "op-other").exit_code == 0
    state = json.loads((tmp_path / "A.req.state").read_text())
    state["case"] = "op-other"
    moved = tmp_path / "moved.state"
    moved.write_text(json.dumps(state))
    _open(agencies, moved, response, says="was not offered by case op-other")


def test_a_reordered_response_or_request_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    request, response = exchanged
    for original, out in ((request, tmp_path / "swapped.req"), (response, tmp_path / "swapped.resp")):
        data = bytearray(original.read_bytes())
        start = len(data) - psi.SIGNATURE_BYTES - 2 * psi.ELEMENT_BYTES  # the last two elements
        middle = start + psi.ELEMENT_BYTES
        data[start:middle], data[middle:middle + psi.ELEMENT_BYTES] = (data[middle:middle + psi.ELEMENT_BYTES],
                                                                       data[start:middle])
        out.write_bytes(bytes(data))
    _answer(agencies, tmp_path / "swapped.req", tmp_path / "X.resp", says="does not verify")
    _open(agencies, tmp_path / "A.req.state", tmp_path / "swapped.resp", says="does not verify")


def test_any_flipped_byte_of_either_message_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    request, response = exchanged
    settings_a = load_settings({"TRACER_HOME": str(agencies.home("a"))})
    settings_b = load_settings({"TRACER_HOME": str(agencies.home("b"))})
    state = OfferState.from_json(json.loads((tmp_path / "A.req.state").read_text()), "state")
    checks = ((request.read_bytes(), lambda d: read_request(settings_b, d, "A.req")),
              (response.read_bytes(), lambda d: read_response(settings_a, d, "B.resp", state)))
    for data, check in checks:
        check(data)  # the original passes
        for position in range(len(data)):
            flipped = bytearray(data)
            flipped[position] ^= 0x01
            with pytest.raises(InputError):
                check(bytes(flipped))
    flipped = bytearray(response.read_bytes())
    flipped[-psi.SIGNATURE_BYTES - 10] ^= 0x80  # inside the last element
    (tmp_path / "flipped.resp").write_bytes(bytes(flipped))
    _open(agencies, tmp_path / "A.req.state", tmp_path / "flipped.resp", says="does not verify")


def test_an_untrusted_signer_is_refused(agencies: Agencies, tmp_path: Path) -> None:
    agencies.key("c", "nobody B knows")
    agencies.case("c", "op-c", [], store=False)
    assert agencies.run("c", "case", "seed", "add", "op-c", "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4",
                        "--chain", "ltc-regtest").exit_code == 0
    agencies.json("c", "deconflict", "offer", "op-c", "--out", str(tmp_path / "C.req"))
    _answer(agencies, tmp_path / "C.req", tmp_path / "C.resp", says="which this workspace does not trust")


def test_a_message_signed_by_another_key_than_it_names_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    request, response = exchanged
    agencies.key("c", "an impostor")
    impostor = agencies.signer("c")
    for original, name in ((request, "impostor.req"), (response, "impostor.resp")):
        data = original.read_bytes()  # the header still names a's (or b's) key; c signed it
        signed = data[:-psi.SIGNATURE_BYTES]
        (tmp_path / name).write_bytes(signed + impostor.sign(signed))
    _answer(agencies, tmp_path / "impostor.req", tmp_path / "I.resp", says="does not verify against a's key")
    _open(agencies, tmp_path / "A.req.state", tmp_path / "impostor.resp", says="does not verify against b's key")


def test_an_unknown_signing_key_is_refused(agencies: Agencies, tmp_path: Path) -> None:
    out = tmp_path / "A.req"
    _refused(agencies, "a", "deconflict", "offer", "op-a", "--out", str(out), "--key", "nope",
             says="no signing key 'nope'")
    assert not out.exists() and not (tmp_path / "A.req.state").exists()


@pytest.mark.parametrize("content, says", [
    (b"", "is not a tracer deconfliction file"),
    (b'{"format": "tracer-deconflict/1"}', "is not a tracer deconfliction file"),
    (psi.MAGIC + b"\x00\x00\x00\x05{oops" + bytes(64), "its header cannot be read"),
    (psi.MAGIC + b"\xff\xff\xff\xff", "its header cannot be read"),
])
def test_a_malformed_request_is_one_line(agencies: Agencies, tmp_path: Path, content: bytes, says: str) -> None:
    bad = tmp_path / "bad.req"
    bad.write_bytes(content)
    _answer(agencies, bad, tmp_path / "bad.resp", says=says)


def test_a_truncated_extended_or_misplaced_file_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    request, response = exchanged
    (tmp_path / "short.req").write_bytes(request.read_bytes()[:-1])
    (tmp_path / "long.resp").write_bytes(response.read_bytes() + b"\x00")
    _answer(agencies, tmp_path / "short.req", tmp_path / "S.resp", says="truncated or extended")
    _open(agencies, tmp_path / "A.req.state", tmp_path / "long.resp", says="truncated or extended")
    _open(agencies, tmp_path / "A.req.state", request, says="is a deconfliction 'request', not a response")
    _answer(agencies, response, tmp_path / "R.resp", says="is a deconfliction 'response', not a request")
    _open(agencies, request, response, says="is not a deconfliction state file")
    _answer(agencies, tmp_path / "missing.req", tmp_path / "M.resp", says="cannot be read")


def test_an_invalid_ristretto_point_is_refused(agencies: Agencies, exchanged: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    request, response = exchanged
    not_a_point = b"\xff" * 32  # not canonical (RFC 9496 §4.3.1)

    def spoil(name: str) -> Callable[[psi.Message], None]:
        return lambda m: m.lists[name].__setitem__(0, not_a_point)

    (tmp_path / "bad.req").write_bytes(_resign(request.read_bytes(), agencies.signer("a").sign, spoil("blinded")))
    _answer(agencies, tmp_path / "bad.req", tmp_path / "bad.resp", says="element 1 is not a valid ristretto255 point")
    for name in ("theirs", "answers"):
        spoiled = tmp_path / f"bad-{name}.resp"
        spoiled.write_bytes(_resign(response.read_bytes(), agencies.signer("b").sign, spoil(name)))
        _open(agencies, tmp_path / "A.req.state", spoiled, says="is not a valid ristretto255 point")


def test_existing_files_are_never_replaced(agencies: Agencies, exchanged: tuple[Path, Path], tmp_path: Path) -> None:
    request, response = exchanged
    _refused(agencies, "a", "deconflict", "offer", "op-a", "--out", str(request), says="exists")
    before = response.read_bytes()
    _refused(agencies, "b", "deconflict", "answer", "op-b", str(request), "--out", str(response), says="exists")
    assert response.read_bytes() == before


def test_clusters_asked_of_a_case_without_clusters_is_refused(agencies: Agencies, tmp_path: Path) -> None:
    _refused(agencies, "a", "deconflict", "offer", "op-a", "--out", str(tmp_path / "A.req"), "--clusters",
             says="has no clusters")
    assert not (tmp_path / "A.req").exists()


def test_a_case_with_no_address_has_nothing_to_offer(agencies: Agencies, tmp_path: Path) -> None:
    assert agencies.run("a", "case", "create", "op-empty").exit_code == 0
    _refused(agencies, "a", "deconflict", "offer", "op-empty", "--out", str(tmp_path / "E.req"),
             says="has no address to compare")
    assert not (tmp_path / "E.req").exists() and not (tmp_path / "E.req.state").exists()
