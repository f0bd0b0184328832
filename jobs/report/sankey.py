# SPDX-License-Identifier: Apache-2.0
"""The report's value Sankey: seeds -> traced value -> ending types -> named entities, as inline SVG.

One self-contained ``<svg>`` string: no JavaScript, no external font, style sheet or picture, so the
report opens offline and prints the same in Chromium and WeasyPrint. The layout is the classic Sankey
construction (M. H. P. R. Sankey, 1898; the column layout of d3-sankey, Bostock 2012, and Riehmann,
Hanfler & Froehlich, "Interactive Sankey Diagrams", IEEE InfoVis 2005):

* nodes sit in columns left to right, in the order given, with a fixed gap between them; a node is
  as tall as ``max(inflow, outflow)``;
* a link is a filled band between two cubic Bezier curves, as thick as its value; the bands leave a
  node in the order of their targets and enter in the order of their sources;
* one scale (pixels per base unit) serves the whole diagram: the busiest column fills the plot.

Values are exact ``int`` base units; the scale is a :class:`fractions.Fraction`, so the geometry is
exact until each coordinate is written with two decimals (round half to even). The same input gives
the same bytes. A value too small to see gets the minimum thickness (1 px); its label still states
the exact amount (``amount_text``), and ``data-value`` carries the base units.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from xml.sax.saxutils import escape

__all__ = ["SankeyNode", "SankeyLink", "sankey_svg"]

NODE_WIDTH = 14
#: vertical gap between two nodes of a column (room for a node's two label lines)
GAP = 28
#: plot height per node of the fullest column
ROW = 44
MIN_PLOT_HEIGHT = 200
#: margins: above and below the plot (label lines reach past tiny nodes), left, and right for labels
TOP = 18
BOTTOM = 18
LEFT = 10
LABEL_ROOM = 200
MIN_WIDTH = 400
MIN_PX = Fraction(1)
DEFAULT_TITLE = "Sankey diagram of the traced value"

_KIND = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: no white halo behind the text (paint-order): WeasyPrint ignores paint-order and would paint the halo over it
_STYLE = """<style>
.tracer-sankey text{font:12px sans-serif;fill:#1d2733;stroke:none}
.tracer-sankey text.amount{fill:#46515e}
.tracer-sankey .node rect{fill:#5d6d7e}
.tracer-sankey .node.seed rect{fill:#b03a2e}
.tracer-sankey .node.pool rect{fill:#2e4053}
.tracer-sankey .node.entity rect{fill:#1f618d}
.tracer-sankey .node.held rect{fill:#b9770e}
.tracer-sankey .node.fee rect{fill:#7f8c8d}
.tracer-sankey .node.unverified rect{fill:#884ea0}
.tracer-sankey .band{fill:#85929e;fill-opacity:.45}
.tracer-sankey .band.pool{fill:#b03a2e}
.tracer-sankey .band.entity{fill:#2874a6}
.tracer-sankey .band.held{fill:#d68910}
.tracer-sankey .band.fee{fill:#95a5a6}
.tracer-sankey .band.unverified{fill:#a569bd}
.tracer-sankey .band:hover{fill-opacity:.75}
</style>"""


@dataclass(frozen=True)
class SankeyNode:
    """A box of the diagram. ``column`` orders the columns left to right (any ints; only their order
    counts); ``kind`` becomes a CSS class (``seed``, ``pool``, ``entity``, ``held``, ``fee``, ...)."""

    id: str
    label: str
    column: int
    kind: str = ""


@dataclass(frozen=True)
class SankeyLink:
    """A flow of ``value`` base units (an ``int`` >= 0) from node ``source`` to node ``target``."""

    source: str
    target: str
    value: int


@dataclass
class _Box:
    """A node placed on the plot: its exact value and geometry, and how much of its edges the bands
    entering and leaving it have used so far."""

    node: SankeyNode
    value: int
    order: tuple[int, int]
    x: Fraction
    y: Fraction
    height: Fraction
    used_in: Fraction = Fraction(0)
    used_out: Fraction = Fraction(0)


def sankey_svg(nodes: Sequence[SankeyNode], links: Sequence[SankeyLink], *, amount_text: Callable[[int], str],
               width: int = 960, title: str = "") -> str:
    """The Sankey of ``links`` between ``nodes`` as one inline ``<svg>`` element (text, ends with a
    newline). ``amount_text`` writes a value in base units for people (e.g. ``"1.25 LTC"``).

    Links of value 0 are dropped, links between the same two nodes are added up. Raises
    :class:`ValueError` for a link to an unknown node, a negative or non-integer value, a link that
    does not go left to right, a duplicate node id, a kind that is not a CSS class name, no nodes,
    or a width under :data:`MIN_WIDTH`.
    """
    if width < MIN_WIDTH:
        raise ValueError(f"a Sankey needs a width of at least {MIN_WIDTH} px, not {width}")
    by_id = _check_nodes(nodes)
    flows = _merge_links(links, by_id)
    columns = _columns(nodes)
    values = _node_values(nodes, flows)
    plot_height = max(MIN_PLOT_HEIGHT, ROW * max(len(column) for column in columns))
    scale = _scale(columns, values, plot_height)
    boxes = _place(columns, values, scale, width, plot_height)
    flows.sort(key=lambda flow: (boxes[flow[0]].order, boxes[flow[1]].order))
    height = TOP + plot_height + BOTTOM
    name = _xml(title or DEFAULT_TITLE)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="tracer-sankey" role="img" aria-label="{name}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{name}</title>", _STYLE]
    parts += _bands(flows, boxes, scale, amount_text)
    parts += [_node(box, amount_text) for box in boxes.values()]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _check_nodes(nodes: Sequence[SankeyNode]) -> dict[str, SankeyNode]:
    """The nodes by id; refuses no nodes, a duplicate id and a kind that is not a CSS class name."""
    if not nodes:
        raise ValueError("a Sankey needs at least one node")
    by_id: dict[str, SankeyNode] = {}
    for node in nodes:
        if node.id in by_id:
            raise ValueError(f"duplicate Sankey node id {node.id!r}")
        if node.kind and not _KIND.fullmatch(node.kind):
            raise ValueError(f"Sankey node {node.id!r}: kind {node.kind!r} is not a CSS class name")
        by_id[node.id] = node
    return by_id


def _merge_links(links: Sequence[SankeyLink], by_id: dict[str, SankeyNode]) -> list[tuple[str, str, int]]:
    """``(source, target, value)`` of the non-zero links, the values of repeated pairs added up, in
    the order each pair first appears; refuses unknown nodes, bad values and right-to-left links."""
    total: dict[tuple[str, str], int] = {}
    for link in links:
        for end in (link.source, link.target):
            if end not in by_id:
                raise ValueError(f"Sankey link {link.source!r} -> {link.target!r}: unknown node {end!r}")
        if not isinstance(link.value, int) or isinstance(link.value, bool):
            raise ValueError(f"Sankey link {link.source!r} -> {link.target!r}: value must be an int of base "
                             f"units, not {type(link.value).__name__}")
        if link.value < 0:
            raise ValueError(f"Sankey link {link.source!r} -> {link.target!r}: negative value {link.value}")
        if by_id[link.source].column >= by_id[link.target].column:
            raise ValueError(f"Sankey link {link.source!r} -> {link.target!r} does not go left to right "
                             f"(column {by_id[link.source].column} -> {by_id[link.target].column})")
        key = (link.source, link.target)
        total[key] = total.get(key, 0) + link.value
    return [(source, target, value) for (source, target), value in total.items() if value]


def _columns(nodes: Sequence[SankeyNode]) -> list[list[SankeyNode]]:
    """The nodes grouped by column, columns left to right, nodes in the order given."""
    numbers = sorted({node.column for node in nodes})
    return [[node for node in nodes if node.column == number] for number in numbers]


def _node_values(nodes: Sequence[SankeyNode], flows: list[tuple[str, str, int]]) -> dict[str, int]:
    """Each node's value: ``max(inflow, outflow)``, exact."""
    inflow = dict.fromkeys((node.id for node in nodes), 0)
    outflow = dict(inflow)
    for source, target, value in flows:
        outflow[source] += value
        inflow[target] += value
    return {key: max(inflow[key], outflow[key]) for key in inflow}


def _scale(columns: list[list[SankeyNode]], values: dict[str, int], plot_height: int) -> Fraction:
    """Pixels per base unit: the largest scale at which every column, its gaps and a minimum pixel for
    each node fit the plot height. 0 when nothing flows."""
    scales = []
    for column in columns:
        total = sum(values[node.id] for node in column)
        if total:
            scales.append(Fraction(plot_height - GAP * (len(column) - 1) - len(column), total))
    return min(scales, default=Fraction(0))


def _place(columns: list[list[SankeyNode]], values: dict[str, int], scale: Fraction, width: int,
           plot_height: int) -> dict[str, _Box]:
    """Every node's box: columns spread evenly from the left margin to the label room, each column
    centred vertically."""
    step = Fraction(width - LEFT - LABEL_ROOM - NODE_WIDTH, max(len(columns) - 1, 1))
    boxes: dict[str, _Box] = {}
    for slot, column in enumerate(columns):
        heights = [max(MIN_PX, values[node.id] * scale) for node in column]
        y = TOP + (plot_height - sum(heights, Fraction(0)) - GAP * (len(column) - 1)) / 2
        for row, (node, height) in enumerate(zip(column, heights, strict=True)):
            boxes[node.id] = _Box(node, values[node.id], (slot, row), LEFT + slot * step, y, height)
            y += height + GAP
    return boxes


def _bands(flows: list[tuple[str, str, int]], boxes: dict[str, _Box], scale: Fraction,
           amount_text: Callable[[int], str]) -> list[str]:
    """One ``<path>`` per flow: the area between two horizontal-tangent cubic Beziers, closed by
    vertical edges at the two nodes; thickness ``value * scale``, at least :data:`MIN_PX`."""
    out = []
    for source_id, target_id, value in flows:
        source, target = boxes[source_id], boxes[target_id]
        exact = value * scale
        thick = max(MIN_PX, exact)
        x0, x1 = source.x + NODE_WIDTH, target.x
        mid = (x0 + x1) / 2
        y0, y1 = source.y + source.used_out, target.y + target.used_in
        source.used_out += exact
        target.used_in += exact
        d = (f"M{_px(x0)},{_px(y0)} C{_px(mid)},{_px(y0)} {_px(mid)},{_px(y1)} {_px(x1)},{_px(y1)} "
             f"L{_px(x1)},{_px(y1 + thick)} C{_px(mid)},{_px(y1 + thick)} {_px(mid)},{_px(y0 + thick)} "
             f"{_px(x0)},{_px(y0 + thick)} Z")
        tip = f"{source.node.label} \u2192 {target.node.label}: {amount_text(value)}"
        out.append(f'<path class="{_classes("band", target.node.kind)}" data-source="{_xml(source_id)}" '
                   f'data-target="{_xml(target_id)}" data-value="{value}" d="{d}"><title>{_xml(tip)}</title></path>')
    return out


def _node(box: _Box, amount_text: Callable[[int], str]) -> str:
    """A node's ``<g>``: its box (with a tooltip) and two text lines to its right, label and amount."""
    label, amount = _xml(box.node.label), _xml(amount_text(box.value))
    centre = box.y + box.height / 2
    text_x = _px(box.x + NODE_WIDTH + 5)
    return (f'<g class="{_classes("node", box.node.kind)}" data-id="{_xml(box.node.id)}" data-value="{box.value}">'
            f'<rect x="{_px(box.x)}" y="{_px(box.y)}" width="{NODE_WIDTH}" height="{_px(box.height)}">'
            f"<title>{label}: {amount}</title></rect>"
            f'<text class="label" x="{text_x}" y="{_px(centre - 3)}">{label}</text>'
            f'<text class="amount" x="{text_x}" y="{_px(centre + 11)}">{amount}</text></g>')


def _classes(base: str, kind: str) -> str:
    return f"{base} {kind}" if kind else base


def _px(value: Fraction | int) -> str:
    """A coordinate with exactly two decimals, rounded half to even (``Fraction.__round__``)."""
    hundredths = round(Fraction(value) * 100)
    sign = "-" if hundredths < 0 else ""
    whole, cents = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{cents:02d}"


def _xml(text: str) -> str:
    """``text`` safe inside XML text and double-quoted attributes; characters XML cannot carry become
    U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text), {'"': "&quot;"})
