# SPDX-License-Identifier: Apache-2.0
"""``tracer deconflict``: learn which addresses a case shares with a partner agency's case, and
nothing else (Diffie–Hellman private set intersection over ristretto255; see :mod:`jobs.deconflict`).

Three steps, three files: ``offer`` writes the signed request (and its private state, kept here),
the partner's ``answer`` writes the signed response, ``open`` lists the shared addresses. The work
is :mod:`jobs.deconflict`; this module parses and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.context import app_context
from cli.keys import passphrase_for
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from jobs import deconflict as jobs

__all__ = ["app"]

app = typer.Typer(help="Find the addresses your case shares with another agency's case without showing either "
                       "case: offer, answer, open (signed files, works air-gapped).", no_args_is_help=True)

OutOpt = Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The file to write (never replaced).",
                                      show_default=False)]
KeyOpt = Annotated[str | None, typer.Option("--key", metavar="KEY", help="Your signing key (`tracer keys list`); "
                                            "default: your only key.")]
ReferenceOpt = Annotated[str, typer.Option("--reference", metavar="TEXT", help="Your case reference as the partner "
                                           "should see it (free text; the case name is never sent).")]
ContactOpt = Annotated[str | None, typer.Option("--contact", metavar="TEXT", help="Who the partner should call "
                                                "(default: the key's contact).")]


def _passphrase(encrypted: bool) -> str | None:
    return passphrase_for(encrypted)


@app.command("offer")
def offer(
    case: CaseArg,
    out: OutOpt,
    key: KeyOpt = None,
    reference: ReferenceOpt = "",
    contact: ContactOpt = None,
    count_only: Annotated[bool, typer.Option("--count-only", help="Learn only how many addresses are shared.")
                          ] = False,
    clusters: Annotated[bool, typer.Option("--clusters", help="Also compare the other members of the case's "
                                           "clusters (`tracer cluster run`), on both sides.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Write a signed deconfliction request for a partner agency, holding only blinded elements of the
    case's addresses (seeds, trace hops and endings), and its private state FILE.state (mode 0600:
    keep it, never send it).

    Example: tracer deconflict offer op-harbor --out harbor.req --reference "PJ 2026/118"
    """
    result = jobs.offer(app_context().session, case, out, key=key, passphrase=_passphrase, reference=reference,
                        contact=contact, count_only=count_only, clusters=clusters)

    def human() -> None:
        stdout.print(f"wrote {result['request']}: {result['items']} blinded address(es) of case {case}, request "
                     f"{result['request_id']}, signed by {result['key']}")
        notice(f"keep {result['state']} (the secret to open the answer; never send it); send "
               f"{result['request']} to the partner, who runs `tracer deconflict answer THEIR_CASE "
               f"{Path(result['request']).name} --out ANSWER`")

    emit(result, as_json=json_, human=human)


@app.command("answer")
def answer(
    case: CaseArg,
    request: Annotated[Path, typer.Argument(metavar="REQUEST", help="The partner's request file.",
                                            show_default=False)],
    out: OutOpt,
    key: KeyOpt = None,
    reference: ReferenceOpt = "",
    contact: ContactOpt = None,
    count_only: Annotated[bool, typer.Option("--count-only", help="Let the partner learn only how many "
                                             "addresses are shared, whatever the request asks.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Answer a partner's signed deconfliction request (its key must be trusted: `tracer keys trust`)
    with your case: a signed response. You learn who asked and how many elements they sent, not which
    addresses are shared.

    Example: tracer deconflict answer op-anchor harbor.req --out anchor.resp --reference "BKA 41-2026"
    """
    result = jobs.answer(app_context().session, case, request, out, key=key, passphrase=_passphrase,
                         reference=reference, contact=contact, count_only=count_only)

    def human() -> None:
        asker = result["requester"]
        stdout.print(f"wrote {result['response']}: answered request {result['request_id']} from {asker['name']} "
                     f"({asker['contact'] or 'no contact given'}; reference {asker['reference'] or 'none'}) "
                     f"with {result['items']} address(es) of case {case}")
        notice("send the response back; only the requester learns what is shared"
               + (" (the number only)" if result["count_only"] else ""))

    emit(result, as_json=json_, human=human)


@app.command("open")
def open_(
    state: Annotated[Path, typer.Argument(metavar="STATE", help="The private state FILE.state of your offer.",
                                          show_default=False)],
    response: Annotated[Path, typer.Argument(metavar="RESPONSE", help="The partner's response file.",
                                             show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Open the partner's signed response to your request: the addresses your case shares with theirs
    (chain, address, your role), or their number with --count-only, and the partner's contact and
    reference. Exit 0 with or without shared addresses; recorded in the case's audit log.

    Example: tracer deconflict open harbor.req.state anchor.resp
    """
    result = jobs.open_answer(app_context().session, state, response)
    emit(result, as_json=json_, human=lambda: _render_open(result))


def _render_open(result: dict[str, Any]) -> None:
    partner = result["partner"]
    who = (f"{partner['name']} (key {partner['fingerprint_text']}…; contact: {partner['contact'] or 'none given'}; "
           f"reference: {partner['reference'] or 'none given'})")
    count = result["shared_count"]
    if result["count_only"]:
        stdout.print(f"case {result['case']} shares {count} address(es) with {who}")
    elif not count:
        stdout.print(f"case {result['case']} shares no address with {who}")
    else:
        stdout.print(table(f"Addresses case {result['case']} shares with {partner['name']}",
                           ["chain", "address", f"role in {result['case']}", "matched via", "cluster"],
                           [(r["chain"], r["address"], ", ".join(r["roles"]), r["via"], r["cluster_id"])
                            for r in result["shared"]]))
        notice(f"{count} shared address(es) with {who}")
    notice(f"compared {result['your_items']} of your addresses with {result['their_items']} of theirs")
