# SPDX-License-Identifier: Apache-2.0
"""An agency's signing keys and the partner keys it trusts (Ed25519, RFC 8032, through the
``cryptography`` package: no home-made primitives).

Layout under ``$TRACER_HOME/keys/``:

* ``own/NAME.key`` — the private key, PKCS#8 PEM, encrypted with the passphrase when one is given
  (``BestAvailableEncryption``), file mode 0600 in a 0700 directory;
* ``own/NAME.pub`` — the public key file to hand to partners (JSON, see :func:`public_key_file`);
* ``trusted/<fingerprint>.pub`` — partners' public keys, trusted by ``tracer keys trust`` after the
  user compared the fingerprint with the partner over another channel.

A key's **fingerprint** is the SHA-256 of its 32 raw public-key bytes, in hex; it is always
recomputed from the key, never read from a file. Nothing here logs or prints a key or passphrase.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobs.files import write_atomic
from jobs.settings import Settings
from tracer.errors import ConflictError, InputError, NotFoundError

__all__ = ["KeyInfo", "Signer", "SignatureError", "create_key", "list_keys", "trust_key", "load_signer",
           "public_key_file", "read_public_key", "trusted_key", "verify", "fingerprint_text", "export_public",
           "PUBLIC_FORMAT"]

PUBLIC_FORMAT = "tracer-public-key/1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SignatureError(InputError):
    """A signature that does not verify, or a signer the workspace does not trust."""


@dataclass(frozen=True)
class KeyInfo:
    """A public key with who it belongs to: ``own`` keys can sign, ``trusted`` ones only verify."""

    name: str
    fingerprint: str
    public: bytes
    kind: str  # own | trusted
    contact: str = ""
    encrypted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "fingerprint": self.fingerprint,
                "fingerprint_text": fingerprint_text(self.fingerprint), "contact": self.contact,
                "encrypted": self.encrypted}


def fingerprint_of(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()


def fingerprint_text(fingerprint: str) -> str:
    """``3f2a 9c01 …``: the first 128 bits in groups of four, to read aloud over the phone."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, 32, 4))


def _keys_dir(settings: Settings, part: str, *, create: bool = False) -> Path:
    """``keys/<part>``; made (mode 0700) only by the commands that write keys, so reading or
    verifying never changes the workspace."""
    path = settings.home / "keys" / part
    if create:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        os.chmod(path, 0o700)
    return path


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"key name {name!r}: use letters, digits, '.', '_' or '-' (up to 64, no path)")
    return name


def public_key_file(name: str, public: bytes, contact: str = "") -> bytes:
    """The public key as the file partners receive: JSON with the format, name, contact, the raw key
    in base64 and its fingerprint (informative: the receiver recomputes it)."""
    data = {"format": PUBLIC_FORMAT, "name": name, "contact": contact,
            "key": base64.b64encode(public).decode("ascii"), "fingerprint": fingerprint_of(public)}
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")


def read_public_key(data: bytes, where: str) -> KeyInfo:
    """Parse a public key file; refuses anything else with one line naming ``where``."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != PUBLIC_FORMAT:
            raise ValueError("not a tracer public key file")
        public = base64.b64decode(str(doc["key"]), validate=True)
        Ed25519PublicKey.from_public_bytes(public)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise InputError(f"{where} is not a tracer public key file ({exc})") from None
    return KeyInfo(name=str(doc.get("name") or "unnamed"), fingerprint=fingerprint_of(public), public=public,
                   kind="trusted", contact=str(doc.get("contact") or ""))


def create_key(settings: Settings, name: str, *, passphrase: str | None, contact: str = "") -> KeyInfo:
    """A new Ed25519 key pair ``name`` for this agency; refuses to replace an existing one."""
    own = _keys_dir(settings, "own", create=True)
    private_path = own / f"{_check_name(name)}.key"
    if private_path.exists():
        raise ConflictError(f"key {name!r} exists already ({private_path}); keys are never replaced")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
        else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    write_atomic(own / f"{name}.pub", public_key_file(name, public, contact))
    return KeyInfo(name, fingerprint_of(public), public, "own", contact, encrypted=bool(passphrase))


def _own(settings: Settings) -> list[KeyInfo]:
    keys = []
    for path in sorted(_keys_dir(settings, "own").glob("*.pub")):
        info = read_public_key(path.read_bytes(), str(path))
        private = path.with_suffix(".key")
        encrypted = private.is_file() and b"ENCRYPTED" in private.read_bytes()[:64]
        keys.append(KeyInfo(path.stem, info.fingerprint, info.public, "own", info.contact, encrypted))
    return keys


def _trusted(settings: Settings) -> list[KeyInfo]:
    return [read_public_key(p.read_bytes(), str(p)) for p in sorted(_keys_dir(settings, "trusted").glob("*.pub"))]


def list_keys(settings: Settings) -> list[KeyInfo]:
    """This agency's keys, then the trusted partner keys."""
    return _own(settings) + _trusted(settings)


def trust_key(settings: Settings, path: Path, *, name: str | None = None) -> KeyInfo:
    """Trust the partner key in ``path`` (idempotent); the returned fingerprint is the one to compare."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{path} cannot be read: {exc.strerror or exc}") from None
    info = read_public_key(data, str(path))
    if name is not None:
        info = KeyInfo(_check_name(name), info.fingerprint, info.public, "trusted", info.contact)
    write_atomic(_keys_dir(settings, "trusted", create=True) / f"{info.fingerprint}.pub",
                 public_key_file(info.name, info.public, info.contact))
    return info


def trusted_key(settings: Settings, fingerprint: str) -> KeyInfo:
    """The key with ``fingerprint`` among this agency's own and its trusted keys."""
    for info in list_keys(settings):
        if info.fingerprint == fingerprint:
            return info
    raise SignatureError(f"signed by key {fingerprint_text(fingerprint)}…, which this workspace does not trust: "
                         "get the partner's public key file and run `tracer keys trust FILE` after comparing "
                         "its fingerprint with them")


class Signer:
    """Signs with one of this agency's private keys."""

    def __init__(self, info: KeyInfo, key: Ed25519PrivateKey) -> None:
        self.info = info
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def load_signer(settings: Settings, name: str, passphrase: str | None) -> Signer:
    """The private key ``name``, decrypted with ``passphrase`` when it is encrypted."""
    path = _keys_dir(settings, "own") / f"{_check_name(name)}.key"
    if not path.is_file():
        known = ", ".join(k.name for k in _own(settings)) or "none; create one with `tracer keys create NAME`"
        raise NotFoundError(f"no signing key {name!r} (keys: {known})")
    pem = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode("utf-8") if passphrase else None)
    except TypeError:
        raise InputError(f"key {name!r} is protected by a passphrase: set TRACER_KEY_PASSPHRASE or type it "
                         "when asked") from None
    except ValueError:
        raise InputError(f"key {name!r} could not be opened: wrong passphrase or damaged key file") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"key {name!r} is not an Ed25519 key")
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    info = next((k for k in _own(settings) if k.name == name), None)
    return Signer(info or KeyInfo(name, fingerprint_of(public), public, "own"), key)


def verify(settings: Settings, data: bytes, signature: bytes, fingerprint: str) -> KeyInfo:
    """Check ``signature`` over ``data`` by the trusted key ``fingerprint``; the signer's key info."""
    info = trusted_key(settings, fingerprint)
    try:
        Ed25519PublicKey.from_public_bytes(info.public).verify(signature, data)
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify against {info.name}'s key "
                             f"({fingerprint_text(fingerprint)}…): the data was changed or signed by someone else"
                             ) from None
    return info


def export_public(settings: Settings, name: str, out: Path) -> KeyInfo:
    """Write the public key file of own key ``name`` to ``out`` (a new file) for partners."""
    path = _keys_dir(settings, "own") / f"{_check_name(name)}.pub"
    if not path.is_file():
        raise NotFoundError(f"no key {name!r}; create one with `tracer keys create {name}`")
    if out.exists():
        raise ConflictError(f"{out} exists; choose a new file")
    data = path.read_bytes()
    write_atomic(out, data)
    return read_public_key(data, str(path))
