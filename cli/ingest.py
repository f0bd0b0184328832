# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest``: pull chain data from your own nodes into the graph store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.bitcoin.esplora import EsploraSource
from adapters.bitcoin.node import BitcoinNode
from adapters.evm.address_source import EvmAddressSource
from adapters.evm.etherscan import DEFAULT_URL as ETHERSCAN_URL
from adapters.evm.etherscan import EtherscanSource
from adapters.evm.node import EvmNode
from adapters.evm.tokens import TokenMetadata
from cli.checkpoints import Checkpoint
from cli.context import app_context
from cli.csv_ingest import load_csv_frames, read_csv_file
from cli.evm_ingest import EvmIngestSummary, ingest_evm_range, verify_balances
from cli.files import write_atomic
from cli.options import CaseArg, ChainOpt, JsonOpt
from cli.output import emit, stderr, stdout, table
from cli.seed_ingest import AddressTxSource, StoreTransferSource, StoreTxSource, expand_seeds
from cli.settings import Settings
from cli.stores import checkpoint_path, open_case_store
from cli.utxo_ingest import IngestSummary, ingest_block_range
from cli.workspace import Case
from graph.embedded import EmbeddedStore
from tracer.chains import Chain, Family
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
    """A rich progress bar on stderr with items/s and tx/s."""

    def __init__(self, total: int | None, enabled: bool, unit: str = "blocks") -> None:
        self.unit = unit
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"), TimeElapsedColumn(),
            console=stderr, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task(unit, total=total, rates="")
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
            rates = f"{task.completed / elapsed:,.1f} {self.unit}/s  {self.transactions / elapsed:,.0f} tx/s"
            self.progress.update(self.task, rates=rates)


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
    ctx = app_context()
    settings = ctx.settings
    chain_info = settings.chains.get(chain)
    if chain_info.family is not Family.UTXO:
        raise InputError(f"{chain_info.key} is an account-model chain: use `tracer ingest evm`")
    workspace_case: Case | None = ctx.workspace.open(case) if case else None
    cookie_file = str(cookie) if cookie else None
    with BitcoinNode(_node_url(chain_info.key, node), chain_info, cookie_file=cookie_file) as source:
        last = to_height if to_height is not None else source.tip_height()
        store = open_case_store(settings, workspace_case)
        try:
            checkpoint = Checkpoint.load(checkpoint_path(settings, workspace_case, chain_info.key), chain_info.key)
            todo = len(checkpoint.missing(from_height, last)) if last >= from_height else 0
            with _Progress(todo, enabled=not json_ and stderr.is_terminal) as bar:
                summary = ingest_block_range(source, store, checkpoint, from_height, last,
                                             batch_blocks=batch_blocks, progress=bar.advance)
        except BaseException as exc:
            _record_failure(workspace_case, "ingest.utxo", exc, ctx.argv,
                            {"chain": chain_info.key, "source": source.source, "from": from_height, "to": last})
            raise
        finally:
            store.close()
    if workspace_case is not None:
        workspace_case.record("ingest.utxo", summary.as_dict(), ctx.argv)
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
    ctx = app_context()
    settings = ctx.settings
    chain_info = settings.chains.get(chain)
    if chain_info.family is not Family.ACCOUNT:
        raise InputError(f"{chain_info.key} is a UTXO chain: use `tracer ingest utxo`")
    workspace_case: Case | None = ctx.workspace.open(case) if case else None
    with EvmNode(_node_url(chain_info.key, node), chain_info) as source:
        last = to_height if to_height is not None else source.tip_height()
        store = open_case_store(settings, workspace_case)
        try:
            cp_path = checkpoint_path(settings, workspace_case, chain_info.key)
            checkpoint = Checkpoint.load(cp_path, chain_info.key)
            tokens = TokenMetadata(source.client, chain_info, cp_path.with_name(f"tokens-{chain_info.key}.json"))
            todo = len(checkpoint.missing(from_height, last)) if last >= from_height else 0
            with _Progress(todo, enabled=not json_ and stderr.is_terminal) as bar:
                summary = ingest_evm_range(source, store, checkpoint, from_height, last, batch_blocks=batch_blocks,
                                           allow_missing_traces=allow_missing_traces, tokens=tokens,
                                           progress=bar.advance)
            if check_balances:
                summary.balance_check = verify_balances(source, store, from_height, last)
        except BaseException as exc:
            _record_failure(workspace_case, "ingest.evm", exc, ctx.argv,
                            {"chain": chain_info.key, "source": source.source, "from": from_height, "to": last})
            raise
        finally:
            store.close()
    if workspace_case is not None:
        workspace_case.record("ingest.evm", summary.as_dict(), ctx.argv)
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
    for reorg in summary.reorgs:
        rows.append(("reorg repaired", f"from height {reorg['fork_height']}: "
                                       f"{reorg['removed_transactions']} orphaned transactions removed"))
    if summary.balance_check is not None:
        check = summary.balance_check
        rows.append(("balance check", f"{check['addresses']} addresses, {len(check['mismatches'])} mismatches"))
    stdout.print(table("Ingest", ["", ""], rows))


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
        str | None, typer.Option("--preset", help="A known export format: etherscan (transactions or tokens).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Load transfers from a CSV (exchange answer, explorer export); a bad row rejects the whole file.

    Example: tracer ingest csv op-harbor export.csv --chain eth --preset etherscan
    """
    ctx = app_context()
    settings = ctx.settings
    chain_info = settings.chains.get(chain)
    if column_map is None and preset is None:
        raise InputError("say how to read the file: --map from=…,to=…,value=…,txid=… or --preset etherscan")
    workspace_case = ctx.workspace.open(case)
    # the whole file is read and checked before the store is opened: a bad row writes nothing
    frames, digest, source = read_csv_file(file, chain_info, column_map, preset)
    store = open_case_store(settings, workspace_case)
    try:
        summary = load_csv_frames(store, frames, file, chain_info, digest, source)
    finally:
        store.close()
    workspace_case.record("ingest.csv", summary.as_dict(), ctx.argv)

    def human() -> None:
        stdout.print(table("CSV import", ["", ""], [
            ("file", summary.file), ("sha256", summary.sha256), ("chain", summary.chain),
            ("transactions", summary.transactions),
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
        int, typer.Option("--from-block", help="EVM seeds: first block searched.", min=0)
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
    ctx = app_context()
    settings = ctx.settings
    workspace_case = ctx.workspace.open(case)
    by_chain: dict[str, list[str]] = {}
    for seed in workspace_case.seeds():
        by_chain.setdefault(seed.chain, []).append(seed.address)
    if not by_chain:
        raise InputError(f"case {case!r} has no seeds: add them with `tracer case seed add`")
    third_party = allow_third_party or settings.allow_third_party
    results: list[dict[str, object]] = []
    table_rows: list[tuple[object, ...]] = []
    store = open_case_store(settings, workspace_case)
    try:
        for chain_key, addresses in sorted(by_chain.items()):
            chain_info = settings.chains.get(chain_key)
            source: AddressTxSource
            if chain_info.family is Family.ACCOUNT:
                source, closer = _evm_address_source(settings, chain_info, node, from_block, from_store, etherscan,
                                                     third_party, workspace_case.dir)
            else:
                source, closer = _address_source(settings, chain_info, esplora, from_store, third_party,
                                                 workspace_case.dir)
            try:
                with _Progress(None, enabled=not json_ and stderr.is_terminal, unit="addresses") as bar:
                    reports = expand_seeds(source, store, chain_key, addresses, hops=hops,
                                           max_addresses=max_addresses, max_txs_per_address=max_txs,
                                           progress=bar.advance)
            except BaseException as exc:
                _record_failure(workspace_case, "ingest.seeds", exc, ctx.argv,
                                {"chain": chain_key, "source": source.source, "hops": hops,
                                 "third_party_allowed": third_party})
                raise
            finally:
                closer()
            results.append({"chain": chain_key, "source": source.source, "seeds": addresses,
                            "hops": [r.as_dict() for r in reports]})
            table_rows += [(chain_key, r.hop, r.addresses_queried, r.transactions_loaded, r.new_counterparties,
                            len(r.large_entities) + len(r.stopped_at_tagged) + r.addresses_deferred)
                           for r in reports]
    finally:
        store.close()
    data = {"case": case, "third_party_allowed": third_party, "chains": results}
    workspace_case.record("ingest.seeds", data, ctx.argv)

    def human() -> None:
        stdout.print(table(f"Seeds of {case}", ["chain", "hop", "addresses", "transactions", "next frontier",
                                                "not expanded"], table_rows))

    emit(data, as_json=json_, human=human)


def _chain_store(settings: Settings, from_store: Path, case_dir: Path) -> EmbeddedStore:
    case_store = settings.embedded_store_path(case_dir)
    if settings.store_backend == "embedded" and from_store.resolve() == case_store.resolve():
        raise InputError(f"--from-store {from_store} is the case's own store; give the chain store to copy from")
    return EmbeddedStore.open(from_store, read_only=True)


def _evm_address_source(
    settings: Settings, chain: Chain, node: str | None, from_block: int, from_store: Path | None,
    etherscan: str | None, third_party: bool, case_dir: Path,
) -> tuple[AddressTxSource, Callable[[], None]]:
    """EVM seeds: a chain store (``--from-store``), an Etherscan-compatible API (``--etherscan``), else the node."""
    if from_store is not None and etherscan is not None:
        raise InputError("give one source for EVM seeds: --from-store or --etherscan, not both")
    if from_store is not None:
        chain_store = _chain_store(settings, from_store, case_dir)
        return StoreTransferSource(chain_store, chain.key), chain_store.close
    if etherscan is not None:
        api = EtherscanSource(etherscan, chain, api_key=settings.etherscan_key, allow_third_party=third_party,
                              from_height=from_block)
        return api, api.close
    evm_source = EvmAddressSource(EvmNode(_node_url(chain.key, node), chain), from_height=from_block)
    return evm_source, evm_source.close


def _address_source(
    settings: Settings, chain: Chain, esplora: str | None, from_store: Path | None, third_party: bool,
    case_dir: Path,
) -> tuple[AddressTxSource, Callable[[], None]]:
    if from_store is not None:
        chain_store = _chain_store(settings, from_store, case_dir)
        return StoreTxSource(chain_store, chain.key), chain_store.close
    url = esplora or settings.esplora.get(chain.key)
    if not url:
        raise ConfigError(
            f"no source for addresses on {chain.key}: pass --esplora URL (self-hosted electrs/Esplora), "
            f"--from-store PATH, or set [esplora] {chain.key} in the config"
        )
    source = EsploraSource(url, chain, allow_third_party=third_party)
    return source, source.close


def _record_failure(case: Case | None, action: str, exc: BaseException, argv: list[str],
                    details: dict[str, object]) -> None:
    """A run that stopped half-way may have loaded data: the audit log says so (chain of custody)."""
    if case is None:
        return
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
    case.record(f"{action}.failed", {**details, "error": reason[:500]}, argv)


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
    from cli.frames_ingest import read_frame_dir, read_token_files

    ctx = app_context()
    settings = ctx.settings
    workspace_case = ctx.workspace.open(case) if case else None
    loaded, files = read_frame_dir(directory, verify=not no_checksums)
    token_files = read_token_files(directory)
    store = open_case_store(settings, workspace_case)
    try:
        report = store.load(loaded)
    finally:
        store.close()
    for chain_key, tokens in token_files.items():  # next to the store, where `ingest evm` keeps its cache
        cache = checkpoint_path(settings, workspace_case, chain_key).with_name(f"tokens-{chain_key}.json")
        known = json.loads(cache.read_text(encoding="utf-8")).get("tokens", {}) if cache.is_file() else {}
        write_atomic(cache, (json.dumps({"chain": chain_key, "tokens": {**known, **tokens}}, indent=1,
                                        sort_keys=True) + "\n").encode("utf-8"))
    rows = {name: frame.height for name, frame in loaded.frames().items() if frame.height}
    data = {"directory": str(directory), "files": files, "checksums_verified": not no_checksums,
            "rows": rows, "load": report.as_dict()}
    if workspace_case is not None:
        workspace_case.record("ingest.frames", data, ctx.argv)

    def human() -> None:
        stdout.print(table(f"Frames from {directory}", ["frame", "rows"], list(rows.items())))
        stdout.print(table("Graph", ["table", "created", "already there"],
                           [(k, report.created.get(k, 0), report.unchanged.get(k, 0))
                            for k in sorted(set(report.created) | set(report.unchanged))]))

    emit(data, as_json=json_, human=human)
