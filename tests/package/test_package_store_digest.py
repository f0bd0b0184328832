# SPDX-License-Identifier: Apache-2.0
"""A defence expert recomputes the store's content digest from a case package, with nothing but
the package's files and SHA-256 (``tracer-store-digest/1``, :mod:`tracer.store_digest`).

The main job's case is exported by unit A. Its audit log (in the package) recorded the store's
digest, frame by frame, at the last write; the package's ``frames/`` hold the same store, one
directory per chain. Concatenating each frame over the chains and digesting it gives, frame by
frame, the value the log recorded — so the frames a partner re-runs the traces on are the frames
the case's chain of custody vouches for. Redaction takes the seeds' labels and notes out of the case
files, never out of the frames: a redacted package's frames match as well.
"""

from __future__ import annotations

import io
import json

import polars as pl

from jobs.case_package_archive import unpack
from tests.package.conftest import Agencies
from tracer.schema import FRAMES, empty
from tracer.store_digest import frame_digest

#: the frames a package carries (the seeds are the case's seeds.json, not a frame file)
PACKAGED = ("transactions", "inputs", "outputs", "transfers", "tags", "clusters", "conversions", "bridge_events")


def _recorded_parts(members: dict[str, bytes]) -> dict[str, str]:
    log = [json.loads(line) for line in members["case/audit.jsonl"].decode().splitlines()]
    last = [e for e in log if e["details"].get("store_digest")][-1]
    return dict(last["details"]["store_digest"]["parts"])


def _package_digests(members: dict[str, bytes]) -> dict[str, str]:
    chains = sorted({n.split("/")[1] for n in members if n.startswith("frames/") and n.endswith(".parquet")})
    digests = {}
    for name in PACKAGED:
        files = [members[f"frames/{c}/{name}.parquet"] for c in chains if f"frames/{c}/{name}.parquet" in members]
        frame = pl.concat([pl.read_parquet(io.BytesIO(f)) for f in files]) if files else empty(FRAMES[name])
        digests[name] = frame_digest(name, frame)
    return digests


def test_the_packages_frames_give_the_digest_its_audit_log_recorded(agencies: Agencies) -> None:
    members = unpack(agencies.signed.read_bytes())
    recorded, recomputed = _recorded_parts(members), _package_digests(members)
    assert recomputed == {name: recorded[name] for name in PACKAGED}
    assert {"ltc-regtest", "eth-devnet"} <= {n.split("/")[1] for n in members if n.startswith("frames/")}


def test_a_redacted_package_keeps_frames_that_match(agencies: Agencies) -> None:
    members = unpack(agencies.redacted.read_bytes())  # the seeds' labels and notes taken out
    assert _package_digests(members) == {name: _recorded_parts(members)[name] for name in PACKAGED}
