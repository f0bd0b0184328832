# SPDX-License-Identifier: Apache-2.0
"""``tracer keys``: an agency's Ed25519 signing keys and the partner keys it trusts.

A key is created once (never replaced), its private half readable by the owner only and, with a
passphrase, encrypted; its public key file goes to partners, who trust it after comparing the
fingerprint, which is always recomputed from the key and never taken from the file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from jobs.keys import load_signer, verify
from jobs.settings import load_settings
from tests.conftest import Cli


def test_a_key_is_created_once_and_its_private_half_is_the_owners_only(cli: Cli, tracer_home: Path) -> None:
    made = cli.json("keys", "create", "fiu-lisbon", "--contact", "duty officer +351 000")
    private = tracer_home / "keys" / "own" / "fiu-lisbon.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(made["fingerprint"]) == 64 and made["kind"] == "own"
    again = cli("keys", "create", "fiu-lisbon")
    assert again.exit_code == 2 and "never replaced" in again.output


def test_a_passphrase_encrypts_the_key_and_is_needed_to_sign(cli: Cli, tracer_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_KEY_PASSPHRASE", "correct horse battery staple")
    assert cli.json("keys", "create", "unit-7")["encrypted"] is True
    assert b"ENCRYPTED" in (tracer_home / "keys" / "own" / "unit-7.key").read_bytes()
    settings = load_settings()
    signer = load_signer(settings, "unit-7", "correct horse battery staple")
    signature = signer.sign(b"case package")
    assert verify(settings, b"case package", signature, signer.info.fingerprint).name == "unit-7"
    with pytest.raises(Exception, match="wrong passphrase"):
        load_signer(settings, "unit-7", "wrong")
    with pytest.raises(Exception, match="protected by a passphrase"):
        load_signer(settings, "unit-7", None)


def test_a_partner_key_is_trusted_by_its_recomputed_fingerprint(cli: Cli, tracer_home: Path, tmp_path: Path) -> None:
    made = cli.json("keys", "create", "bka-wiesbaden")
    exported = tmp_path / "bka.pub"
    assert cli("keys", "export", "bka-wiesbaden", "--out", str(exported)).exit_code == 0
    doc = json.loads(exported.read_text())
    doc["fingerprint"] = "0" * 64          # a lying fingerprint in the file changes nothing
    exported.write_text(json.dumps(doc))
    trusted = cli.json("keys", "trust", str(exported), "--name", "partner-bka")
    assert trusted["fingerprint"] == made["fingerprint"]
    listed = cli.json("keys", "list")
    assert [(k["name"], k["kind"]) for k in listed] == [("bka-wiesbaden", "own"), ("partner-bka", "trusted")]
    human = cli("keys", "list")
    assert made["fingerprint"][:4] in human.output and "partner-bka" in human.output


def test_a_signature_from_an_untrusted_key_or_over_changed_data_is_refused(cli: Cli, tracer_home: Path) -> None:
    cli.json("keys", "create", "a")
    settings = load_settings()
    signer = load_signer(settings, "a", None)
    signature = signer.sign(b"original")
    with pytest.raises(Exception, match="data was changed or signed by someone else"):
        verify(settings, b"originaL", signature, signer.info.fingerprint)
    with pytest.raises(Exception, match="does not trust"):
        verify(settings, b"original", signature, "ab" * 32)


@pytest.mark.parametrize("content", ["not json", '{"format": "tracer-public-key/1", "key": "AAAA"}', "{}"])
def test_a_file_that_is_not_a_public_key_is_one_line(cli: Cli, tracer_home: Path, tmp_path: Path,
                                                      content: str) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text(content)
    result = cli("keys", "trust", str(bad))
    assert result.exit_code == 2 and "is not a tracer public key file" in result.output
    assert "Traceback" not in result.output
