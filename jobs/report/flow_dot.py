# SPDX-License-Identifier: Apache-2.0
"""The flow graph picture: a :class:`tracer.flow_graph.FlowGraph` drawn by Graphviz ``dot`` as SVG.

Top to bottom in time: seeds, the addresses the value passed through, the endings. Nodes say what
is known of an address (seed, tag label and category, cluster, how the trail ends there); edges give
the amount in coin units, the UTC time, the number of transactions, and link to the transaction's
raw records in the report's appendix (``#tx-<chain>-<txid>``). Edge width grows with the amount
(value-weighted); CoinJoin transactions are drawn dashed and say so. Graphviz lays the graph out
(E. R. Gansner, E. Koutsofios, S. C. North, K.-P. Vo, "A technique for drawing directed graphs",
IEEE TSE 19(3), 1993); its output for the same input is the same bytes, so the report is too.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from tracer.errors import InputError
from tracer.flow_graph import FlowGraph
from tracer.money import Money

__all__ = ["MissingToolError", "flow_dot", "render_svg", "graphviz_version", "short_address", "utc_text"]

_DOT_TIMEOUT_S = 300
_ENDING_WORDS = {"entity": "attributed entity", "held": "held (unspent)", "not_in_store": "not in store",
                 "hop_limit": "hop limit", "fanout_limit": "fan-out limit", "below_min_value": "below min value",
                 "unverified": "unverified", "returned_to_seed": "back to a seed", "mined": "mined",
                 "time_limit": "time limit"}


class MissingToolError(InputError):
    """A program the report needs is not installed (the message says how to install it)."""


def short_address(address: str) -> str:
    """``rltc1qr2l4…fnulqd``: enough to recognise, the full form is in the tables and appendix."""
    return address if len(address) <= 18 else f"{address[:10]}…{address[-6:]}"


def utc_text(seconds: int | None) -> str:
    """``2026-03-05 09:00 UTC`` (the report's one time format)."""
    import datetime as dt

    if seconds is None:
        return "time unknown"
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` separates lines (added by the caller, after escaping)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _label(lines: list[str]) -> str:
    return '"' + "\\n".join(_quote(line)[1:-1] for line in lines if line) + '"'


def _node_lines(row: dict[str, object], chain_words: Callable[[str], str]) -> list[str]:
    if row["kind"] == "transaction":
        lines = [f"tx {str(row['txid'])[:8]}…{str(row['txid'])[-4:]}"]
        if row["block_height"] is not None:
            lines.append(f"block {row['block_height']}, {utc_text(row['timestamp'])}")  # type: ignore[arg-type]
        if row["coinjoin"]:
            lines.insert(0, f"CoinJoin ({row['coinjoin']})")
        return lines
    lines = []
    if row["seed"]:
        lines.append("SEED")
    if row["label"]:
        lines.append(f"{row['label']} ({row['category']})" if row["category"] else str(row["label"]))
    lines.append(short_address(str(row["address"])))
    if row["cluster"]:
        lines.append(f"cluster {short_address(str(row['cluster']).split(':', 1)[-1])}")
    if row["endings"]:
        lines.append(", ".join(chain_words(e) for e in str(row["endings"]).split(",")))
    return lines


def _node_style(row: dict[str, object]) -> str:
    if row["kind"] == "transaction":
        if row["coinjoin"]:
            return 'shape=ellipse, style="filled,dashed", fillcolor="#fbe0e0", color="#a33", fontsize=8'
        return 'shape=ellipse, style=filled, fillcolor="#f6f6f6", color="#888888", fontsize=8'
    if row["seed"]:
        return 'shape=box, style="rounded,filled,bold", fillcolor="#dbe8fb", color="#1f4e9c"'
    if row["label"]:
        return 'shape=box, style="rounded,filled", fillcolor="#ffe3bf", color="#b25c00"'
    endings = str(row["endings"] or "")
    if "held" in endings:
        return 'shape=box, style="rounded,filled", fillcolor="#eeeeee", color="#555555"'
    if endings:
        return 'shape=box, style="rounded,filled,dashed", fillcolor="#fbe0e0", color="#a33"'
    return 'shape=box, style="rounded", color="#555555"'


def _width(amount: int, largest: int) -> str:
    """Pen width 1..8 by the amount's share of the largest edge of its asset (drawing only)."""
    hundredths = 100 + (700 * amount // largest if largest else 0)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def flow_dot(graph: FlowGraph, chain: str, money: Money, *, title: str) -> str:
    """The DOT source of ``graph`` (deterministic: nodes and edges in the graph's order)."""
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes["id"])}
    out = ["digraph flow {", f"  graph [rankdir=TB, fontname=\"DejaVu Sans\", fontsize=11, label={_quote(title)}, "
           "labelloc=t, labeljust=l, nodesep=0.3, ranksep=0.35];",
           '  node [fontname="DejaVu Sans", fontsize=9];', '  edge [fontname="DejaVu Sans", fontsize=8];']
    for row in graph.nodes.iter_rows(named=True):
        anchor = f"#tx-{chain}-{row['txid']}"
        link = f", href={_quote(anchor)}" if row["txid"] else ""
        out.append(f"  {ids[row['id']]} [label={_label(_node_lines(row, _ending_word))}, "
                   f"tooltip={_quote(str(row['address'] or row['txid']))}{link}, {_node_style(row)}];")
    largest = {asset: max(int(a) for a in frame["amount"])
               for (asset,), frame in graph.edges.group_by("asset") if frame.height}
    for row in graph.edges.iter_rows(named=True):
        amount = int(row["amount"])
        lines = [money(amount, row["asset"])]
        if not (row["source"].startswith("tx:") or row["target"].startswith("tx:")):
            lines.append(utc_text(row["first_time"]))
            if row["transactions"] > 1:
                lines.append(f"{row['transactions']} transactions")
        anchor = f"#tx-{chain}-{row['txids'][0]}"
        out.append(f"  {ids[row['source']]} -> {ids[row['target']]} [label={_label(lines)}, "
                   f"penwidth={_width(amount, largest[row['asset']])}, "
                   f"href={_quote(anchor)}, "
                   f"tooltip={_quote(' '.join(row['txids'][:20]))}];")
    out.extend(_smaller_edges(graph, ids, money))
    out.append("}")
    return "\n".join(out) + "\n"


def _smaller_edges(graph: FlowGraph, ids: dict[str, str], money: Money) -> list[str]:
    if graph.smaller.height == 0:
        return []
    share = f"{graph.min_share_bp // 100}.{graph.min_share_bp % 100:02d}%"
    lines = [f"  smaller [label={_label([f'smaller flows (each below {share} of the seed value)'])}, "
             'shape=note, style=dashed, color="#777777", fontcolor="#555555"];']
    for row in graph.smaller.iter_rows(named=True):
        if row["source"] in ids:
            text = [money(int(row["amount"]), row["asset"]), f"{row['hops']} movement(s)"]
            lines.append(f"  {ids[row['source']]} -> smaller [label={_label(text)}, style=dotted, "
                         'color="#777777"];')
    return lines


def _ending_word(ending: str) -> str:
    return _ENDING_WORDS.get(ending, ending.replace("_", " "))


def _dot_binary() -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise MissingToolError("Graphviz is not installed (the report draws its flow graph with `dot`): "
                               "install it with `apt-get install graphviz` or run `bash scripts/setup.sh`")
    return dot


def graphviz_version() -> str:
    """``dot - graphviz version 2.43.0 (0)`` as the report's method section cites it."""
    done = subprocess.run([_dot_binary(), "-V"], capture_output=True, text=True, timeout=30, check=False)
    return (done.stderr or done.stdout).strip()


def render_svg(dot_source: str) -> str:
    """Lay out ``dot_source`` with Graphviz and return the ``<svg>`` element (XML prolog dropped)."""
    try:
        done = subprocess.run([_dot_binary(), "-Tsvg"], input=dot_source, capture_output=True, text=True,
                              timeout=_DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"Graphviz took over {_DOT_TIMEOUT_S} s to draw the flow graph: raise --min-share "
                         "to show fewer paths") from None
    if done.returncode != 0:
        raise InputError(f"Graphviz could not draw the flow graph: {done.stderr.strip()[:300]}")
    svg = done.stdout
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg

