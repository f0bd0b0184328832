# SPDX-License-Identifier: Apache-2.0
"""Benchmark: private deconfliction of two 100,000-address sets, end to end (issue 20).

Two agencies, each a temporary workspace (``TRACER_HOME``) with an Ed25519 key that the other
trusts, hold 100,000 distinct items each (chain ``eth`` and a ``0x`` + 40 hex digit address derived
from a counter, fixed), 1,000 of them shared. In the same process, timed:

* ``offer_s``: :func:`jobs.deconflict_protocol.build_request` (hash to ristretto255 and blind each
  item, sort, sign) and writing ``A.req``;
* ``answer_s``: reading ``A.req``, checking its signature against the trusted key, and
  :func:`build_response` (re-blind the 100,000 received elements, hash and blind the 100,000 own
  items, sort, sign), writing ``B.resp``;
* ``open_s``: reading ``B.resp``, checking its signature and binding, checking the answered
  elements are valid points, raising the partner's 100,000 elements to the secret and intersecting
  (:func:`intersect`); the result must be exactly the 1,000 shared items (``correct``);
* ``total_s``: the three together — the target is ``total_s`` < 60 on this 2-core machine.

Baselines, on the same items in the same process:

* ``baseline_group_ops_s``: the bare libsodium operations the protocol cannot avoid, one after
  the other in a plain loop: 200,000 hashes to the group (RFC 9496 §4.3.4) and 400,000 scalar
  multiplications (2 per item on each side). ``overhead_ratio = total_s / baseline_group_ops_s``
  is what the protocol code adds to the arithmetic (below 1 when the thread pool uses several cores).
* ``baseline_sha256_s``: the naive, leaky alternative — both sides send plain SHA-256 hashes of
  their items and intersect the sets. ``privacy_cost_ratio = total_s / baseline_sha256_s`` is the
  price of not revealing the non-shared addresses (a plain hash of an address is reversed by
  hashing every address on the chain).

``peak_rss_mb`` is the process's peak resident memory; ``request_mb`` and ``response_mb`` the sizes
of the files exchanged.

    python benchmarks/deconflict.py --json           # 100,000 x 100,000 (about a minute with baselines)
    python benchmarks/deconflict.py --quick --json   # 5,000 x 5,000, seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pysodium  # noqa: E402

from jobs.deconflict_protocol import (  # noqa: E402
    Item,
    build_request,
    build_response,
    intersect,
    read_request,
    read_response,
)
from jobs.keys import create_key, export_public, load_signer, trust_key  # noqa: E402
from jobs.settings import Settings, load_settings  # noqa: E402
from tracer import psi  # noqa: E402

SHARED = 1_000


def items(tag: str, count: int, shared: int) -> list[Item]:
    """``count`` items: the first ``shared`` common to every tag, the rest the tag's own."""
    def address(text: str) -> str:
        return "0x" + hashlib.sha256(text.encode()).hexdigest()[:40]
    return [Item("eth", address(f"shared/{i}" if i < shared else f"{tag}/{i}")) for i in range(count)]


def agency(root: Path, name: str) -> Settings:
    settings = load_settings({"TRACER_HOME": str(root / name)})
    create_key(settings, name, passphrase=None, contact=f"{name} desk")
    export_public(settings, name, root / f"{name}.pub")
    return settings


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def protocol(root: Path, mine: list[Item], theirs: list[Item]) -> dict[str, Any]:
    """Offer, answer and open, through files, each timed; checks the result."""
    a, b = agency(root, "a"), agency(root, "b")
    trust_key(a, root / "b.pub")
    trust_key(b, root / "a.pub")
    signer_a, signer_b = load_signer(a, "a", None), load_signer(b, "b", None)
    request_path, response_path = root / "A.req", root / "B.resp"

    def offer() -> Any:
        data, state = build_request(signer_a, mine, contact="a desk", reference="bench", count_only=False,
                                    clusters=False)
        request_path.write_bytes(data)
        return state

    def answer() -> None:
        request = read_request(b, request_path.read_bytes(), "A.req")
        response_path.write_bytes(build_response(signer_b, request, theirs, contact="b desk", reference="bench"))

    def open_(state: Any) -> dict[str, Any]:
        return intersect(state, read_response(a, response_path.read_bytes(), "B.resp", state))

    offer_s, state = timed(offer)
    answer_s, _ = timed(answer)
    open_s, result = timed(open_, state)
    expected = sorted((i.chain, i.address) for i in mine[:SHARED])
    return {"offer_s": round(offer_s, 2), "answer_s": round(answer_s, 2), "open_s": round(open_s, 2),
            "total_s": round(offer_s + answer_s + open_s, 2), "shared_found": result["shared_count"],
            "correct": [(r["chain"], r["address"]) for r in result["shared"]] == expected,
            "request_mb": round(request_path.stat().st_size / 1e6, 2),
            "response_mb": round(response_path.stat().st_size / 1e6, 2)}


def baseline_group_ops(mine: list[Item], theirs: list[Item]) -> float:
    """The unavoidable arithmetic, plainly looped: every hash to the group, 4 multiplications an item."""
    a, b = psi.random_scalar(), psi.random_scalar()
    multiply, from_hash = pysodium.crypto_scalarmult_ristretto255, pysodium.crypto_core_ristretto255_from_hash
    started = time.perf_counter()
    for own, (first, second) in ((mine, (a, b)), (theirs, (b, a))):
        for item in own:
            point = multiply(first, from_hash(psi.item_digest(item.chain, item.address)))
            multiply(second, point)
    return time.perf_counter() - started


def baseline_sha256(mine: list[Item], theirs: list[Item]) -> tuple[float, int]:
    """Both sides hash their items with plain SHA-256 and intersect the sets (leaks every address)."""
    started = time.perf_counter()
    ours = {hashlib.sha256(f"{i.chain}:{i.address}".encode()).digest(): i for i in mine}
    other = {hashlib.sha256(f"{i.chain}:{i.address}".encode()).digest() for i in theirs}
    found = len(other.intersection(ours))
    return time.perf_counter() - started, found


def run(quick: bool) -> dict[str, Any]:
    count = 5_000 if quick else 100_000
    mine, theirs = items("a", count, SHARED), items("b", count, SHARED)
    result: dict[str, Any] = {"quick": quick, "items_each": count, "shared": SHARED, "cpu_count": os.cpu_count(),
                              "load_average_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="tracer-deconflict-bench-") as tmp:
        result.update(protocol(Path(tmp), mine, theirs))
    result["baseline_group_ops_s"] = round(baseline_group_ops(mine, theirs), 2)
    seconds, found = baseline_sha256(mine, theirs)
    result["baseline_sha256_s"] = round(seconds, 3)
    result["baseline_sha256_found"] = found
    result["overhead_ratio"] = round(result["total_s"] / result["baseline_group_ops_s"], 2)
    result["privacy_cost_ratio"] = round(result["total_s"] / max(seconds, 1e-9), 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["targets_met"] = {"total_s < 60": result["total_s"] < 60, "correct": result["correct"]}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 items each, runs in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
