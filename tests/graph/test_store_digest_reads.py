# SPDX-License-Identifier: Apache-2.0
"""What the store's content digest reads, on every backend: the canonical frames (all of them, or
only the parts a write touched) and the trace results written back.

The digest of what a store gives back is the digest of what was loaded into it — the same value
on the embedded store and over Bolt — so a case verified on one backend means the same as on the
other, and a defence expert can recompute it from the frames of a case package.
"""

from __future__ import annotations

import polars as pl

from graph.base import GraphStore
from tests.graph.fixture_frames import CASE, SPEND_TXID, B, sample_frames
from tests.graph.test_store_traces import record
from tracer.store_digest import frame_digests


def test_the_digest_of_the_frames_read_back_is_the_digest_of_the_frames_loaded(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    assert frame_digests(store.read_frames().frames().items()) == frame_digests(frames.frames().items())


def test_only_the_parts_asked_for_are_read(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    some = store.read_frames(parts=["tags", "inputs"])
    heights = {name: frame.height for name, frame in some.frames().items()}
    assert heights == {name: (frame.height if name in ("tags", "inputs") else 0)
                       for name, frame in frames.frames().items()}
    assert frame_digests([("tags", some.tags), ("inputs", some.inputs)]) == \
        frame_digests([("tags", frames.tags), ("inputs", frames.inputs)])


def test_trace_results_written_back_are_read_for_the_digest(store: GraphStore) -> None:
    store.load(sample_frames())
    assert all(frame.height == 0 for frame in store.read_traces().frames().values())
    store.save_trace(record("90000"))
    rows = store.read_traces()
    assert rows.traces.select("uid", "case_name", "model").rows() == [("trace:forward-haircut-1", CASE, "haircut")]
    # the ending at an address the store does not have is not written back, so not read either
    assert rows.reached.select("trace", "address", "amount").rows() == [("trace:forward-haircut-1", B, "90000")]
    assert rows.traced.select("txid", "taint", "hops").rows() == [(SPEND_TXID, "100000", 2)]
    before = frame_digests(rows.frames().items())
    store.save_trace(record("80000"))  # the same trace saved again with another amount
    after = frame_digests(store.read_traces().frames().items())
    assert after["trace_reached"] != before["trace_reached"] and after["traces"] == before["traces"]
    assert rows.reached.schema["depth"] == pl.Int64
