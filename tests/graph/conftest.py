# SPDX-License-Identifier: Apache-2.0
"""One ``store`` fixture, parametrized over every backend, so the backends cannot drift apart.

* ``embedded``: a real LadybugDB file in a temporary directory.
* ``neo4j-bolt``: the Neo4j backend over real Bolt to ArcadeDB's Bolt listener, started once
  per session in a subprocess on free 127.0.0.1 ports; a fresh database per test module, emptied
  before each test.
* ``neo4j``: the same suite against a real Neo4j when ``NEO4J_URI`` is set (with ``NEO4J_USER``,
  ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``). **It deletes everything in that database**: point it
  at a scratch server only.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.base import GraphStore
from graph.embedded import EmbeddedStore

BACKENDS = ["embedded", "neo4j-bolt"] + (["neo4j"] if os.environ.get("NEO4J_URI") else [])


@pytest.fixture(scope="module")
def bolt_database(request: pytest.FixtureRequest, bolt_server: object) -> str:
    """A fresh ArcadeDB database for this test module."""
    module = re.sub(r"[^a-z0-9]", "", request.module.__name__.rsplit(".", 1)[-1].lower())
    name = f"{module[:40]}{secrets.token_hex(3)}"
    bolt_server.create_database(name)  # type: ignore[attr-defined]
    return name


def _wipe(store: GraphStore) -> None:
    driver = store._driver  # type: ignore[attr-defined]  # test-only: empty the database
    with driver.session(database=store._database) as session:  # type: ignore[attr-defined]
        session.run("MATCH (n) DETACH DELETE n").consume()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend, schema created."""
    backend: GraphStore
    if request.param == "embedded":
        backend = EmbeddedStore.open(tmp_path / "graph.lbug")
        yield backend
        backend.close()
        return
    from graph.neo4j_store import Neo4jStore

    if request.param == "neo4j-bolt":
        server = request.getfixturevalue("bolt_server")
        database = request.getfixturevalue("bolt_database")
        backend = Neo4jStore(server.uri, server.user, server.password, database=database)
        _wipe(backend)
    else:
        backend = Neo4jStore(
            os.environ["NEO4J_URI"],
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", ""),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
        _wipe(backend)
    backend.ensure_schema()
    try:
        yield backend
    finally:
        backend.close()
