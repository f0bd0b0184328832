# SPDX-License-Identifier: Apache-2.0
"""Follow value forward or backward through a store, hop by hop, under one taint model.

Shared design notes §5 is the specification. :func:`trace` is the entry point: it runs the UTXO
engine (:mod:`tracer.trace_utxo`) or the account engine (:mod:`tracer.trace_account`), then
orders the endings and adds the totals that :func:`reconcile` checks. The vocabulary —
:class:`TraceSpec`, :class:`TraceResult`, :class:`Ending`, :class:`Seed` — is defined in
:mod:`tracer.trace_types` and re-exported here, and the taint models in :mod:`tracer.taint`.

The engine asks a :class:`~tracer.frontier.Frontier` for the neighbours of the whole frontier in
one batched call per hop (two for the account model: the receipts and the payments of the new
addresses), and never touches a store otherwise; tags come from a plain frame. Everything else
is pure.

**Exact propagation.** After every hop the taint of every collected transaction (UTXO) or address
pool (account model) is recomputed from the seeds in chain order — forward in time for a forward
trace, backward in time for a backward one. Chain order is a topological order of the UTXO graph
and the order in which an account's balance changed, so value that reaches a transaction or an
address by two paths of different lengths is counted once, with both contributions, whatever
the order in which the hops found them. All taint models are monotone (more tainted inputs never
mean less tainted outputs), so an output that was below the minimum value at one hop and rises
above it later is expanded then.

**Typed endings.** Every base unit of traced value ends in exactly one :class:`Ending`:
an attributed entity, a fee, held at an address (proven unspent: the store holds every block
after it arrived, :attr:`TraceSpec.coverage`) or unverified (unspent as far as an incomplete store
knows), below the minimum value, a hop, fan-out or time-window limit, an output without an
address, value that flows back into a seed, or the end of the data the store holds. For the
value-conserving models (all but poison) the endings add up to the seed value exactly, and
:func:`trace` refuses a result where they do not (:class:`~tracer.errors.IntegrityError`: a bug or
damaged data, never a finding); :func:`reconcile` shows the difference.

**Notes.** :attr:`TraceResult.notes` says in words what a reader must know before relying on the
endings: value unverified for lack of store coverage, value stopped by the hop limit (over 1%
of a seed asset) or by the fan-out cap, payments the store's history cannot fund (account
shortfalls: the result is a lower bound), seeds whose transactions spend other addresses' coins.

Backward traces (where did the funds come from?) run the same models on the transpose: a
transaction's tainted outputs (and its fee, untainted) are laid out against its inputs by
:func:`tracer.taint.split_backward`, which holds what each model does there (FIFO and LIFO align
unit positions, TIHO fills the largest inputs first, haircut's rounding is its own ending,
poison taints every input). An account is its pool run backward in time with receipts and
payments swapped.

The models: FIFO after Anderson et al., "Bitcoin Redux", WEIS 2018; TIHO after Tironsakkul et
al., "Probing the Mystery of Cryptocurrency Theft: An Investigation into Methods for Taint
Analysis", 2019; haircut and poison as in Möser, Böhme and Breuker, "Towards Risk Scoring of
Bitcoin Transactions", FC 2014.
"""

from __future__ import annotations

import polars as pl

from tracer.errors import IntegrityError
from tracer.frontier import Direction, Frontier
from tracer.taint import CONSERVING
from tracer.trace_account import AccountTrace
from tracer.trace_types import (
    DEFAULT_STOP_CATEGORIES,
    ENDING_COLUMNS,
    HOP_COLUMNS,
    SEED_COLUMNS,
    SHORTFALL_COLUMNS,
    UNRESOLVED,
    Ending,
    Seed,
    TagLookup,
    TraceResult,
    TraceSpec,
)
from tracer.trace_utxo import UtxoTrace

__all__ = [
    "Ending",
    "UNRESOLVED",
    "Seed",
    "TraceSpec",
    "TraceResult",
    "TagLookup",
    "trace",
    "reconcile",
    "HOP_COLUMNS",
    "ENDING_COLUMNS",
    "SEED_COLUMNS",
    "SHORTFALL_COLUMNS",
    "DEFAULT_STOP_CATEGORIES",
]


def trace(spec: TraceSpec, frontier: Frontier, tags: TagLookup) -> TraceResult:
    """Run ``spec`` against ``frontier``; stop at addresses whose tags are in ``spec.stop_categories``.

    Raises :class:`~tracer.errors.InputError` for a seed with nothing to trace and
    :class:`~tracer.errors.IntegrityError` when a value-conserving model's endings do not add up
    to the seed value."""
    engine = AccountTrace(spec, frontier, tags) if spec.account_model else UtxoTrace(spec, frontier, tags)
    result = engine.run()
    result.endings = _sorted_endings(result.endings)
    result.totals = _totals(result)
    result.conserving = spec.model in CONSERVING
    if result.conserving:
        _check_conservation(result)
    result.notes.extend(_notes(result))
    return result


# ---------------------------------------------------------------------------------------------
# Totals
# ---------------------------------------------------------------------------------------------


def _sorted_endings(frame: pl.DataFrame) -> pl.DataFrame:
    """Largest amounts first (exact: by digit count, then digits), ties by address and ending."""
    if frame.height == 0:
        return frame
    return (
        frame.with_columns(pl.col("amount").str.len_chars().alias("_n"))
        .sort(["asset", "_n", "amount", "ending", "address", "txid", "position"],
              descending=[False, True, True, False, False, False, False], nulls_last=True)
        .drop("_n")
    )


def _totals(result: TraceResult) -> dict[str, dict[str, int]]:
    """Per asset: seed value and the sum of every ending kind."""
    out: dict[str, dict[str, int]] = {}
    for asset in sorted(set(result.seeds["asset"].to_list()) | set(result.endings["asset"].to_list())):
        row: dict[str, int] = {"seed": result.seed_value(asset)}
        converted_in = result.converted_in(asset)
        if converted_in:  # value that entered this asset through swaps or wrapping: traced like seed value
            row["converted_in"] = converted_in
        for kind in Ending:
            row[str(kind)] = 0
        for ending, value in result.endings.filter(pl.col("asset") == asset).select("ending", "amount").iter_rows():
            row[ending] += int(value)
        row["ended"] = sum(row[str(k)] for k in Ending)
        out[asset] = row
    return out


def reconcile(result: TraceResult) -> dict[str, int]:
    """Per asset, ``sum of endings - (seed value + value converted into it)`` (0 everywhere for a
    conserving model)."""
    return {asset: row["ended"] - row["seed"] - row.get("converted_in", 0) for asset, row in result.totals.items()}


def _check_conservation(result: TraceResult) -> None:
    off = {asset: diff for asset, diff in reconcile(result).items() if diff}
    if off:
        parts = "; ".join(
            f"{asset}: endings {result.totals[asset]['ended']} vs seed value {result.totals[asset]['seed']}"
            + (f" + converted in {result.totals[asset]['converted_in']}" if "converted_in" in result.totals[asset]
               else "") + " "
            f"({abs(diff)} {'more' if diff > 0 else 'less'})"
            for asset, diff in sorted(off.items())
        )
        raise IntegrityError(f"the {result.spec.model} trace does not conserve value (a bug or damaged data in the "
                             f"store, not a finding): {parts}")


# ---------------------------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    """``part/whole`` as a percentage with two decimals, rounded down, computed exactly."""
    if whole <= 0:
        return "-"
    basis_points = part * 10_000 // whole
    return f"{basis_points // 100}.{basis_points % 100:02d}%"


def _notes(result: TraceResult) -> list[str]:
    """Plain-language findings from the totals and endings, per asset in name order."""
    spec, notes = result.spec, []
    for asset, row in sorted(result.totals.items()):
        seed = row["seed"] + row.get("converted_in", 0)  # shares are of the value traced in this asset
        if row.get("converted_in"):
            notes.append(f"{asset}: {row['converted_in']} base units entered this asset through swaps or wrapping "
                         "(see the conversions of the result): shares below are of seed plus converted value")
        unverified = row[str(Ending.UNVERIFIED)]
        if unverified:
            known = (", ".join(f"{lo}-{hi}" for lo, hi in spec.coverage) if spec.coverage
                     else "none given")
            notes.append(
                f"{asset}: {unverified} base units ({_share(unverified, seed)} of the seed value) are unspent as far "
                f"as the store knows, but the store does not hold every block after they arrived (complete block "
                f"ranges: {known}): --fetch or ingest more blocks to prove them held"
            )
        stopped = row[str(Ending.HOP_LIMIT)]
        if stopped and stopped * 100 > seed:
            notes.append(
                f"{asset}: {stopped} base units ({_share(stopped, seed)} of the seed value) stopped at the hop limit "
                f"({spec.hops} hops): raise --hops or use --hops 0 for no limit"
            )
        capped = row[str(Ending.FANOUT_LIMIT)]
        if capped:
            branches = result.endings.filter((pl.col("asset") == asset)
                                             & (pl.col("ending") == str(Ending.FANOUT_LIMIT)))
            notes.append(
                f"{asset}: --max-fanout {spec.max_fanout} left {branches.height} branch(es) unfollowed, "
                f"{capped} base units ({_share(capped, seed)} of the seed value)"
            )
        if not result.conserving and row["ended"] > seed:
            notes.append(
                f"{asset}: {spec.model} taints every output of a tainted transaction completely, so the endings exceed "
                f"the seed value by {row['ended'] - seed} base units; that is the model, not money gained"
            )
    notes.extend(_conversion_notes(result))
    return notes


def _conversion_notes(result: TraceResult) -> list[str]:
    """A conversion route whose traced part rounded down to nothing on the side received: its given
    value ends as ``converted`` and is followed no further (say so, rather than imply it was)."""
    steps = result.conversions
    if steps.height == 0:
        return []
    forward = result.spec.direction is Direction.FORWARD
    ends = steps.sort("hop_id", "step").group_by("hop_id", maintain_order=True).agg(
        pl.col("taint_in").first(), pl.col("taint_out").last(), pl.col("txid").first())
    given, carried = ("taint_in", "taint_out") if forward else ("taint_out", "taint_in")
    lost = ends.filter((pl.col(carried) == "0") & (pl.col(given) != "0"))
    if lost.height == 0:
        return []
    named = ", ".join(lost["txid"].head(5).to_list()) + (f" and {lost.height - 5} more" if lost.height > 5 else "")
    return [f"{lost.height} conversion(s) carried no traceable share into the asset on the other side (the traced "
            f"part rounded down to 0 base units): what was traced into them ends as converted and is followed no "
            f"further ({named})"]
