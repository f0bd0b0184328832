# SPDX-License-Identifier: Apache-2.0
"""Which graph store a command uses, opened from settings; the case's seeds kept in it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from graph.base import TRACE_PARTS, GraphStore, StoreLocationError
from graph.embedded import EmbeddedStore
from jobs.settings import Settings
from jobs.workspace import Case
from tracer.schema import FRAMES, SEEDS, FrameSet, conform
from tracer.store_digest import frame_digests

__all__ = ["open_case_store_for_reading", "store_counts", "open_case_store", "open_embedded", "open_neo4j",
           "seed_frames", "checkpoint_path", "StoreProbe", "DIGEST_PARTS"]

#: the parts of a store its content digest covers (:mod:`tracer.store_digest`): every canonical frame,
#: and the trace results written back (:data:`graph.base.TRACE_PARTS`)
DIGEST_PARTS = (*FRAMES, *TRACE_PARTS)


def open_embedded(settings: Settings, case: Case | None, *, read_only: bool = False) -> EmbeddedStore:
    """The case's embedded store (``<case>/graph.lbug`` or the configured shared ``store.path``)."""
    return EmbeddedStore.open(settings.embedded_store_path(case.dir if case else None), read_only=read_only)


def checkpoint_path(settings: Settings, case: Case | None, chain: str) -> Path:
    """Where ingest progress for ``chain`` is kept: next to the store it describes."""
    if settings.store_backend == "embedded":
        store = settings.embedded_store_path(case.dir if case else None)
        return store.with_name(store.name + ".ingest") / f"{chain}.json"
    return settings.home / "ingest-neo4j" / settings.neo4j_database / f"{chain}.json"


def open_neo4j(
    settings: Settings, *, uri: str | None = None, user: str | None = None, database: str | None = None
) -> GraphStore:
    """Neo4j from options, else ``[neo4j]`` settings and ``NEO4J_*`` variables (password only from there)."""
    from graph.neo4j_store import Neo4jStore

    target = uri or settings.neo4j_uri
    if not target:
        raise StoreLocationError("no Neo4j server configured: pass --neo4j URI or set NEO4J_URI")
    return Neo4jStore(
        target,
        user or settings.neo4j_user,
        settings.neo4j_password or "",
        database=database or settings.neo4j_database,
        registry=settings.chains,
    )


def open_case_store(settings: Settings, case: Case | None) -> GraphStore:
    """The store a case reads and writes, per ``store.backend``, with the case's seeds loaded."""
    store: GraphStore = open_embedded(settings, case) if settings.store_backend == "embedded" else open_neo4j(settings)
    try:
        store.ensure_schema()
        if case is not None:
            store.load(seed_frames(case))
    except BaseException:
        store.close()
        raise
    return store


def seed_frames(case: Case) -> FrameSet:
    """The case and its seeds as graph rows: ``(:Case)-[:SEED]->(:Address)``."""
    seeds = case.seeds()
    frame = pl.DataFrame(
        {
            "case": [case.name] * len(seeds),
            "chain": [s.chain for s in seeds],
            "address": [s.address for s in seeds],
            "label": [s.label for s in seeds],
            "source": [f"case {case.name}" for _ in seeds],
        },
        schema=dict(SEEDS.columns),
    )
    return FrameSet(seeds=conform(frame, SEEDS))


def _look_at_store(settings: Settings, case: Case | None) -> GraphStore | None:
    """The store ``case`` uses, opened read-only (a running ingest is neither waited for nor
    blocked); None when there is no embedded store yet."""
    if settings.store_backend == "embedded":
        path = settings.embedded_store_path(case.dir if case else None)
        return EmbeddedStore.open(path, read_only=True) if path.exists() else None
    return open_neo4j(settings)


def store_counts(settings: Settings, case: Case | None) -> dict[str, int] | None:
    """Rows per node label and relationship type in the store ``case`` uses, read-only; None when
    there is no store yet."""
    store = _look_at_store(settings, case)
    if store is None:
        return None
    try:
        return store.stats()
    finally:
        store.close()


def store_digests(settings: Settings, case: Case | None, parts: Collection[str] | None = None) -> dict[str, str] | None:
    """The content digest of each of ``parts`` (None: :data:`DIGEST_PARTS`) of the store ``case``
    uses, read-only like :func:`store_counts`; None when there is no store yet."""
    store = _look_at_store(settings, case)
    if store is None:
        return None
    wanted = [p for p in DIGEST_PARTS if parts is None or p in parts]
    try:
        frame_parts = [p for p in wanted if p in FRAMES]
        named = dict(store.read_frames(parts=frame_parts).frames()) if frame_parts else {}
        if any(p in TRACE_PARTS for p in wanted):
            named.update(store.read_traces().frames())
        return frame_digests((name, named[name]) for name in wanted)
    finally:
        store.close()


@dataclass(frozen=True)
class StoreProbe:
    """How the audit log looks at the store a case uses (:mod:`jobs.custody`): its row counts and
    the content digests of its parts, each read-only at the moment it is asked."""

    settings: Settings
    case: Case | None

    @property
    def shared(self) -> bool:
        """Whether other cases write the same store: Neo4j (one database), or a configured
        ``store.path`` instead of the case's own ``graph.lbug``."""
        return self.settings.store_backend != "embedded" or self.settings.store_path is not None

    def counts(self) -> dict[str, int] | None:
        return store_counts(self.settings, self.case)

    def digests(self, parts: Collection[str] | None = None) -> dict[str, str] | None:
        return store_digests(self.settings, self.case, parts)


def open_case_store_for_reading(settings: Settings, case: Case) -> GraphStore:
    """The case's store for a command that only reads: read-only (embedded) and without loading the
    case's seeds into it, so looking something up never changes the store behind the audit log."""
    if settings.store_backend == "embedded":
        path = settings.embedded_store_path(case.dir)
        if path.exists():
            return open_embedded(settings, case, read_only=True)
        return open_case_store(settings, case)
    return open_neo4j(settings)
