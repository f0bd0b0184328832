# SPDX-License-Identifier: Apache-2.0
"""``tracer chains``: the supported chains, and address validation."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_context
from cli.options import ChainOpt, JsonOpt
from cli.output import emit, stdout, table
from jobs.addresses import check_address

app = typer.Typer(help="Supported chains and address validation.", no_args_is_help=True)


@app.command("list")
def list_chains(json_: JsonOpt = False) -> None:
    """List the chains the tracer knows (built-in and from the config file).

    Example: tracer chains list
    """
    chains = list(app_context().settings.chains)
    data = [
        {"key": c.key, "name": c.name, "family": str(c.family), "network": c.network, "symbol": c.symbol,
         "decimals": c.decimals, "evm_chain_id": c.evm_chain_id}
        for c in chains
    ]
    emit(data, as_json=json_, human=lambda: stdout.print(table(
        "Chains", ["key", "name", "family", "network", "symbol", "decimals", "chain id"],
        [(d["key"], d["name"], d["family"], d["network"], d["symbol"], d["decimals"], d["evm_chain_id"])
         for d in data])))


@app.command("check")
def check(
    address: Annotated[str, typer.Argument(help="Address to validate.")],
    chain: ChainOpt,
    json_: JsonOpt = False,
) -> None:
    """Validate an address for a chain and print its normal form (exit 2 if invalid).

    Example: tracer chains check 0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359 --chain eth
    """
    settings = app_context().settings
    info = check_address(settings.chains, chain, address)
    data = {"chain": info.chain, "address": info.address, "kind": info.kind, "input": address}
    emit(data, as_json=json_, human=lambda: stdout.print(
        f"valid {info.chain} {info.kind} address: {info.address}", highlight=False))
