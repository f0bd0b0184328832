# SPDX-License-Identifier: Apache-2.0
"""graph/browser: the GraSS style sheet and the saved queries speak the graph model and only read."""

from __future__ import annotations

import re

import pytest

from graph.browser import grass_path, grass_text, parse_saved_queries, queries_path, saved_queries
from graph.export import with_captions
from graph.model import NODE_LABELS, REL_TYPES, TRACE_LABELS, TRACE_REL_TYPES, graph_tables
from graph.trace_tables import trace_tables
from tracer.chains import default_registry
from tracer.schema import FrameSet

LABELS = (*NODE_LABELS, *TRACE_LABELS)
TYPES = (*REL_TYPES, *TRACE_REL_TYPES)
#: what a push adds beside the tables' columns: the server-built datetime and the sync's bookkeeping
PUSHED = {"datetime", "pushed_by"}

PARAMETERS = {"case", "address", "chain", "limit"}
WRITE_CLAUSES = re.compile(r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|FOREACH|LOAD\s+CSV)\b", re.IGNORECASE)
STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _properties() -> dict[str, set[str]]:
    """Properties the model, the readable additions and the trace results give each label and type in Neo4j."""
    tables = with_captions(graph_tables(FrameSet()))
    traces = trace_tables([], default_registry())
    props = {label: set(frame.columns) | PUSHED for label, frame in {**tables.nodes, **traces.nodes}.items()}
    props["Trace"].add("pushed_format")
    for rel_type, frame in {**tables.rels, **traces.rels}.items():
        props[rel_type] = (set(frame.columns) | PUSHED) - {"start", "end", "value_overflow"}
    return props


def _browser_parse(text: str) -> dict[str, dict[str, str]]:
    """Neo4j Browser's GraSS parser (GraphStyle.ts ``parse``), transcribed: what the Browser will see."""
    rules: dict[str, str] = {}
    inside_string = inside_props = False
    keyword = props = ""
    for c in text:
        if c == "{" and not inside_string:
            inside_props = True
            continue
        if c == "}" and not inside_string:
            inside_props = False
            rules[keyword] = props
            keyword = props = ""
            continue
        if c == "'":
            inside_string = not inside_string
            continue
        if inside_props:
            props += c
        elif not c.isspace():
            keyword += c
    parsed: dict[str, dict[str, str]] = {}
    for selector, body in rules.items():
        parsed[selector] = {}
        for prop in body.split(";"):
            key, _, value = prop.partition(":")
            if key.strip() and value.strip():
                parsed[selector][key.strip()] = value.strip()
    return parsed


def test_files_ship_with_the_package() -> None:
    assert grass_path().is_file() and grass_path().name == "tracer.grass"
    assert queries_path().is_file() and queries_path().name == "queries.cypher"


def test_grass_has_one_rule_per_label_and_type() -> None:
    rules = _browser_parse(grass_text())
    expected = {"node", "relationship"} | {f"node.{label}" for label in LABELS}
    expected |= {f"relationship.{rel_type}" for rel_type in TYPES}
    assert set(rules) == expected


def test_grass_captions_use_properties_the_model_has() -> None:
    props = _properties()
    colours = set()
    for selector, rule in _browser_parse(grass_text()).items():
        name = selector.partition(".")[2]
        assert "caption" in rule or not name, selector
        for ref in re.findall(r"\{([^{}]*)\}", rule.get("caption", "")):
            assert name and ref in props[name], (selector, ref)
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", rule["color"]), selector
        if selector.startswith("node."):
            colours.add(rule["color"].upper())
    assert len(colours) == len(LABELS)  # every label its own colour


def test_saved_queries_parse_with_names_and_descriptions() -> None:
    queries = saved_queries()
    assert len(queries) >= 8
    for name, (description, cypher) in queries.items():
        assert re.fullmatch(r"[a-z0-9-]+", name)
        assert description and cypher and not cypher.endswith(";")
    for needed in ("case-seeds", "seed-to-exchange-transfers", "seed-to-exchange-outputs", "largest-flows-out",
                   "case-traces", "case-trail", "trace-endings", "seed-to-exchange-trail",
                   "largest-flows-in", "sanctioned-exposure", "address-transactions", "cluster-members"):
        assert needed in queries


def test_parse_saved_queries_rejects_bad_files() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_saved_queries("// name: a\n// description: d\nRETURN 1\n// name: a\n// description: d\nRETURN 2\n")
    with pytest.raises(ValueError, match="description"):
        parse_saved_queries("// name: a\nRETURN 1\n")


@pytest.mark.parametrize("name", list(saved_queries()))
def test_saved_query_reads_only_the_model(name: str) -> None:
    _, cypher = saved_queries()[name]
    props = _properties()
    literals = STRING.findall(cypher)
    for literal in literals:
        assert not re.search(r"0x[0-9a-fA-F]{6,}|[13mn2][a-km-zA-HJ-NP-Z1-9]{20,}|bc1|ltc1", literal), literal
    code = STRING.sub("''", cypher)
    assert not WRITE_CLAUSES.search(code), name
    assert set(re.findall(r"\$(\w+)", code)) <= PARAMETERS
    assert "$" in code
    bound: dict[str, str] = {}
    for var, label in re.findall(r"\((\w*):(\w+)", code):
        assert label in LABELS, (name, label)
        if var:
            bound[var] = label
    for var, types in re.findall(r"\[(\w*):([A-Za-z_|]+)", code):
        for rel_type in types.split("|"):
            assert rel_type in TYPES, (name, rel_type)
        if var and "|" not in types:
            bound[var] = types
    for var, listed in re.findall(r"\b(\w+) IN (\w+)\b", code):  # r IN ts: an element of a path's relationships
        if listed in bound:
            bound[var] = bound[listed]
    for _var, label, body in re.findall(r"[(\[](\w*):(\w+)\s*\{([^}]*)\}", code):
        for key in re.findall(r"(\w+)\s*:", body):
            assert key in props[label], (name, label, key)
    for var, prop in re.findall(r"\b([a-z]\w*)\.(\w+)\b", code):
        assert var in bound, (name, var)
        assert prop in props[bound[var]], (name, var, prop)


def test_amount_ordering_uses_the_string_length_trick() -> None:
    for name, (_, cypher) in saved_queries().items():
        if "ORDER BY" in cypher and "value" in cypher.split("ORDER BY")[-1]:
            assert "size(value) DESC, value DESC" in cypher, name
        assert "toInteger(r.value)" not in cypher and "sum(r.value)" not in cypher
