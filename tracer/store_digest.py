# SPDX-License-Identifier: Apache-2.0
"""A content digest of a graph store: one SHA-256 per canonical frame, and one over them all.

What the audit log records after every write to a case's store (:mod:`jobs.custody`), so that
``tracer case verify`` can say the store holds exactly what it held at the last audited write —
not only as many rows (a value changed in place keeps every count), the same rows.

The construction (``tracer-store-digest/1``) is fixed here so anyone can recompute it with any
tool from the store's canonical frames (:mod:`tracer.schema`, as ``read_frames`` returns them,
or as a case package's ``frames/`` hold them):

1. every field of a row is written as text — integers and base-unit amounts in base-10 ASCII
   digits (a leading ``-`` if negative), booleans ``true``/``false``, strings as their UTF-8
   bytes — and encoded as ``<length in bytes>:<text>``; a null field is ``-`` (a length prefix
   never starts with ``-``, so no two rows share an encoding); the fields of a row are joined
   in the frame's column order, without separator, and the row ends with ``\\n``;
2. the encoded rows are sorted by their bytes (so the order a store returns them in does not
   matter) and hashed with SHA-256 after the header
   ``tracer-store-digest/1\\n<frame name>\\n<column names joined by ",">\\n``;
3. the store's digest is the SHA-256 of the lines ``<frame name> <hex digest>\\n``, sorted by
   frame name.

The parts (12): the nine canonical frames of :data:`tracer.schema.FRAMES` (``transactions``,
``inputs``, ``outputs``, ``transfers``, ``tags``, ``clusters``, ``seeds``, ``conversions``,
``bridge_events``; columns as there), each over the whole store; and the trace results written back
(:meth:`graph.base.GraphStore.read_traces`): ``traces`` (one row per ``:Trace`` node: ``uid``,
``case_name``, ``chain``, ``direction``, ``model``, ``parameters``, ``manifest_sha256``,
``seed_value``), ``trace_reached`` (``trace`` — the Trace's uid —, ``address``, ``ending``,
``asset``, ``amount``, ``depth``, ``label``: one row per ``REACHED`` relationship) and
``trace_traced`` (``trace``, ``txid``, ``depth``, ``taint``, ``hops``: one per ``TRACED``).

What a case package lets anyone recompute: the frame parts, from its ``frames/`` (one directory per
chain of the case's seeds and runs: concatenated, they are the whole frame when the store holds no
other chain; redaction never touches them), but ``seeds`` (the package has the case's
``seeds.json``). The trace tables are not in a package (its trace results are, as files with their
own hashes); they are recomputed from the store (``tests/package/test_package_store_digest.py``).

A digest over sorted content, not an incremental (multiset) hash kept by each write: an additive
multiset hash over SHA-256 rows (AdHash, Bellare & Micciancio, EUROCRYPT 1997) is forgeable at
256 bits by Wagner's generalized-birthday attack (CRYPTO 2002), and a sound wide one (LtHash,
Lewi et al., 2019) costs microseconds per row on every load. Plain SHA-256 over the sorted rows is
what a defence expert can recompute with nothing but a hash tool; what it costs is a read of the
frames a write touched (:func:`jobs.custody.store_write` recomputes only those).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import polars as pl

__all__ = ["CONSTRUCTION", "frame_digest", "frame_digests", "store_digest", "encoded_rows"]

#: name and version of the construction above; recorded with every digest
CONSTRUCTION = "tracer-store-digest/1"
#: rows hashed per chunk (bounds the joined text held in memory)
_CHUNK_ROWS = 250_000


def encoded_rows(frame: pl.DataFrame) -> pl.Series:
    """Each row of ``frame`` in the construction's encoding (step 1), sorted by bytes (step 2)."""
    if frame.width == 0:
        return pl.Series("row", [], dtype=pl.String)
    fields = []
    for name in frame.columns:
        text = pl.col(name).cast(pl.String)  # integers and decimals (scale 0) as digits; true/false
        fields.append(pl.concat_str([text.str.len_bytes().cast(pl.String), pl.lit(":"), text]).fill_null("-"))
    rows = frame.select(pl.concat_str([*fields, pl.lit("\n")]).alias("row"))["row"]
    return rows.sort()


def frame_digest(name: str, frame: pl.DataFrame) -> str:
    """The hex SHA-256 of frame ``name`` (steps 1-2 of the construction)."""
    digest = hashlib.sha256(f"{CONSTRUCTION}\n{name}\n{','.join(frame.columns)}\n".encode())
    rows = encoded_rows(frame)
    for start in range(0, rows.len(), _CHUNK_ROWS):
        chunk = rows.slice(start, _CHUNK_ROWS).str.join("")
        digest.update(chunk.item().encode())
    return digest.hexdigest()


def store_digest(parts: Mapping[str, str]) -> str:
    """The hex SHA-256 over the frames' digests (step 3)."""
    return hashlib.sha256("".join(f"{name} {parts[name]}\n" for name in sorted(parts)).encode()).hexdigest()


def frame_digests(frames: Iterable[tuple[str, pl.DataFrame]]) -> dict[str, str]:
    """``{name: frame_digest}`` for each named frame."""
    return {name: frame_digest(name, frame) for name, frame in frames}
