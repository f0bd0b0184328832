# SPDX-License-Identifier: Apache-2.0
"""The case package as bytes: a deterministic tar archive, its content manifest and its signature.

A package is one POSIX tar archive (IEEE Std 1003.1-2001 pax interchange format, which for the
short ASCII names used here is plain ustar: no extended headers are written), uncompressed, whose
members are regular files only, in byte order of their names, each with mtime 0, mode 0644,
uid/gid 0 and empty user/group names. Its bytes are therefore a function of the members alone: the
same case exported twice gives the same archive, and :func:`open_package` can insist that an
archive is exactly the canonical packing of its members, which catches a changed byte anywhere in
it (a header, the padding, the end-of-archive blocks), not only inside a member.

Three members describe the others:

* ``SHA256SUMS`` — ``sha256sum`` lines for every content member (``sha256sum -c`` checks them);
* ``package.json`` — the content manifest: what the package holds (case, audit head, traces,
  chains, tag versions, redaction) and ``members``: the SHA-256 and size of every member other
  than itself and the signature, ``SHA256SUMS`` included;
* ``package.sig`` — a detached Ed25519 signature (RFC 8032, through :mod:`jobs.keys`) over the
  bytes of ``package.json``, with the signer's key fingerprint. Ed25519 signatures are
  deterministic, so signing does not make two exports differ.

:func:`open_package` checks all of it — structure, signature against the workspace's trusted keys,
every member's hash, nothing missing and nothing extra — before a caller writes anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from jobs.keys import KeyInfo, SignatureError, Signer, fingerprint_text, verify
from jobs.settings import Settings
from tracer.errors import InputError

__all__ = ["PACKAGE_FORMAT", "SIGNATURE_FORMAT", "MANIFEST", "SUMS", "SIGNATURE", "PackageError", "Package",
           "pack", "unpack", "seal", "open_package", "sums_text", "json_bytes"]

PACKAGE_FORMAT = "tracer-case-package/1"
SIGNATURE_FORMAT = "tracer-package-signature/1"
MANIFEST = "package.json"
SUMS = "SHA256SUMS"
SIGNATURE = "package.sig"
_BLOCK = tarfile.BLOCKSIZE
_SIGNATURE_FIELDS = ("format", "algorithm", "signed", "fingerprint", "signature")


class PackageError(InputError):
    """A package that is not what its signer sealed: damaged, truncated, altered or unsigned."""


def json_bytes(data: Any) -> bytes:
    """Deterministic JSON: sorted keys, two-space indent, UTF-8, one trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_name(name: str) -> str:
    """A member name must be a plain relative POSIX path: no absolute path, ``..``, backslash or NUL."""
    parts = PurePosixPath(name).parts
    if (not parts or name.startswith("/") or "\\" in name or "\x00" in name or ".." in parts
            or "." in parts or name != "/".join(parts)):
        raise PackageError(f"the package holds a member named {name!r}, which is not a relative path: refused")
    return name


def pack(members: dict[str, bytes]) -> bytes:
    """The canonical archive of ``members`` (name -> bytes), see the module notes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members, key=lambda n: n.encode("utf-8")):
            data = members[_check_name(name)]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack(data: bytes) -> dict[str, bytes]:
    """The members of an archive :func:`pack` wrote; refuses anything else with one line."""
    if len(data) < 2 * _BLOCK or len(data) % _BLOCK:
        raise PackageError(f"the package is truncated or not a tar archive ({len(data):,} bytes, not whole "
                           f"{_BLOCK}-byte blocks)")
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for info in archive:
                if not info.isreg():
                    raise PackageError(f"the package holds {info.name!r}, which is not a regular file: refused")
                name = _check_name(info.name)
                if name in members:
                    raise PackageError(f"the package holds {name!r} twice: refused")
                handle = archive.extractfile(info)
                content = handle.read() if handle is not None else b""
                if len(content) != info.size:
                    raise PackageError(f"the package is truncated inside {name!r}")
                members[name] = content
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise PackageError(f"the package is damaged or truncated: not a readable tar archive ({exc})") from None
    if pack(members) != data:
        raise PackageError("the package's bytes are not the canonical archive of its members (a header, padding "
                           "or the end of the archive was changed, or it was re-packed): refused")
    return members


def sums_text(members: dict[str, bytes]) -> bytes:
    """``sha256sum`` lines for ``members``, in name order."""
    return "".join(f"{_sha256(members[n])}  {n}\n" for n in sorted(members, key=lambda n: n.encode())).encode()


def seal(content: dict[str, bytes], description: dict[str, Any], signer: Signer) -> bytes:
    """The signed archive of ``content`` (name -> bytes): adds ``SHA256SUMS``, ``package.json``
    (``description`` + ``format`` + ``members``) and ``package.sig``."""
    reserved = {MANIFEST, SUMS, SIGNATURE} & set(content)
    if reserved:
        raise InputError(f"a package member may not be named {', '.join(sorted(reserved))}")
    members = {**content, SUMS: sums_text(content)}
    manifest = json_bytes({**description, "format": PACKAGE_FORMAT,
                           "members": {n: {"sha256": _sha256(d), "bytes": len(d)} for n, d in sorted(members.items())}})
    signature = json_bytes({
        "format": SIGNATURE_FORMAT, "algorithm": "Ed25519", "signed": MANIFEST,
        "fingerprint": signer.info.fingerprint, "signature": base64.b64encode(signer.sign(manifest)).decode("ascii"),
    })
    return pack({**members, MANIFEST: manifest, SIGNATURE: signature})


@dataclass(frozen=True)
class Package:
    """A package whose signature and every member were checked: the members, the content
    manifest, the trusted key that signed it and the archive's SHA-256."""

    members: dict[str, bytes]
    manifest: dict[str, Any]
    signer: KeyInfo
    sha256: str

    def json(self, name: str) -> Any:
        """A JSON member, parsed (a member the manifest lists but that is not JSON: refused)."""
        try:
            return json.loads(self.members[name].decode("utf-8"))
        except (KeyError, ValueError) as exc:
            raise PackageError(f"{name} in the package cannot be read: {exc}") from None


def _signature(members: dict[str, bytes]) -> tuple[str, bytes]:
    """The signer's fingerprint and the signature bytes from ``package.sig``."""
    if SIGNATURE not in members:
        raise PackageError("the package is not signed (no package.sig): refused; ask the sender for a signed "
                           "export (`tracer case export CASE --out FILE --sign KEY`)")
    try:
        doc = json.loads(members[SIGNATURE].decode("utf-8"))
        if set(doc) != set(_SIGNATURE_FIELDS) or [doc[k] for k in _SIGNATURE_FIELDS[:3]] != [
                SIGNATURE_FORMAT, "Ed25519", MANIFEST]:
            raise ValueError("unknown signature format")
        fingerprint, text = str(doc["fingerprint"]), str(doc["signature"])
        if len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint):
            raise ValueError("malformed fingerprint")
        signature = base64.b64decode(text, validate=True)
        # one encoding only: no other spacing, no base64 whose unused bits differ
        if json_bytes(doc) != members[SIGNATURE] or base64.b64encode(signature).decode("ascii") != text:
            raise ValueError("not in its canonical form")
        return fingerprint, signature
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise PackageError(f"the package's signature file cannot be read ({exc}): refused") from None


def open_package(settings: Settings, data: bytes) -> Package:
    """Check a package completely and return it; :class:`PackageError` (or ``SignatureError``) with one
    line otherwise. The order matters: the archive's structure, then the signature over
    ``package.json`` by a key the workspace trusts, then every member against the signed hashes."""
    members = unpack(data)
    if MANIFEST not in members:
        raise PackageError("the package has no package.json: not a tracer case package")
    fingerprint, signature = _signature(members)
    try:
        signer = verify(settings, members[MANIFEST], signature, fingerprint)
    except SignatureError as exc:
        raise SignatureError(f"package refused: {exc}") from None
    try:
        manifest = json.loads(members[MANIFEST].decode("utf-8"))
        listed = {str(n): (str(v["sha256"]), int(v["bytes"])) for n, v in manifest["members"].items()}
        if manifest.get("format") != PACKAGE_FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {PACKAGE_FORMAT}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PackageError(f"package.json cannot be read ({exc}): refused") from None
    present = set(members) - {MANIFEST, SIGNATURE}
    for name in sorted(set(listed) - present):
        raise PackageError(f"{name} is missing from the package (listed in package.json): refused")
    for name in sorted(present - set(listed)):
        raise PackageError(f"{name} is in the package but not in its signed package.json: refused")
    for name, (digest, size) in sorted(listed.items()):
        if len(members[name]) != size or _sha256(members[name]) != digest:
            raise PackageError(f"{name} does not match its SHA-256 in the signed package.json (changed after "
                               f"{fingerprint_text(fingerprint)}… signed it): refused")
    if members.get(SUMS) != sums_text({n: d for n, d in members.items() if n not in (MANIFEST, SIGNATURE, SUMS)}):
        raise PackageError("SHA256SUMS does not list the package's members: refused")
    return Package(members=members, manifest=manifest, signer=signer, sha256=_sha256(data))
