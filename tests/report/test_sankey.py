# SPDX-License-Identifier: Apache-2.0
"""The report's value Sankey (``jobs.report.sankey``): an inline SVG whose geometry states the values.

The SVG is parsed with ``xml.etree`` and measured: every band is a closed path of two cubic Beziers
whose vertical thickness is ``value * scale`` (one scale for the whole diagram), every node is as
tall as ``max(inflow, outflow)``, every node carries its label and exact amount as real ``<text>``,
every band a ``source -> target: amount`` tooltip; a tiny value is still 1 px thick. The same input
gives the same bytes, and a link to an unknown node or with a negative value is refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from jobs.report.sankey import SankeyLink, SankeyNode, sankey_svg

SVG = "{http://www.w3.org/2000/svg}"
LITOSHI = 100_000_000

#: the fixture story's shape: two payout addresses -> the traced pool -> ending types -> entities
NODES = [
    SankeyNode("seed:a", "vendor payout A", 0, "seed"),
    SankeyNode("seed:b", "vendor payout B", 0, "seed"),
    SankeyNode("pool", "traced value (haircut)", 1, "pool"),
    SankeyNode("end:entity", "entity", 2, "entity"),
    SankeyNode("end:held", "held", 2, "held"),
    SankeyNode("end:fee", "fee", 2, "fee"),
    SankeyNode("end:hop_limit", "hop_limit", 2, "hop_limit"),
    SankeyNode("ent:alpha", "Exchange Alpha", 3, "entity"),
]
LINKS = [
    SankeyLink("seed:a", "pool", 3 * LITOSHI),
    SankeyLink("seed:b", "pool", 125_000_000),
    SankeyLink("pool", "end:entity", 387_654_321),
    SankeyLink("pool", "end:held", 37_340_679),
    SankeyLink("pool", "end:fee", 5_000),
    SankeyLink("pool", "end:hop_limit", 0),
    SankeyLink("end:entity", "ent:alpha", 387_654_321),
]


def ltc(value: int) -> str:
    whole, frac = divmod(value, LITOSHI)
    return f"{whole}.{frac:08d} LTC"


def draw(nodes: list[SankeyNode] = NODES, links: list[SankeyLink] = LINKS) -> ET.Element:
    return ET.fromstring(sankey_svg(nodes, links, amount_text=ltc, title="Where the proceeds went"))


def band_geometry(path: ET.Element) -> tuple[Fraction, Fraction, Fraction]:
    """``(thickness at the source, thickness at the target, top y at the source)`` of a band path
    ``M x0,y0 C ... x1,y1 L x1,y1' C ... x0,y0' Z``."""
    numbers = [Fraction(text) for text in re.findall(r"-?\d+\.\d+", path.attrib["d"])]
    assert len(numbers) == 2 + 6 + 2 + 6 and path.attrib["d"].endswith("Z")
    y0, y1 = numbers[1], numbers[7]
    y1_bottom, y0_bottom = numbers[9], numbers[15]
    return y0_bottom - y0, y1_bottom - y1, y0


def bands(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(path.attrib["data-source"], path.attrib["data-target"]): path for path in root.iter(f"{SVG}path")}


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {group.attrib["data-id"]: group for group in root.iter(f"{SVG}g")}


def rect(group: ET.Element) -> dict[str, str]:
    """The attributes of a node's box."""
    box = group.find(f"{SVG}rect")
    assert box is not None
    return box.attrib


def test_band_thickness_is_proportional_to_value_with_one_scale() -> None:
    drawn = bands(draw())
    assert set(drawn) == {(link.source, link.target) for link in LINKS if link.value}  # the zero link is dropped
    # the fullest column (4 ending types, 3 gaps of 28 px, 4 px reserved for tiny nodes) sets the scale
    scale = Fraction(200 - 3 * 28 - 4, 425_000_000)
    for link in LINKS:
        if link.value < 1_000_000:
            continue
        at_source, at_target, _ = band_geometry(drawn[link.source, link.target])
        assert int(drawn[link.source, link.target].attrib["data-value"]) == link.value
        # every coordinate is written to 0.01 px, so a thickness is exact to 0.02 px
        assert abs(at_source - link.value * scale) <= Fraction(2, 100)
        assert abs(at_target - link.value * scale) <= Fraction(2, 100)


def test_a_tiny_value_gets_one_pixel_but_its_exact_amount() -> None:
    root = draw()
    thickness, _, _ = band_geometry(bands(root)["pool", "end:fee"])
    assert thickness == 1
    fee = nodes(root)["end:fee"]
    assert rect(fee)["height"] == "1.00"
    assert [text.text for text in fee.iter(f"{SVG}text")] == ["fee", "0.00005000 LTC"]


def test_two_seeds_of_3_and_1_25_ltc_are_drawn_exactly_12_to_5() -> None:
    root = draw(NODES[:3], LINKS[:2])
    a, _, _ = band_geometry(bands(root)["seed:a", "pool"])
    b, _, _ = band_geometry(bands(root)["seed:b", "pool"])
    assert (a, b) == (120, 50)  # 200 px plot - one 28 px gap - 2 px reserved = 170 px for 4.25 LTC
    assert Fraction(rect(nodes(root)["pool"])["height"]) == a + b


def test_node_height_is_the_larger_of_inflow_and_outflow() -> None:
    unbalanced = [SankeyNode("s", "seed", 0, "seed"), SankeyNode("mid", "partly traced", 1),
                  SankeyNode("x", "onward", 2), SankeyNode("y", "side input", 0)]
    links = [SankeyLink("s", "mid", 800), SankeyLink("y", "mid", 200), SankeyLink("mid", "x", 600)]
    root = draw(unbalanced, links)
    heights = {key: Fraction(rect(group)["height"]) for key, group in nodes(root).items()}
    assert {key: int(group.attrib["data-value"]) for key, group in nodes(root).items()} == \
        {"s": 800, "mid": 1_000, "x": 600, "y": 200}
    assert heights["mid"] == heights["s"] + heights["y"]  # inflow 1000 > outflow 600
    assert heights["s"] / heights["x"] == Fraction(800, 600)
    # the outgoing band covers 600/1000 of the node's edge, starting at its top
    thickness, _, top = band_geometry(bands(root)["mid", "x"])
    assert thickness / heights["mid"] == Fraction(3, 5)
    assert top == Fraction(rect(nodes(root)["mid"])["y"])


def test_columns_run_left_to_right_and_a_column_keeps_the_given_order() -> None:
    root = draw()
    x = {key: Fraction(rect(group)["x"]) for key, group in nodes(root).items()}
    y = {key: Fraction(rect(group)["y"]) for key, group in nodes(root).items()}
    assert x["seed:a"] == x["seed:b"] < x["pool"] < x["end:entity"] == x["end:fee"] < x["ent:alpha"]
    assert y["seed:a"] < y["seed:b"]
    assert y["end:entity"] < y["end:held"] < y["end:fee"] < y["end:hop_limit"]
    width = int(root.attrib["width"])
    assert x["ent:alpha"] + 14 + 150 < width  # room for the last column's labels


def test_labels_amounts_and_tooltips_are_real_text() -> None:
    root = draw()
    assert root.attrib["role"] == "img" and root.attrib["aria-label"] == "Where the proceeds went"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Where the proceeds went"
    texts = [text.text for text in root.iter(f"{SVG}text")]
    for label, amount in [("vendor payout A", "3.00000000 LTC"), ("vendor payout B", "1.25000000 LTC"),
                          ("traced value (haircut)", "4.25000000 LTC"), ("entity", "3.87654321 LTC"),
                          ("held", "0.37340679 LTC"), ("hop_limit", "0.00000000 LTC"),
                          ("Exchange Alpha", "3.87654321 LTC")]:
        assert texts[texts.index(label) + 1] == amount
    tips = sorted(title.text or "" for path in root.iter(f"{SVG}path") for title in path.iter(f"{SVG}title"))
    assert "entity \u2192 Exchange Alpha: 3.87654321 LTC" in tips
    assert "traced value (haircut) \u2192 fee: 0.00005000 LTC" in tips
    assert [group.attrib["class"] for group in root.iter(f"{SVG}g")][:3] == ["node seed", "node seed", "node pool"]


def test_self_contained_and_the_same_bytes_every_time() -> None:
    first = sankey_svg(NODES, LINKS, amount_text=ltc)
    assert first == sankey_svg(list(NODES), list(LINKS), amount_text=ltc)
    assert "<script" not in first and "href" not in first and "url(" not in first
    assert ET.fromstring(first).attrib["aria-label"] == "Sankey diagram of the traced value"


def test_text_is_escaped_and_wei_sized_values_are_exact() -> None:
    odd = [SankeyNode("a", 'Seed <"A"> & co', 0, "seed"), SankeyNode("b", "Exchange\x07 Beta", 1, "entity")]
    wei = 10**77 + 1  # a uint256-sized amount
    root = draw(odd, [SankeyLink("a", "b", wei)])
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert texts[0] == 'Seed <"A"> & co'
    assert texts[2] == "Exchange\ufffd Beta"
    assert nodes(root)["b"].attrib["data-value"] == str(wei)


def test_repeated_links_add_up() -> None:
    root = draw(NODES[:3], [SankeyLink("seed:a", "pool", 5), SankeyLink("seed:b", "pool", 7),
                            SankeyLink("seed:a", "pool", 10)])
    assert int(bands(root)["seed:a", "pool"].attrib["data-value"]) == 15
    assert nodes(root)["pool"].attrib["data-value"] == "22"


@pytest.mark.parametrize(("nodes_", "links", "message"), [
    (NODES, [SankeyLink("seed:a", "nowhere", 5)], "unknown node 'nowhere'"),
    (NODES, [SankeyLink("ghost", "pool", 5)], "unknown node 'ghost'"),
    (NODES, [SankeyLink("seed:a", "pool", -1)], "negative value -1"),
    (NODES, [SankeyLink("seed:a", "pool", 1.5)], "must be an int"),  # type: ignore[arg-type]
    (NODES, [SankeyLink("pool", "seed:a", 5)], "does not go left to right"),
    (NODES + [SankeyNode("pool", "again", 1)], [], "duplicate Sankey node id 'pool'"),
    ([SankeyNode("a", "a", 0, "not a class")], [], "not a CSS class name"),
    ([], [], "at least one node"),
])
def test_bad_input_is_refused(nodes_: list[SankeyNode], links: list[SankeyLink], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sankey_svg(nodes_, links, amount_text=ltc)
