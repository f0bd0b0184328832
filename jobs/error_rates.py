# SPDX-License-Identifier: Apache-2.0
"""The published error rates of the heuristics (``docs/error-rates.json``), for ``tracer method`` and manifests.

The results file is written by ``benchmarks/heuristics.py`` from economies whose true owners are
known (``testing/economy.py``; definitions in :mod:`tracer.error_rates`). This module reads it,
picks the rates of the methods a trace or a case used, and gives a trace manifest a small
deterministic reference to them: the file's SHA-256, the generator version, the seeds and the
rates that apply (no clock, no path), so the same trace with the same results file gives the same
manifest bytes.

The file has two sides: the UTXO economy's rates (``rates``, generator ``tracer-economy/1``) and,
under ``account``, the account economy's (``testing/economy_evm.py`` on anvil: deposit-address
reuse, exchange attribution, the account trace; keys ``account.*``). A trace on an account chain
gets the account side's rates of its taint model, a UTXO trace the UTXO side's.

``TRACER_ERROR_RATES`` points at another results file (e.g. one regenerated locally).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jobs.session import Session
from jobs.trace_results import run_entries
from tracer.error_rates import METRICS
from tracer.error_rates_account import ACCOUNT_METRICS
from tracer.errors import InputError, NotFoundError
from tracer.taint import MODELS

__all__ = ["RESULTS_FILE", "results_path", "load_results", "rates_for", "all_rates", "manifest_reference",
           "trace_methods", "case_methods", "method_table"]

#: the committed results file, beside the package in the repository
RESULTS_FILE = Path(__file__).resolve().parents[1] / "docs" / "error-rates.json"
#: the methods every UTXO trace applies besides its taint model (it reports CoinJoins and peel chains)
_UTXO_TRACE_METHODS = ("coinjoin", "peel_chain")


def results_path() -> Path:
    override = os.environ.get("TRACER_ERROR_RATES")
    return Path(override) if override else RESULTS_FILE


@lru_cache(maxsize=4)
def _read(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Any], str]:
    data = Path(path).read_bytes()
    return json.loads(data), hashlib.sha256(data).hexdigest()


def load_results(path: Path | None = None) -> tuple[dict[str, Any], str]:
    """The results file and its SHA-256 (:class:`NotFoundError` if there is none)."""
    target = path or results_path()
    try:
        stat = target.stat()
    except OSError:
        raise NotFoundError(f"no error-rates results file at {target}: run benchmarks/heuristics.py, or set "
                            "TRACER_ERROR_RATES") from None
    try:
        return _read(str(target), stat.st_size, stat.st_mtime_ns)
    except (OSError, ValueError) as exc:
        raise InputError(f"{target} is not a readable error-rates results file: {exc}") from None


def all_rates(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every rate of the file, each with its ``side`` (``utxo``, or ``account`` for the ``account`` block)."""
    rates = {k: {**r, "side": r.get("side", "utxo")} for k, r in results["rates"].items()}
    account = results.get("account") or {}
    rates |= {k: {**r, "side": "account"} for k, r in (account.get("rates") or {}).items()}
    return rates


def rates_for(results: dict[str, Any], methods: Iterable[str] | None,
              side: str | None = None) -> dict[str, dict[str, Any]]:
    """The rates of ``methods`` (all when None) on ``side`` (``utxo``, ``account``; both when None), in
    :data:`tracer.error_rates.METRICS` then :data:`tracer.error_rates_account.ACCOUNT_METRICS` order (rates
    this version does not know last, by key)."""
    wanted = None if methods is None else set(methods)
    order = {key: i for i, key in enumerate([*METRICS, *ACCOUNT_METRICS])}
    rates = all_rates(results)
    keys = sorted(rates, key=lambda k: (order.get(k, len(order)), k))
    return {k: rates[k] for k in keys
            if (wanted is None or rates[k]["method"] in wanted) and (side is None or rates[k]["side"] == side)}


def trace_methods(parameters: dict[str, Any], account_model: bool) -> list[str]:
    """What a trace with these parameters applied: its taint model, and on UTXO chains the CoinJoin and
    peel-chain detection its findings report."""
    model = str(parameters.get("model", ""))
    return [model, *(() if account_model else _UTXO_TRACE_METHODS)]


def manifest_reference(methods: Iterable[str], *, account_model: bool = False) -> dict[str, Any]:
    """The ``error_rates`` block of a trace manifest: results file SHA-256, generator, seeds, and for each
    applicable rate its value and interval; ``available: false`` when there is no results file."""
    try:
        results, digest = load_results()
    except InputError:
        return {"available": False}
    account = results.get("account") if account_model else None
    side = results if account is None else account
    rates = {k: {"value": r["value"], "lo": r["lo"], "hi": r["hi"], "interval": r["interval"]}
             for k, r in rates_for(results, methods, "utxo" if account is None else "account").items()}
    reference: dict[str, Any] = {"available": True, "results_sha256": digest, "generator": side["generator"],
                                 "seeds": side["seeds"], "rates": rates}
    if account_model and account is None:
        reference["note"] = "measured on a UTXO economy; taint-model rates do not describe account-model pools"
    elif account_model:
        reference["note"] = ("measured on the account economy (anvil): hot wallets tagged, the trail through "
                             "deposit addresses, merchants and users")
    return reference


def case_methods(session: Session, case_name: str) -> dict[str, Any]:
    """The methods a case used, from its audit log: every trace run's model (and, on UTXO chains, CoinJoin
    and peel-chain detection) and every cluster run's heuristics."""
    return _usage(session, case_name)[0]


def _usage(session: Session, case_name: str) -> tuple[dict[str, Any], set[str]]:
    """:func:`case_methods`, and the methods the case's traces on account chains used."""
    case = session.workspace.open(case_name)
    entries = case.audit.entries()
    methods: dict[str, list[str]] = {}
    on_account: set[str] = set()
    for entry in run_entries(entries):
        parameters = entry.details.get("parameters") or {}
        chain = str(parameters.get("chain", ""))
        account = chain in session.settings.chains and session.settings.chains.get(chain).is_account
        for method in trace_methods(parameters, account):
            where = " (account chain)" if account else ""
            methods.setdefault(method, []).append(f"trace {entry.details.get('run', entry.seq)}{where}")
            if account:
                on_account.add(method)
    for entry in entries:
        if entry.action == "cluster.run":
            for heuristic in entry.details.get("heuristics") or []:
                methods.setdefault(str(heuristic), []).append(f"cluster run (audit entry {entry.seq})")
            if entry.details.get("coinjoin_filter"):
                methods.setdefault("coinjoin", []).append(f"cluster run (audit entry {entry.seq})")
    return {m: sorted(set(u)) for m, u in methods.items()}, on_account


def method_table(session: Session, case_name: str | None) -> dict[str, Any]:
    """What ``tracer method`` prints: the generator, seeds and sizes of the results, and the rates of the
    methods the case used (all of them without a case): a method used on an account chain gets the account
    side's rates, one used on a UTXO chain the UTXO side's."""
    results, digest = load_results()
    account = results.get("account")
    if case_name is None:
        used, rates = None, rates_for(results, None)
    else:
        used, on_account = _usage(session, case_name)
        on_utxo = {m for m, uses in used.items() if any("(account chain)" not in u for u in uses)}
        rates = rates_for(results, on_utxo, "utxo") | rates_for(results, on_account, "account")
        rates = {k: rates[k] for k in rates_for(results, None) if k in rates}
    measured = {r["method"] for r in all_rates(results).values()}
    unmeasured = sorted(m for m in (used or {}) if m not in measured)
    return {
        "case": case_name, "results_file": str(results_path()), "results_sha256": digest,
        "generator": results["generator"], "seeds": results["seeds"], "sizes": results["sizes"],
        "intervals": results["intervals"], "methods_used": used, "not_measured": unmeasured,
        "account": None if account is None else {k: account[k] for k in ("generator", "chain", "seeds", "sizes",
                                                                          "parameters") if k in account},
        "rates": [{"key": k, **r} for k, r in rates.items()],
        "models": list(MODELS),
    }
