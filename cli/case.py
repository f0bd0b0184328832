# SPDX-License-Identifier: Apache-2.0
"""``tracer case``: create cases, add seeds, read the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.context import app_context
from cli.errors import EXIT_FAILURE
from cli.keys import passphrase_for
from cli.options import CaseArg, ChainOpt, JsonOpt
from cli.output import emit, error, notice, stdout, table
from jobs.case_package_export import ExportRequest, export_case
from jobs.case_package_import import import_case
from jobs.case_package_reproduce import REPRODUCED
from jobs.cases import add_seed, case_links, case_rows, case_traces, create_case, describe_case, verify_case
from jobs.keys import fingerprint_text
from jobs.workspace import Seed

app = typer.Typer(help="Case workspaces: seeds, audit log (chain of custody).", no_args_is_help=True)
seed_app = typer.Typer(help="Seed addresses of a case.", no_args_is_help=True)
app.add_typer(seed_app, name="seed")


@app.command("create")
def create(
    name: CaseArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What the case is about.")] = "",
    json_: JsonOpt = False,
) -> None:
    """Create a case workspace (exit 2 if the name is taken).

    Example: tracer case create op-harbor -d "Darknet vendor payouts, ref 2026/118"
    """
    case = create_case(app_context().session, name, description)
    info = case.info()
    emit(info.as_dict() | {"path": str(case.dir)}, as_json=json_,
         human=lambda: stdout.print(f"created case {info.name} in {case.dir}", highlight=False))


@app.command("list")
def list_cases(json_: JsonOpt = False) -> None:
    """List the cases in the workspace.

    Example: tracer case list --json
    """
    rows = case_rows(app_context().session)
    emit(rows, as_json=json_, human=lambda: stdout.print(table(
        "Cases", ["name", "seeds", "created", "by", "description"],
        [(r["name"], r["seeds"], r["created_at"], r["created_by"], r["description"]) for r in rows])))


@app.command("show")
def show(name: CaseArg, json_: JsonOpt = False) -> None:
    """Show a case: metadata, seeds and whether its audit log verifies.

    Example: tracer case show op-harbor
    """
    data, check = describe_case(app_context().session, name)

    def human() -> None:
        stdout.print(Text.assemble((data["name"], "bold"), f" — {data['description'] or '(no description)'}"))
        stdout.print(f"created {data['created_at']} by {data['created_by']}; directory {data['path']}",
                     highlight=False)
        stdout.print(_seed_table([Seed(**s) for s in data["seeds"]]))
        status = "verified" if check.ok else f"BROKEN: {check.problem}"
        stdout.print(f"audit log: {check.entries} entries, {status}; head {check.head}", highlight=False)

    emit(data, as_json=json_, human=human)


@app.command("log")
def log(name: CaseArg, json_: JsonOpt = False) -> None:
    """Print the case's audit log (who did what, when) and verify its hash chain.

    Example: tracer case log op-harbor
    """
    case = app_context().workspace.open(name)
    check = case.verify()
    entries = case.audit.entries() if check.ok else []

    def human() -> None:
        stdout.print(table(
            f"Audit log of {name}", ["#", "time (UTC)", "actor", "action", "details", "hash"],
            [(e.seq, e.time, e.actor, e.action, ", ".join(f"{k}={v}" for k, v in e.details.items() if v),
              e.hash[:16]) for e in entries]))
        stdout.print(f"verified: {check.entries} entries, head {check.head}" if check.ok
                     else f"audit log does NOT verify: {check.problem}")

    emit([e.as_dict() for e in entries], as_json=json_, human=human)
    if not check.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command("verify")
def verify(name: CaseArg, json_: JsonOpt = False) -> None:
    """Verify the audit log's hash chain, that the case files match it, and that the case's store
    holds what the last audited write left: its row counts and content digest (exit 1 if tampered).

    Example: tracer case verify op-harbor
    """
    check = verify_case(app_context().session, name)
    data = {"case": name, "verified": check.ok, "entries": check.entries, "head": check.head,
            "problem": check.problem, "store_digest": check.store_digest, "store_digest_entry": check.store_entry}

    def human() -> None:
        if not check.ok:
            stdout.print(f"{name}: audit log does NOT verify: {check.problem}", highlight=False)
            return
        stdout.print(f"{name}: audit log verified, {check.entries} entries, head {check.head}", highlight=False)
        if check.store_digest is not None:
            stdout.print(f"{name}: store content sha256 {check.store_digest}, as recorded by audit entry "
                         f"{check.store_entry}", highlight=False)

    emit(data, as_json=json_, human=human)
    if not check.ok:
        if not json_:
            error(f"case {name!r} failed verification")
        raise typer.Exit(EXIT_FAILURE)


@app.command("links")
def links(name: CaseArg, json_: JsonOpt = False) -> None:
    """Addresses and clusters this case shares with other cases, with each case's role (seed, hop,
    terminal) — how two units working the same organisation find each other. Exit 0 with or
    without links; the look-up is recorded in the case's audit log.

    Example: tracer case links op-harbor
    """
    data = case_links(app_context().session, name)
    rows, other = data["links"], data["cases"]

    def human() -> None:
        if not rows:
            stdout.print(f"{name} shares no address or cluster with another case", highlight=False)
            return
        stdout.print(table(
            f"Links of {name} to other cases",
            ["matched on", "chain", "address", "cluster", f"role in {name}", "other case", "role there",
             "their addresses"],
            [(r["matched_on"], r["chain"], r["address"], r["cluster_id"], ", ".join(r["this_case_roles"]),
              r["other_case"], ", ".join(r["other_case_roles"]),
              "" if r["matched_on"] == "address" else ", ".join(r["other_addresses"])) for r in rows]))
        notice(f"{len(rows)} link(s) to {len(other)} case(s): {', '.join(other)}")

    emit(data, as_json=json_, human=human)


@app.command("traces")
def traces(name: CaseArg, json_: JsonOpt = False) -> None:
    """List the case's trace runs, oldest first: result folder, when, by whom, the question asked and
    the manifest hash (each run has its own folder; `tracer case verify` checks them all).

    Example: tracer case traces op-harbor
    """
    rows = case_traces(app_context().session, name)

    def human() -> None:
        stdout.print(table(f"Trace runs of {name}", ["run", "time (UTC)", "by", "chain", "direction", "model",
                                                     "hops", "seeds", "manifest"],
                           [(r["run"], r["time"], r["actor"], r["chain"], r["direction"], r["model"], r["hops"],
                             ", ".join(r["seeds"]), (r["manifest_sha256"] or "")[:16]) for r in rows]))

    emit(rows, as_json=json_, human=human)


@app.command("export")
def export(
    name: CaseArg,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The package to write (a new file, .tar).",
                                      show_default=False)],
    sign: Annotated[str | None, typer.Option("--sign", metavar="KEY", help="Your key that signs it (default: your "
                                             "only key; see `tracer keys list`).")] = None,
    redact: Annotated[str | None, typer.Option("--redact", metavar="WHAT", help="Take the seeds' labels, notes or "
                                               "both out: labels,notes (the audit log says which entries).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Export a case as one signed package another agency can verify and re-run: the frames its traces
    read, the tag versions they cite, every trace result with its manifest, cluster evidence, the
    case, its seeds and audit log; SHA-256 of every member, Ed25519 signature. Same case, same bytes.

    Example: tracer case export op-harbor --out op-harbor.tar --sign fiu-lisbon

    Example: tracer case export op-harbor --out op-harbor-partner.tar --redact labels,notes
    """
    data = export_case(app_context().session, ExportRequest(name, out, sign, redact), lambda: passphrase_for(True))

    def human() -> None:
        signer = data["signed_by"]
        stdout.print(f"wrote {data['out']}: {len(data['traces'])} trace(s), chains {', '.join(data['chains'])}, "
                     f"{data['members']} members, sha256 {data['sha256']}", highlight=False)
        stdout.print(f"signed by {signer['name']} ({fingerprint_text(signer['fingerprint'])})", highlight=False)
        if data["redacted"]:
            notice(f"redacted: {', '.join(data['redacted'])}; the audit entries that held them cannot be "
                   "re-hashed by the recipient (package.json lists them)")

    emit(data, as_json=json_, human=human)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A case package (`tracer case export`).",
                                         show_default=False)],
    as_name: Annotated[str | None, typer.Option("--as", metavar="NAME", help="Case name here (default: the "
                                                "package's).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Import a partner's case package: its signature (a key you trust) and every member's SHA-256 are
    checked before anything is written; then the case, its frames and tags are loaded and every trace
    is re-run, each reported "reproduced ✓" or with the manifest fields that differ (exit 1 then).

    Example: tracer case import op-harbor.tar

    Example: tracer case import op-harbor.tar --as bka-op-harbor --json
    """
    data = import_case(app_context().session, file, as_name)
    emit(data, as_json=json_, human=lambda: _import_summary(data))
    if data["reproduced"] != data["total"]:
        raise typer.Exit(EXIT_FAILURE)


def _import_summary(data: dict[str, Any]) -> None:
    signer = data["signer"]
    stdout.print(f"imported case {data['case']} from {data['original_case']}, signed by {signer['name']} "
                 f"({fingerprint_text(signer['fingerprint'])}); package sha256 {data['package_sha256']}",
                 highlight=False)
    for row in data["traces"]:
        if row["status"] in REPRODUCED:
            extra = {"reproduced-renamed": " (manifest differs only in the case name)",
                     "reproduced-redacted": " (apart from the redacted seed labels in result.json)"}
            stdout.print(f"  {row['run']}: reproduced ✓{extra.get(row['status'], '')}", highlight=False)
        else:
            stdout.print(f"  {row['run']}: DIFFERS in {', '.join(row['differences'])}", highlight=False)
    notice(f"{data['reproduced']} of {data['total']} trace(s) reproduced; case in {data['path']}")


@seed_app.command("add")
def seed_add(
    name: CaseArg,
    address: Annotated[str, typer.Argument(help="Seed: an address, TXID:VOUT (one output, UTXO chains) or "
                                                "TXID[:INDEX] (one transfer, account chains); validated, normalized.")],
    chain: ChainOpt,
    sent: Annotated[bool, typer.Option("--sent", help="Trace what this address sent (a victim's payments), "
                                                      "not what it received.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why this is a seed (source, report).")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Short label, e.g. 'vendor wallet'.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Add a seed to a case (validated; re-adding the same seed changes nothing). Traces start from the
    case's seeds: what an address received, what it sent (--sent), or one output or transfer.

    Example: tracer case seed add op-harbor bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq --chain btc --label vendor
    Example: tracer case seed add op-theft 0x5aAeb6053f3E94C9b9A09f33669435E7Ef1BeAed --chain eth --sent
    """
    seed, added = add_seed(app_context().session, name, chain, address, label=label, note=note, sent=sent)
    if not added and not json_:
        notice(f"{seed.address} is already a seed of {name}; nothing changed")
    def human() -> None:
        if added:
            stdout.print(f"seed {seed.chain} {seed.address} ({seed.kind}) added to {name}")

    emit(seed.as_dict() | {"added": added}, as_json=json_, human=human)


@seed_app.command("list")
def seed_list(name: CaseArg, json_: JsonOpt = False) -> None:
    """List the seeds of a case.

    Example: tracer case seed list op-harbor --json
    """
    seeds = app_context().workspace.open(name).seeds()
    emit([s.as_dict() for s in seeds], as_json=json_, human=lambda: stdout.print(_seed_table(seeds)))


def _seed_table(seeds: list[Seed]) -> Table:
    return table("Seeds", ["chain", "seed", "type", "traces", "label", "note", "added", "by"],
                 [(s.chain, s.address, s.kind, "what it sent" if s.role == "sent" else "what it received"
                   if s.kind not in ("output", "transfer") else "the movement", s.label, s.note, s.added_at,
                   s.added_by) for s in seeds])
