# SPDX-License-Identifier: Apache-2.0
"""No data in a case's store without a record: every write is bracketed in the audit log.

A write records ``<action>.started`` first and, after it, the finished (or failed / interrupted)
entry with the store's row counts and content digest. ``verify_case`` compares the store with the
last bracket: rows loaded outside any bracket, a value changed in place (same counts), a run killed
between its brackets, and a run interrupted after it loaded data are each reported; a clean
bracket verifies. A later write re-digests only the parts it can change, and a change to any
other part is still found; before it writes, it compares the parts it will change with the last
audited write, so no later write — not even one that fails — makes an earlier change look audited.
What the tool itself does never reads as tampering: a run killed and followed by another command,
another case writing a shared store, an export after a new seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from graph.embedded import EmbeddedStore
from jobs.cases import add_seed, verify_case
from jobs.custody import CHAIN_PARTS, DIGEST_KEY, FRAME_PARTS, TAG_PARTS, store_write
from jobs.graph_jobs import export_graph
from jobs.session import Session
from jobs.settings import load_settings
from jobs.stores import DIGEST_PARTS, StoreProbe, open_case_store
from jobs.workspace import Workspace
from tests.tracer.chain_builder import UtxoChain
from tracer.schema import TAGS, FrameSet, conform
from tracer.store_digest import CONSTRUCTION, store_digest


@pytest.fixture()
def session(tmp_path: Path) -> Session:
    settings = load_settings({"TRACER_HOME": str(tmp_path / "home"), "TRACER_CONFIG": ""})
    workspace = Workspace(settings.cases_dir)
    workspace.create("op-custody", "", ["tracer"])
    return Session(settings, workspace, ["tracer", "test"])


def _chain(tag: str) -> UtxoChain:
    chain = UtxoChain("ltc-regtest")
    chain.coinbase(f"{tag}a", [("rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4", 5_000)])
    chain.tx(f"{tag}b", [(f"{tag}a", 0)], [("rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er", 4_000)])
    return chain


def _load(session: Session, tag: str, *, bracket: bool = True, interrupt: bool = False) -> None:
    case = session.workspace.open("op-custody")
    if not bracket:
        store = open_case_store(session.settings, case)
        store.load(_chain(tag).frames())
        store.close()
        return
    with store_write(case, "ingest.frames", session.argv, {"directory": tag}, StoreProbe(session.settings, case),
                     touches=FRAME_PARTS) as run:
        store = open_case_store(session.settings, case)
        try:
            store.load(_chain(tag).frames())
        finally:
            store.close()
        if interrupt:
            raise KeyboardInterrupt
        run.details = {"directory": tag}


def test_a_bracketed_write_verifies(session: Session) -> None:
    _load(session, "x")
    assert verify_case(session, "op-custody").ok
    actions = [e.action for e in session.workspace.open("op-custody").audit.entries()]
    assert actions == ["case.create", "ingest.frames.started", "ingest.frames"]


def test_rows_loaded_without_a_record_are_reported(session: Session) -> None:
    _load(session, "x")
    _load(session, "y", bracket=False)
    check = verify_case(session, "op-custody")
    assert not check.ok and "the store changed after audit entry 3 (ingest.frames)" in (check.problem or "")


def test_an_interrupted_load_is_reported_until_it_is_run_again(session: Session) -> None:
    with pytest.raises(KeyboardInterrupt):
        _load(session, "x", interrupt=True)
    check = verify_case(session, "op-custody")
    assert not check.ok and "ingest.frames.interrupted (audit entry 3) left data" in (check.problem or "")
    _load(session, "x")  # the same load again: idempotent, and now recorded as finished
    assert verify_case(session, "op-custody").ok


def test_a_run_killed_between_its_brackets_is_reported(session: Session) -> None:
    case = session.workspace.open("op-custody")
    case.record("ingest.frames.started", {"directory": "x"}, ["tracer"])  # then SIGKILL: no closing entry
    check = verify_case(session, "op-custody")
    assert not check.ok and "ingest.frames started (audit entry 2) and never finished" in (check.problem or "")


def test_a_failure_before_any_write_leaves_nothing_to_report(session: Session) -> None:
    case = session.workspace.open("op-custody")
    with pytest.raises(RuntimeError), store_write(case, "ingest.utxo", ["tracer"], {},
                                                  StoreProbe(session.settings, case)):
        raise RuntimeError("node unreachable")
    assert verify_case(session, "op-custody").ok


def _tamper(session: Session, query: str) -> None:
    """Change the store behind the audit log's back, as another program with write access could."""
    path = session.settings.embedded_store_path(session.workspace.open("op-custody").dir)
    with EmbeddedStore.open(path) as store:
        store._exec(query)


def _load_tag(session: Session) -> None:
    """A write that can change only the store's tags (and the seeds every write loads)."""
    case = session.workspace.open("op-custody")
    tags = conform(pl.DataFrame([{"chain": "ltc-regtest", "address": "rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er",
                                  "label": "Exchange X", "category": "exchange", "confidence": 90,
                                  "tagpack": "tp", "source": "tagpack tp"}], schema=TAGS.polars_schema), TAGS)
    with store_write(case, "tags.load", session.argv, {}, StoreProbe(session.settings, case), touches=TAG_PARTS):
        store = open_case_store(session.settings, case)
        try:
            store.load(FrameSet(tags=tags))
        finally:
            store.close()


def test_each_closing_entry_records_the_stores_content_digest(session: Session) -> None:
    _load(session, "x")
    entry = session.workspace.open("op-custody").audit.entries()[-1]
    digest = entry.details[DIGEST_KEY]
    assert digest["construction"] == CONSTRUCTION == "tracer-store-digest/1"
    assert sorted(digest["parts"]) == sorted(DIGEST_PARTS)
    assert digest["sha256"] == store_digest(digest["parts"])


def test_a_write_redigests_only_what_it_can_change(session: Session) -> None:
    _load(session, "x")
    _load_tag(session)
    first, second = (e.details[DIGEST_KEY]["parts"] for e in session.workspace.open("op-custody").audit.entries()
                     if DIGEST_KEY in e.details)
    assert [p for p in DIGEST_PARTS if first[p] != second[p]] == ["tags"]
    assert verify_case(session, "op-custody").ok


def test_a_value_changed_in_place_is_reported(session: Session) -> None:
    _load(session, "x")
    _tamper(session, "MATCH (o:Output) WHERE o.value = 4000 SET o.value = 4001")  # same counts, 1 sat more
    check = verify_case(session, "op-custody")
    assert not check.ok
    assert ("the store's content changed after audit entry 3 (ingest.frames) with the same row counts: "
            "outputs no longer match the content digest recorded then") in (check.problem or "")


def test_a_later_write_of_other_parts_does_not_hide_a_change(session: Session) -> None:
    _load(session, "x")
    _tamper(session, "MATCH (t:`Transaction`) SET t.timestamp = t.timestamp + 3600")
    _load_tag(session)  # touches tags only: the transactions' digest is carried from entry 3, not re-read
    check = verify_case(session, "op-custody")
    assert not check.ok
    assert "after audit entry 5 (tags.load) with the same row counts: transactions no longer match" \
        in (check.problem or "")


def test_a_log_written_before_digests_is_judged_on_its_counts(session: Session) -> None:
    case = session.workspace.open("op-custody")
    _load(session, "x", bracket=False)
    case.record("ingest.frames.started", {}, ["tracer"])
    case.record("ingest.frames", {"store_counts": StoreProbe(session.settings, case).counts()}, ["tracer"])
    _tamper(session, "MATCH (o:Output) WHERE o.value = 4000 SET o.value = 4001")
    assert verify_case(session, "op-custody").ok  # no digest recorded then: nothing to compare with


def test_a_reorg_repair_after_a_saved_trace_verifies(session: Session) -> None:
    from graph.base import TRACE_REACHED_COLUMNS, TRACE_TRACED_COLUMNS, TraceRecord
    from jobs.custody import CHAIN_PARTS, TRACE_RESULT_PARTS

    _load(session, "x")
    case = session.workspace.open("op-custody")
    probe = StoreProbe(session.settings, case)
    spent = _chain("x").frames().transactions.filter(pl.col("block_height") == pl.col("block_height").max())
    traced = pl.DataFrame({"txid": spent["txid"], "depth": [1] * spent.height, "taint": ["4000"] * spent.height,
                           "hops": [1] * spent.height}, schema=TRACE_TRACED_COLUMNS)
    with store_write(case, "trace", session.argv, {}, probe, touches=TRACE_RESULT_PARTS, finished="trace.finished"):
        with open_case_store(session.settings, case) as store:
            store.save_trace(TraceRecord(uid="trace:op-custody:1", case="op-custody", chain="ltc-regtest",
                                         direction="forward", model="haircut", parameters="{}",
                                         manifest_sha256="00" * 32, seed_value="{}",
                                         reached=pl.DataFrame(schema=TRACE_REACHED_COLUMNS), traced=traced))
    # the block ingest finds a reorg: the traced transaction's block goes, with the trace's link to it
    with store_write(case, "ingest.utxo", session.argv, {}, probe, touches=CHAIN_PARTS):
        with open_case_store(session.settings, case) as store:
            assert store.remove_blocks("ltc-regtest", int(spent["block_height"][0])) == spent.height
    assert verify_case(session, "op-custody").ok


def test_a_later_write_of_the_changed_part_does_not_make_the_change_look_audited(session: Session) -> None:
    _load(session, "x")
    _tamper(session, "MATCH (o:Output) WHERE o.value = 4000 SET o.value = 4001")
    _load(session, "z")  # another ingest: it re-digests the outputs after it wrote, but compared them first
    check = verify_case(session, "op-custody")
    assert not check.ok
    assert ("the store's outputs changed outside the audit log after audit entry 3: found when ingest.frames "
            "started (audit entry 4)") in (check.problem or "")


def test_a_failed_write_does_not_make_a_change_look_audited(session: Session) -> None:
    _load(session, "x")
    _tamper(session, "MATCH (o:Output) WHERE o.value = 4000 SET o.value = 4001")
    case = session.workspace.open("op-custody")
    with pytest.raises(RuntimeError), store_write(case, "ingest.utxo", ["tracer"], {},
                                                  StoreProbe(session.settings, case), touches=CHAIN_PARTS):
        raise RuntimeError("node unreachable")  # fails before writing anything
    check = verify_case(session, "op-custody")
    assert not check.ok and "outputs changed outside the audit log after audit entry 3" in (check.problem or "")


def test_a_killed_write_followed_by_another_command_is_not_tampering(session: Session) -> None:
    _load(session, "x")
    case = session.workspace.open("op-custody")
    case.record("trace.started", {"fetch": True}, ["tracer"])  # trace --fetch loads chain rows, then SIGKILL
    with open_case_store(session.settings, case) as store:
        store.load(_chain("y").frames())
    assert "trace started (audit entry 4) and never finished" in (verify_case(session, "op-custody").problem or "")
    _load_tag(session)  # a write left open may have changed anything: this one digests every part again
    assert verify_case(session, "op-custody").ok


def test_a_store_shared_with_another_case_verifies_after_the_cases_own_write(tmp_path: Path) -> None:
    settings = load_settings({"TRACER_HOME": str(tmp_path / "home"), "TRACER_CONFIG": "",
                              "TRACER_STORE_PATH": str(tmp_path / "shared.lbug")})
    workspace = Workspace(settings.cases_dir)
    workspace.create("op-custody", "", ["tracer"])
    other = workspace.create("op-other", "", ["tracer"])
    session = Session(settings, workspace, ["tracer", "test"])
    _load(session, "x")
    with store_write(other, "ingest.frames", ["tracer"], {}, StoreProbe(settings, other), touches=CHAIN_PARTS):
        with open_case_store(settings, other) as store:
            store.load(_chain("y").frames())
    check = verify_case(session, "op-custody")  # the other case's rows came after this case's last entry
    assert not check.ok and "shared with other cases" in (check.problem or "")
    _load_tag(session)  # this case's own write: on a shared store every part is digested again
    assert verify_case(session, "op-custody").ok


def test_an_export_after_a_new_seed_leaves_the_store_as_recorded(session: Session, tmp_path: Path) -> None:
    first, second = "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4", "rltc1qqgpqyqszqgpqyqszqgpqyqszqgpqyqszr0p8er"
    add_seed(session, "op-custody", "ltc-regtest", first, label=None, note=None)
    _load(session, "x")
    add_seed(session, "op-custody", "ltc-regtest", second, label="second", note=None)
    export_graph(session, "op-custody", "parquet", tmp_path / "out")  # reads the store; the new seed in memory
    assert verify_case(session, "op-custody").ok


def test_a_write_that_begins_while_the_parts_are_compared_is_not_taken_for_tampering(session: Session) -> None:
    _load(session, "x")
    case = session.workspace.open("op-custody")
    real = StoreProbe(session.settings, case)

    class AnotherCommandStartsMeanwhile:
        shared = False
        first = True

        def counts(self) -> dict[str, int] | None:
            return real.counts()

        def digests(self, parts: Any = None) -> dict[str, str] | None:
            if self.first:  # the comparison before the write: another ingest starts and writes meanwhile
                self.first = False
                case.record("ingest.utxo.started", {}, ["tracer"])
                with open_case_store(session.settings, case) as store:
                    store.load(_chain("y").frames())
            return real.digests(parts)

    with store_write(case, "ingest.frames", session.argv, {}, AnotherCommandStartsMeanwhile(), touches=CHAIN_PARTS):
        pass
    started = [e for e in case.audit.entries() if e.action == "ingest.frames.started"][-1]
    assert "store_changed_outside_log" not in started.details
