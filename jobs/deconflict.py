# SPDX-License-Identifier: Apache-2.0
"""``tracer deconflict``: two agencies learn which addresses their cases share, and nothing else.

File-based, so it works between air-gapped agencies (the protocol is
:mod:`jobs.deconflict_protocol`, the group arithmetic :mod:`tracer.psi`: Diffie–Hellman private
set intersection, Meadows 1986; Huberman, Franklin and Hogg 1999; over ristretto255, RFC 9496):

1. :func:`offer` — the requester's case items (every address the case knows, as
   ``tracer case links`` reads them: seeds, trace hops and endings; with ``clusters`` also the
   other members of their clusters) become a signed request ``A.req`` and a private state file
   ``A.req.state`` (mode 0600: the secret scalar, the request id and hash, the items);
2. :func:`answer` — the partner checks the request's signature against its trusted keys and writes
   the signed response ``B.resp`` for its own case;
3. :func:`open_answer` — the requester checks the response's signature and that it answers this
   very request, and lists the shared addresses with the partner's declared contact and reference.

Each step is recorded in the case's audit log with the request id, the counterpart's key
fingerprint, counts and file hashes, never the other side's data. Bad input (a file that is not
ours to open, a bad signature, an untrusted signer, a damaged element) raises before anything is
written.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from jobs import keys as key_jobs
from jobs.case_index import case_roles
from jobs.deconflict_protocol import (
    Item,
    OfferState,
    build_request,
    build_response,
    intersect,
    read_request,
    read_response,
)
from jobs.session import Session
from jobs.settings import Settings
from jobs.workspace import Case
from tracer.errors import ConflictError, InputError, NotFoundError

__all__ = ["case_items", "signer_for", "state_path", "offer", "answer", "open_answer", "PassphraseFor"]

#: ``passphrase(encrypted) -> passphrase or None``: asked only when the key is encrypted
PassphraseFor = Callable[[bool], str | None]


def _no_passphrase(_encrypted: bool) -> str | None:
    return None


def state_path(request: Path) -> Path:
    """Where the private state of request ``A.req`` is kept: ``A.req.state`` beside it."""
    return request.with_name(request.name + ".state")


def case_items(case: Case, *, clusters: bool, cache_dir: Path | None = None) -> list[Item]:
    """Every address ``case`` knows (:func:`jobs.case_index.case_roles`: seeds, trace hops and
    endings, with their roles and cluster), one item per chain and address, sorted. With
    ``clusters``, also every other member of those addresses' clusters (role ``cluster``), read
    from the case's ``clusters/<chain>-clusters.parquet`` files."""
    roles = case_roles(case, cache_dir)
    direct = (roles.group_by("chain", "address")
              .agg(pl.col("role").unique().sort().cast(pl.String).alias("roles"),
                   pl.col("cluster_id").drop_nulls().first())
              .sort("chain", "address"))
    items = [Item(row["chain"], row["address"], tuple(row["roles"]), row["cluster_id"], "address")
             for row in direct.iter_rows(named=True)]
    if clusters:
        files = sorted((case.dir / "clusters").glob("*-clusters.parquet"))
        if not files:
            raise InputError(f"case {case.name} has no clusters: run `tracer cluster run {case.name} --chain CHAIN` "
                             "first, or leave out --clusters")
        wanted = direct["cluster_id"].drop_nulls().unique()
        members = (pl.read_parquet(files, columns=["chain", "address", "cluster_id"])
                   .filter(pl.col("cluster_id").is_in(wanted.to_list()))
                   .join(direct.select("chain", "address"), on=["chain", "address"], how="anti")
                   .unique(["chain", "address"]).sort("chain", "address"))
        items += [Item(row["chain"], row["address"], ("cluster",), row["cluster_id"], "cluster")
                  for row in members.iter_rows(named=True)]
    return items


def signer_for(settings: Settings, key: str | None, passphrase: PassphraseFor = _no_passphrase) -> key_jobs.Signer:
    """This agency's signing key ``key`` (or its only key), unlocked with ``passphrase`` if encrypted."""
    own = [info for info in key_jobs.list_keys(settings) if info.kind == "own"]
    if key is None:
        if len(own) != 1:
            names = ", ".join(info.name for info in own)
            raise InputError(f"choose the signing key with --key ({names})" if own else
                             "no signing key: create one with `tracer keys create NAME` and give partners its "
                             "public key (`tracer keys export`)")
        key = own[0].name
    info = next((k for k in own if k.name == key), None)
    return key_jobs.load_signer(settings, key, passphrase(bool(info and info.encrypted)))


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConflictError(f"{path} exists; choose a new file (deconfliction files are never replaced)")
        if not path.parent.is_dir():
            raise NotFoundError(f"{path.parent} is not a folder")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to the new file ``path`` (mode ``mode`` from the first byte), atomically and
    never over an existing file (``os.link`` fails if the name was taken meanwhile)."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(name, path)
        except FileExistsError:
            raise ConflictError(f"{path} exists; choose a new file") from None
    finally:
        Path(name).unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def offer(session: Session, name: str, out: Path, *, key: str | None = None,
          passphrase: PassphraseFor = _no_passphrase, reference: str = "", contact: str | None = None,
          count_only: bool = False, clusters: bool = False) -> dict[str, Any]:
    """Write the signed request ``out`` for case ``name`` and its private state ``out.state``."""
    case = session.workspace.open(name)
    state_file = state_path(out)
    _refuse_existing(out, state_file)
    items = case_items(case, clusters=clusters, cache_dir=session.settings.home / "index")
    if not items:
        raise InputError(f"case {name} has no address to compare: add seeds or run a trace first")
    signer = signer_for(session.settings, key, passphrase)
    data, state = build_request(signer, items, contact=signer.info.contact if contact is None else contact,
                                reference=reference, count_only=count_only, clusters=clusters, case=name)
    state_bytes = (json.dumps(state.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    with case.locked():
        _write_new(state_file, state_bytes, 0o600)
        try:
            _write_new(out, data, 0o644)
        except BaseException:
            state_file.unlink(missing_ok=True)
            raise
        case.record("deconflict.offer", {
            "request_id": state.request_id, "request_file": out.name, "request_sha256": state.request_sha256,
            "state_sha256": _sha256(state_bytes), "key": signer.info.name, "key_fingerprint": signer.info.fingerprint,
            "items": len(items), "count_only": count_only, "clusters": clusters, "reference": reference}, session.argv)
    return {"case": name, "request": str(out), "state": str(state_file), "request_id": state.request_id,
            "request_sha256": state.request_sha256, "items": len(items), "count_only": count_only,
            "clusters": clusters, "key": signer.info.name, "key_fingerprint": signer.info.fingerprint}


def answer(session: Session, name: str, request_file: Path, out: Path, *, key: str | None = None,
           passphrase: PassphraseFor = _no_passphrase, reference: str = "", contact: str | None = None,
           count_only: bool = False) -> dict[str, Any]:
    """Answer the partner's request with case ``name``: the signed response ``out``. The request must
    be signed by a trusted key; this side learns its size and who sent it, not the result."""
    case = session.workspace.open(name)
    _refuse_existing(out)
    request = read_request(session.settings, _read(request_file), str(request_file))
    clusters = bool(request.header["clusters"])
    if clusters and not any((case.dir / "clusters").glob("*-clusters.parquet")):
        session.notify(f"note: the request asks for clusters, but case {name} has none; answering with its "
                       "addresses only")
        clusters = False
    items = case_items(case, clusters=clusters, cache_dir=session.settings.home / "index")
    signer = signer_for(session.settings, key, passphrase)
    data = build_response(signer, request, items, contact=signer.info.contact if contact is None else contact,
                          reference=reference, count_only=count_only)
    response_sha256 = _sha256(data)
    only_count = count_only or bool(request.header["count_only"])
    with case.locked():
        _write_new(out, data, 0o644)
        case.record("deconflict.answer", {
            "request_id": request.request_id, "request_sha256": request.sha256,
            "requester_key": request.signer.name, "requester_fingerprint": request.signer.fingerprint,
            "request_elements": len(request.blinded), "items": len(items), "count_only": only_count,
            "clusters": clusters, "response_file": out.name, "response_sha256": response_sha256,
            "key_fingerprint": signer.info.fingerprint, "reference": reference}, session.argv)
    return {"case": name, "response": str(out), "response_sha256": response_sha256,
            "request_id": request.request_id, "requester": {
                "name": request.signer.name, "fingerprint": request.signer.fingerprint,
                "contact": request.header["contact"], "reference": request.header["reference"]},
            "their_elements": len(request.blinded), "items": len(items), "count_only": only_count,
            "clusters": clusters}


def _offered(case: Case, state: OfferState) -> None:
    """Refuse a state file that no offer of ``case`` recorded (another case's, or made by hand)."""
    for entry in case.audit.entries():
        if (entry.action == "deconflict.offer" and entry.details.get("request_id") == state.request_id
                and entry.details.get("request_sha256") == state.request_sha256):
            return
    raise InputError(f"request {state.request_id} was not offered by case {case.name} (no such entry in its "
                     "audit log): the state file belongs to another case or workspace")


def open_answer(session: Session, state_file: Path, response_file: Path) -> dict[str, Any]:
    """The addresses the requester's case shares with the partner (or their number only), from the
    private state of the request and the partner's signed response to it."""
    try:
        doc = json.loads(_read(state_file).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    state = OfferState.from_json(doc, str(state_file))
    if not state.case:
        raise InputError(f"{state_file} names no case")
    case = session.workspace.open(state.case)
    _offered(case, state)
    data = _read(response_file)
    response = read_response(session.settings, data, str(response_file), state)
    result = intersect(state, response)
    with case.locked():
        case.record("deconflict.open", {
            "request_id": state.request_id, "response_file": response_file.name,
            "response_sha256": response.sha256, "partner_key": response.signer.name,
            "partner_fingerprint": response.signer.fingerprint, "shared": result["shared_count"],
            "their_items": result["their_items"], "count_only": result["count_only"]}, session.argv)
    return {"case": state.case, "reference": state.reference, **result}
