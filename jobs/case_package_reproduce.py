# SPDX-License-Identifier: Apache-2.0
"""Re-running the traces of an imported case package, and saying whether each reproduced.

Each trace is run again from its manifest alone (:func:`spec_from_manifest`: chain, seeds, direction,
model, hops, window, minimum value, fan-out, stop categories, assets) on the importer's store, which
holds the package's frames, and judged by its manifest: **reproduced** when the new manifest's bytes
are the original's (same SHA-256), otherwise the manifest fields that differ are named
(``store.read_digest``: the store returned other data; ``tags.digest``: other tags; ``software``:
another tracer, Python or polars; ``files.result.json``: another result...).

What makes byte identity possible, and is therefore fixed here rather than taken from the importer's
surroundings:

* **tags** — a trace reads the workspace tag library; the importer's library may hold other tags
  (its own TagPacks, newer versions), which would change what the trace consults and where it
  stops. The re-run reads exactly the tag-library versions the original manifest cites, from the
  package (:class:`CitedTags`);
* **coverage** — the blocks the store holds completely decide ``held`` against ``unverified``; the
  re-run uses the coverage the original manifest states when the importer's store holds those
  blocks completely (its checkpoint, loaded from the package's ``coverage.json``), and the store's
  own coverage otherwise (then ``evidence`` differs, and says so);
* **seeds' labels** come from the imported case (they appear in ``result.json`` where value passes
  through a seed); a redacted package's re-run has none, which its redacted result files match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs.addresses import normal_address
from jobs.checkpoints import Checkpoint
from jobs.custody import TRACE_RESULT_PARTS, store_write
from jobs.seed_forms import parse_seed
from jobs.session import Session
from jobs.stores import StoreProbe, checkpoint_path, open_case_store
from jobs.tag_library import TagLibrary
from jobs.trace_run import run_trace
from jobs.workspace import Case
from tracer.chains import ChainRegistry
from tracer.errors import InputError
from tracer.frontier import Direction
from tracer.taint import parse_model
from tracer.trace import Seed, TraceSpec

__all__ = ["CitedTags", "spec_from_manifest", "manifest_differences", "reproduce_traces", "REPRODUCED"]

#: the outcomes that count as reproduced
REPRODUCED = ("reproduced", "reproduced-renamed", "reproduced-redacted")


class CitedTags(TagLibrary):
    """The tag library as one trace saw it: exactly the versions its manifest cites, each current,
    read from the package's ``tags/`` directory (every file checked against its content hash)."""

    def __init__(self, root: Path, entries: Sequence[dict[str, Any]], cited: Sequence[str]) -> None:
        super().__init__(root)
        wanted = set(cited)
        self._cited = [{"imported_at": "", "superseded_at": None, "actor": "", **e, "status": "current"}
                       for e in entries if e["sha256"] in wanted]

    def entries(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self._cited]


def _seed(registry: ChainRegistry, chain_key: str, text: str) -> Seed:
    chain = registry.get(chain_key)
    if text.startswith("sent:"):
        return Seed(address=normal_address(registry, chain.key, text[5:]), sent=True)
    return parse_seed(registry, chain, text)


def spec_from_manifest(registry: ChainRegistry, manifest: dict[str, Any],
                       coverage: Sequence[tuple[int, int]] = ()) -> TraceSpec:
    """The trace a manifest describes, with ``coverage`` as its evidence; ``InputError`` if the
    manifest's parameters are not a trace's."""
    try:
        p = manifest["parameters"]
        chain = registry.get(str(p["chain"]))
        return TraceSpec(
            chain=chain.key, account_model=chain.is_account,
            seeds=tuple(_seed(registry, chain.key, str(t)) for t in p["seeds"]),
            direction=Direction(p["direction"]), model=parse_model(str(p["model"])), hops=p["hops"],
            since=p["since"], until=p["until"], min_value=int(p["min_value"]), max_fanout=p["max_fanout"],
            stop_categories=tuple(str(c) for c in p["stop_categories"]),
            assets=tuple(str(a) for a in p["assets"]) if p["assets"] is not None else None,
            coverage=tuple(coverage))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"a trace manifest in the package has parameters no trace takes ({exc})") from None


def claimed_coverage(manifest: dict[str, Any]) -> list[tuple[int, int]]:
    return [(int(lo), int(hi)) for lo, hi in (manifest.get("evidence") or {}).get("coverage") or []]


def _coverage(claimed: list[tuple[int, int]], held: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The coverage a re-run states: the original's when the store holds all of it, else the store's."""
    inside = all(any(a <= lo and hi <= b for a, b in held) for lo, hi in claimed)
    return claimed if inside else held


def manifest_differences(original: Any, rerun: Any, path: str = "", depth: int = 2) -> list[str]:
    """The dotted names of the manifest fields that differ (two levels deep: ``store.read_digest``)."""
    if original == rerun:
        return []
    if not (isinstance(original, dict) and isinstance(rerun, dict)) or depth == 0:
        return [path or "(whole manifest)"]
    out: list[str] = []
    for key in sorted(set(original) | set(rerun)):
        out += manifest_differences(original.get(key), rerun.get(key), f"{path}.{key}" if path else key, depth - 1)
    return out


def _judge(run: dict[str, Any], original: bytes, rerun_dir: Path, renamed: bool,
           redacted: dict[str, str]) -> dict[str, Any]:
    """The outcome of one re-run: reproduced (same manifest bytes), or which fields differ."""
    rerun = (rerun_dir / "manifest.json").read_bytes()
    differences = manifest_differences(json.loads(original), json.loads(rerun))
    allowed = {"case"} if renamed else set()
    status = "reproduced" if rerun == original else "differs"
    if status == "differs" and set(differences) <= allowed:
        status = "reproduced-renamed"
    packaged = redacted.get(f"traces/{run['run']}/result.json")
    if status == "differs" and packaged is not None and set(differences) <= allowed | {"files.result.json"} \
            and hashlib.sha256((rerun_dir / "result.json").read_bytes()).hexdigest() == packaged:
        status = "reproduced-redacted"
    return {"run": run["run"], "status": status, "differences": [] if status == "reproduced" else differences,
            "manifest_sha256": hashlib.sha256(original).hexdigest(),
            "rerun": rerun_dir.name, "rerun_manifest_sha256": hashlib.sha256(rerun).hexdigest()}


def reproduce_traces(session: Session, case: Case, runs: list[dict[str, Any]], tags_dir: Path,
                     tag_entries: list[dict[str, Any]], *, renamed: bool,
                     redacted: dict[str, str]) -> list[dict[str, Any]]:
    """Re-run every packaged trace (``runs``: ``run``, ``manifest`` bytes) in ``case``, in order, each
    recorded in the audit log like any trace; the outcome of each (see :func:`_judge`).
    ``redacted``: member name -> SHA-256 of a redacted result file as packaged."""
    settings = session.settings
    outcomes: list[dict[str, Any]] = []
    started = {"chains": sorted({json.loads(r["manifest"])["parameters"]["chain"] for r in runs}),
               "models": [json.loads(r["manifest"])["parameters"]["model"] for r in runs], "fetch": False,
               "reproducing": [r["run"] for r in runs]}
    with store_write(case, "trace", session.argv, started, StoreProbe(settings, case),
                     touches=TRACE_RESULT_PARTS, finished="trace.finished") as bracket:
        store = open_case_store(settings, case)
        try:
            for run in runs:
                manifest = json.loads(run["manifest"])
                chain = str(manifest["parameters"]["chain"])
                held = Checkpoint.load(checkpoint_path(settings, case, chain), chain).done
                spec = spec_from_manifest(settings.chains, manifest, _coverage(claimed_coverage(manifest), held))
                cited = [str(s["sha256"]) for s in manifest.get("tags", {}).get("sources", [])]
                result = run_trace(settings, case, spec, store, argv=session.argv,
                                   library=CitedTags(tags_dir, tag_entries, cited),
                                   bridged_from=(manifest.get("evidence") or {}).get("bridged_from"))
                outcomes.append(_judge(run, run["manifest"], result["directory"], renamed, redacted))
        finally:
            store.close()
        bracket.details = {"runs": [o["rerun"] for o in outcomes],
                           "reproduced": [o["run"] for o in outcomes if o["status"] in REPRODUCED],
                           "differ": {o["run"]: o["differences"] for o in outcomes if o["status"] not in REPRODUCED}}
    return outcomes
