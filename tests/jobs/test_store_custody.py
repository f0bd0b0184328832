# SPDX-License-Identifier: Apache-2.0
"""No data in a case's store without a record: every write is bracketed in the audit log.

A write records ``<action>.started`` first and, after it, the finished (or failed / interrupted)
entry with the store's row counts. ``verify_case`` compares the store with the last bracket: rows
loaded outside any bracket, a run killed between its brackets, and a run interrupted after it
loaded data are each reported; a clean bracket verifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.cases import verify_case
from jobs.custody import store_write
from jobs.session import Session
from jobs.settings import load_settings
from jobs.stores import open_case_store, store_counts
from jobs.workspace import Workspace
from tests.tracer.chain_builder import UtxoChain


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
    counts = lambda: store_counts(session.settings, case)  # noqa: E731
    if not bracket:
        store = open_case_store(session.settings, case)
        store.load(_chain(tag).frames())
        store.close()
        return
    with store_write(case, "ingest.frames", session.argv, {"directory": tag}, counts) as run:
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
    with pytest.raises(RuntimeError), store_write(case, "ingest.utxo", ["tracer"], {}, lambda: None):
        raise RuntimeError("node unreachable")
    assert verify_case(session, "op-custody").ok
