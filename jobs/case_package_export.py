# SPDX-License-Identifier: Apache-2.0
"""``tracer case export``: one signed archive another agency can verify and re-run.

The package (:mod:`jobs.case_package_archive` for its bytes) holds, under these member names:

* ``case/case.json``, ``case/seeds.json``, ``case/audit.jsonl`` — the case and its hash-chained
  audit log, up to its last entry that is not an export (``case.export`` entries at the end of the
  log are the exports themselves: leaving them out is what makes a second export of an unchanged
  case byte-identical to the first); ``case.json`` names that entry's hash as ``audit_head``;
* ``traces/<run>/…`` — every trace run the log records, each file checked against the log;
* ``frames/<chain>/*.parquet`` with ``coverage.json`` (the blocks the store holds completely,
  from the ingest checkpoint), ``tokens.json`` (the token cache) and ``frames/SHA256SUMS`` — the
  case store's canonical frames (``read_frames``: transactions, inputs, outputs, transfers,
  conversions and bridge events where there are any, and the store's tags and clusters) of every
  chain the traces and seeds are on, in the layout ``tracer ingest frames`` reads;
* ``tags/<sha256>.parquet`` and ``tags/index.json`` — the tag-library versions the traces' manifests
  cite (their content hash is their name);
* ``clusters/…`` — the cluster evidence files the log records.

A case that does not pass ``tracer case verify`` is not exported. The export is recorded in the
case's audit log (``case.export``: file, archive SHA-256, signer, redaction).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from jobs.audit_log import AuditEntry
from jobs.case_package_archive import json_bytes, seal, sums_text
from jobs.case_package_redact import parse_redact, redact_members
from jobs.cases import verify_case
from jobs.checkpoints import Checkpoint
from jobs.files import write_atomic
from jobs.keys import Signer, list_keys, load_signer
from jobs.session import Session
from jobs.settings import Settings
from jobs.stores import checkpoint_path, open_case_store_for_reading
from jobs.tag_library import TagLibrary
from jobs.token_cache import read_tokens
from jobs.trace_catalog import list_runs
from jobs.trace_results import TRACES_DIR
from jobs.workspace import Case
from tracer import __version__
from tracer.errors import ConflictError, InputError, IntegrityError, NotFoundError

__all__ = ["ExportRequest", "export_case", "EXPORT_ACTION", "TAG_ENTRY_FIELDS"]

EXPORT_ACTION = "case.export"
#: the fields of a tag-library index entry a package carries (no import time, no actor)
TAG_ENTRY_FIELDS = ("name", "file", "sha256", "source_file", "source_sha256", "format", "rows", "chains", "read",
                    "skipped", "duplicates", "meta", "sanctions")
#: the frames of a chain a package carries (a case's seeds travel in case/seeds.json); each only when
#: the store holds rows of it, so a case without conversions or bridge events packs as it always did
_FRAMES = ("transactions", "inputs", "outputs", "transfers", "tags", "clusters", "conversions", "bridge_events")


@dataclass(frozen=True)
class ExportRequest:
    """One ``tracer case export``: the case, the archive to write, the key, what to redact."""

    case: str
    out: Path
    #: own key to sign with; None: the workspace's only own key
    sign: str | None = None
    #: ``labels``, ``notes`` or both, comma-separated
    redact: str | None = None


def _signer(settings: Settings, name: str | None, passphrase: Callable[[], str | None]) -> Signer:
    """The signing key: ``name``, or the only own key; asks for the passphrase only when the key has one."""
    own = [k for k in list_keys(settings) if k.kind == "own"]
    if name is None:
        if len(own) != 1:
            known = ", ".join(k.name for k in own) or "none yet; create one with `tracer keys create NAME`"
            raise InputError(f"say which key signs the package: --sign KEY (your keys: {known})")
        name = own[0].name
    info = next((k for k in own if k.name == name), None)
    return load_signer(settings, name, passphrase() if info is not None and info.encrypted else None)


def _audit_prefix(case: Case) -> tuple[bytes, list[AuditEntry]]:
    """The audit log's lines up to its last entry that is not an export, and those entries."""
    entries = case.audit.entries()
    keep = len(entries)
    while keep and entries[keep - 1].action == EXPORT_ACTION:
        keep -= 1
    lines = [line for line in case.audit.path.read_bytes().splitlines(keepends=True) if line.strip()]
    return b"".join(lines[:keep]), entries[:keep]


def _case_files(case: Case) -> tuple[dict[str, bytes], list[AuditEntry]]:
    log, entries = _audit_prefix(case)
    info = json.loads((case.dir / "case.json").read_text(encoding="utf-8"))
    info["audit_head"] = entries[-1].hash if entries else info.get("audit_head", "")
    return {
        "case/case.json": (json.dumps(info, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"),
        "case/seeds.json": (case.dir / "seeds.json").read_bytes(),
        "case/audit.jsonl": log,
    }, entries


def _checked(path: Path, digest: str, what: str) -> bytes:
    data = path.read_bytes() if path.is_file() else b""
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"{what} does not match the audit log; run `tracer case verify`")
    return data


def _trace_files(case: Case, last_seq: int) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """Every recorded trace run's files (checked against the log) and the package's list of them."""
    members: dict[str, bytes] = {}
    runs: list[dict[str, Any]] = []
    for run in list_runs(case):
        if run["audit_seq"] > last_seq:
            continue
        name = Path(run["name"]).name
        for file_name, digest in sorted(run["files"].items()):
            path = case.dir / TRACES_DIR / name / Path(file_name).name
            members[f"traces/{name}/{Path(file_name).name}"] = _checked(path, digest,
                                                                        f"trace result {name}/{file_name}")
        parameters = json.loads(members[f"traces/{name}/manifest.json"])["parameters"]
        runs.append({"run": name, "audit_seq": run["audit_seq"], "manifest_sha256": run["manifest_sha256"],
                     "chain": parameters.get("chain"), "direction": parameters.get("direction"),
                     "model": parameters.get("model")})
    return members, runs


def _cluster_files(case: Case, entries: list[AuditEntry]) -> dict[str, bytes]:
    latest: dict[str, str] = {}
    for entry in entries:
        if entry.action == "cluster.run":
            latest.update({Path(n).name: d for n, d in (entry.details.get("files") or {}).items()})
    return {f"clusters/{n}": _checked(case.dir / "clusters" / n, d, f"cluster evidence {n}")
            for n, d in sorted(latest.items())}


def _tag_files(settings: Settings, members: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """The tag-library versions the packaged manifests cite, and their index entries."""
    cited = sorted({str(s["sha256"]) for n, d in members.items() if n.endswith("/manifest.json")
                    for s in json.loads(d).get("tags", {}).get("sources", [])})
    library = TagLibrary.for_home(settings.home)
    entries = {e["sha256"]: e for e in library.entries()}
    out: dict[str, bytes] = {}
    index = []
    for digest in cited:
        problem = library.check_version(digest)
        if problem is not None or digest not in entries:
            raise NotFoundError(f"{problem or digest}: a trace of the case cites it, so it must travel with it")
        entry = entries[digest]
        out[f"tags/{digest}.parquet"] = (library.root / str(entry["file"])).read_bytes()
        index.append({k: entry.get(k) for k in TAG_ENTRY_FIELDS} | {"file": f"{digest}.parquet"})
    if index:
        out["tags/index.json"] = json_bytes({"format": 1, "imports": index})
    return out, cited


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def _frame_files(settings: Settings, case: Case, chains: list[str]) -> dict[str, bytes]:
    """The store's canonical frames of ``chains`` in the frames-directory layout, with SHA256SUMS."""
    files: dict[str, bytes] = {}
    if settings.store_backend == "embedded" and not settings.embedded_store_path(case.dir).exists():
        return files
    store = open_case_store_for_reading(settings, case)
    try:
        for chain in chains:
            frames = store.read_frames(chain).frames()
            files.update({f"{chain}/{name}.parquet": _parquet(frames[name]) for name in _FRAMES
                          if frames[name].height})
            done = Checkpoint.load(checkpoint_path(settings, case, chain), chain).done
            if done:
                files[f"{chain}/coverage.json"] = json_bytes({"chain": chain,
                                                              "complete_blocks": [list(i) for i in done]})
            tokens = read_tokens(settings, case, chain)
            if tokens:
                files[f"{chain}/tokens.json"] = json_bytes({"chain": chain, "tokens": tokens})
    finally:
        store.close()
    if files:
        files["SHA256SUMS"] = sums_text(files)
    return {f"frames/{n}": d for n, d in files.items()}


def _collect(settings: Settings, case: Case) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every content member of the case's package, and the description for ``package.json``."""
    members, entries = _case_files(case)
    last_seq = entries[-1].seq if entries else 0
    traces, runs = _trace_files(case, last_seq)
    members.update(traces)
    members.update(_cluster_files(case, entries))
    tags, cited = _tag_files(settings, members)
    members.update(tags)
    chains = sorted({str(r["chain"]) for r in runs} | {s.chain for s in case.seeds()})
    members.update(_frame_files(settings, case, chains))
    description = {
        "case": case.name, "audit": {"entries": len(entries), "head": entries[-1].hash if entries else ""},
        "traces": runs, "chains": chains, "tag_versions": cited, "software": {"tracer": __version__},
    }
    return members, description


def export_case(session: Session, request: ExportRequest, passphrase: Callable[[], str | None]) -> dict[str, Any]:
    """Write the case's signed package to ``request.out`` (a new file) and record the export."""
    settings = session.settings
    case = session.workspace.open(request.case)
    words = parse_redact(request.redact)
    if request.out.exists():
        raise ConflictError(f"{request.out} exists; choose a new file (a package is never overwritten)")
    signer = _signer(settings, request.sign, passphrase)
    check = verify_case(session, request.case)
    if not check.ok:
        raise IntegrityError(f"case {request.case!r} does not verify ({check.problem}); it is not exported")
    with case.locked():
        members, description = _collect(settings, case)
    redaction = None
    if words:
        members, redaction = redact_members(members, words)
    description |= {"redaction": redaction, "signed_by": {"name": signer.info.name, "contact": signer.info.contact,
                                                          "fingerprint": signer.info.fingerprint}}
    archive = seal(members, description, signer)
    write_atomic(request.out, archive)
    digest = hashlib.sha256(archive).hexdigest()
    data = {"case": case.name, "out": str(request.out), "sha256": digest, "bytes": len(archive),
            "members": len(members) + 3, "traces": [r["run"] for r in description["traces"]],
            "chains": description["chains"], "tag_versions": description["tag_versions"],
            "audit_entries": description["audit"]["entries"], "signed_by": description["signed_by"],
            "redacted": list(words)}
    case.record(EXPORT_ACTION, {k: v for k, v in data.items() if k != "traces"} | {"traces": len(data["traces"])},
                session.argv)
    return data
