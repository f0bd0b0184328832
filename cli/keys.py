# SPDX-License-Identifier: Apache-2.0
"""``tracer keys``: the agency's Ed25519 signing keys and the partner keys it trusts.

The work is :mod:`jobs.keys`; this module parses and renders. A passphrase is read from
``TRACER_KEY_PASSPHRASE`` or typed at a hidden prompt (``--passphrase``), never taken as an argument.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, notice, stdout, table
from jobs import keys as key_jobs

__all__ = ["app", "passphrase_for"]

app = typer.Typer(help="Signing keys for case packages and deconfliction: create, list, trust a partner's, export.",
                  no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Key name, e.g. the unit: fiu-lisbon.",
                                        show_default=False)]


def passphrase_for(ask: bool, *, confirm: bool = False) -> str | None:
    """The passphrase from ``TRACER_KEY_PASSPHRASE``, or typed (hidden) when ``ask``; None otherwise."""
    from_env = os.environ.get("TRACER_KEY_PASSPHRASE")
    if from_env:
        return from_env
    if ask:
        return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    return None


@app.command("create")
def create(
    name: NameArg,
    contact: Annotated[str, typer.Option("--contact", metavar="TEXT",
                                         help="Who partners reach about this key (unit, e-mail, phone).")] = "",
    passphrase: Annotated[bool, typer.Option("--passphrase", help="Protect the private key with a passphrase "
                                             "(typed twice; or set TRACER_KEY_PASSPHRASE).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Create an Ed25519 key pair for your agency (private key mode 0600; never replaced).

    Example: tracer keys create fiu-lisbon --contact "duty officer, +351 ..." --passphrase
    """
    info = key_jobs.create_key(app_context().settings, name, passphrase=passphrase_for(passphrase, confirm=True),
                               contact=contact)

    def human() -> None:
        stdout.print(f"created key {info.name}: fingerprint {key_jobs.fingerprint_text(info.fingerprint)}")
        notice(f"give partners the public key: tracer keys export {info.name} --out {info.name}.pub")

    emit(info.as_dict(), as_json=json_, human=human)


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """Your keys and the partner keys you trust, with their fingerprints.

    Example: tracer keys list
    """
    keys = key_jobs.list_keys(app_context().settings)
    rows = [k.as_dict() for k in keys]

    def human() -> None:
        stdout.print(table("keys", ["name", "kind", "fingerprint", "contact", "passphrase"],
                           [(k["name"], k["kind"], k["fingerprint_text"], k["contact"],
                             "yes" if k["encrypted"] else "") for k in rows]))

    emit(rows, as_json=json_, human=human)


@app.command("trust")
def trust(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A partner's public key file.", show_default=False)],
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Name to show for it.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Trust a partner's public key; compare the fingerprint shown with the partner over the phone.

    Example: tracer keys trust bka-wiesbaden.pub --name partner-bka
    """
    info = key_jobs.trust_key(app_context().settings, file, name=name)

    def human() -> None:
        stdout.print(f"trusted {info.name}: fingerprint {key_jobs.fingerprint_text(info.fingerprint)}")
        notice("compare this fingerprint with the partner over another channel before relying on it")

    emit(info.as_dict(), as_json=json_, human=human)


@app.command("export")
def export(
    name: NameArg,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the public key file.",
                                      show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Write your public key file for partners (the private key never leaves the workspace).

    Example: tracer keys export fiu-lisbon --out fiu-lisbon.pub
    """
    info = key_jobs.export_public(app_context().settings, name, out)
    emit({**info.as_dict(), "out": str(out)}, as_json=json_,
         human=lambda: stdout.print(f"wrote {out}: {info.name}, fingerprint "
                                    f"{key_jobs.fingerprint_text(info.fingerprint)}"))
