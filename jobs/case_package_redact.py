# SPDX-License-Identifier: Apache-2.0
"""Redaction of a case package: the seeds' labels and notes taken out before a case leaves the unit.

Labels and notes are the investigators' own words about a seed ("informant's wallet", "seized
phone of X"); partners often may not see them. ``tracer case export --redact labels,notes``
removes them from every member that carries them:

* ``case/seeds.json`` — the fields are set to null;
* ``case/audit.jsonl`` — in each entry that mentions one (the ``seed.add`` details, the recorded
  command line), a JSON field holding exactly the text becomes null and any other occurrence becomes
  ``[redacted]``. **Those entries then no longer match their recorded hash**: the entry keeps its
  original ``hash`` and ``prev``, so the chain's links still verify and every other entry's hash can
  be recomputed, but the redacted ones cannot. ``package.json`` lists them
  (``redaction.audit_entries``) and the importer reports exactly that;
* trace results (``result.json``: a seed's label where value passes through a seed) — the same rule;
  the file then differs from the hash its manifest cites, and ``package.json`` lists the original
  hash (``redaction.trace_files``). The importer re-runs the trace with the unlabelled seeds: the
  result equals the redacted file, and the manifest differs in that hash only.

Texts shorter than :data:`MIN_SUBSTRING` characters are only replaced where a field holds exactly
them, never inside other text (a one-letter label would otherwise cut into addresses). After
redaction no text member (JSON, the audit log) may still contain a redacted text, or nothing is
exported. Parquet members hold chain data, tags and trace rows, which carry no seed labels.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jobs.audit_log import canonical_json as audit_json
from tracer.errors import InputError
from tracer.manifest import canonical_json as result_json

__all__ = ["REDACTABLE", "parse_redact", "redact_members", "MIN_SUBSTRING", "REDACTED"]

#: what ``--redact`` can take out, and the seed field each names
REDACTABLE = {"labels": "label", "notes": "note"}
MIN_SUBSTRING = 5
REDACTED = "[redacted]"


def parse_redact(text: str | None) -> tuple[str, ...]:
    """``labels,notes`` -> ``("labels", "notes")`` (sorted); unknown words are refused."""
    if text is None:
        return ()
    words = sorted({w.strip().lower() for w in text.split(",") if w.strip()})
    unknown = [w for w in words if w not in REDACTABLE]
    if unknown or not words:
        raise InputError(f"--redact {text!r}: give one or both of {', '.join(REDACTABLE)} (comma-separated)")
    return tuple(words)


def _scrub(value: Any, texts: tuple[str, ...], in_field: bool = False) -> Any:
    """``value`` with every redacted text removed (see the module notes)."""
    if isinstance(value, dict):
        return {k: _scrub(v, texts, in_field=True) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, texts) for v in value]
    if isinstance(value, str):
        if value in texts:
            return None if in_field else REDACTED
        for text in texts:
            if len(text) >= MIN_SUBSTRING and text in value:
                value = value.replace(text, REDACTED)
        return value
    return value


def _redact_seeds(data: bytes, fields: list[str]) -> bytes:
    seeds = json.loads(data)
    for seed in seeds:
        for field in fields:
            seed[field] = None
    return (json.dumps(seeds, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _redact_audit(data: bytes, texts: tuple[str, ...], fields: list[str]) -> tuple[bytes, list[int]]:
    lines, changed = [], []
    for line in data.decode("utf-8").splitlines(keepends=True):
        entry = json.loads(line)
        clean = _scrub(entry, texts)
        if entry.get("action") == "seed.add":
            for field in fields:
                if field in clean["details"]:
                    clean["details"][field] = None
        if clean != entry:
            changed.append(int(entry["seq"]))
            line = audit_json(clean) + "\n"
        lines.append(line)
    return "".join(lines).encode("utf-8"), changed


def redact_members(members: dict[str, bytes], words: tuple[str, ...]) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The members with the seeds' ``words`` (labels, notes) removed, and what was done (for
    ``package.json``); raises ``InputError`` if a redacted text would still be in the package."""
    fields = [REDACTABLE[w] for w in words]
    seeds = json.loads(members["case/seeds.json"])
    texts = tuple(sorted({str(s[f]) for s in seeds for f in fields if s.get(f)}))
    out = dict(members)
    out["case/seeds.json"] = _redact_seeds(members["case/seeds.json"], fields)
    out["case/audit.jsonl"], entries = _redact_audit(members["case/audit.jsonl"], texts, fields)
    out["case/case.json"] = (json.dumps(_scrub(json.loads(members["case/case.json"]), texts), indent=2,
                                        ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    trace_files: dict[str, str] = {}
    for name, data in sorted(members.items()):
        if name.startswith("traces/") and name.endswith("/result.json"):
            clean = result_json(_scrub(json.loads(data), texts))
            if clean != data:
                out[name] = clean
                trace_files[name] = hashlib.sha256(data).hexdigest()
    for text in texts:
        encoded = text.encode("utf-8")
        leaked = [n for n, d in sorted(out.items())
                  if len(text) >= MIN_SUBSTRING and not n.endswith(".parquet") and encoded in d]
        if leaked:
            raise InputError(f"a redacted {'/'.join(fields)} still appears in {leaked[0]}: nothing was exported")
    return out, {
        "removed": list(words), "seeds": len(seeds), "audit_entries": entries, "trace_files": trace_files,
        "note": "the listed audit entries keep their original hash and links: the chain's links verify, but "
                "those entries' own hashes cannot be recomputed; each listed trace result differs from the hash "
                "its manifest cites (the original hash is given here)",
    }
