# SPDX-License-Identifier: Apache-2.0
"""Evidence manifests: what a trace read, with which parameters and software, and what it found.

A manifest lets a defence expert re-run a finding and check that they got the same answer:

* the seeds and every parameter of the run;
* the software (tracer, Python, polars) that computed it;
* a digest of **every frame the trace read from the store**, in the order it read them
  (:class:`ReadDigest`), and of the tags it consulted with the tag sources they came from;
* the SHA-256 of every result file;
* the published error rates of the taint model and heuristics it used (``error_rates``: the
  results file's SHA-256 and the rates that apply, ``docs/error-rates.md``).

Nothing in it depends on the clock, the machine or the path of the case, so the same trace on
the same data gives a byte-identical manifest (:func:`canonical_json`). When the run happened
and who ran it go to the case's audit log instead, which cites the manifest's hash.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Collection
from typing import Any

import polars as pl

from tracer import __version__
from tracer.errors import InputError
from tracer.frontier import Direction, Frontier, TransferFilter
from tracer.schema import CONVERSIONS, FrameSet

__all__ = ["FORMAT", "canonical_json", "sha256_hex", "frame_digest", "ReadDigest", "software", "build_manifest"]

FORMAT = "tracer-trace-manifest/1"


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, fixed separators, UTF-8, one trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame_digest(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's content, independent of row order and of the Parquet writer.

    Rows are sorted by every column and written as CSV (exact text for integers, decimals and
    strings), with the column names and types as a header line.
    """
    header = ",".join(f"{name}:{dtype}" for name, dtype in frame.schema.items())
    body = frame.sort(frame.columns, nulls_last=True).write_csv() if frame.height else ""
    return sha256_hex((header + "\n" + body).encode("utf-8"))


class ReadDigest:
    """A :class:`~tracer.frontier.Frontier` that passes every call through and hashes what it returned.

    The digest covers each call's name, arguments and returned frames, in call order: two runs
    with the same digest read exactly the same data.
    """

    def __init__(self, inner: Frontier) -> None:
        self.inner = inner
        self._hash = hashlib.sha256()
        self.calls = 0

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _note(self, call: str, args: Any, *frames: pl.DataFrame) -> None:
        self.calls += 1
        self._hash.update(canonical_json({"call": call, "args": args}))
        for frame in frames:
            self._hash.update(frame_digest(frame).encode())

    def transfers(self, chain: str, addresses: Collection[str], direction: Direction,
                  where: TransferFilter = TransferFilter()) -> pl.DataFrame:
        out = self.inner.transfers(chain, addresses, direction, where)
        self._note("transfers", [chain, sorted(addresses), str(direction), repr(where)], out)
        return out

    def spending(self, chain: str, outpoints: pl.DataFrame, where: TransferFilter = TransferFilter()) -> FrameSet:
        out = self.inner.spending(chain, outpoints, where)
        self._note("spending", [chain, frame_digest(outpoints), repr(where)], out.transactions, out.inputs,
                   out.outputs)
        return out

    def transactions(self, chain: str, txids: Collection[str]) -> FrameSet:
        out = self.inner.transactions(chain, txids)
        self._note("transactions", [chain, sorted(txids)], out.transactions, out.inputs, out.outputs)
        return out

    def transfers_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Every transfer row of these transactions (transfer seeds), when the inner frontier has them."""
        lookup = getattr(self.inner, "transfers_of", None)
        if lookup is None:
            raise InputError("this store cannot look transfers up by transaction: seed an address instead")
        out = lookup(chain, txids)
        self._note("transfers_of", [chain, sorted(txids)], out)
        return out

    def conversions_of(self, chain: str, txids: Collection[str]) -> pl.DataFrame:
        """Conversions of these transactions, when the inner frontier has them (else none).

        A read that finds none is not noted: a trace over data without conversions keeps the read
        digest it had before conversions were read at all, so earlier runs still reproduce."""
        lookup = getattr(self.inner, "conversions_of", None)
        if lookup is None:
            return pl.DataFrame(schema=CONVERSIONS.polars_schema)
        out = lookup(chain, txids)
        if out.height:
            self._note("conversions_of", [chain, sorted(txids)], out)
        return out

    def address_outputs(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        out = self.inner.address_outputs(chain, addresses)
        self._note("address_outputs", [chain, sorted(addresses)], out)
        return out

    def address_flows(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        out = self.inner.address_flows(chain, addresses)
        self._note("address_flows", [chain, sorted(addresses)], out)
        return out

    def tags(self, chain: str, addresses: Collection[str]) -> pl.DataFrame:
        out = self.inner.tags(chain, addresses)
        self._note("tags", [chain, sorted(addresses)], out)
        return out

    def cluster(self, chain: str, address: str) -> pl.DataFrame:
        out = self.inner.cluster(chain, address)
        self._note("cluster", [chain, address], out)
        return out


def software() -> dict[str, str]:
    """Versions that can change a result."""
    return {"tracer": __version__, "python": platform.python_version(), "polars": pl.__version__}


def build_manifest(
    *,
    case: str,
    parameters: dict[str, Any],
    store_backend: str,
    read_digest: str,
    store_queries: int,
    tags_digest: str,
    tag_sources: list[dict[str, Any]],
    files: dict[str, str],
    fetched: dict[str, Any] | None = None,
    evidence: dict[str, Any] | None = None,
    error_rates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of one trace run (see the module docstring); ``files`` maps file name -> SHA-256;
    ``evidence`` is what the trace was told about its data (:meth:`TraceSpec.evidence`: the block
    ranges the store holds completely, which decide ``held`` against ``unverified``); ``error_rates`` the
    published error rates of the model and heuristics the trace used (``jobs.error_rates.manifest_reference``:
    the results file's SHA-256, generator, seeds and rates; no clock), left out when not given."""
    manifest = {
        "format": FORMAT,
        "case": case,
        "parameters": parameters,
        "software": software(),
        "store": {"backend": store_backend, "read_digest": read_digest, "queries": store_queries},
        "tags": {"digest": tags_digest, "sources": tag_sources},
        "evidence": evidence or {},
        "fetched": fetched,
        "files": dict(sorted(files.items())),
    }
    if error_rates is not None:
        manifest["error_rates"] = error_rates
    return manifest
