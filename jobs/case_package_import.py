# SPDX-License-Identifier: Apache-2.0
"""``tracer case import``: check a partner's case package completely, then rebuild the case and
re-run every trace in it.

Nothing is written until everything that can be checked has been (:func:`_plan`): the archive's
structure, the signature by a trusted key and every member's hash (:func:`open_package`); that the
case name is free; the original audit log's hash chain and that each packaged trace is the one it
records; the seeds; the tag versions against their content hashes; the frames against their
SHA256SUMS, schemas and chains (in a temporary directory outside the workspace). A package that
fails any check is refused with one line (exit 2): no case directory, no tag-library change.

Then, in order, each step recorded in the new case's audit log: the case (``case.create``) and the
package it came from (``case.import``: archive SHA-256, signer, original case, its audit head); the
package's members under ``<case>/received/`` (as received: the same members re-pack to the same
archive); the seeds; the frames, through ``tracer ingest frames``'s job (checksums checked again);
the tag versions into the workspace tag library (a different current version of the same name
there stays current); and the re-run of every trace (:mod:`jobs.case_package_reproduce`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from jobs.addresses import check_address
from jobs.audit_log import GENESIS
from jobs.audit_log import canonical_json as audit_json
from jobs.case_package_archive import Package, PackageError, open_package
from jobs.case_package_reproduce import REPRODUCED, reproduce_traces, spec_from_manifest
from jobs.frames_ingest import check_frame_chains, read_coverage_files, read_frame_dir
from jobs.ingest_runs import ingest_frames
from jobs.seed_forms import parse_seed
from jobs.session import Session
from jobs.tag_library import TagLibrary, content_sha256
from jobs.workspace import Case, Workspace, current_actor
from tracer.errors import ConflictError, InputError, NotFoundError, TracerError
from tracer.schema import TAGS, validate
from tracer.tagpacks import TagImport

__all__ = ["import_case", "RECEIVED_DIR", "IMPORT_ACTION"]

RECEIVED_DIR = "received"
IMPORT_ACTION = "case.import"


@dataclass(frozen=True)
class _Plan:
    """What a checked package will become: the case name, seeds, tag versions and traces."""

    package: Package
    name: str
    case_info: dict[str, Any]
    seeds: list[dict[str, Any]]
    tags: list[tuple[dict[str, Any], pl.DataFrame]]
    runs: list[dict[str, Any]]
    audit: dict[str, Any]


def _audit_check(package: Package) -> dict[str, Any]:
    """Re-check the original audit log's hash chain; entries the package says were redacted keep
    their recorded hash (their links are checked, their own hash cannot be recomputed)."""
    redacted = set((package.manifest.get("redaction") or {}).get("audit_entries") or [])
    prev, entries = GENESIS, []
    for number, line in enumerate(package.members["case/audit.jsonl"].decode("utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
            body = {k: v for k, v in entry.items() if k != "hash"}
            if entry["seq"] != number or entry["prev"] != prev:
                raise ValueError("a link is broken")
            if entry["seq"] not in redacted and hashlib.sha256(audit_json(body).encode()).hexdigest() != entry["hash"]:
                raise ValueError("an entry does not match its hash")
        except (ValueError, KeyError, TypeError) as exc:
            raise PackageError(f"the original audit log in the package does not verify at line {number} ({exc})"
                               ) from None
        prev = entry["hash"]
        entries.append(entry)
    if prev != package.manifest.get("audit", {}).get("head"):
        raise PackageError("the original audit log does not end at the head package.json names")
    return {"entries": len(entries), "head": prev, "redacted_entries": sorted(redacted),
            "trace_runs": {Path(str(e["details"].get("directory", ""))).name: e["details"].get("manifest_sha256")
                           for e in entries if e["action"] == "trace.run"}}


def _seeds(session: Session, package: Package) -> list[dict[str, Any]]:
    """The packaged seeds, each valid on its chain and in its normal form."""
    registry = session.settings.chains
    seeds = package.json("case/seeds.json")
    for seed in seeds:
        chain = registry.get(str(seed["chain"]))
        if seed["kind"] in ("output", "transfer"):
            parse_seed(registry, chain, str(seed["address"]))
        elif check_address(registry, chain.key, str(seed["address"])).address != seed["address"]:
            raise PackageError(f"seed {seed['address']} is not in its normal form on {chain.key}")
    return list(seeds)


def _tags(package: Package) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    if "tags/index.json" not in package.members:
        return []
    out = []
    for entry in package.json("tags/index.json")["imports"]:
        frame = pl.read_parquet(io.BytesIO(package.members[f"tags/{entry['sha256']}.parquet"]))
        validate(frame, TAGS)
        if content_sha256(frame) != entry["sha256"]:
            raise PackageError(f"tag version {entry['name']!r} does not match its content hash")
        out.append((entry, frame))
    return out


def _runs(session: Session, package: Package, audit: dict[str, Any]) -> list[dict[str, Any]]:
    """The packaged traces in run order, each the run the original audit log records."""
    runs = []
    for item in package.manifest.get("traces", []):
        name = str(item["run"])
        manifest = package.members.get(f"traces/{name}/manifest.json", b"")
        digest = hashlib.sha256(manifest).hexdigest()
        if digest != item["manifest_sha256"] or audit["trace_runs"].get(name) != digest:
            raise PackageError(f"trace {name}'s manifest is not the one the original audit log records")
        spec_from_manifest(session.settings.chains, json.loads(manifest))
        runs.append({"run": name, "manifest": manifest})
    return runs


def _check_frames(session: Session, package: Package) -> None:
    """The frames as ``tracer ingest frames`` will read them, checked in a scratch directory."""
    frames = {n.removeprefix("frames/"): d for n, d in package.members.items() if n.startswith("frames/")}
    if not frames:
        return
    with tempfile.TemporaryDirectory(prefix="tracer-package-") as scratch:
        _write_tree(Path(scratch), frames)
        loaded, files = read_frame_dir(Path(scratch))
        check_frame_chains(loaded, session.settings.chains)
        read_coverage_files(Path(scratch), loaded, {c.key for c in session.settings.chains if not c.is_account},
                            set(files))


def _write_tree(root: Path, members: dict[str, bytes]) -> None:
    for name, data in sorted(members.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _plan(session: Session, data: bytes, as_name: str | None) -> _Plan:
    package = open_package(session.settings, data)
    try:
        audit = _audit_check(package)
        name = Workspace.check_name(as_name or str(package.manifest["case"]))
        if (session.workspace.cases_dir / name).exists():
            raise ConflictError(f"case {name!r} already exists in this workspace: import it under another name "
                                "with --as NAME")
        plan = _Plan(package, name, package.json("case/case.json"), _seeds(session, package), _tags(package),
                     _runs(session, package, audit), audit)
        _check_frames(session, package)
    except InputError:
        raise
    except (TracerError, KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise PackageError(f"the package's content cannot be read ({type(exc).__name__}: {exc})") from None
    return plan


def _store_tags(session: Session, plan: _Plan) -> list[dict[str, Any]]:
    library = TagLibrary.for_home(session.settings.home)
    done = []
    for entry, frame in plan.tags:
        tag_import = TagImport(name=entry["name"], file_name=str(entry["source_file"]), format=str(entry["format"]),
                               tags=frame, read=int(entry["read"]), skipped=dict(entry["skipped"]),
                               duplicates=int(entry["duplicates"]), meta=dict(entry["meta"]))
        result = library.import_(tag_import, str(entry["source_file"]), current_actor(),
                                 source_sha256=str(entry["source_sha256"]), supersede=False)
        done.append({"name": result.name, "sha256": result.sha256, "status": result.status})
    return done


def _create(session: Session, plan: _Plan) -> Case:
    """The case, the record of where it came from, the received members and the seeds."""
    package = plan.package
    case = session.workspace.create(plan.name, str(plan.case_info.get("description", "")), session.argv)
    case.record(IMPORT_ACTION, {
        "package_sha256": package.sha256, "signer": package.signer.name,
        "signer_fingerprint": package.signer.fingerprint, "signer_contact": package.signer.contact,
        "original_case": package.manifest.get("case"),
        "original_audit_entries": plan.audit["entries"], "original_audit_head": plan.audit["head"],
        "redacted": (package.manifest.get("redaction") or {}).get("removed", []),
        "traces": len(plan.runs), "tag_versions": [e["sha256"] for e, _ in plan.tags],
        "directory": RECEIVED_DIR}, session.argv)
    _write_tree(case.dir / RECEIVED_DIR, package.members)
    for seed in plan.seeds:
        case.add_seed(chain=seed["chain"], address=seed["address"], kind=seed["kind"], label=seed.get("label"),
                      note=seed.get("note"), argv=session.argv, role=seed.get("role", "received"))
    return case


def import_case(session: Session, file: Path, as_name: str | None = None) -> dict[str, Any]:
    """Import the package ``file`` as a new case and re-run its traces; what was done and, per trace,
    whether it reproduced."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no file {file}") from None
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from None
    plan = _plan(session, data, as_name)
    case = _create(session, plan)
    received = case.dir / RECEIVED_DIR
    loaded = ingest_frames(session, received / "frames", case.name)[0] if (received / "frames").is_dir() else None
    tags = _store_tags(session, plan)
    redaction = plan.package.manifest.get("redaction") or {}
    outcomes = reproduce_traces(session, case, plan.runs, received / "tags", [e for e, _ in plan.tags],
                                renamed=plan.name != plan.package.manifest.get("case"),
                                redacted={n: hashlib.sha256(plan.package.members[n]).hexdigest()
                                          for n in redaction.get("trace_files", {})})
    signer = plan.package.signer
    return {
        "case": case.name, "path": str(case.dir), "package_sha256": plan.package.sha256,
        "original_case": plan.package.manifest.get("case"),
        "signer": {"name": signer.name, "fingerprint": signer.fingerprint, "contact": signer.contact},
        "original_audit": {k: plan.audit[k] for k in ("entries", "head", "redacted_entries")},
        "redacted": redaction.get("removed", []), "seeds": len(plan.seeds),
        "frames": loaded["rows"] if loaded else {}, "tags": tags, "traces": outcomes,
        "reproduced": sum(o["status"] in REPRODUCED for o in outcomes), "total": len(outcomes),
    }
