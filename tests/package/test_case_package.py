# SPDX-License-Identifier: Apache-2.0
"""Sharing a case with another agency: ``tracer case export`` writes one signed, deterministic
package; ``tracer case import`` in another workspace checks its signature and every member before
writing anything, rebuilds the case and re-runs every trace, which reproduces its manifest byte for
byte. Any changed byte, a truncated, unsigned or foreign-signed package is refused with one line
(exit 2) and nothing is written. Redaction takes the seeds' labels and notes out of every member.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from jobs.case_package_archive import pack, unpack
from tests.conftest import Cli
from tests.package.conftest import CASE, Agencies, use_home
from tests.report.conftest import FIXTURE


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(home: Path) -> dict[str, bytes]:
    """Every file under ``home`` with its bytes, and every directory (as empty bytes)."""
    return {p.relative_to(home).as_posix(): p.read_bytes() if p.is_file() else b"" for p in sorted(home.rglob("*"))}


def _refused(cli: Cli, home: Path, package: Path) -> str:
    """Import ``package`` and check that it is refused: exit 2, one line, nothing written."""
    before = _snapshot(home)
    result = cli("case", "import", str(package))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
    assert result.stdout == ""
    assert _snapshot(home) == before  # no case directory, no tag library, nothing
    return result.stderr


def _labels() -> list[str]:
    return [s["label"] for s in json.loads((FIXTURE / "case.json").read_text())["seeds"]]


def test_a_partner_imports_the_case_and_reproduces_every_trace(agencies: Agencies, unit_b: Path, cli: Cli) -> None:
    data = cli.json("case", "import", str(agencies.signed))
    original = agencies.home_a / "cases" / CASE / "traces"
    runs = sorted(p.name for p in original.iterdir())
    assert [t["run"] for t in data["traces"]] == runs and len(runs) == 8
    assert {t["status"] for t in data["traces"]} == {"reproduced"}
    for trace in data["traces"]:  # the re-run's manifest is the original's, byte for byte
        rerun = unit_b / "cases" / CASE / "traces" / trace["rerun"] / "manifest.json"
        assert rerun.read_bytes() == (original / trace["run"] / "manifest.json").read_bytes()
        assert trace["rerun_manifest_sha256"] == trace["manifest_sha256"] == _sha256(rerun)
    assert data["reproduced"] == data["total"] == 8
    assert data["package_sha256"] == _sha256(agencies.signed) and data["signer"]["name"] == "partner-unit-a"
    assert cli("case", "verify", CASE).exit_code == 0
    log = cli.json("case", "log", CASE)
    imported = next(e for e in log if e["action"] == "case.import")
    assert imported["details"]["package_sha256"] == data["package_sha256"]
    assert imported["details"]["signer_fingerprint"] == data["signer"]["fingerprint"]
    seeds = cli.json("case", "seed", "list", CASE)
    assert [s["label"] for s in seeds] == _labels()
    tag_versions = {t["sha256"] for t in cli.json("tags", "list")}
    assert set(json.loads(unpack(agencies.signed.read_bytes())["package.json"])["tag_versions"]) <= tag_versions
    again = cli("case", "import", str(agencies.signed))
    assert again.exit_code == 2 and "already exists" in again.stderr
    renamed = cli("case", "import", str(agencies.signed), "--as", "from-unit-a")
    assert renamed.exit_code == 0, renamed.output
    assert renamed.stdout.count("reproduced ✓") == 8


def test_the_same_case_exports_to_the_same_bytes(agencies: Agencies) -> None:
    assert _sha256(agencies.signed) == _sha256(agencies.again)
    log = [json.loads(line) for line in (agencies.home_a / "cases" / CASE / "audit.jsonl").read_text().splitlines()]
    exports = [e["details"] for e in log if e["action"] == "case.export"]  # each export is recorded...
    assert [e["sha256"] for e in exports[:2]] == [_sha256(agencies.signed)] * 2
    assert json.loads(unpack(agencies.signed.read_bytes())["package.json"])["audit"]["entries"] == len(log) - len(
        exports)  # ...and left out of the package, so the second export is the first one's bytes
    with tarfile.open(agencies.signed) as archive:
        infos = archive.getmembers()
    names = [i.name for i in infos]
    assert names == sorted(names, key=str.encode)
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode, i.type) for i in infos} == {
        (0, 0, 0, "", "", 0o644, tarfile.REGTYPE)}
    members = unpack(agencies.signed.read_bytes())
    sums = members["SHA256SUMS"].decode().splitlines()
    assert len(sums) == len(members) - 3  # every member but the sums, package.json and the signature
    assert all(hashlib.sha256(members[n]).hexdigest() == d for d, n in (line.split("  ") for line in sums))


def test_any_one_byte_change_in_any_member_is_refused(agencies: Agencies, unit_b: Path, cli: Cli,
                                                       tmp_path: Path) -> None:
    members = unpack(agencies.signed.read_bytes())
    kinds = {name.split("/")[0] for name in members}
    assert {"package.json", "package.sig", "SHA256SUMS", "case", "frames", "tags", "traces", "clusters"} <= kinds
    for name, data in sorted(members.items()):
        assert data, name
        changed = bytearray(data)
        changed[len(data) // 2] ^= 0x01
        package = tmp_path / "tampered.tar"
        package.write_bytes(pack({**members, name: bytes(changed)}))
        message = _refused(cli, unit_b, package)
        assert "refused" in message or "does not verify" in message, (name, message)


def _without_signature(members: dict[str, bytes]) -> bytes:
    return pack({n: d for n, d in members.items() if n != "package.sig"})


def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(("case", "expected"), [
    ("truncated", "truncated"),
    ("cut at a member", "truncated"),
    ("end blocks removed", "canonical"),
    ("header changed", "tar"),
    ("padding changed", "canonical"),
    ("empty file", "truncated"),
    ("unsigned", "not signed"),
    ("untrusted key", "does not trust"),
    ("another package's signature", "does not verify"),
])
def test_a_truncated_unsigned_or_foreign_signed_package_is_refused(agencies: Agencies, unit_b: Path, cli: Cli,
                                                                    tmp_path: Path, case: str, expected: str) -> None:
    data = agencies.signed.read_bytes()
    members = unpack(data)
    first = min(members, key=str.encode)
    variants = {
        "truncated": lambda: data[: len(data) // 2],
        "cut at a member": lambda: data[: 512 + 512 * ((len(members[first]) + 511) // 512) + 512 * 3],
        "end blocks removed": lambda: data[:-1024],
        "header changed": lambda: _flip(data, 140),  # the first header's mtime field
        "padding changed": lambda: _flip(data, 512 + len(members[first])),  # after the first member's content
        "empty file": lambda: b"",
        "unsigned": lambda: _without_signature(members),
        "untrusted key": lambda: agencies.untrusted.read_bytes(),
        "another package's signature": lambda: pack(
            {**members, "package.sig": unpack(agencies.redacted.read_bytes())["package.sig"]}),
    }
    assert len(members[first]) % 512, "the first member's block must have padding to change"
    package = tmp_path / "package.tar"
    package.write_bytes(variants[case]())
    assert expected in _refused(cli, unit_b, package)


def test_redaction_removes_the_seeds_labels_from_every_member(agencies: Agencies, unit_b: Path, cli: Cli) -> None:
    raw = agencies.redacted.read_bytes()
    members = unpack(raw)
    labels = _labels()
    assert all(label.encode() in agencies.signed.read_bytes() for label in labels)  # the unredacted one has them
    assert not [(n, label) for n, d in members.items() for label in labels if label.encode() in d]
    assert not [label for label in labels if label.encode() in raw]
    redaction = json.loads(members["package.json"])["redaction"]
    assert redaction["removed"] == ["labels", "notes"]
    seed_entries = [json.loads(line)["seq"] for line in members["case/audit.jsonl"].decode().splitlines()
                    if json.loads(line)["action"] == "seed.add"]
    assert redaction["audit_entries"] == seed_entries and "cannot be recomputed" in redaction["note"]
    assert [s["label"] for s in json.loads(members["case/seeds.json"])] == [None, None, None]
    data = cli.json("case", "import", str(agencies.redacted))
    assert data["reproduced"] == data["total"] == 8
    statuses = {t["run"]: t["status"] for t in data["traces"]}
    assert set(statuses.values()) <= {"reproduced", "reproduced-redacted"}
    assert [r for r, s in statuses.items() if s == "reproduced-redacted"] == [
        n.split("/")[1] for n in redaction["trace_files"]]
    assert data["original_audit"]["redacted_entries"] == seed_entries
    assert [s["label"] for s in cli.json("case", "seed", "list", CASE)] == [None, None, None]
    assert cli("case", "verify", CASE).exit_code == 0


def test_an_export_refuses_an_existing_file_an_unknown_redaction_and_an_unnamed_key(
        agencies: Agencies, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_home(monkeypatch, agencies.home_a)
    existing = cli("case", "export", CASE, "--out", str(agencies.signed), "--sign", "unit-a")
    assert existing.exit_code == 2 and "exists" in existing.stderr
    unknown = cli("case", "export", CASE, "--out", str(tmp_path / "x.tar"), "--sign", "unit-a", "--redact", "names")
    assert unknown.exit_code == 2 and "--redact" in unknown.stderr
    several = cli("case", "export", CASE, "--out", str(tmp_path / "x.tar"))
    assert several.exit_code == 2 and "--sign KEY" in several.stderr
    assert not (tmp_path / "x.tar").exists()
