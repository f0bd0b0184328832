# SPDX-License-Identifier: Apache-2.0
"""``tracer cluster``: group a case's UTXO addresses by owner, explain why, look one up.

Three commands (a Typer group cannot take a CASE argument *and* subcommands: ``tracer cluster
explain ...`` would read "explain" as the case):

* ``run CASE`` — CoinJoin detection, multi-input evidence (plus one-time change with ``--change``),
  clusters; replaces the chain's clusters in the store and writes ``<case>/clusters/<chain>-*.parquet``;
* ``explain CASE A B`` — the chain of linking transactions that put A and B in one cluster;
* ``show CASE ADDRESS`` — the address's cluster, its members and the tags that label it.

The work is :mod:`jobs.clustering_runs`; this module parses and renders.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_context
from cli.options import CaseArg, JsonOpt
from cli.output import emit, notice, stdout, table
from jobs import clustering_runs

__all__ = ["app"]

app = typer.Typer(help="Address clusters (common-input ownership): build them, explain them, look one up.",
                  no_args_is_help=True)

ChainFilter = Annotated[
    str | None, typer.Option("--chain", "-c", metavar="CHAIN",
                             help="UTXO chain key (default: every UTXO chain in the case's store).")
]
ChainNeeded = Annotated[str, typer.Option("--chain", "-c", metavar="CHAIN",
                                          help="UTXO chain key, e.g. ltc, btc, ltc-regtest.")]
ChainInferred = Annotated[str | None, typer.Option(
    "--chain", "-c", metavar="CHAIN", help="UTXO chain key; needed only when the address form fits several chains "
                                             "the case has clustered (default: inferred from the address).")]
AddressArg = Annotated[str, typer.Argument(help="An address of the case.", show_default=False, metavar="ADDRESS")]


@app.command("run")
def run(
    case: CaseArg,
    chain: ChainFilter = None,
    change: Annotated[
        bool, typer.Option("--change", help="Also link one-time change outputs to their payer (Meiklejohn et al.; "
                                            "off by default: a wrong guess merges two owners).")
    ] = False,
    coinjoin_filter: Annotated[
        bool, typer.Option("--coinjoin-filter/--no-coinjoin-filter",
                           help="Skip CoinJoin-shaped transactions (default). Turning it off merges mixers' users.")
    ] = True,
    top: Annotated[int, typer.Option("--top", metavar="N", help="Largest clusters to list.", min=0)] = 10,
    json_: JsonOpt = False,
) -> None:
    """Cluster the case's addresses per UTXO chain; replaces the chain's earlier clustering.

    Same data, same result: cluster ids are "<chain>:<smallest member address>" and the files in
    <case>/clusters/ are rewritten byte for byte.

    Example: tracer cluster run op-harbor --chain ltc
    """
    data = clustering_runs.run_clustering(app_context().session, case, chain, change=change,
                                          coinjoin_filter=coinjoin_filter, top=top)
    results, heuristics = data["chains"], data["heuristics"]

    def human() -> None:
        for r in results:
            shapes = ", ".join(f"{k} {v}" for k, v in r["coinjoins_by_shape"].items()) or "none"
            stdout.print(table(
                f"Clusters of {case} on {r['chain']} ({'+'.join(heuristics)})", ["", ""],
                [("clusters (2+ addresses)", r["clusters"]), ("addresses clustered", r["addresses_clustered"]),
                 ("evidence edges", r["evidence_edges"]), ("labelled clusters", r["labelled_clusters"]),
                 ("CoinJoins skipped" if coinjoin_filter else "CoinJoin-shaped (NOT skipped)",
                  f"{r['coinjoins_skipped']} ({shapes})")],
            ))
            if r["largest"]:
                stdout.print(table(f"Largest clusters on {r['chain']}", ["cluster", "members", "label", "category"],
                                   [(c["cluster_id"], c["members"], "; ".join(c["labels"]),
                                     ", ".join(c["categories"])) for c in r["largest"]]))
        if not coinjoin_filter:
            notice("CoinJoin filter off: users of a CoinJoin are merged into one cluster")

    emit(data, as_json=json_, human=human)


@app.command("explain")
def explain_(
    case: CaseArg,
    a: Annotated[str, typer.Argument(help="First address.", show_default=False, metavar="A")],
    b: Annotated[str, typer.Argument(help="Second address.", show_default=False, metavar="B")],
    chain: ChainNeeded,
    json_: JsonOpt = False,
) -> None:
    """Why are A and B in one cluster: the shortest chain of linking transactions, each with its heuristic.

    Two addresses in different clusters are an answer, not an error: "not linked", with both clusters
    named ("linked": false in --json), exit 0.

    Example: tracer cluster explain op-harbor ltc1qa... ltc1qb... --chain ltc
    """
    data = clustering_runs.explain_link(app_context().session, case, a, b, chain)
    first, second, cid, path = data["a"], data["b"], data["cluster_id"], data["steps"]

    def human() -> None:
        if not data["linked"]:
            stdout.print(f"{first} and {second} are not linked: no clustering evidence joins them "
                         f"({first} is in {cid}, {second} in {data['other_cluster_id']})", highlight=False)
            return
        stdout.print(table(f"{first} and {second}: {len(path)} linking transaction(s) in {cid}",
                           ["step", "address", "linked to", "by transaction", "heuristic"],
                           [(i + 1, s["address"], s["linked_address"], s["txid"], s["heuristic"])
                            for i, s in enumerate(path)]))

    emit(data, as_json=json_, human=human)


@app.command("show")
def show(
    case: CaseArg,
    address: AddressArg,
    chain: ChainInferred = None,
    json_: JsonOpt = False,
) -> None:
    """The cluster of ADDRESS: its id, members and the tags of any member (which label the cluster).

    The chain is inferred from the address form, as for `tracer tags show`; --chain is needed only when
    the form fits several chains the case has clustered.

    Example: tracer cluster show op-harbor ltc1qa...
    """
    data, in_cluster = clustering_runs.cluster_of(app_context().session, case, address, chain)
    cid, names, normal, label_list, tag_rows = (data["cluster_id"], data["members"], data["address"],
                                                data["labels"], data["tags"])

    def human() -> None:
        labels = "; ".join(label_list) or "no tags"
        by_address: dict[str, list[str]] = {}
        for t in tag_rows:
            by_address.setdefault(t["address"], []).append(t["label"])
        stdout.print(table(f"Cluster {cid} ({len(names)} address(es); {labels})", ["address", "tags"],
                           [(n, "; ".join(by_address.get(n, []))) for n in names]))
        if not in_cluster:
            notice(f"{normal} is in no multi-address cluster (is `tracer cluster run` done?): it is its own cluster")

    emit(data, as_json=json_, human=human)

