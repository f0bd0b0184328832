# SPDX-License-Identifier: Apache-2.0
"""``tracer trace``: follow the proceeds forward or backward from a case's seeds, and prove every hop.

Thin: the run is :func:`jobs.trace_run.trace_case` (store, tags, seeds, engine, result files, audit
log); this module parses the options and prints the result for people (``--json`` for pipes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.text import Text
from rich.tree import Tree

from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from jobs.case_index import notice_text
from jobs.trace_run import DEFAULT_HOPS, TraceRequest, trace_case
from tracer.chains import Chain
from tracer.frontier import Direction
from tracer.money import Money
from tracer.report import compare_models, evidence_path, share_text, traced_value
from tracer.taint import MODELS
from tracer.trace import TraceResult

__all__ = ["trace_command"]


SeedOpt = Annotated[list[str] | None, typer.Option(
    "--seed", metavar="SEED", show_default=False,
    help="Seed: an address (what it received), TXID:VOUT (one output, UTXO chains) or TXID[:INDEX] (one transfer, "
         "account chains); repeatable; default: the case's seeds.")]
SeedSentOpt = Annotated[list[str] | None, typer.Option(
    "--seed-sent", metavar="ADDRESS", show_default=False,
    help="Seed: everything this address sent within --since/--until (a victim's payments); repeatable.")]
ChainFilterOpt = Annotated[str | None, typer.Option(
    "--chain", "-c", metavar="CHAIN", show_default=False,
    help="Chain key (needed only if the seeds fit several chains).")]
DirectionOpt = Annotated[Direction, typer.Option(
    "--direction", help="forward: where did the value go; backward: where did it come from.")]
#: the taint models, and ``all`` for every one side by side (an enum: --help lists the choices)
ModelChoice = StrEnum("ModelChoice", {m: m for m in [*MODELS, "all"]})  # type: ignore[misc]
ModelOpt = Annotated[ModelChoice, typer.Option(
    "--model", case_sensitive=False, help="Taint model, or 'all' to compare them side by side.")]
HopsOpt = Annotated[int, typer.Option(
    "--hops", min=0, metavar="N",
    help="Follow at most N hops; 0: until nothing is left (min value, fan-out and time window still apply).")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", metavar="TIME", help="Ignore movements before (UTC seconds or ISO date).", show_default=False)]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", metavar="TIME", help="Ignore movements after (UTC seconds or ISO date).", show_default=False)]
MinValueOpt = Annotated[str | None, typer.Option(
    "--min-value", metavar="AMOUNT", show_default=False,
    help="Stop following less than this: base units (1234) or coin units (0.001).")]
MaxFanoutOpt = Annotated[int | None, typer.Option(
    "--max-fanout", min=1, metavar="K", show_default=False,
    help="Follow at most K outputs / recipients per transaction / address.")]
StopAtOpt = Annotated[str | None, typer.Option(
    "--stop-at", metavar="CATEGORIES", show_default=False,
    help="Tag categories where a trail ends (comma-separated; default: services such as exchange, mixing_service, "
         "market...).")]
FetchOpt = Annotated[bool, typer.Option(
    "--fetch", help="Pull missing address histories from the case's source (UTXO; see `ingest seeds`).")]
EsploraOpt = Annotated[str | None, typer.Option(
    "--esplora", metavar="URL", help="Esplora URL for --fetch.", show_default=False)]
FromStoreOpt = Annotated[Path | None, typer.Option(
    "--from-store", metavar="PATH", help="Chain store to --fetch from.", show_default=False)]
ThirdPartyOpt = Annotated[bool, typer.Option(
    "--allow-third-party", help="Allow --fetch from a public explorer (it sees every address looked up).")]


class ByChoice(StrEnum):
    ADDRESS = "address"
    CLUSTER = "cluster"


ByOpt = Annotated[ByChoice, typer.Option(
    "--by", help="address, or cluster: start from every member of the seeds' clusters (`tracer cluster run` first).")]
TopOpt = Annotated[int, typer.Option("--top", metavar="N", help="Endings to show.", min=1)]
FollowBridgesOpt = Annotated[bool, typer.Option(
    "--follow-bridges/--no-follow-bridges",
    help="Continue on the other chain across bridge deposits matched to their release (account chains).")]


def trace_command(
    case: CaseArg, seed: SeedOpt = None, seed_sent: SeedSentOpt = None, chain: ChainFilterOpt = None,
    direction: DirectionOpt = Direction.FORWARD, model: ModelOpt = ModelChoice("haircut"), hops: HopsOpt = DEFAULT_HOPS,
    since: SinceOpt = None, until: UntilOpt = None, min_value: MinValueOpt = None, max_fanout: MaxFanoutOpt = None,
    stop_at: StopAtOpt = None, fetch: FetchOpt = False, esplora: EsploraOpt = None, from_store: FromStoreOpt = None,
    allow_third_party: ThirdPartyOpt = False, by: ByOpt = ByChoice.ADDRESS, top: TopOpt = 15,
    follow_bridges: FollowBridgesOpt = True, json_: JsonOpt = False,
) -> None:
    """Follow value from the seeds, hop by hop, and report who received how much, with every hop's evidence.

    Writes seeds/hops/endings/shortfalls Parquet, result.json and manifest.json into a new folder
    under <case>/traces/ (see `tracer case traces`).

    Example: tracer trace op-harbor --direction forward --model haircut --stop-at exchange
    Example: tracer trace op-theft --seed-sent 0xVictim... --since 2024-05-01 --chain eth
    """
    outcome = trace_case(app_context().session, TraceRequest(
        case=case, seeds=tuple(seed or ()), seeds_sent=tuple(seed_sent or ()), chain=chain, direction=direction,
        model=str(model), hops=hops, since=since,
        until=until, min_value=min_value, max_fanout=max_fanout, stop_at=stop_at, fetch=fetch, esplora=esplora,
        from_store=from_store, allow_third_party=allow_third_party, by=str(by), follow_bridges=follow_bridges))
    runs, data, chain_info = outcome.runs, outcome.data, outcome.chain
    for other in data["other_cases"]:
        notice(notice_text(other, case))
    for note in dict.fromkeys(n for r in runs for n in r["result"].notes):  # unverified value, limits, shortfalls
        notice(f"note: {note}")

    money = Money(chain_info, outcome.tokens)

    def human() -> None:
        if len(runs) == 1:
            _print_result(runs[0]["result"], chain_info, top, money, runs[0]["coinjoins"])
            _print_passes(runs[0]["summary"]["passes_through"], money)
            _print_peels(runs[0]["summary"]["peel_chains"], chain_info, money)
            notice(f"files: {runs[0]['directory']} (manifest sha256 {runs[0]['manifest_sha256'][:16]}…)")
        else:
            _print_comparison(runs, data["model_totals"], money)
        _print_crossings(outcome.crossings, top)

    emit(data, as_json=json_, human=human)


def _print_result(result: TraceResult, chain: Chain, top: int, money: Money, coinjoins: dict[str, str]) -> None:
    spec = result.spec
    stdout.print(f"{spec.direction} trace, {spec.model} model, {len(spec.seeds)} seed(s) on {chain.key}, "
                 f"up to {spec.hops} hops")
    rows = []
    for index, row in enumerate(result.endings.iter_rows(named=True)):
        if index >= top:
            break
        seed_value = traced_value(result.totals[row["asset"]])
        mix = coinjoins.get(row["txid"]) if row["txid"] is not None else None
        who = row["label"] or (f"CoinJoin output ({mix})" if mix else "")
        through = row.get("through_block")
        ending = f"held through block {through}" if row["ending"] == "held" and through is not None else row["ending"]
        rows.append((ending, row["address"] or "", who, row["category"] or "",
                     money(row["amount"], row["asset"]), share_text(int(row["amount"]), seed_value),
                     row["depth"] if row["depth"] is not None else ""))
    stdout.print(table("Where the value ended (largest first)",
                       ["ending", "address", "entity", "category", "amount", "share", "hop"], rows))
    if result.endings.height > top:
        notice(f"… {result.endings.height - top} more endings in endings.parquet / --json")
    total_rows = []
    for asset, totals in result.totals.items():
        traced = traced_value(totals)
        for key, value in totals.items():
            if value and key not in ("seed", "ended", "converted_in"):
                total_rows.append((asset, key, money(value, asset), share_text(value, traced)))
        total_rows.append((asset, "= sum of endings", money(totals["ended"], asset),
                           share_text(totals["ended"], traced)))
        if totals.get("converted_in"):
            total_rows.append((asset, "converted in (swaps, wrapping)", money(totals["converted_in"], asset),
                               share_text(totals["converted_in"], traced)))
        total_rows.append((asset, "seed value", money(totals["seed"], asset), share_text(totals["seed"], traced)))
    stdout.print(table("Reconciliation" + ("" if result.conserving else
                                           " (poison does not conserve value: endings exceed the seeds)"),
                       ["asset", "ending", "amount", "share"], total_rows))
    tree = Tree("Evidence paths (the hops that carried the most value)")
    # entities first (where legal process can be served), then the largest other endings; at most 5
    ranked = result.endings.with_row_index("_rank").sort(
        [pl.col("ending") != "entity", pl.col("_rank")]).head(min(top, 5))
    for row in ranked.iter_rows(named=True):
        branch = tree.add(_folded(f"{row['ending']} {row['address'] or ''} {row['label'] or ''}: "
                                  f"{money(row['amount'], row['asset'])}"))
        for hop in evidence_path(result.hops, row["hop_id"]):
            branch.add(_hop_block(hop, money))
    # never cropped: every line folds at the terminal's width, whatever the width (or a log file's)
    stdout.print(tree, soft_wrap=False)


def _print_crossings(crossings: list[dict[str, Any]], top: int) -> None:
    """Bridge crossings the trace reached: matched and continued on the other chain, or why not."""
    if not crossings:
        return
    rows = []
    for c in crossings[:top]:
        deposit, release = c["deposit"], c["release"]
        if c["continued"]:
            run = c["run"]
            outcome = f"continued on {release['chain']} with {c['continued_with']} units: {run['directory'].name}"
        else:
            outcome = f"not continued: {c['why']}"
        rows.append((f"{c['bridge']} #{c['deposit_id']}", c["confidence"] or c["status"],
                     f"{deposit['chain']} {deposit['txid'] or ''}", f"{release['chain'] or ''} {release['txid'] or ''}",
                     c["traced"], outcome))
    stdout.print(table("Bridge crossings", ["bridge deposit", "match", "deposit", "release", "traced", "outcome"],
                       rows))
    if len(crossings) > top:
        notice(f"… {len(crossings) - top} more crossings in --json")


def _folded(text: str) -> Text:
    return Text(text, overflow="fold")


def _hop_block(hop: dict[str, Any], money: Money) -> Text:
    """One hop as a short block of lines, so that txid, block, UTC time, amount, model and source
    all show in full in an 80-column terminal (a long address folds onto the next line)."""
    return _folded("\n".join((
        f"hop {hop['depth']}: {hop['from_address']} -> {hop['to_address']}",
        f"{money(hop['taint'], hop['asset'])} of {money(hop['value'], hop['asset'])}",
        f"tx {hop['txid']}",
        f"block {hop['block_height']}, {_iso(hop['timestamp'])}",
        f"model {hop['model']}, source {hop['source']}",
    )))


def _print_peels(peels: list[dict[str, Any]], chain: Chain, money: Money) -> None:
    if not peels:
        return
    rows = [(p["chain_id"].split(":")[-1][:16] + "…", p["length"], money(p["total_peeled"], "native"),
             ", ".join(money(v, "native") for v in p["peeled"][:8]) + (" …" if len(p["peeled"]) > 8 else ""),
             f"{p['start_height']}..{p['end_height']}") for p in peels]
    stdout.print(table("Peel chains on the traced paths", ["first tx", "steps", "peeled in total",
                                                           "peeled at each step", "blocks"], rows))


def _iso(timestamp: int | None) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if timestamp is not None else "-"


def _print_passes(passes: list[dict[str, Any]], money: Money) -> None:
    """Where the traced value went through the case's seeds or tagged addresses on its way."""
    for row in passes[:10]:
        name = f"'{row['label']}' " if row["label"] else ""
        stdout.print(_folded(f"passes through {row['role']} {name}{row['address']}: "
                             f"{money(row['amount'], row['asset'])}, {row['share']}"), soft_wrap=False)


def _print_comparison(runs: list[dict[str, Any]], totals: dict[str, dict[str, dict[str, Any]]],
                      money: Money) -> None:
    results = {str(r["result"].spec.model): r["result"] for r in runs}
    comparison = compare_models(results)
    models = list(results)
    heads = [m if results[m].conserving else f"{m} (not value-conserving)" for m in models]
    rows = [(row["ending"], row["address"] or "", row["label"] or "", row["asset"],
             *(money(row[m], row["asset"]) for m in models)) for row in comparison.iter_rows(named=True)]
    stdout.print(table("Endings under every model", ["ending", "address", "entity", "asset", *heads], rows))
    group_rows = []
    for asset, by_model in totals.items():
        first = next(iter(by_model.values()))
        for group in (k for k in first if k not in ("conserves_value",)):
            values = [by_model[m][group] for m in models]
            if group in ("seed_value", "ended") or any(v not in ("0", 0) for v in values):
                group_rows.append((asset, group, *(money(v, asset) for v in values)))
    stdout.print(table("Totals per model (by kind of ending)", ["asset", "kind", *heads], group_rows))
    for run in runs:
        notice(f"{run['result'].spec.model}: {run['directory']}")
