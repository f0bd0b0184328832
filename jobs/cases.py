# SPDX-License-Identifier: Apache-2.0
"""Case work a command starts: create a case, list and describe cases, add seeds, find the links
between cases (the case workspace itself is :mod:`jobs.workspace`, the index :mod:`jobs.case_index`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobs.addresses import check_address
from jobs.audit_log import AuditEntry, Verification
from jobs.case_index import links, workspace_index
from jobs.custody import check_store
from jobs.seed_forms import parse_seed
from jobs.session import Session
from jobs.stores import StoreProbe
from jobs.tag_library import TagLibrary
from jobs.trace_results import run_entries
from jobs.workspace import Case, Seed
from tracer.errors import InputError

__all__ = ["verify_case", "create_case", "case_rows", "describe_case", "add_seed", "case_links", "case_traces"]


def create_case(session: Session, name: str, description: str) -> Case:
    """A new case workspace (``ConflictError`` if the name is taken); its creation is the first audit entry."""
    return session.workspace.create(name, description, session.argv)


def case_rows(session: Session) -> list[dict[str, Any]]:
    """One row per case of the workspace: name, description, who created it and when, seed count."""
    rows = []
    for case in session.workspace.list():
        info = case.info()
        rows.append({"name": info.name, "description": info.description, "created_at": info.created_at,
                     "created_by": info.created_by, "seeds": len(case.seeds())})
    return rows


def verify_case(session: Session, name: str) -> Verification:
    """Whether case ``name`` is intact: its audit hash chain, the case files and every trace result
    against the log (:meth:`Case.verify`), and its store against the last audited write
    (:func:`jobs.custody.check_store`: no run left unfinished, no rows without a record, no content
    changed in place)."""
    case = session.workspace.open(name)
    check = case.verify()
    if not check.ok:
        return check
    entries = case.audit.entries()
    # an unfinished write first: its files may be half-way, and the repair is to run it again
    store = check_store(case, StoreProbe(session.settings, case))
    problem = (store.problem or _check_cluster_files(case, entries)
               or _check_reports(case, entries) or _check_tag_versions(session, case, entries))
    if problem is not None:
        return Verification(False, check.entries, check.head, problem)
    return replace(check, store_digest=store.digest, store_entry=store.entry)


def _check_cluster_files(case: Case, entries: list[AuditEntry]) -> str | None:
    """Every cluster evidence file against the hash its latest ``cluster.run`` entry recorded."""
    latest: dict[str, tuple[int, str]] = {}
    for entry in entries:
        if entry.action == "cluster.run":
            for name, digest in (entry.details.get("files") or {}).items():
                latest[name] = (entry.seq, digest)
    for name, (seq, digest) in sorted(latest.items()):
        path = case.dir / "clusters" / Path(name).name
        if not path.is_file():
            return f"cluster evidence {name} (audit entry {seq}) is missing"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return f"cluster evidence {name} was changed after the run (audit entry {seq})"
    return None


def _check_reports(case: Case, entries: list[AuditEntry]) -> str | None:
    """Every report written inside the case (``reports/``) against the hashes its ``report.written``
    entry recorded: a report handed on can be checked against the case it came from. Reports written
    elsewhere (``--out``) are the user's files; their hashes stay in the log for comparison."""
    for entry in entries:
        if entry.action != "report.written":
            continue
        directory = Path(str(entry.details.get("directory", "")))
        if directory.name != "reports" or directory.parent.name != case.name:
            continue
        for name, digest in sorted((entry.details.get("files") or {}).items()):
            path = case.dir / "reports" / Path(name).name
            if not path.is_file():
                return f"report {name} (audit entry {entry.seq}) is missing"
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return f"report {name} was changed after it was written (audit entry {entry.seq})"
    return None


def _check_tag_versions(session: Session, case: Case, entries: list[AuditEntry]) -> str | None:
    """Every tag-library version a trace of the case used (its manifest's tag sources) is still in
    the workspace tag library, unaltered: a defence expert re-running the trace needs those tags."""
    library = TagLibrary.for_home(session.settings.home)
    cited: dict[str, int] = {}
    for entry in run_entries(entries):
        manifest = case.dir / "traces" / Path(str(entry.details.get("directory", ""))).name / "manifest.json"
        try:
            sources = json.loads(manifest.read_text(encoding="utf-8"))["tags"]["sources"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a missing or changed result is reported by Case.verify
        for source in sources:
            cited.setdefault(str(source["sha256"]), entry.seq)
    for digest, seq in sorted(cited.items(), key=lambda kv: kv[1]):
        problem = library.check_version(digest)
        if problem is not None:
            return f"{problem} (cited by the trace of audit entry {seq})"
    return None


def describe_case(session: Session, name: str) -> tuple[dict[str, Any], Verification]:
    """A case's metadata and seeds, and whether it verifies (with the verification)."""
    case = session.workspace.open(name)
    info, seeds, check = case.info(), case.seeds(), verify_case(session, name)
    return info.as_dict() | {
        "path": str(case.dir),
        "seeds": [s.as_dict() for s in seeds],
        "audit": {"entries": check.entries, "verified": check.ok, "problem": check.problem},
    }, check


def add_seed(session: Session, name: str, chain: str, value: str, *, label: str | None,
             note: str | None, sent: bool = False) -> tuple[Seed, bool]:
    """Validate a seed for ``chain`` and add it to case ``name``: an address (what it received, or with
    ``sent`` what it sent), one output ``TXID:VOUT`` (UTXO) or one transfer ``TXID[:INDEX]`` (account).

    Returns ``(seed, added)``; re-adding a seed changes nothing (``added`` is then false).
    """
    case = session.workspace.open(name)
    registry = session.settings.chains
    info = registry.get(chain)
    parsed = parse_seed(registry, info, value)
    if parsed.address is None:
        if sent:
            raise InputError(f"{value}: --sent applies to an address (what it sent), not to a transaction")
        return case.add_seed(chain=info.key, address=parsed.text, kind=parsed.kind, label=label, note=note,
                             argv=session.argv)
    address = check_address(registry, info.key, parsed.address)
    return case.add_seed(chain=address.chain, address=address.address, kind=address.kind, label=label, note=note,
                         argv=session.argv, role="sent" if sent else "received")


def case_links(session: Session, name: str) -> dict[str, Any]:
    """The addresses and clusters case ``name`` shares with the other cases of the workspace, with
    both cases' roles; the look-up is recorded in the case's audit log. A case that cannot be read is
    left out (named in ``skipped`` and through ``session.notify``)."""
    case = session.workspace.open(name)
    skipped: list[str] = []
    index = workspace_index(session.workspace, session.settings.home / "index", skipped=skipped)
    for problem in skipped:
        session.notify(f"warning: case {problem} — left out of the comparison")
    rows = links(index, name).to_dicts()
    other = sorted({r["other_case"] for r in rows})
    with case.locked():
        case.record("case.links", {"links": len(rows), "cases": other,
                                   "cases_indexed": index["case"].n_unique(), "skipped": skipped}, session.argv)
    return {"case": name, "links": rows, "cases": other, "skipped": skipped}


def case_traces(session: Session, name: str) -> list[dict[str, Any]]:
    """Every trace run of the case, oldest first, as the audit log records it: its result folder,
    when and by whom, the question asked (chain, direction, model, hops, seeds) and the manifest hash.
    Whether the folders still match the log is ``tracer case verify``'s job."""
    case = session.workspace.open(name)
    rows = []
    for entry in run_entries(case.audit.entries()):
        parameters = entry.details.get("parameters") or {}
        rows.append({
            "run": entry.details.get("run") or Path(str(entry.details.get("directory", ""))).name,
            "time": entry.time, "actor": entry.actor, "audit_seq": entry.seq,
            "chain": parameters.get("chain"), "direction": parameters.get("direction"),
            "model": parameters.get("model"), "hops": parameters.get("hops"), "seeds": parameters.get("seeds", []),
            "manifest_sha256": entry.details.get("manifest_sha256"),
        })
    return rows
