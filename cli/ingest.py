# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest``: pull chain data from your own nodes into the graph store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_context
from cli.options import CaseArg, ChainOpt, JsonOpt
from cli.output import emit, notice, stdout, table
from cli.progress import ProgressBar
from jobs import ingest_runs
from jobs.evm_ingest import EvmIngestSummary
from jobs.ingest_runs import RangeRequest, SeedRequest
from jobs.sources import ETHERSCAN_URL
from jobs.tron_ingest import TronRequest, ingest_tron
from jobs.utxo_ingest import IngestSummary

app = typer.Typer(help="Pull transactions from your own nodes into the graph store.", no_args_is_help=True)

NodeOpt = Annotated[
    str | None,
    typer.Option("--node", help="Node RPC URL (default: [nodes] in the config or TRACER_NODE_<CHAIN>)."),
]
CaseOpt = Annotated[
    str | None, typer.Option("--case", help="Load into this case's store and record the run in its audit log.")
]


@app.command("utxo")
def utxo(
    chain: ChainOpt,
    from_height: Annotated[int, typer.Option("--from", help="First block height.", min=0)],
    to_height: Annotated[int | None, typer.Option("--to", help="Last block height (default: the node's tip).")] = None,
    node: NodeOpt = None,
    case: CaseOpt = None,
    batch_blocks: Annotated[
        int, typer.Option("--batch-blocks", help="At most this many blocks per fetch and load.", min=1)
    ] = 200,
    cookie: Annotated[
        Path | None, typer.Option("--rpc-cookie", help="The node's .cookie file (instead of user:password in the URL).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Ingest a block range of a Bitcoin-family chain from your node (resumable; repairs reorgs).

    Example: tracer ingest utxo --chain ltc --node http://127.0.0.1:9332 --from 2500000 --to 2500100 --case op-harbor
    """
    summary = ingest_runs.ingest_utxo(app_context().session, RangeRequest(
        chain=chain, from_height=from_height, to_height=to_height, node=node, case=case, batch_blocks=batch_blocks,
        cookie=cookie), ProgressBar(enabled=not json_))
    emit(summary.as_dict(), as_json=json_, human=lambda: _print_summary(summary))


@app.command("evm")
def evm(
    chain: ChainOpt,
    from_height: Annotated[int, typer.Option("--from", help="First block height.", min=0)],
    to_height: Annotated[int | None, typer.Option("--to", help="Last block height (default: the latest).")] = None,
    node: NodeOpt = None,
    case: CaseOpt = None,
    batch_blocks: Annotated[
        int, typer.Option("--batch-blocks", help="At most this many blocks per fetch and load.", min=1)
    ] = 50,
    allow_missing_traces: Annotated[
        bool,
        typer.Option("--allow-missing-traces",
                     help="Load from a node without trace_block / debug tracing (internal transfers missing)."),
    ] = False,
    check_balances: Annotated[
        bool, typer.Option("--check-balances", help="Then compare every touched balance with eth_getBalance.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Ingest a block range of an EVM chain: native, token (ERC-20/721), internal and fee transfers.

    Example: tracer ingest evm --chain eth --node http://127.0.0.1:8545 --from 19000000 --to 19000100 --case op-harbor
    """
    summary = ingest_runs.ingest_evm(app_context().session, RangeRequest(
        chain=chain, from_height=from_height, to_height=to_height, node=node, case=case, batch_blocks=batch_blocks,
        allow_missing_traces=allow_missing_traces, check_balances=check_balances), ProgressBar(enabled=not json_))
    emit(summary.as_dict(), as_json=json_, human=lambda: _print_evm_summary(summary))


def _print_evm_summary(summary: EvmIngestSummary) -> None:
    rows: list[tuple[str, object]] = [
        ("chain", summary.chain), ("source", summary.source), ("node", summary.node.get("client", "")),
        ("traces", summary.node.get("traces") or "none: internal transfers missing"),
        ("blocks", f"{summary.from_height}..{summary.to_height}"),
        ("blocks loaded", summary.blocks_loaded), ("blocks already in the store", summary.blocks_already_done),
        ("transactions", summary.transactions),
        ("transfers", ", ".join(f"{k} {v}" for k, v in summary.transfers.items()) or "0"),
        ("tokens", ", ".join(f"{t['symbol'] or '?'} ({t['decimals'] if t['decimals'] is not None else '?'} dec)"
                             for t in summary.tokens) or "none"),
        ("rate", f"{summary.blocks_per_s:,.1f} blocks/s, {summary.tx_per_s:,.0f} tx/s"),
    ]
    if summary.conversions:
        rows.insert(-1, ("conversions", ", ".join(f"{k} {v}" for k, v in summary.conversions.items())))
    if summary.bridge_events:
        rows.insert(-1, ("bridge events", ", ".join(f"{k} {v}" for k, v in summary.bridge_events.items())))
    for reorg in summary.reorgs:
        rows.append(("reorg repaired", f"from height {reorg['fork_height']}: "
                                       f"{reorg['removed_transactions']} orphaned transactions removed"))
    if summary.balance_check is not None:
        check = summary.balance_check
        rows.append(("balance check", f"{check['addresses']} addresses, {len(check['mismatches'])} mismatches"))
    stdout.print(table("Ingest", ["", ""], rows))
    for warning in summary.warnings[:20]:  # swaps or bridge hops that stay plain transfers, and why
        notice(f"warning: {warning}")
    if len(summary.warnings) > 20:
        notice(f"… {len(summary.warnings) - 20} more warnings in --json")


@app.command("csv")
def csv_(
    case: CaseArg,
    file: Annotated[Path, typer.Argument(help="CSV file of transfers.", show_default=False)],
    chain: ChainOpt,
    column_map: Annotated[
        str | None,
        typer.Option("--map", help="Columns: from=…,to=…,value=…,txid=…[,asset=…,decimals=…,time=…,block=…]."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="A known export format: etherscan (transactions or tokens), "
                                                  "tronscan (an address's transfers, --chain trx).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Load transfers from a CSV (exchange answer, explorer export); a bad row rejects the whole file.

    Example: tracer ingest csv op-harbor export.csv --chain eth --preset etherscan
    """
    summary = ingest_runs.ingest_csv(app_context().session, case, file, chain, column_map, preset)

    def human() -> None:
        stdout.print(table("CSV import", ["", ""], [
            ("file", summary.file), ("sha256", summary.sha256), ("chain", summary.chain),
            ("transactions", summary.transactions),
            ("transfers", ", ".join(f"{k} {v}" for k, v in summary.transfers.items()) or "0"),
        ]))

    emit(summary.as_dict(), as_json=json_, human=human)


@app.command("tron")
def tron(
    case: Annotated[str, typer.Option("--case", help="Load into this case's store (recorded in its audit log).")],
    from_height: Annotated[
        int | None, typer.Option("--from", help="Block range: first block height (from your node).", min=0)
    ] = None,
    to_height: Annotated[int | None, typer.Option("--to", help="Block range: last block (default: the tip).")] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="Your java-tron full node's HTTP API (default: [nodes] trx).")
    ] = None,
    trongrid: Annotated[
        str | None,
        typer.Option("--trongrid", help="Addresses: a TronGrid-compatible API URL (a third party unless you run "
                                        "it: needs --allow-third-party)."),
    ] = None,
    address: Annotated[
        list[str] | None, typer.Option("--address", help="With --trongrid: an address to load (repeatable; "
                                                         "default: the case's trx seeds).")
    ] = None,
    allow_third_party: Annotated[
        bool, typer.Option("--allow-third-party", help="Allow a public API (it will see every address looked up).")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Load Tron (TRX, TRC-10, TRC-20 such as USDT, fees): a block range from your full node, or
    the histories of addresses from a TronGrid-compatible API.

    Example: tracer ingest tron --case op-harbor --node http://127.0.0.1:8090 --from 69316500 --to 69316700
    """
    summary = ingest_tron(app_context().session, TronRequest(
        case=case, node=node, from_height=from_height, to_height=to_height, trongrid=trongrid,
        addresses=tuple(address or ()), allow_third_party=allow_third_party))

    def human() -> None:
        stdout.print(table("Tron ingest", ["", ""], [
            ("chain", summary.chain), ("source", summary.source),
            ("blocks", "" if summary.blocks is None else f"{summary.blocks[0]}..{summary.blocks[1]}"),
            ("addresses", ", ".join(summary.addresses)), ("transactions", summary.transactions),
            ("transfers", ", ".join(f"{k} {v}" for k, v in summary.transfers.items()) or "0"),
        ]))

    emit(summary.as_dict(), as_json=json_, human=human)


@app.command("seeds")
def seeds(
    case: Annotated[str, typer.Argument(help="Case whose seed addresses are expanded.", show_default=False)],
    hops: Annotated[int, typer.Option("--hops", help="Also load counterparties up to N hops away.", min=0)] = 0,
    esplora: Annotated[
        str | None, typer.Option("--esplora", help="Esplora REST URL (default: [esplora] in the config).")
    ] = None,
    from_store: Annotated[
        Path | None, typer.Option("--from-store", help="Copy from this embedded store (a block-range ingest).")
    ] = None,
    allow_third_party: Annotated[
        bool,
        typer.Option("--allow-third-party", help="Allow a public explorer (it will see every address looked up)."),
    ] = False,
    max_addresses: Annotated[int, typer.Option("--max-addresses", help="Addresses per hop.", min=1)] = 200,
    max_txs: Annotated[
        int, typer.Option("--max-txs-per-address", help="Above this, an address is an entity: not expanded.", min=1)
    ] = 1_000,
    node: Annotated[
        str | None, typer.Option("--node", help="EVM seeds: node RPC URL (default: [nodes] in the config).")
    ] = None,
    from_block: Annotated[
        int, typer.Option("--from", "--from-block", min=0,
                          help="EVM seeds: first block searched (also --from-block).")
    ] = 0,
    etherscan: Annotated[
        str | None,
        typer.Option("--etherscan", help=f"EVM seeds: an Etherscan-compatible API, e.g. {ETHERSCAN_URL} "
                                         "(a third party: needs --allow-third-party; key: TRACER_ETHERSCAN_KEY)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Load the transactions of a case's seed addresses, and with --hops their counterparties.

    UTXO seeds come from Esplora or a chain store; EVM seeds from your node (token transfers through
    eth_getLogs, native and internal ones through the Otterscan API or trace_filter), a chain store
    filled by `tracer ingest evm` (--from-store), or, if you accept the disclosure, an
    Etherscan-compatible API (--etherscan URL --allow-third-party).

    Example: tracer ingest seeds op-harbor --hops 1 --esplora http://127.0.0.1:3002
    """
    data = ingest_runs.ingest_seeds(app_context().session, SeedRequest(
        case=case, hops=hops, esplora=esplora, from_store=from_store, allow_third_party=allow_third_party,
        max_addresses=max_addresses, max_txs_per_address=max_txs, node=node, from_block=from_block,
        etherscan=etherscan), ProgressBar(enabled=not json_))
    table_rows = [(c["chain"], r["hop"], r["addresses_queried"], r["transactions_loaded"], r["new_counterparties"],
                   len(r["large_entities"]) + len(r["stopped_at_tagged"]) + r["addresses_deferred"])
                  for c in data["chains"] for r in c["hops"]]

    def human() -> None:
        stdout.print(table(f"Seeds of {case}", ["chain", "hop", "addresses", "transactions", "next frontier",
                                                "not expanded"], table_rows))

    emit(data, as_json=json_, human=human)


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


@app.command("frames")
def frames(
    directory: Annotated[Path, typer.Argument(help="Directory of canonical frame Parquet files with SHA256SUMS.",
                                              show_default=False)],
    case: CaseOpt = None,
    no_checksums: Annotated[bool, typer.Option(
        "--no-checksums", help="Load even without a SHA256SUMS file (not recommended for evidence).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Load canonical frames from Parquet files (a fixture chain, a partner's export) into a store.

    Every file is checked against SHA256SUMS and its frame's schema before anything is written.

    Example: tracer ingest frames fixtures/op-fixture/frames --case op-fixture
    """
    data, report = ingest_runs.ingest_frames(app_context().session, directory, case, verify=not no_checksums)
    rows = data["rows"]

    def human() -> None:
        stdout.print(table(f"Frames from {directory}", ["frame", "rows"], list(rows.items())))
        stdout.print(table("Graph", ["table", "created", "already there"],
                           [(k, report.created.get(k, 0), report.unchanged.get(k, 0))
                            for k in sorted(set(report.created) | set(report.unchanged))]))

    emit(data, as_json=json_, human=human)
