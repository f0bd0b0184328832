# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest``: pull chain data from your own nodes into the graph store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.bitcoin.node import BitcoinNode
from cli.checkpoints import Checkpoint
from cli.context import app_context
from cli.options import ChainOpt, JsonOpt
from cli.output import emit, stderr, stdout, table
from cli.stores import checkpoint_path, open_case_store
from cli.utxo_ingest import IngestSummary, ingest_block_range
from cli.workspace import Case
from tracer.chains import Family
from tracer.errors import ConfigError, InputError

app = typer.Typer(help="Pull transactions from your own nodes into the graph store.", no_args_is_help=True)

NodeOpt = Annotated[
    str | None,
    typer.Option("--node", help="Node RPC URL (default: [nodes] in the config or TRACER_NODE_<CHAIN>)."),
]
CaseOpt = Annotated[
    str | None, typer.Option("--case", help="Load into this case's store and record the run in its audit log.")
]


def _node_url(chain: str, given: str | None) -> str:
    url = given or app_context().settings.node_url(chain)
    if not url:
        raise ConfigError(f"no node configured for {chain}: pass --node URL or set [nodes] {chain} in the config")
    return url


class _Progress:
    """A rich progress bar on stderr with blocks/s and tx/s."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"), TimeElapsedColumn(),
            console=stderr, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task("blocks", total=total, rates="")
        self.transactions = 0

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, blocks: int, transactions: int) -> None:
        self.transactions += transactions
        self.progress.advance(self.task, blocks)
        task = self.progress.tasks[0]
        elapsed = task.elapsed or 0.0
        if elapsed > 0:
            rates = f"{task.completed / elapsed:,.1f} blocks/s  {self.transactions / elapsed:,.0f} tx/s"
            self.progress.update(self.task, rates=rates)


@app.command("utxo")
def utxo(
    chain: ChainOpt,
    from_height: Annotated[int, typer.Option("--from", help="First block height.", min=0)],
    to_height: Annotated[int | None, typer.Option("--to", help="Last block height (default: the node's tip).")] = None,
    node: NodeOpt = None,
    case: CaseOpt = None,
    batch_blocks: Annotated[int, typer.Option("--batch-blocks", help="Blocks per fetch and load.", min=1)] = 20,
    json_: JsonOpt = False,
) -> None:
    """Ingest a block range of a Bitcoin-family chain from your node (resumable; repairs reorgs).

    Example: tracer ingest utxo --chain ltc --node http://127.0.0.1:9332 --from 2500000 --to 2500100 --case op-harbor
    """
    ctx = app_context()
    settings = ctx.settings
    chain_info = settings.chains.get(chain)
    if chain_info.family is not Family.UTXO:
        raise InputError(f"{chain_info.key} is an account-model chain: use `tracer ingest evm`")
    workspace_case: Case | None = ctx.workspace.open(case) if case else None
    with BitcoinNode(_node_url(chain_info.key, node), chain_info) as source:
        last = to_height if to_height is not None else source.tip_height()
        store = open_case_store(settings, workspace_case)
        try:
            checkpoint = Checkpoint.load(checkpoint_path(settings, workspace_case, chain_info.key), chain_info.key)
            todo = len(checkpoint.missing(from_height, last)) if last >= from_height else 0
            with _Progress(todo, enabled=not json_ and stderr.is_terminal) as bar:
                summary = ingest_block_range(source, store, checkpoint, from_height, last,
                                             batch_blocks=batch_blocks, progress=bar.advance)
        finally:
            store.close()
    if workspace_case is not None:
        workspace_case.record("ingest.utxo", summary.as_dict(), ctx.argv)
    emit(summary.as_dict(), as_json=json_, human=lambda: _print_summary(summary))


def _print_summary(summary: IngestSummary) -> None:
    rows = [
        ("chain", summary.chain), ("source", summary.source),
        ("blocks", f"{summary.from_height}..{summary.to_height}"),
        ("blocks loaded", summary.blocks_loaded), ("blocks already in the store", summary.blocks_already_done),
        ("transactions", summary.transactions), ("inputs", summary.inputs), ("outputs", summary.outputs),
        ("prevouts from store / node", f"{summary.prevouts_from_store} / {summary.prevouts_from_node}"),
        ("rate", f"{summary.blocks_per_s:,.1f} blocks/s, {summary.tx_per_s:,.0f} tx/s"),
    ]
    for reorg in summary.reorgs:
        rows.append(("reorg repaired", f"from height {reorg['fork_height']}: "
                                       f"{reorg['removed_transactions']} orphaned transactions removed"))
    stdout.print(table("Ingest", ["", ""], rows))
