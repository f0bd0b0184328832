# SPDX-License-Identifier: Apache-2.0
"""``tracer method [CASE]``: the published error rates of the heuristics and taint models (issue 23).

Thin: :func:`jobs.error_rates.method_table` reads the committed results file
(``docs/error-rates.json``, written by ``benchmarks/heuristics.py``) and, with a case, picks the
rates of what the case's traces and cluster runs used (from its audit log).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from jobs.error_rates import method_table
from tracer.methods import HEURISTICS, TAINT_MODELS

__all__ = ["method_command"]


def _interval(rate: dict[str, Any]) -> str:
    if rate["lo"] is None:
        return "—"
    return f"{rate['lo']:.3f}–{rate['hi']:.3f} ({rate['interval']})"


def method_command(
    case: Annotated[str | None, typer.Argument(metavar="[CASE]", show_default=False,
                                               help="Case whose traces and cluster runs decide the rates shown "
                                                    "(default: every rate).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Error rates of the heuristics and taint models, measured on ground-truth economies.

    The rates come from the committed results file (docs/error-rates.json; method and seeds in
    docs/error-rates.md): economies generated on litecoind -regtest and, for account chains, on
    anvil, whose true owner of every address is known. With CASE, only the rates of what the case
    used: the taint model of every trace (measured on the account economy for traces on account
    chains; with CoinJoin and peel-chain detection on UTXO chains) and the heuristics of every
    cluster run.

    Example: tracer method op-harbor
    """
    data = method_table(app_context().session, case)

    def human() -> None:
        rows = []
        for rate in data["rates"]:
            value = "—" if rate["value"] is None else f"{rate['value']:.3f}"
            rows.append((rate["name"], value, _interval(rate), f"{rate['k']:,} / {rate['n']:,}"))
        title = f"Error rates ({data['generator']}, seeds {', '.join(str(s) for s in data['seeds'])}"
        account = data.get("account")
        if account is not None:
            title += f"; account side {account['generator']}, seeds {', '.join(str(s) for s in account['seeds'])}"
        stdout.print(table(title + ")", ["rate", "value", "95% interval", "k / n"], rows))
        used = data["methods_used"]
        if used is not None:
            for method, uses in sorted(used.items()):
                known = TAINT_MODELS.get(method) or HEURISTICS.get(method)
                name = known.name if known else method
                stdout.print(f"{name}: used by {', '.join(uses)}")
            if not used:
                notice(f"case {case!r} has no trace or cluster run yet: no method to show")
        for method in data["not_measured"]:
            notice(f"{method}: no measured error rate (not in the ground-truth economy)")
        notice(f"results file sha256 {data['results_sha256']}; method and seeds: docs/error-rates.md")

    emit(data, as_json=json_, human=human)
